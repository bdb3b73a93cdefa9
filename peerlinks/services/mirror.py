"""The one writer of cached cloud rows: how a wire peer link (gateway, router) maps onto its row, and how a
new value is written with the status change it makes.

The sync writes many rows at once (`link_values`, `apply_link`, then bulk statements); the executor writes
the one link it just changed (`store_link`, `mark_gone`). Both map and record through the same functions.

Lock order for every writer of the cache: region (CloudProject) → gateways → peer links → change requests.
"""

import hashlib
from datetime import datetime
from operator import itemgetter

from django.db import IntegrityError, transaction
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import EnterpriseRouter, Gateway, PeerLink, SharedAttachment, StatusChange
from peerlinks.services import webhooks

# Fields the cloud owns on a cached peer link; the rest (owner team, ticket, labels, stamps) are local.
LINK_FIELDS = (
    "name",
    "description",
    "status",
    "reason",
    "peer_type",
    "peer_gateway_id",
    "peer_region",
    "peer_project_id",
    "peer_site_code",
    "link_id",
    "bandwidth_size",
    "gcb_id",
    "create_owner",
    "instance_id",
    "tenant_id",
    "cloud_created_at",
    "cloud_updated_at",
)
# Fields the cloud owns on a cached gateway and enterprise router.
GATEWAY_FIELDS = (
    "name",
    "description",
    "region_id",
    "bgp_asn",
    "status",
    "admin_state_up",
    "current_peer_link_count",
    "available_peer_link_count",
    "reason",
    "cloud_created_at",
    "cloud_updated_at",
)
ROUTER_FIELDS = ("name", "description", "state", "asn")
# The cloud's timestamps among LINK_FIELDS: digested as instants (str() of a datetime is slow, 1.5 us).
_LINK_STAMPS = ("cloud_created_at", "cloud_updated_at")
_plain_link_values = itemgetter(*(name for name in LINK_FIELDS if name not in _LINK_STAMPS))


def gateway_values(gateway: "cloud.GlobalDcGateway") -> dict:
    """The cache's view of a wire global DC gateway: a value for every field in GATEWAY_FIELDS."""
    return {
        "name": gateway.name or "",
        "description": gateway.description or "",
        "region_id": gateway.region_id or "",
        "bgp_asn": gateway.bgp_asn,
        "status": str(gateway.status or ""),
        "admin_state_up": bool(gateway.admin_state_up) if gateway.admin_state_up is not None else True,
        "current_peer_link_count": gateway.current_peer_link_count or 0,
        "available_peer_link_count": gateway.available_peer_link_count or 0,
        "reason": gateway.reason or "",
        "cloud_created_at": gateway.created_time,
        "cloud_updated_at": gateway.updated_time,
    }


def router_values(router: "cloud.EnterpriseRouter") -> dict:
    """The cache's view of a wire enterprise router: a value for every field in ROUTER_FIELDS."""
    return {
        "name": router.name or "",
        "description": router.description or "",
        "state": str(router.state or ""),
        "asn": router.asn,
    }


def link_values(link: "cloud.PeerLink") -> dict:
    """The cache's view of a wire peer link: a value for every field in LINK_FIELDS."""
    site = link.peer_site
    bandwidth = link.bandwidth_info
    return {
        "name": link.name or "",
        "description": link.description or "",
        "status": str(link.status or ""),
        "reason": link.reason or "",
        "peer_type": str(site.type or "") if site else "",
        "peer_gateway_id": (site.gateway_id or "") if site else "",
        "peer_region": (site.region_id or "") if site else "",
        "peer_project_id": (site.project_id or "") if site else "",
        "peer_site_code": (site.site_code or "") if site else "",
        "link_id": (site.link_id or "") if site else "",
        "bandwidth_size": (bandwidth.bandwidth_size or 0) if bandwidth else 0,
        "gcb_id": (bandwidth.gcb_id or "") if bandwidth else "",
        "create_owner": str(link.create_owner or ""),
        "instance_id": link.instance_id or "",
        "tenant_id": link.tenant_id or "",
        "cloud_created_at": link.created_time,
        "cloud_updated_at": link.updated_time,
    }


def link_digest(values: dict) -> str:
    """A short hash of `values` (from `link_values`), kept on the row as cloud_digest: a cached row whose
    digest is the one of what the cloud shows now holds every LINK_FIELDS value as the cloud does."""
    stamps = (values[name].timestamp() if values[name] else None for name in _LINK_STAMPS)
    text = "\x1f".join(map(str, (*_plain_link_values(values), *stamps)))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def apply_link(row: PeerLink, values: dict, *, now: datetime) -> tuple[list[str], StatusChange | None]:
    """Set `values` (from `link_values`) on a cached row, unsaved; a gone row comes back.

    Returns the fields that changed ("gone_at" and "cloud_digest" among them when they did) and the status
    change to record with it, if the status moved. The row is stamped as synced `now` either way.
    """
    changed = [name for name in LINK_FIELDS if getattr(row, name) != values[name]]
    transition = None
    if "status" in changed:
        transition = StatusChange(
            peer_link=row,
            from_status=row.status,
            to_status=values["status"],
            reason=values["reason"],
            observed_at=now,
        )
    for name in changed:
        setattr(row, name, values[name])
    if row.gone_at is not None:
        row.gone_at = None
        changed.append("gone_at")
    digest = link_digest(values)
    if row.cloud_digest != digest:
        row.cloud_digest = digest
        changed.append("cloud_digest")
    row.synced_at = now
    return changed, transition


def is_older(values: dict, *, than: PeerLink) -> bool:
    """Whether `values` (from `link_values`) describe the link as it was before the row's state."""
    theirs, ours = values["cloud_updated_at"], than.cloud_updated_at
    return theirs is not None and ours is not None and theirs < ours


def first_status(row: PeerLink, *, now: datetime) -> StatusChange:
    """The status a link had when dcportal first saw it."""
    return StatusChange(peer_link=row, to_status=row.status, reason=row.reason, observed_at=now)


def store_link(*, gateway: Gateway, link: "cloud.PeerLink") -> PeerLink:
    """Write what the cloud just said about one link into the cache, with its status history.

    A reply older than what the row holds (the cloud's `updated_at` before the row's: a slow call
    answered after a sync or another attempt recorded newer state) is not written. Call inside a
    transaction: the row stays locked until it commits.
    """
    values = link_values(link)
    now = timezone.now()
    row = PeerLink.objects.select_for_update().filter(cloud_id=link.id).first()
    if row is None:
        try:
            with transaction.atomic():
                row = PeerLink.objects.create(
                    cloud_id=link.id,
                    gateway=gateway,
                    synced_at=now,
                    first_seen_at=now,
                    cloud_digest=link_digest(values),
                    **values,
                )
                first_status(row, now=now).save()
            return row
        except IntegrityError:
            # A sync stored it a moment ago; update that row instead.
            row = PeerLink.objects.select_for_update().get(cloud_id=link.id)
    if is_older(values, than=row):
        return row
    changed, transition = apply_link(row, values, now=now)
    if transition is not None:
        transition.save()
        # Subscribers hear about a status the executor saw as about one a sync saw.
        webhooks.publish_link_events(
            transitions=[transition], drifts=[], gateways=[gateway], account_id=gateway.project.account_id
        )
    row.save(update_fields=[*changed, "synced_at"])
    return row


def set_gone(row: PeerLink, *, now: datetime, seen_at: datetime | None) -> list[str]:
    """Mark a cached row gone from the cloud, unsaved; the fields to save.

    `seen_at` is the last time its gateway's links were listed with it among them: a present link's last
    sync is its gateway's (PeerLink.last_synced_at), a gone one keeps the last time it was seen.
    """
    row.gone_at = now
    if seen_at is not None and (row.synced_at is None or row.synced_at < seen_at):
        row.synced_at = seen_at
    return ["gone_at", "synced_at"]


def mark_gone(row: PeerLink) -> None:
    """Record that a link no longer exists in the cloud (kept for its history)."""
    with transaction.atomic():
        row = PeerLink.objects.select_for_update(of=("self",)).select_related("gateway").get(pk=row.pk)
        if row.gone_at is None:
            fields = set_gone(row, now=timezone.now(), seen_at=row.gateway.links_synced_at)
            row.save(update_fields=fields)


def store_shared_attachment(
    *,
    router: EnterpriseRouter,
    attachment: "cloud.ErAttachment",
    now: datetime,
    known: SharedAttachment | None,
) -> tuple[SharedAttachment | None, bool]:
    """Write what the cloud says about an attachment on a managed router: one that waits is kept (made if
    new), a kept one gets its state (stamped decided when it stops waiting). Returns the row (None: not
    kept) and whether it just started waiting. `known` is its row, locked, if there is one."""
    state = str(attachment.state or "")
    if known is None:
        if state != SharedAttachment.WAITING:
            return None, False
        row, made = SharedAttachment.objects.get_or_create(
            cloud_id=attachment.id,
            defaults={
                "router": router,
                "name": attachment.name or "",
                "resource_id": attachment.resource_id or "",
                "resource_project_id": attachment.resource_project_id or "",
                "state": state,
                "first_seen_at": now,
                "synced_at": now,
            },
        )
        if made:
            return row, True
        known = row
    decided = known.state == SharedAttachment.WAITING and state != known.state and known.decided_at is None
    known.state, known.synced_at, known.gone_at = state, now, None
    known.decided_at = now if decided else known.decided_at
    known.save(update_fields=["state", "synced_at", "gone_at", "decided_at"])
    return known, False
