"""The one place work is queued for the task worker, always after the current transaction commits.

Tasks are named by their path in `peerlinks.tasks` (as the queue stores them), so the tasks, which call
services, and the services, which queue tasks, never import each other.
"""

import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from peerlinks.services import processes

TASKS_MODULE = "peerlinks.tasks"
WAIT_STEP = 0.2  # seconds between two looks at the queue while waiting for a task
# Rows of the database queue that are waiting or being worked on.
UNFINISHED = ("READY", "RUNNING")


def _task(name: str) -> Any:
    return import_string(f"{TASKS_MODULE}.{name}")


def _enqueue(name: str, *args: object, delay: float = 0.0) -> None:
    task = _task(name)
    if delay > 0:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay))
    transaction.on_commit(lambda: task.enqueue(*args))


def unfinished_runs(name: str) -> QuerySet[DBTaskResult]:
    """The runs of task `name` waiting or running, whether or not their worker still lives."""
    return DBTaskResult.objects.filter(task_path=f"{TASKS_MODULE}.{name}", status__in=UNFINISHED)


def is_queued(name: str) -> bool:
    """Whether a run of task `name` is waiting or running (the database queue; never with inline tasks).

    A run whose worker died does not count, even before the scheduler reaps it: it would block the
    periodic task for good.
    """
    unfinished = list(unfinished_runs(name).only("id", "status", "started_at", "worker_ids"))
    lost = {task.pk for task in processes.lost_tasks(among=unfinished)} if unfinished else set()
    return any(task.pk not in lost for task in unfinished)


def _enqueue_once(name: str) -> bool:
    """Queue `name` unless a run is already waiting or running, which then covers this ask too."""
    if is_queued(name):
        return False
    _enqueue(name)
    return True


def execute_change(change_id: int, *, delay: float = 0.0) -> None:
    """Carry out an approved change (now, or after `delay` seconds)."""
    _enqueue("execute_change_task", change_id, delay=delay)


def changes_waiting_to_execute() -> set[int]:
    """Changes that have an execute task waiting in the queue: it will claim or resume them when it runs."""
    waiting = DBTaskResult.objects.filter(
        task_path=f"{TASKS_MODULE}.execute_change_task", status="READY"
    ).values_list("args_kwargs", flat=True)
    return {args_kwargs["args"][0] for args_kwargs in waiting if args_kwargs.get("args")}


def follow_change(change_id: int, *, delay: float) -> None:
    """Look at the link of an executing change again after `delay` seconds."""
    _enqueue("follow_change_task", change_id, delay=delay)


def sync_all_regions() -> bool:
    """A full sync of every region; merged into one already waiting or running. True if queued."""
    return _enqueue_once("sync_all_regions")


def wait_for_full_sync(*, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the full sync waiting or running to end; True if none is left."""
    deadline = time.monotonic() + timeout
    while is_queued("sync_all_regions"):
        if time.monotonic() >= deadline:
            return False
        time.sleep(WAIT_STEP)
    return True


def recheck_pending_links() -> bool:
    """A re-check of the gateways holding a pending link; merged like the full sync."""
    return _enqueue_once("recheck_pending_links")


def expire_changes() -> bool:
    """End undecided requests whose time ran out."""
    return _enqueue_once("expire_changes_task")


def release_changes() -> bool:
    """Queue approved requests whose change window opened."""
    return _enqueue_once("release_changes_task")


def notify(
    event: str,
    *,
    change_id: int,
    approval_id: int | None = None,
    comment_id: int | None = None,
    people: bool = True,
) -> None:
    """Tell people about a change request (`peerlinks.services.notifications.notify`), by mail and notice;
    with `people` False, only the webhooks (a batch's decision tells its people once: `notify_batch`)."""
    if not people:
        _enqueue("notify_task", event, change_id, approval_id, comment_id, False)
    elif comment_id is None:
        _enqueue("notify_task", event, change_id, approval_id)
    else:
        _enqueue("notify_task", event, change_id, approval_id, comment_id)


def notify_batch(event: str, *, batch_id: int, approval_ids: list[int]) -> None:
    """Tell a batch's requester about one decision on its rows (the approvals it recorded), once."""
    _enqueue("notify_batch_task", event, batch_id, approval_ids)


def notify_attachment(event: str, *, attachment_id: int) -> None:
    """Tell people about an attachment waiting for acceptance ("waiting", "accepted", "rejected")."""
    _enqueue("notify_attachment_task", event, attachment_id)


def deliver_webhook(delivery_id: int, *, delay: float = 0.0) -> None:
    """Send one webhook delivery (now, or after `delay` seconds: a retry's backoff)."""
    _enqueue("deliver_webhook_task", delivery_id, delay=delay)
