"""Tiny tasks for the tests that run real workers (tests/test_workers.py, tests/test_outage.py). They live in
an importable module because `manage.py db_worker` subprocesses import tasks by their dotted path; product
code never imports it."""

import os
import time

from django_tasks import task

from peerlinks.models import AuditEvent


@task()
def record_run(number: int) -> int:
    """Leave one audit row per execution, so the test can count how often each task ran and where."""
    AuditEvent.objects.create(
        action="test.ran", object_type="test", object_id=str(number), after={"pid": os.getpid()}
    )
    return number


@task()
def nap(seconds: float) -> float:
    """Take `seconds` without touching the database: a task a database outage can catch mid-way."""
    time.sleep(seconds)
    return seconds
