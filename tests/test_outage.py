"""Real processes through a real database outage: `manage.py db_worker` and `manage.py run_scheduler` ride it
out and go on; a task whose worker was SIGKILLed is reaped and the schedule goes on; pages answer 503.

The outage (tests/db_outage.py) is PostgreSQL behind a loopback proxy that the test cuts, or SQLite's file
held under `BEGIN EXCLUSIVE` past the busy timeout. The processes open the test database themselves, so
this needs the file SQLite test database (tests/conftest.py) or PostgreSQL.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks.models import ProcessHeartbeat
from tests.conftest import poll_until, worker_database_url
from tests.db_outage import DatabaseOutage
from tests.worker_tasks import nap, record_run

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
REGION = "cn-north-4"
SYNC = "peerlinks.tasks.sync_all_regions"
BEAT = 0.3  # TASK_HEARTBEAT_INTERVAL of the processes
LOST_AFTER = 1.5  # TASK_WORKER_LOST_AFTER
OUTAGE = 5.0  # seconds; on SQLite longer than the library's own retries of a result (3 × busy timeout, twice)


@pytest.fixture
def outage() -> Iterator[DatabaseOutage]:
    outage = DatabaseOutage(connection.settings_dict)
    yield outage
    outage.close()


class Processes:
    """`manage.py` subprocesses on the test database (through the outage), each logging to a file."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, *command: str) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append((process, log))
        return process

    def worker(self) -> subprocess.Popen:
        return self.start("worker", "db_worker", "--no-reload", "--no-startup-delay", "--interval=0.1")

    def scheduler(self) -> subprocess.Popen:
        return self.start("scheduler", "run_scheduler")

    def assert_alive(self, *processes: subprocess.Popen) -> bool:
        for process, log in self.started:
            if process in processes and process.poll() is not None:
                raise AssertionError(f"{log.stem} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        return True

    def stop(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(outage, simulator, tmp_path) -> Iterator[Processes]:
    env = {
        **os.environ,
        "DATABASE_URL": outage.url(worker_database_url()),
        **outage.env(),
        "DEBUG": "1",
        "TASKS_BACKEND": "database",
        "CLOUD_ENDPOINT": simulator.base_url,
        "CLOUD_REGIONS": REGION,
        "SYNC_INTERVAL": "1",
        "SYNC_LEASE": "2",
        "PENDING_RECHECK_INTERVAL": "0.5",
        "TASK_HEARTBEAT_INTERVAL": str(BEAT),
        "TASK_WORKER_LOST_AFTER": str(LOST_AFTER),
        "DATABASE_RETRY_MAX_DELAY": "1",
    }
    running = Processes(env, tmp_path)
    yield running
    running.stop()


def _status(task_id: str) -> str:
    return DBTaskResult.objects.get(pk=task_id).status


def _synced_since(since) -> bool:
    return DBTaskResult.objects.filter(task_path=SYNC, status="SUCCESSFUL", enqueued_at__gt=since).exists()


def test_worker_and_scheduler_ride_out_a_database_outage_and_go_on(outage, processes):
    worker, scheduler = processes.worker(), processes.scheduler()
    started = timezone.now()
    poll_until(
        lambda: processes.assert_alive(worker, scheduler) and _synced_since(started),
        what="the scheduler to queue a sync and the worker to run it",
        timeout=30,
    )
    # A task is running when the database goes: it ends during the outage, so its outcome cannot be saved.
    napping = nap.enqueue(1.0)
    poll_until(lambda: _status(napping.id) == "RUNNING", what="the worker to take the task", timeout=10)
    outage.begin()
    try:
        deadline = time.monotonic() + OUTAGE
        while time.monotonic() < deadline:
            processes.assert_alive(worker, scheduler)
            time.sleep(0.2)
    finally:
        outage.end()
    ended = timezone.now()

    poll_until(
        lambda: processes.assert_alive(worker, scheduler) and _status(napping.id) != "RUNNING",
        what="the outcome of the task that ended during the outage to be saved",
        timeout=10,
    )
    napped = DBTaskResult.objects.get(pk=napping.id)
    assert napped.status == "FAILED"
    assert napped.traceback.startswith("Recorded late: the database was unavailable when the task ended.")
    after = record_run.enqueue(1)
    poll_until(lambda: _status(after.id) == "SUCCESSFUL", what="the worker to run a new task", timeout=10)
    poll_until(
        lambda: _synced_since(ended),
        what="the scheduler to queue a sync again (and the worker to run it)",
        timeout=10,
    )
    # Both beat again (each at its own interval, so not necessarily by the time the sync ran).
    poll_until(
        lambda: (
            {beat.kind for beat in ProcessHeartbeat.objects.filter(last_seen__gt=ended)}
            == {"worker", "scheduler"}
        ),
        what="the worker and the scheduler to beat again",
        timeout=10,
    )
    processes.assert_alive(worker, scheduler)
    log = (processes.logs / "worker.log").read_text()
    assert "Database unavailable" in log


def test_a_task_of_a_killed_worker_is_reaped_and_the_next_sync_is_queued(processes, simulator):
    # The sync's gateway listing hangs in the cloud, so the worker is inside the task when it is killed.
    requests.post(
        f"{simulator.base_url}/_dcsim/faults/next",
        json={
            "fault": "latency",
            "latency_ms": 10_000,
            "method": "GET",
            "path_contains": "global-dc-gateways",
        },
        timeout=5,
    ).raise_for_status()
    worker, scheduler = processes.worker(), processes.scheduler()
    stuck = poll_until(
        lambda: (
            processes.assert_alive(worker, scheduler)
            and DBTaskResult.objects.filter(task_path=SYNC, status="RUNNING").first()
        ),
        what="the worker to start the scheduled sync",
        timeout=30,
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=5)
    killed = timezone.now()

    poll_until(
        lambda: processes.assert_alive(scheduler) and _status(stuck.id) == "FAILED",
        what="the scheduler to reap the sync the killed worker held",
        timeout=10,
    )
    stuck.refresh_from_db()
    assert stuck.exception_class_path == "peerlinks.services.processes.WorkerLost"
    assert "worker lost" in stuck.traceback
    # Not before the worker had been silent for TASK_WORKER_LOST_AFTER (its last beat was at most BEAT
    # before the kill).
    assert (stuck.finished_at - killed).total_seconds() >= LOST_AFTER - BEAT - 0.1
    poll_until(
        lambda: DBTaskResult.objects.filter(
            task_path=SYNC, status="READY", enqueued_at__gt=stuck.started_at
        ).exists(),
        what="the next sync to be queued",
        timeout=5,
    )


def test_pages_answer_503_while_the_database_is_down_and_work_again_after(outage, engineer, client):
    client.force_login(engineer)
    with outage.through_here(connection):
        assert client.get("/").status_code == 200
        outage.begin()
        try:
            page = client.get("/")
            work = client.get("/readyz/work")
            ready = client.get("/readyz")
        finally:
            outage.end()
        again = client.get("/")

    assert page.status_code == 503
    assert page["Content-Type"].startswith("text/html")
    assert "Database unavailable — try again in a moment" in page.content.decode()
    assert page["Retry-After"] == "10"
    assert work.status_code == 503
    assert work.json()["database"].startswith("unreachable (")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert again.status_code == 200
