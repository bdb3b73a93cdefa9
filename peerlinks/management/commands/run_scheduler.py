"""Enqueue the periodic work: sync, re-check pending links, resume, expire and release changes.

Three cadences: a full sync every SYNC_INTERVAL; while a link is pending, a re-check of the gateways
holding one every PENDING_LINK_RECHECK_INTERVAL (what makes a status change show quickly); change upkeep
every PENDING_RECHECK_INTERVAL.
"""

import time
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks import tasks
from peerlinks.models import ChangeRequest, PeerLink
from peerlinks.services.execution import resume_stalled_changes


def _already_queued(task: object) -> bool:
    """A sync still queued or running is not queued again (several schedulers may run)."""
    path = f"{task.func.__module__}.{task.func.__qualname__}"
    return DBTaskResult.objects.filter(task_path=path, status__in=["READY", "RUNNING"]).exists()


def _enqueue_pending_recheck() -> None:
    """While any link is pending, one re-check at a time: it lists each gateway that has one, once."""
    if PeerLink.objects.present().pending().exists() and not _already_queued(tasks.recheck_pending_links):
        tasks.recheck_pending_links.enqueue()


def _enqueue_change_upkeep(*, now: datetime) -> None:
    """Expire undecided requests and release those whose change window opened (both cheap to ask)."""
    pending = ChangeRequest.objects.filter(state=ChangeRequest.State.PENDING_APPROVAL, expires_at__lte=now)
    if pending.exists() and not _already_queued(tasks.expire_changes_task):
        tasks.expire_changes_task.enqueue()
    waiting = ChangeRequest.objects.filter(state=ChangeRequest.State.APPROVED, not_before__lte=now)
    if waiting.exists() and not _already_queued(tasks.release_changes_task):
        tasks.release_changes_task.enqueue()


class Command(BaseCommand):
    help = "Enqueue the periodic sync and pending re-checks, forever (or once with --once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now, then exit.")

    def handle(self, *args: object, once: bool = False, **options: object) -> None:
        next_sync = next_recheck = next_upkeep = 0.0
        while True:
            now = time.monotonic()
            if now >= next_sync:
                if not _already_queued(tasks.sync_all_regions):
                    tasks.sync_all_regions.enqueue()
                next_sync = now + settings.SYNC_INTERVAL
            if now >= next_recheck:
                _enqueue_pending_recheck()
                next_recheck = now + settings.PENDING_LINK_RECHECK_INTERVAL
            if now >= next_upkeep:
                resume_stalled_changes()
                _enqueue_change_upkeep(now=timezone.now())
                next_upkeep = now + settings.PENDING_RECHECK_INTERVAL
            if once:
                return
            due = min(next_sync, next_recheck, next_upkeep)
            time.sleep(max(0.05, due - time.monotonic()))
