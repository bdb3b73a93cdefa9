"""Enqueue the periodic work: sync, re-check pending links, resume, expire and release changes.

Three cadences: a full sync every SYNC_INTERVAL; while a link is pending, a re-check of the gateways
holding one every PENDING_LINK_RECHECK_INTERVAL (what makes a status change show quickly); change upkeep
every PENDING_RECHECK_INTERVAL. Everything is queued through peerlinks.services.dispatch, which merges an
ask into a run already waiting or running (several schedulers may run; the sync's region claim covers
what two of them queue at the same instant).

Each round also records the scheduler's heartbeat and reaps tasks whose worker died
(peerlinks.services.processes). A database error does not end it: it drops the connection, waits
(0.5 s doubling up to DATABASE_RETRY_MAX_DELAY) and tries the round again.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from peerlinks.models import ChangeRequest, PeerLink, ProcessHeartbeat
from peerlinks.services import dispatch, lifecycle, processes, webhooks
from peerlinks.services.execution import resume_stalled_changes

logger = logging.getLogger("peerlinks.scheduler")


def _enqueue_sync() -> None:
    dispatch.sync_all_regions()


def _enqueue_pending_recheck() -> None:
    """While any link is pending, one re-check at a time: it lists each gateway that has one, once."""
    if PeerLink.objects.present().pending().exists():
        dispatch.recheck_pending_links()


def _enqueue_change_upkeep(*, now: datetime) -> None:
    """Resume stalled executions and webhook deliveries, expire undecided requests, release those whose
    change window is open (by the policy as it stands now: widened or turned off since they were approved,
    too) or follow it when it moved."""
    resume_stalled_changes()
    webhooks.resume_stalled_deliveries()
    if ChangeRequest.objects.filter(lifecycle.due("expire", now=now)).exists():
        dispatch.expire_changes()
    window = lifecycle.due("release", now=now) | lifecycle.due("reschedule", now=now)
    if ChangeRequest.objects.filter(window).exists():
        dispatch.release_changes()


class Scheduler:
    """The three cadences, on a monotonic clock and a sleep of its own (a test passes fakes)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.heartbeat = processes.new_heartbeat(kind=ProcessHeartbeat.Kind.SCHEDULER)
        self.next_beat = 0.0
        # Heartbeats missed during an outage this scheduler saw itself say nothing about the workers:
        # after one, it gives them TASK_WORKER_LOST_AFTER to be heard from again before it reaps.
        self.reap_from = 0.0

    def run(self, *, once: bool = False) -> None:
        """Enqueue what is due, then sleep until the next thing is; forever, or one round with `once`."""
        next_sync = next_recheck = next_upkeep = 0.0
        failures = 0
        while True:
            try:
                now = self.clock()
                self._upkeep(now)
                if now >= next_sync:
                    _enqueue_sync()
                    next_sync = now + settings.SYNC_INTERVAL
                if now >= next_recheck:
                    _enqueue_pending_recheck()
                    next_recheck = now + settings.PENDING_LINK_RECHECK_INTERVAL
                if now >= next_upkeep:
                    _enqueue_change_upkeep(now=timezone.now())
                    next_upkeep = now + settings.PENDING_RECHECK_INTERVAL
                failures = 0
            except processes.DATABASE_ERRORS as exc:
                if once:
                    raise
                failures += 1
                delay = processes.database_retry_delay(failures)
                logger.warning(
                    "Database unavailable (%s); scheduler retries in %.1f s", exc.__class__.__name__, delay
                )
                processes.drop_database_connections()
                self.reap_from = self.clock() + settings.TASK_WORKER_LOST_AFTER
                self.sleep(delay)
                continue
            if once:
                return
            # The heartbeat is a cadence too: it keeps its interval when the others are longer.
            due = min(next_sync, next_recheck, next_upkeep, self.next_beat)
            self.sleep(max(0.05, due - self.clock()))

    def _upkeep(self, now: float) -> None:
        """The scheduler's own: its heartbeat and pruning old ones (every TASK_HEARTBEAT_INTERVAL), and
        reaping tasks whose worker died (every round, before anything is queued: a dead run must not
        stand in for the next)."""
        if now >= self.next_beat:
            processes.beat(self.heartbeat)
            processes.prune_heartbeats()
            self.next_beat = now + settings.TASK_HEARTBEAT_INTERVAL
        if now >= self.reap_from:
            processes.reap_lost_tasks()


class Command(BaseCommand):
    help = "Enqueue the periodic sync and pending re-checks, forever (or once with --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now, then exit.")

    def handle(self, *args: object, once: bool = False, **options: object) -> None:
        Scheduler().run(once=once)
