"""The background processes' own upkeep: heartbeats, reaping tasks whose worker died, riding out a
database outage, and the figures `/readyz/work` judges.

django-tasks-db leaves a task RUNNING forever when its worker dies (RealOrangeOne/django-tasks-db#5,
RealOrangeOne/django-tasks#46; the worker pings of django-tasks#133 were never merged). Here every worker
and scheduler records a heartbeat, and the scheduler marks a running task failed ("worker lost") once the
process that claimed it has not been heard from for TASK_WORKER_LOST_AFTER seconds.
"""

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.db.models import Max, Min, Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from peerlinks.cloud.sending import backoff_delay
from peerlinks.models import ProcessHeartbeat

logger = logging.getLogger(__name__)

# What a database outage raises through Django: the server is down or unreachable, a connection was cut,
# SQLite's file is locked past its timeout or cannot be opened.
DATABASE_ERRORS = (OperationalError, InterfaceError)
# Heartbeat rows of processes not seen for this long are deleted (kept a day for looking into a death).
KEEP_HEARTBEATS = timedelta(days=1)
RETRY_FIRST_DELAY = 0.5


class WorkerLost(Exception):
    """The worker running a task stopped (killed, host lost) before it could record the outcome."""


LOST_PATH = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


# --- Riding out a database outage ----------------------------------------------------------------


def database_retry_delay(failures: int) -> float:
    """Seconds to wait after the `failures`-th failed try in a row: up to 0.5 s, doubling up to
    DATABASE_RETRY_MAX_DELAY; the cloud client's full jitter, so processes do not reconnect in step."""
    return backoff_delay(failures, base=RETRY_FIRST_DELAY, cap=settings.DATABASE_RETRY_MAX_DELAY)


def drop_database_connections() -> None:
    """Close this thread's connections, broken or not; the next query opens a fresh one."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except DATABASE_ERRORS:
            connection.connection = None  # closing a dead connection can fail too; forget it


# --- Heartbeats ------------------------------------------------------------------------------------


def new_heartbeat(*, kind: str, name: str = "") -> ProcessHeartbeat:
    """This process's heartbeat row, not saved yet (the first `beat` saves it)."""
    host = socket.gethostname()
    now = timezone.now()
    pid = os.getpid()
    return ProcessHeartbeat(
        kind=kind, name=name or f"{host}-{pid}", host=host, pid=pid, started_at=now, last_seen=now
    )


def beat(heartbeat: ProcessHeartbeat) -> None:
    """Record that the process is alive now."""
    heartbeat.last_seen = timezone.now()
    if not ProcessHeartbeat.objects.filter(pk=heartbeat.pk).update(last_seen=heartbeat.last_seen):
        heartbeat.save(force_insert=True)


class HeartbeatThread(threading.Thread):
    """Beats every TASK_HEARTBEAT_INTERVAL on its own connection, also while a long task runs."""

    def __init__(self, heartbeat: ProcessHeartbeat) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.heartbeat = heartbeat
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(settings.TASK_HEARTBEAT_INTERVAL):
            try:
                beat(self.heartbeat)
            except DATABASE_ERRORS as exc:
                logger.warning(
                    "Heartbeat not recorded, the database is unavailable (%s)", exc.__class__.__name__
                )
                drop_database_connections()

    def stop(self) -> None:
        self.stopped.set()


def prune_heartbeats(*, now: datetime | None = None) -> int:
    """Delete the heartbeats of processes gone for a day; returns how many."""
    now = now or timezone.now()
    return ProcessHeartbeat.objects.filter(last_seen__lt=now - KEEP_HEARTBEATS).delete()[0]


# --- Tasks whose worker died ---------------------------------------------------------------------


def lost_tasks(*, now: datetime | None = None, among: list[DBTaskResult] | None = None) -> list[DBTaskResult]:
    """Running tasks that no live worker is running: started over TASK_WORKER_LOST_AFTER ago, and the
    process that claimed them (its worker id, started before the task) not heard from for that long.
    `among`: only of these tasks, already read (with their status, start and worker ids)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TASK_WORKER_LOST_AFTER)
    if among is None:
        suspects = list(
            DBTaskResult.objects.running()
            .filter(started_at__lt=cutoff)
            .only("id", "task_path", "started_at", "worker_ids")
        )
    else:
        suspects = [
            task
            for task in among
            if task.status == "RUNNING" and task.started_at is not None and task.started_at < cutoff
        ]
    if not suspects:
        return []
    alive = list(
        ProcessHeartbeat.objects.filter(
            kind=ProcessHeartbeat.Kind.WORKER,
            name__in={_worker_of(task) for task in suspects},
            last_seen__gte=cutoff,
        ).values_list("name", "started_at")
    )
    return [
        task
        for task in suspects
        if not any(name == _worker_of(task) and started_at <= task.started_at for name, started_at in alive)
    ]


def _worker_of(task: DBTaskResult) -> str:
    """The worker id that claimed the task last (the library appends one per claim)."""
    return task.worker_ids[-1] if task.worker_ids else ""


def reap_lost_tasks(*, now: datetime | None = None) -> int:
    """Mark lost running tasks failed ("worker lost"), so nothing counts them as running any more.

    They are not re-run: a sync or re-check is queued again by the scheduler, and a change execution has
    its own lease-based resume (peerlinks.services.execution.resume_stalled_changes).
    """
    now = now or timezone.now()
    reaped = 0
    for task in lost_tasks(now=now):
        worker = _worker_of(task) or "unknown"
        message = (
            f"{LOST_PATH}: worker lost: worker {worker} was not heard "
            f"from for {settings.TASK_WORKER_LOST_AFTER:g} s while running this task (started "
            f"{task.started_at.isoformat()}); marked failed at {now.isoformat()}, not run again.\n"
        )
        reaped += DBTaskResult.objects.filter(pk=task.pk, status="RUNNING").update(
            status="FAILED",
            finished_at=now,
            return_value=None,
            exception_class_path=LOST_PATH,
            traceback=message,
        )
        logger.warning("Task %s (%s) marked failed: worker %s lost", task.pk, task.task_path, worker)
    return reaped


# --- What /readyz/work judges --------------------------------------------------------------------


@dataclass
class WorkHealth:
    """Ages in seconds (None: nothing to measure) and what is past its bound."""

    worker_heartbeat_age_seconds: float | None
    scheduler_heartbeat_age_seconds: float | None
    oldest_due_task_wait_seconds: float | None
    oldest_running_task_age_seconds: float | None
    problems: list[str] = field(default_factory=list)


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def work_health(*, now: datetime | None = None) -> WorkHealth:
    """The newest worker and scheduler heartbeats, the longest wait of a task due to run and the oldest
    running task, each judged against its WORK_* bound."""
    now = now or timezone.now()
    beats = ProcessHeartbeat.objects.values("kind").annotate(newest=Max("last_seen"))
    newest = {row["kind"]: row["newest"] for row in beats}
    # A task queued without a delay carries the library's far-future run_after: it is due since queued.
    undelayed = Q(run_after=get_date_max())
    due = DBTaskResult.objects.ready().aggregate(
        undelayed=Min("enqueued_at", filter=undelayed), delayed=Min("run_after", filter=~undelayed)
    )
    due_since = min((t for t in (due["undelayed"], due["delayed"]) if t is not None), default=None)
    running = DBTaskResult.objects.running().aggregate(oldest=Min("started_at"))["oldest"]
    health = WorkHealth(
        worker_heartbeat_age_seconds=_age(now, newest.get(ProcessHeartbeat.Kind.WORKER)),
        scheduler_heartbeat_age_seconds=_age(now, newest.get(ProcessHeartbeat.Kind.SCHEDULER)),
        oldest_due_task_wait_seconds=_age(now, due_since),
        oldest_running_task_age_seconds=_age(now, running),
    )
    for kind, age in (
        ("worker", health.worker_heartbeat_age_seconds),
        ("scheduler", health.scheduler_heartbeat_age_seconds),
    ):
        if age is None:
            health.problems.append(f"no {kind} has reported")
        elif age > settings.WORK_HEARTBEAT_MAX_AGE:
            health.problems.append(f"no {kind} heard from for {age:g} s")
    if (health.oldest_due_task_wait_seconds or 0) > settings.WORK_QUEUE_MAX_WAIT:
        health.problems.append(f"a task due has waited {health.oldest_due_task_wait_seconds:g} s")
    if (health.oldest_running_task_age_seconds or 0) > settings.WORK_RUNNING_MAX_AGE:
        health.problems.append(f"a task has been running for {health.oldest_running_task_age_seconds:g} s")
    return health
