"""The scheduler's cadences: pending links are re-checked on their own short interval, once at a time."""

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from peerlinks.management.commands import run_scheduler
from tests.conftest import make_peer_link

RECHECK_PATH = "peerlinks.tasks.recheck_pending_links"

pytestmark = pytest.mark.django_db


def _queued_rechecks() -> int:
    return DBTaskResult.objects.filter(task_path=RECHECK_PATH).count()


def test_a_pending_link_queues_a_recheck():
    make_peer_link(status="PENDING_CREATE")
    call_command("run_scheduler", "--once")
    assert _queued_rechecks() == 1


def test_no_pending_link_queues_no_recheck():
    make_peer_link(status="ACTIVE")
    call_command("run_scheduler", "--once")
    assert _queued_rechecks() == 0


def test_a_recheck_still_queued_is_not_queued_again():
    make_peer_link(status="PENDING_CREATE")
    call_command("run_scheduler", "--once")
    call_command("run_scheduler", "--once")
    assert _queued_rechecks() == 1


def test_pending_links_are_rechecked_more_often_than_change_upkeep(settings, monkeypatch):
    settings.SYNC_INTERVAL = 60.0
    settings.PENDING_RECHECK_INTERVAL = 3.0
    settings.PENDING_LINK_RECHECK_INTERVAL = 1.0
    clock = [1000.0]
    rechecks: list[float] = []
    upkeeps: list[float] = []

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        if clock[0] >= 1006.0:
            raise StopIteration

    monkeypatch.setattr(run_scheduler.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(run_scheduler.time, "sleep", sleep)
    monkeypatch.setattr(run_scheduler, "_enqueue_pending_recheck", lambda: rechecks.append(clock[0]))
    monkeypatch.setattr(run_scheduler, "resume_stalled_changes", lambda: upkeeps.append(clock[0]))
    monkeypatch.setattr(run_scheduler, "_enqueue_change_upkeep", lambda now: None)
    with pytest.raises(StopIteration):
        call_command("run_scheduler")
    assert rechecks == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]
    assert upkeeps == [1000.0, 1003.0]
