"""`manage.py db_worker`: django-tasks-db's worker (same options), made to ride out a database outage
and to report a heartbeat.

Django runs this command rather than the library's of the same name because `peerlinks` comes before
`django_tasks_db` in INSTALLED_APPS. The library's loop tolerates only "database is locked"; any other
database error (PostgreSQL restarting, a connection cut) ends the process, and a failure to save a task's
outcome leaves the task RUNNING (RealOrangeOne/django-tasks-db#49, #5). This worker closes the broken
connection, waits (peerlinks.services.processes.database_retry_delay) and goes on; an outcome it could not
save is saved once the database answers again.
"""

import logging
import os
import time

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker as library
from django_tasks_db.models import DBTaskResult

from peerlinks.models import ProcessHeartbeat
from peerlinks.services import processes

logger = logging.getLogger("peerlinks.worker")

OUTCOME_FIELDS = ["status", "return_value", "finished_at", "exception_class_path", "traceback"]


class Worker(library.Worker):
    """The library's worker, its loop restarted after a database error, with a heartbeat thread."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.heartbeat = processes.new_heartbeat(kind=ProcessHeartbeat.Kind.WORKER, name=self.worker_id)
        self.heartbeat_thread: processes.HeartbeatThread | None = None
        self.unsaved: DBTaskResult | None = None

    def run(self) -> None:
        failures = 0
        while self.running:
            try:
                processes.beat(self.heartbeat)
                self._save_unsaved()
                failures = 0
                self._start_heartbeat_thread()
                super().run()
                return
            except processes.DATABASE_ERRORS as exc:
                failures += 1
                delay = processes.database_retry_delay(failures)
                logger.warning(
                    "Database unavailable (%s: %s); worker %s retries in %.1f s",
                    exc.__class__.__name__,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    self.worker_id,
                    delay,
                )
                processes.drop_database_connections()
                time.sleep(delay)  # SIGTERM meanwhile exits at once (no task is running)

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        except processes.DATABASE_ERRORS:
            # The task ran but its outcome was not written (the library's own retries failed too): keep
            # it, and write it first thing once the database answers. Should this process die first, the
            # scheduler's reaper marks the task failed.
            db_task_result.traceback = (
                "Recorded late: the database was unavailable when the task ended.\n"
                + db_task_result.traceback
            )
            self.unsaved = db_task_result
            raise

    def _save_unsaved(self) -> None:
        if self.unsaved is None:
            return
        self.unsaved.save(update_fields=OUTCOME_FIELDS)
        logger.warning(
            "Task %s: outcome (%s) recorded after the outage", self.unsaved.id, self.unsaved.status
        )
        self.unsaved = None

    def _start_heartbeat_thread(self) -> None:
        # A --batch run (tests, one-off runs) beats once at each start of its loop; a long-lived worker
        # beats from a thread, so a long task does not look like a dead worker.
        if self.batch or self.heartbeat_thread is not None:
            return
        self.heartbeat_thread = processes.HeartbeatThread(self.heartbeat)
        self.heartbeat_thread.start()


class Command(library.Command):
    help = library.Command.help + " (rides out database outages; records a heartbeat)"

    def handle(
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str,
        exclude_queues: str,
        **options: object,
    ) -> None:
        # The library's handle() with our Worker: it builds its own class with no way to pass another.
        self.configure_logging(verbosity)
        if reload and batch:
            logger.warning("--reload and --batch cannot be specified together. Disabling autoreload.")
            reload = False
        queue_names = queue_name.split(",")
        excluded_queue_names = exclude_queues.split(",") if exclude_queues else []
        if excluded_queue_names and "*" not in queue_names:
            raise library.CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = Worker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded_queue_names,
        )
        if not reload:
            worker.configure_signals()
            worker.run()
            return
        if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            worker.configure_signals()  # only in the reloader's child, which runs the worker
        run_with_reloader(worker.run)
