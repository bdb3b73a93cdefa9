"""Read models for the pages: the dashboard summary, a peer link's whole story, drift acknowledgement.

Everything here reads the cache; the one live cloud call (an ER attachment's state) is wrapped so a
cloud outage becomes a message on the page, never an error page.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import (
    AuditEvent,
    ChangeRequest,
    CloudProject,
    Drift,
    Gateway,
    PeerLink,
    StatusChange,
)
from peerlinks.services.changes import record_audit

RECENT = 10
LISTED = 50
# The link page waits at most this long (per connect and per read) for the live attachment state, and
# does not retry: the state is a nice-to-have, a slow cloud must not hold a web worker for 30 s × retries.
ATTACHMENT_TIMEOUT = 2.0


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

    @property
    def any_stale(self) -> bool:
        return any(region.stale for region in self.regions)

    @property
    def pending_limit(self) -> str:
        seconds = self.pending_too_long_after.total_seconds()
        return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


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
        recent_events=with_object_urls(list(AuditEvent.objects.all()[:RECENT])),
        pending_too_long_after=too_long,
    )


def with_object_urls(events: list[AuditEvent]) -> list[AuditEvent]:
    """Give each event an `object_url` to the page of what it touched, when there is one."""
    for event in events:
        event.object_url = ""
        try:
            if event.object_type == "peer_link":
                event.object_url = reverse("peerlinks:detail", args=[event.object_id])
            elif event.object_type == "change_request":
                event.object_url = reverse("peerlinks:change_detail", args=[int(event.object_id)])
        except (NoReverseMatch, ValueError):
            pass
    return events


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


def acknowledge_drift(*, drift_id: int, user: AbstractBaseUser) -> Drift:
    """Mark a drift as seen by `user`; acknowledging twice keeps the first acknowledgement."""
    with transaction.atomic():
        drift = Drift.objects.select_for_update().select_related("peer_link").get(pk=drift_id)
        if drift.acknowledged_at is not None:
            return drift
        drift.acknowledged_at = timezone.now()
        drift.acknowledged_by = user
        drift.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record_audit(
            action="drift.acknowledged",
            actor=user,
            obj=drift.peer_link,
            after={"drift": drift.pk, "kind": drift.kind},
        )
    return drift


@dataclass
class AttachmentState:
    """The ER side of an ER peer link, as the cloud says right now (or why we could not ask)."""

    state: str = ""
    error: str = ""
    attachment: "cloud.ErAttachment | None" = None


def fetch_er_attachment_state(*, link: PeerLink) -> AttachmentState | None:
    """The live state of an ER peer link's attachment; None when there is nothing to ask about."""
    if link.peer_type != PeerLink.PeerType.ER or not link.link_id or link.gone_at is not None:
        return None
    config = cloud.CloudConfig.from_settings()
    config = replace(
        config,
        connect_timeout=min(config.connect_timeout, ATTACHMENT_TIMEOUT),
        read_timeout=min(config.read_timeout, ATTACHMENT_TIMEOUT),
        max_retries=0,
    )
    try:
        attachment = cloud.show_er_attachment(
            region=link.peer_region, er_id=link.peer_gateway_id, attachment_id=link.link_id, config=config
        )
    except cloud.CloudError as exc:
        return AttachmentState(error=str(exc) or type(exc).__name__)
    return AttachmentState(state=str(attachment.state or "unknown"), attachment=attachment)


@dataclass
class LinkStory:
    """What a peer link's page shows besides its own fields."""

    timeline: list[StatusChange]
    changes: list[ChangeRequest]
    events: list[AuditEvent]
    cloud_request_ids: list[str]
    drifts: list[Drift]


def build_link_story(*, link: PeerLink) -> LinkStory:
    """Status history, the change requests and audit events that touched the link, its cloud request ids."""
    changes = list(link.change_requests.select_related("requested_by"))
    events = list(
        AuditEvent.objects.filter(
            Q(object_type="peer_link", object_id=link.cloud_id) | Q(change_request__peer_link=link)
        ).distinct()[:100]
    )
    request_ids = [rid for change in reversed(changes) for rid in change.cloud_request_ids]
    request_ids += [event.cloud_request_id for event in reversed(events) if event.cloud_request_id]
    return LinkStory(
        timeline=list(link.status_changes.all()),
        changes=changes,
        events=events,
        cloud_request_ids=list(dict.fromkeys(request_ids)),
        drifts=list(link.drifts.select_related("acknowledged_by")),
    )


def update_local_fields(
    *, link_id: int, user: AbstractBaseUser, owner_team: str, ticket_ref: str, labels: list[str]
) -> PeerLink:
    """Set a link's local fields and audit the change (nothing is written when nothing changed)."""
    with transaction.atomic():
        link = PeerLink.objects.select_for_update().get(pk=link_id)
        before = {"owner_team": link.owner_team, "ticket_ref": link.ticket_ref, "labels": list(link.labels)}
        after = {"owner_team": owner_team, "ticket_ref": ticket_ref, "labels": list(labels)}
        if before == after:
            return link
        link.owner_team, link.ticket_ref, link.labels = owner_team, ticket_ref, list(labels)
        link.save(update_fields=["owner_team", "ticket_ref", "labels"])
        record_audit(action="peer_link.local_fields", actor=user, obj=link, before=before, after=after)
    return link


def gateways_by_region(*, now: datetime | None = None) -> list[tuple[RegionSync, list[Gateway]]]:
    """Every present gateway grouped under its region's sync state; regions without gateways included."""
    groups = {row.region: (row, []) for row in region_syncs(now=now or timezone.now())}
    gateways = Gateway.objects.present().select_related("project").order_by("project__region", "name")
    for gateway in gateways:
        groups.setdefault(gateway.region, (RegionSync(region=gateway.region), []))[1].append(gateway)
    return list(groups.values())
