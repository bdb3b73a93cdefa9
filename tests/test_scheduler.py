"""The scheduler's cadences: pending links are re-checked on their own short interval, once at a time."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks.management.commands import run_scheduler
from peerlinks.models import ChangeRequest
from peerlinks.services.lifecycle import next_window_opening
from tests.conftest import make_peer_link, set_policy

SYNC_PATH = "peerlinks.tasks.sync_all_regions"
RECHECK_PATH = "peerlinks.tasks.recheck_pending_links"
RELEASE_PATH = "peerlinks.tasks.release_changes_task"

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule_once(django_capture_on_commit_callbacks):
    """One `run_scheduler --once`; what it queues is queued after commit, as outside a test."""

    def run() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            call_command("run_scheduler", "--once")

    return run


def _queued(path: str) -> int:
    return DBTaskResult.objects.filter(task_path=path).count()


def test_a_pending_link_queues_a_recheck(schedule_once):
    make_peer_link(status="PENDING_CREATE")
    schedule_once()
    assert _queued(RECHECK_PATH) == 1


def test_no_pending_link_queues_no_recheck(schedule_once):
    make_peer_link(status="ACTIVE")
    schedule_once()
    assert _queued(RECHECK_PATH) == 0


def test_a_recheck_still_queued_is_not_queued_again(schedule_once):
    make_peer_link(status="PENDING_CREATE")
    schedule_once()
    schedule_once()
    assert _queued(RECHECK_PATH) == 1


def test_a_sync_still_queued_is_not_queued_again(schedule_once):
    schedule_once()
    schedule_once()
    assert _queued(SYNC_PATH) == 1


def test_pending_links_are_rechecked_more_often_than_change_upkeep(settings, monkeypatch):
    settings.SYNC_INTERVAL = 60.0
    settings.PENDING_RECHECK_INTERVAL = 3.0
    settings.PENDING_LINK_RECHECK_INTERVAL = 1.0
    clock = [1000.0]
    syncs: list[float] = []
    rechecks: list[float] = []
    upkeeps: list[float] = []

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        if clock[0] >= 1006.0:
            raise StopIteration

    monkeypatch.setattr(run_scheduler, "_enqueue_sync", lambda: syncs.append(clock[0]))
    monkeypatch.setattr(run_scheduler, "_enqueue_pending_recheck", lambda: rechecks.append(clock[0]))
    monkeypatch.setattr(run_scheduler, "_enqueue_change_upkeep", lambda now: upkeeps.append(clock[0]))
    with pytest.raises(StopIteration):
        run_scheduler.Scheduler(clock=lambda: clock[0], sleep=sleep).run()
    assert syncs == [1000.0]
    assert rechecks == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]
    assert upkeeps == [1000.0, 1003.0]


def test_turning_the_change_window_off_has_the_next_round_release_what_waits_for_it(schedule_once, engineer):
    later = timezone.localtime() + timedelta(hours=3)
    policy = set_policy(
        window_enabled=True,
        window_weekdays="1,2,3,4,5,6,7",
        window_start=later.time().replace(second=0, microsecond=0),
        window_end=(later + timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    link = make_peer_link()
    ChangeRequest.objects.create(
        kind="delete",
        requested_by=engineer,
        gateway=link.gateway,
        peer_link=link,
        state=ChangeRequest.State.APPROVED,
        not_before=next_window_opening(policy, now=timezone.now()),
    )
    schedule_once()
    assert _queued(RELEASE_PATH) == 0  # it waits for the window
    set_policy(window_enabled=False)
    schedule_once()
    assert _queued(RELEASE_PATH) == 1
