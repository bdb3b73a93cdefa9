"""Several `manage.py db_worker` processes share one queue: every task runs, and none runs twice.

Needs PostgreSQL as the test database (the row locks that let workers share the queue are what this
tests); `make test-postgres` (which CI runs) runs it, the SQLite pass skips it.
"""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from peerlinks.models import AuditEvent
from tests.conftest import on_postgresql, poll_until
from tests.worker_tasks import record_run

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
TASKS = 500


def _postgres_url() -> str:
    db = connection.settings_dict
    if not on_postgresql(db):
        pytest.skip(
            "needs PostgreSQL as the test database (DATABASE_URL=postgres://...); "
            "make test-postgres runs this"
        )
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_four_workers_run_500_tasks_each_exactly_once(transactional_db, tmp_path, settings):
    url = _postgres_url()  # the test database, which the workers open too
    for number in range(TASKS):
        record_run.enqueue(number)

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "1",
        "TASKS_BACKEND": "database",
        "LOG_LEVEL": "WARNING",
    }
    logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    started = time.monotonic()
    workers = []
    for log in logs:
        with log.open("wb") as out:
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "db_worker",
                        "--no-reload",
                        "--no-startup-delay",
                        "--interval=0.1",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def done() -> int:
        return DBTaskResult.objects.filter(status="SUCCESSFUL").count()

    def all_done() -> bool:
        exited = [log for worker, log in zip(workers, logs, strict=True) if worker.poll() is not None]
        assert not exited, "a worker exited:\n" + exited[0].read_text()[-3000:]
        return done() >= TASKS

    try:
        poll_until(
            all_done, what=lambda: f"all {TASKS} tasks to run ({done()} done)", timeout=60, interval=0.1
        )
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # a task run twice would show up now
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    runs = AuditEvent.objects.filter(action="test.ran")
    per_task = Counter(runs.values_list("object_id", flat=True))
    assert sorted(int(n) for n in per_task) == list(range(TASKS)), "some tasks never ran"
    assert [n for n, count in per_task.items() if count > 1] == [], "some tasks ran more than once"
    assert DBTaskResult.objects.exclude(status="SUCCESSFUL").count() == 0
    assert all(len(result.worker_ids) == 1 for result in DBTaskResult.objects.all())
    pids = Counter(event.after["pid"] for event in runs)
    assert len(pids) >= 2, f"one worker did everything: {pids}"
    print(
        f"\n{WORKERS} db_worker processes ran {TASKS} tasks in {elapsed:.1f} s (from their start), "
        f"per worker: {sorted(pids.values(), reverse=True)}"
    )
