"""Health and readiness for load balancers and orchestrators: JSON, no login, no secrets.

`/readyz` is the web process's readiness (database and migrations): what a load balancer uses. The
background work has its own, `/readyz/work` (workers and scheduler heard from, tasks not waiting or
running too long), for monitoring: a stopped worker must not take the web servers out of rotation.
"""

from dataclasses import asdict
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max, Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from peerlinks.models import CloudProject
from peerlinks.services import processes


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers. Touches nothing else, so a database outage does not restart web servers."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers and every migration is applied. 503 otherwise.

    The age of the last sync is reported, not judged: a cloud outage must not take the site down. It is
    reported over every account, and for each account by its name (`accounts`).
    """
    checks: dict[str, object] = {}
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        connection.ensure_connection()
        checks["database"] = "ok"
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        checks["migrations"] = "ok" if not pending else f"{len(pending)} not applied"
    except Exception as exc:  # any database failure means "not ready"; the class name is enough
        checks["database"] = f"unreachable ({exc.__class__.__name__})"
        checks["migrations"] = "unknown"
    ready = checks["database"] == "ok" and checks["migrations"] == "ok"
    if ready:
        now = timezone.now()
        stamps = CloudProject.objects.aggregate(oldest=Min("synced_at"), newest=Max("synced_at"))
        checks.update(_sync_ages(stamps, now=now))
        per_account = CloudProject.objects.values("account__name").annotate(
            oldest=Min("synced_at"), newest=Max("synced_at")
        )
        checks["accounts"] = {
            row["account__name"]: _sync_ages(row, now=now) for row in per_account.order_by("account__name")
        }
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


def _sync_ages(stamps: dict, *, now: datetime) -> dict[str, float | None]:
    """Seconds since the newest and the oldest region sync (None before any)."""
    return {
        "last_sync_age_seconds": round((now - stamps["newest"]).total_seconds(), 1)
        if stamps["newest"]
        else None,
        "oldest_region_sync_age_seconds": (
            round((now - stamps["oldest"]).total_seconds(), 1) if stamps["oldest"] else None
        ),
    }


@never_cache
@require_GET
def readyz_work(request: HttpRequest) -> JsonResponse:
    """The background work runs: a worker and the scheduler were heard from lately, no task due has waited,
    none has run, too long (the WORK_* settings). 503 with the problems otherwise, or without a database."""
    try:
        health = processes.work_health()
    except DatabaseError as exc:  # unreachable, or not migrated yet: not ready either way
        return JsonResponse(
            {"status": "unavailable", "database": f"unreachable ({exc.__class__.__name__})"}, status=503
        )
    body = asdict(health)
    ok = not health.problems
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "database": "ok", **body}, status=200 if ok else 503
    )
