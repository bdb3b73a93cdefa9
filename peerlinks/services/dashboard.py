"""The dashboard's reads: counts by status, links in trouble, how fresh each region's data is, drift and
recent activity; acknowledging drift; gateways by region. Everything here reads the cache.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from peerlinks.models import (
    AuditEvent,
    ChangeRequest,
    CloudProject,
    Drift,
    Gateway,
    PeerLink,
)
from peerlinks.services.audit import record_audit

RECENT = 10
LISTED = 50


@dataclass
class RegionSync:
    """When a region was last synced, whether that is too long ago, and why the last try failed."""

    region: str
    synced_at: datetime | None = None
    sync_error: str = ""
    sync_failed_at: datetime | None = None
    gateways: int = 0
    stale: bool = True


@dataclass
class Dashboard:
    counts: dict[str, int]
    total: int
    errors: list[PeerLink]
    pending_too_long: list[PeerLink]
    regions: list[RegionSync]
    drifts: list[Drift]
    drift_count: int
    recent_changes: list[ChangeRequest]
    recent_events: list[AuditEvent]
    pending_too_long_after: timedelta = field(default_factory=lambda: timedelta(0))


def build_dashboard(*, now: datetime | None = None) -> Dashboard:
    """Everything the home page shows, in a fixed number of queries."""
    now = now or timezone.now()
    present = PeerLink.objects.present()
    counts = dict.fromkeys(PeerLink.Status.values, 0)
    for row in present.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    too_long = timedelta(seconds=settings.PENDING_TOO_LONG)
    drifts = Drift.objects.filter(acknowledged_at__isnull=True).select_related("peer_link__gateway__project")
    return Dashboard(
        counts=counts,
        total=sum(counts.values()),
        errors=list(present.filter(status=PeerLink.Status.ERROR).for_list()[:LISTED]),
        pending_too_long=list(pending_too_long(now=now)[:LISTED]),
        regions=region_syncs(now=now),
        drifts=list(drifts[:LISTED]),
        drift_count=drifts.count(),
        recent_changes=list(
            ChangeRequest.objects.select_related("requested_by", "gateway", "peer_link")[:RECENT]
        ),
        recent_events=list(AuditEvent.objects.all()[:RECENT]),
        pending_too_long_after=too_long,
    )


def pending_too_long(*, now: datetime) -> QuerySet[PeerLink]:
    """Links still pending since longer than settings.PENDING_TOO_LONG (since their last status change)."""
    cutoff = now - timedelta(seconds=settings.PENDING_TOO_LONG)
    return (
        PeerLink.objects.present()
        .pending()
        .for_list()
        .annotate(pending_since=Max("status_changes__observed_at"))
        .filter(Q(pending_since__lt=cutoff) | Q(pending_since__isnull=True, first_seen_at__lt=cutoff))
        .order_by("pending_since", "name")
    )


def region_syncs(*, now: datetime) -> list[RegionSync]:
    """Every managed region (and any cached one), with its last sync and a stale flag."""
    stale_before = now - timedelta(seconds=settings.STALE_AFTER)
    projects = {
        p.region: p
        for p in CloudProject.objects.annotate(
            n_gateways=Count("gateways", filter=Q(gateways__gone_at__isnull=True))
        )
    }
    regions = list(dict.fromkeys([*settings.CLOUD_REGIONS, *projects]))
    rows = []
    for region in regions:
        project = projects.get(region)
        if project is None:
            rows.append(RegionSync(region=region))
            continue
        rows.append(
            RegionSync(
                region=region,
                synced_at=project.synced_at,
                sync_error=project.sync_error,
                sync_failed_at=project.sync_failed_at,
                gateways=project.n_gateways,
                stale=project.synced_at is None or project.synced_at < stale_before,
            )
        )
    return rows


def acknowledge_drift(
    *, drift_id: int, user: AbstractBaseUser, action: str = "drift.acknowledged", note: dict | None = None
) -> Drift:
    """Mark a drift as seen by `user`; acknowledging twice keeps the first acknowledgement.

    Adopting or reverting a drift deals with it too: `action` names how in the audit log, `note` adds to it.
    """
    with transaction.atomic():
        drift = Drift.objects.select_for_update().select_related("peer_link").get(pk=drift_id)
        if drift.acknowledged_at is not None:
            return drift
        drift.acknowledged_at = timezone.now()
        drift.acknowledged_by = user
        drift.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record_audit(
            action=action,
            actor=user,
            obj=drift.peer_link,
            after={"drift": drift.pk, "kind": drift.kind, **(note or {})},
        )
    return drift


def gateways_by_region(*, now: datetime | None = None) -> list[tuple[RegionSync, list[Gateway]]]:
    """Every present gateway grouped under its region's sync state; regions without gateways included."""
    groups = {row.region: (row, []) for row in region_syncs(now=now or timezone.now())}
    gateways = Gateway.objects.present().select_related("project").order_by("project__region", "name")
    for gateway in gateways:
        groups.setdefault(gateway.region, (RegionSync(region=gateway.region), []))[1].append(gateway)
    return list(groups.values())
