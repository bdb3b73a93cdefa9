"""The dashboard's reads: counts by status, links in trouble, how fresh each region's data is, drift and
recent activity; acknowledging drift; gateways by region. Everything here reads the cache.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from peerlinks.models import (
    AuditEvent,
    ChangeRequest,
    CloudProject,
    Drift,
    Gateway,
    PeerLink,
)
from peerlinks.permissions import APPROVE
from peerlinks.presentation.text import describe_problem
from peerlinks.services import dispatch
from peerlinks.services.approvals import awaiting_decision
from peerlinks.services.audit import record_audit
from peerlinks.services.lifecycle import check_engineer_in
from peerlinks.services.notifications import unread_notice_count

RECENT = 10
LISTED = 50


@dataclass
class RegionSync:
    """When a region was last synced, whether that is too long ago, and why the last try failed."""

    region: str
    synced_at: datetime | None = None
    sync_error: str = ""
    sync_problem: str = ""  # in the reader's language
    sync_failed_at: datetime | None = None
    gateways: int = 0
    stale: bool = True


@dataclass
class UnmanagedRegions:
    """Regions the account has (noted by a full sync) or that were synced once, not in CLOUD_REGIONS."""

    with_gateways: list[CloudProject]  # … holding global DC gateways dcportal does not show
    not_looked_at: list[str]  # … whose gateways could not be counted
    without_gateways: list[str]  # … holding none

    def __bool__(self) -> bool:
        return bool(self.with_gateways or self.not_looked_at)


@dataclass
class DashboardLive:
    """The parts of the dashboard that update while it is open: counts, drift and each region's sync."""

    counts: dict[str, int]
    total: int
    regions: list[RegionSync]
    drifts: list[Drift]
    drift_count: int


@dataclass
class Dashboard:
    unmanaged_regions: UnmanagedRegions
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
    counts = status_counts()
    too_long = timedelta(seconds=settings.PENDING_TOO_LONG)
    drifts = Drift.objects.filter(acknowledged_at__isnull=True).select_related("peer_link__gateway__project")
    return Dashboard(
        unmanaged_regions=unmanaged_regions(),
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
        recent_events=list(AuditEvent.objects.select_related("change_request")[:RECENT]),
        pending_too_long_after=too_long,
    )


def build_dashboard_live(*, now: datetime | None = None) -> DashboardLive:
    """What the dashboard's live parts show, without the lists that do not update in place."""
    counts = status_counts()
    drifts = Drift.objects.filter(acknowledged_at__isnull=True).select_related("peer_link__gateway__project")
    listed = list(drifts[:LISTED])
    return DashboardLive(
        counts=counts,
        total=sum(counts.values()),
        regions=region_syncs(now=now or timezone.now()),
        drifts=listed,
        drift_count=len(listed) if len(listed) < LISTED else drifts.count(),
    )


def status_counts() -> dict[str, int]:
    """Present links per status (every status, 0 for none)."""
    counts = dict.fromkeys(PeerLink.Status.values, 0)
    for row in PeerLink.objects.present().values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def approvals_waiting(user: AbstractBaseUser) -> int:
    """Requests waiting for this approver's decision (approvals.awaiting_decision; 0 for non-approvers)."""
    if not user.has_perm(APPROVE):
        return 0
    return awaiting_decision(user).count()


def synced_since(moment: datetime) -> bool:
    """Whether every managed region has been synced since `moment`."""
    fresh = CloudProject.objects.filter(region__in=settings.CLOUD_REGIONS, synced_at__gte=moment)
    return fresh.count() == len(settings.CLOUD_REGIONS)


def unmanaged_regions() -> UnmanagedRegions:
    """The regions dcportal does not show: those worth naming first, then the rest."""
    rows = list(CloudProject.objects.exclude(region__in=settings.CLOUD_REGIONS).order_by("region"))
    return UnmanagedRegions(
        with_gateways=[row for row in rows if row.unmanaged_gateways],
        not_looked_at=[row.region for row in rows if row.unmanaged_gateways is None],
        without_gateways=[row.region for row in rows if row.unmanaged_gateways == 0],
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
    # A region only noted as the account's (never synced, no gateways) is not shown: see unmanaged_regions.
    cached = [r for r, p in projects.items() if p.synced_at is not None or p.n_gateways]
    regions = list(dict.fromkeys([*settings.CLOUD_REGIONS, *cached]))
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
                sync_problem=describe_problem(project.sync_problem)
                or _("The last sync with Huawei Cloud failed."),
                sync_failed_at=project.sync_failed_at,
                gateways=project.n_gateways,
                stale=project.synced_at is None or project.synced_at < stale_before,
            )
        )
    return rows


@dataclass
class CloudOutage:
    """Managed regions whose last sync failed outright: since when, and the data shown dates from when."""

    regions: list[RegionSync]
    since: datetime
    cached_from: datetime | None

    @property
    def problem(self) -> str:
        return self.regions[0].sync_problem

    @property
    def region_names(self) -> str:
        return ", ".join(row.region for row in self.regions)


def cloud_outage(*, now: datetime | None = None) -> CloudOutage | None:
    """The cloud as every page's banner tells it: None while the last sync of each managed region got its
    answers (a gateway that could not be listed is the region's note, not an outage)."""
    failing = [
        row
        for row in region_syncs(now=now or timezone.now())
        if row.region in settings.CLOUD_REGIONS
        and row.sync_error
        and row.sync_failed_at is not None
        and (row.synced_at is None or row.synced_at < row.sync_failed_at)
    ]
    if not failing:
        return None
    synced = [row.synced_at for row in failing if row.synced_at is not None]
    return CloudOutage(
        regions=failing,
        since=min(row.sync_failed_at for row in failing),
        cached_from=min(synced) if len(synced) == len(failing) else None,
    )


@dataclass
class LiveFacts:
    """What a page's live parts show: the navigation's counts, the cloud banner and, on the dashboard,
    its counts, drift and syncs (a Dashboard or a DashboardLive), on the gateway list its regions."""

    approvals_waiting: int
    notices_unread: int
    outage: CloudOutage | None
    dashboard: Dashboard | DashboardLive | None = None
    gateway_groups: list[tuple[RegionSync, list[Gateway]]] | None = None
    sync_queued: bool | None = None  # on pages with the Refresh button: whether a full sync waits or runs

    @property
    def page(self) -> str:
        """Which page's parts these are: `dashboard`, `gateways` or "" (the navigation and banner only)."""
        if self.dashboard is not None:
            return "dashboard"
        return "gateways" if self.gateway_groups is not None else ""

    @property
    def version(self) -> str:
        """A fingerprint of these facts: a page's poll gets its live parts again only when it changed."""
        outage = self.outage and [
            (r.region, r.sync_failed_at, r.synced_at, r.sync_error) for r in self.outage.regions
        ]
        facts: list = [self.approvals_waiting, self.notices_unread, outage, self.sync_queued]
        if self.dashboard is not None:
            dash = self.dashboard
            facts += [
                dash.counts,
                dash.drift_count,
                [(d.pk, d.detected_at) for d in dash.drifts],
                [_region_facts(r) for r in dash.regions],
            ]
        for region, gateways in self.gateway_groups or []:
            facts.append(_region_facts(region))
            facts += [
                (g.cloud_id, g.name, g.status, g.current_peer_link_count, g.available_peer_link_count)
                + (g.links_synced_at,)
                for g in gateways
            ]
        return hashlib.sha256(repr(facts).encode()).hexdigest()[:16]


def _region_facts(r: RegionSync) -> tuple:
    return (r.region, r.synced_at, r.sync_failed_at, r.sync_error, r.stale, r.gateways)


def live_facts(*, user: AbstractBaseUser, page: str = "", now: datetime | None = None) -> LiveFacts:
    """What a page's live parts show now (`page`: `dashboard` or `gateways` for theirs too)."""
    now = now or timezone.now()
    return LiveFacts(
        approvals_waiting=approvals_waiting(user),
        notices_unread=unread_notice_count(user),
        outage=cloud_outage(now=now),
        dashboard=build_dashboard_live(now=now) if page == "dashboard" else None,
        gateway_groups=gateways_by_region(now=now) if page == "gateways" else None,
        sync_queued=dispatch.is_queued("sync_all_regions") if page else None,
    )


def acknowledge_drift(
    *, drift_id: int, user: AbstractBaseUser, action: str = "drift.acknowledged", note: dict | None = None
) -> Drift:
    """Mark a drift as seen by `user`; acknowledging twice keeps the first acknowledgement.

    Adopting or reverting a drift deals with it too: `action` names how in the audit log, `note` adds to it.
    Only an engineer in the link's account may (ChangeForbidden).
    """
    with transaction.atomic():
        drift = Drift.objects.select_for_update().select_related("peer_link").get(pk=drift_id)
        check_engineer_in(user, drift.peer_link.gateway.account)
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
