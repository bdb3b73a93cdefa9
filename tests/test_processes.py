"""Heartbeats, the reaper of tasks whose worker died, the "already queued" check, and /readyz/work."""

from datetime import timedelta

import pytest
from django.core import checks
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks.models import ProcessHeartbeat
from peerlinks.services import dispatch, processes
from tests.worker_tasks import record_run

pytestmark = pytest.mark.django_db

LOST_AFTER = 60.0


@pytest.fixture(autouse=True)
def _bounds(settings):
    settings.TASK_WORKER_LOST_AFTER = LOST_AFTER
    settings.TASK_HEARTBEAT_INTERVAL = 10.0
    settings.WORK_HEARTBEAT_MAX_AGE = 60.0
    settings.WORK_QUEUE_MAX_WAIT = 300.0
    settings.WORK_RUNNING_MAX_AGE = 1800.0


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def _heartbeat(name: str, *, kind: str = "worker", seen: float, started: float = 3600) -> ProcessHeartbeat:
    return ProcessHeartbeat.objects.create(
        kind=kind, name=name, host="worker-1", pid=4242, started_at=_ago(started), last_seen=_ago(seen)
    )


def _running(*, worker: str, started: float, path: str = "") -> DBTaskResult:
    """A task row as a worker leaves it when it claims it `started` seconds ago."""
    result = record_run.enqueue(1)
    rows = DBTaskResult.objects.filter(pk=result.id)
    rows.update(
        status="RUNNING",
        started_at=_ago(started),
        worker_ids=[worker],
        **({"task_path": path} if path else {}),
    )
    return rows.get()


def _status(task: DBTaskResult) -> str:
    task.refresh_from_db()
    return task.status


def test_a_running_task_whose_worker_went_silent_is_reaped_as_worker_lost():
    task = _running(worker="w1", started=300)
    _heartbeat("w1", seen=LOST_AFTER + 5)
    assert processes.reap_lost_tasks() == 1
    task.refresh_from_db()
    assert task.status == "FAILED"
    assert task.exception_class_path == "peerlinks.services.processes.WorkerLost"
    assert "worker lost: worker w1" in task.traceback
    assert task.finished_at is not None
    assert task.task_result.errors[0].exception_class is processes.WorkerLost


def test_a_long_running_task_of_a_live_worker_is_kept():
    task = _running(worker="w1", started=600)
    _heartbeat("w1", seen=2)
    assert processes.reap_lost_tasks() == 0
    assert _status(task) == "RUNNING"


def test_a_worker_restarted_under_the_same_id_does_not_vouch_for_the_task_its_predecessor_held():
    task = _running(worker="host-1", started=300)
    _heartbeat("host-1", seen=400)  # the process that claimed it, SIGKILLed
    _heartbeat("host-1", seen=1, started=30)  # systemd's restart: same id, started after the task
    assert processes.reap_lost_tasks() == 1
    assert _status(task) == "FAILED"


def test_a_running_task_without_any_heartbeat_is_reaped_only_once_it_started_longer_ago_than_the_bound():
    old = _running(worker="gone", started=LOST_AFTER + 5)
    young = _running(worker="gone", started=LOST_AFTER - 20)
    assert processes.reap_lost_tasks() == 1
    assert (_status(old), _status(young)) == ("FAILED", "RUNNING")


def test_a_run_whose_worker_died_does_not_count_as_queued_even_before_it_is_reaped():
    _running(worker="gone", started=LOST_AFTER + 5, path="peerlinks.tasks.sync_all_regions")
    assert dispatch.is_queued("sync_all_regions") is False
    _running(worker="alive", started=5, path="peerlinks.tasks.sync_all_regions")
    assert dispatch.is_queued("sync_all_regions") is True


def test_a_heartbeat_is_one_row_per_process_stamped_at_each_beat():
    heartbeat = processes.new_heartbeat(kind="scheduler")
    processes.beat(heartbeat)
    first = ProcessHeartbeat.objects.get().last_seen
    processes.beat(heartbeat)
    row = ProcessHeartbeat.objects.get()
    assert row.last_seen > first
    assert (row.kind, row.pid) == ("scheduler", heartbeat.pid)


def test_heartbeats_of_processes_gone_for_a_day_are_pruned():
    _heartbeat("old", seen=86_400 + 60)
    _heartbeat("recent", seen=86_400 - 60)
    assert processes.prune_heartbeats() == 1
    assert list(ProcessHeartbeat.objects.values_list("name", flat=True)) == ["recent"]


def test_database_retry_delay_doubles_from_half_a_second_to_its_cap(settings):
    settings.DATABASE_RETRY_MAX_DELAY = 10.0
    assert all(0 <= processes.database_retry_delay(1) <= 0.5 for _ in range(50))
    assert all(0 <= processes.database_retry_delay(3) <= 2.0 for _ in range(50))
    assert all(0 <= processes.database_retry_delay(30) <= 10.0 for _ in range(50))
    assert max(processes.database_retry_delay(30) for _ in range(200)) > 5.0


def test_lost_after_shorter_than_two_heartbeats_is_a_warning(settings):
    settings.TASK_WORKER_LOST_AFTER = 15.0
    assert "peerlinks.W003" in [message.id for message in checks.run_checks()]
    settings.TASK_WORKER_LOST_AFTER = 20.0
    assert "peerlinks.W003" not in [message.id for message in checks.run_checks()]


# --- /readyz/work -----------------------------------------------------------------------------


def test_readyz_work_is_200_with_fresh_heartbeats_and_reports_the_ages(client):
    _heartbeat("w1", seen=3)
    _heartbeat("w2", seen=50)
    _heartbeat("s1", kind="scheduler", seen=1)
    _running(worker="w1", started=40)
    waiting = record_run.enqueue(2)
    DBTaskResult.objects.filter(pk=waiting.id).update(enqueued_at=_ago(20))
    record_run.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(3)  # not due: not waiting
    response = client.get("/readyz/work")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["problems"] == []
    assert 3 <= body["worker_heartbeat_age_seconds"] < 10
    assert 1 <= body["scheduler_heartbeat_age_seconds"] < 10
    assert 20 <= body["oldest_due_task_wait_seconds"] < 30
    assert 40 <= body["oldest_running_task_age_seconds"] < 50
    assert "no-cache" in response["Cache-Control"]


def test_readyz_work_is_503_when_no_worker_was_heard_from_lately(client):
    _heartbeat("w1", seen=61)
    _heartbeat("s1", kind="scheduler", seen=1)
    response = client.get("/readyz/work")
    assert response.status_code == 503
    [problem] = response.json()["problems"]
    assert problem.startswith("no worker heard from for 61")


def test_readyz_work_is_503_before_any_scheduler_reported(client):
    _heartbeat("w1", seen=1)
    response = client.get("/readyz/work")
    assert response.status_code == 503
    assert response.json()["problems"] == ["no scheduler has reported"]


def test_readyz_work_is_503_when_a_task_due_waits_or_one_runs_too_long(client):
    _heartbeat("w1", seen=1)
    _heartbeat("s1", kind="scheduler", seen=1)
    delayed = record_run.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(1)
    DBTaskResult.objects.filter(pk=delayed.id).update(run_after=_ago(301))  # due 301 s ago
    _running(worker="w1", started=1801)
    response = client.get("/readyz/work")
    assert response.status_code == 503
    assert response.json()["problems"] == [
        "a task due has waited 301 s",
        "a task has been running for 1801 s",
    ]
