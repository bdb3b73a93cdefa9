"""A peer link's page: its whole story (status history, change requests, audit events, drift), the live
state of its ER attachment, the name of its peer, and its local fields.

The one live cloud call (the attachment's state) is bounded and wrapped, so a slow or failing cloud
becomes a message on the page, never an error page or a held web worker.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext

from peerlinks import cloud
from peerlinks.models import (
    AuditEvent,
    ChangeRequest,
    CloudAccount,
    Drift,
    EnterpriseRouter,
    Gateway,
    PeerLink,
    SharedAttachment,
    StatusChange,
    accounts_in_order,
    fixed_rows,
    peer_model,
)
from peerlinks.per_request import once_per_request
from peerlinks.permissions import rows_for_reader
from peerlinks.presentation.text import describe_cloud_error
from peerlinks.services.audit import record_audit
from peerlinks.services.lifecycle import check_engineer_in

# The link page waits at most this long (per connect and per read) for the live attachment state, and
# does not retry: the state is a nice-to-have, a slow cloud must not hold a web worker for 30 s × retries.
ATTACHMENT_TIMEOUT = 2.0


@dataclass
class AttachmentState:
    """The ER side of an ER peer link, as the cloud says right now (or why we could not ask)."""

    state: str = ""
    error: str = ""  # why the cloud could not say, in plain words
    error_detail: str = ""  # … and as the cloud client reported it
    attachment: "cloud.ErAttachment | None" = None


def fetch_er_attachment_state(*, link: PeerLink) -> AttachmentState | None:
    """The live state of an ER peer link's attachment; None when there is nothing to ask about."""
    if link.peer_type != PeerLink.PeerType.ER or not link.link_id or link.gone_at is not None:
        return None
    # The attachment is the router's: asked of the router's account (another one for a cross-account link).
    name = _peer_account_name(link)
    accounts = [account for account in accounts_in_order() if name and account.name == name]
    account = accounts[0] if accounts else link.gateway.project.account
    config = account.cloud_config()
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
        return AttachmentState(error=describe_cloud_error(exc), error_detail=str(exc))
    return AttachmentState(state=str(attachment.state or "unknown"), attachment=attachment)


@dataclass
class GoneStep:
    """The end of a link's timeline: when dcportal saw it gone, and the delete request that removed it
    (None when a sync found it gone: deleted outside dcportal)."""

    at: datetime
    change: ChangeRequest | None


@dataclass
class LinkStory:
    """What a peer link's page shows besides its own fields."""

    timeline: list[StatusChange]
    changes: list[ChangeRequest]
    events: list[AuditEvent]
    cloud_request_ids: list[str]
    drifts: list[Drift]
    gone: GoneStep | None = None


def readable_link(*, user: AbstractBaseUser, cloud_id: str) -> PeerLink | None:
    """The link with its gateway, project, account and what is cached of its peer, if `user` may read its
    account (None, as for a link that does not exist, when not): what every link page reads first."""
    found = rows_for_reader(user, "readable link", _readable_link_query, cloud_id)
    return found[0] if found else None


def _readable_link_query(user: AbstractBaseUser, cloud_id: str) -> QuerySet[PeerLink]:
    # Whether any drift was seen on it: most links have none, and their page then does not ask.
    drift = Drift.objects.filter(peer_link_id=OuterRef("pk"))
    links = PeerLink.objects.visible_to(user).for_list().with_peer().filter(cloud_id=cloud_id)
    return links.annotate(has_drift=Exists(drift))


def build_link_story(*, link: PeerLink) -> LinkStory:
    """Status history, the change requests and audit events that touched the link, its cloud request ids.
    The page's queries, each compiled once (models.fixed_rows)."""
    changes = fixed_rows("link story: changes", _changes_query, link.pk)
    for change in changes:  # as the link's own related manager would give them
        change.peer_link = link
    with_attachment = bool(link.link_id)
    events = fixed_rows(
        ("link story: events", with_attachment),
        partial(_events_query, with_attachment=with_attachment),
        link.pk,
        link.cloud_id,
        link.link_id,
    )
    request_ids = [rid for change in reversed(changes) for rid in change.cloud_request_ids]
    request_ids += [event.cloud_request_id for event in reversed(events) if event.cloud_request_id]
    return LinkStory(
        timeline=fixed_rows("link story: status changes", _timeline_query, link.pk),
        changes=changes,
        events=events,
        cloud_request_ids=list(dict.fromkeys(request_ids)),
        drifts=_drifts(link),
        gone=_gone_step(link, changes),
    )


def _drifts(link: PeerLink) -> list[Drift]:
    """The link's drift; not asked for when readable_link read that it has none (most links)."""
    if not getattr(link, "has_drift", True):
        return []
    drifts = fixed_rows("link story: drift", _drifts_query, link.pk)
    for drift in drifts:  # as the link's own related manager would give them (its actions name the link)
        drift.peer_link = link
    return drifts


def _changes_query(pk: int) -> QuerySet[ChangeRequest]:
    return ChangeRequest.objects.filter(peer_link_id=pk).select_related("requested_by")


def _events_query(pk: int, cloud_id: str, link_id: str, *, with_attachment: bool) -> QuerySet[AuditEvent]:
    attachment = Q(object_type="shared_attachment", object_id=link_id) if with_attachment else Q(pk__in=[])
    itself = Q(object_type="peer_link", object_id=cloud_id)
    touching = itself | Q(change_request__peer_link_id=pk) | attachment
    return AuditEvent.objects.filter(touching).distinct()[:100]


def _timeline_query(pk: int) -> QuerySet[StatusChange]:
    return StatusChange.objects.filter(peer_link_id=pk)


def _drifts_query(pk: int) -> QuerySet[Drift]:
    return Drift.objects.filter(peer_link_id=pk).select_related("acknowledged_by")


# A delete request in one of these states may be what removed the link (a sync can see it gone while
# the request is still being followed).
_DELETING = (ChangeRequest.State.EXECUTING, ChangeRequest.State.DONE)


def _gone_step(link: PeerLink, changes: list[ChangeRequest]) -> GoneStep | None:
    if link.gone_at is None:
        return None
    deletes = [c for c in changes if c.kind == ChangeRequest.Kind.DELETE and c.state in _DELETING]
    return GoneStep(at=link.gone_at, change=deletes[0] if deletes else None)  # changes are newest first


class LinkGone(Exception):
    """The link no longer exists in the cloud: it is kept for its history and changes no more."""

    def __str__(self) -> str:
        return gettext(
            "This link no longer exists in the cloud: it is kept for its history and cannot be changed."
        )


def update_local_fields(
    *, link_id: int, user: AbstractBaseUser, owner_team: str, ticket_ref: str, labels: list[str]
) -> PeerLink:
    """Set a link's local fields and audit the change (nothing is written when nothing changed); a gone
    link's are kept as they were (LinkGone). Only an engineer in the link's account may (ChangeForbidden)."""
    with transaction.atomic():
        link = PeerLink.objects.select_for_update().get(pk=link_id)
        check_engineer_in(user, link.gateway.account)
        if link.gone_at is not None:
            raise LinkGone
        before = {"owner_team": link.owner_team, "ticket_ref": link.ticket_ref, "labels": list(link.labels)}
        after = {"owner_team": owner_team, "ticket_ref": ticket_ref, "labels": list(labels)}
        if before == after:
            return link
        link.owner_team, link.ticket_ref, link.labels = owner_team, ticket_ref, list(labels)
        link.save(update_fields=["owner_team", "ticket_ref", "labels"])
        record_audit(action="peer_link.local_fields", actor=user, obj=link, before=before, after=after)
    return link


@once_per_request
def _cached_peer(peer_type: str, peer_id: str) -> Gateway | EnterpriseRouter | None:
    """A cached peer with its account, read once for a page that names it, its account and both sides."""
    return peer_model(peer_type).objects.select_related("project__account").filter(cloud_id=peer_id).first()


def peer_name(*, peer_type: str, peer_id: str) -> str:
    """The cached name of a peer (enterprise router or gateway), or "" when it is not cached."""
    peer = _cached_peer(peer_type, peer_id)
    return peer.name if peer is not None else ""


@dataclass
class LinkSides:
    """A link between two managed accounts, from both ends: the gateway's account and the peer's, the
    cached peer, and the attachment that waits for the peer's account to accept it (if one does)."""

    account: CloudAccount
    peer_account: CloudAccount
    peer: Gateway | EnterpriseRouter
    attachment: SharedAttachment | None  # as dcportal last saw it, if it ever waited
    waiting: SharedAttachment | None


def link_sides(*, link: PeerLink) -> LinkSides | None:
    """Both sides of a cross-account link (None when its peer is in the gateway's account or not cached).
    A link read `with_peer` says which account its peer is in: the peer is read only when it is another."""
    account = link.gateway.project.account
    if _peer_account_name(link) in ("", account.name):
        return None
    attachment = None
    if link.peer_type == PeerLink.PeerType.ER and link.link_id:
        found = SharedAttachment.objects.select_related("router__project__account")
        attachment = found.filter(cloud_id=link.link_id).first()
    # The attachment's router is the peer (read with it), else the peer is read on its own.
    if attachment is not None and attachment.router.cloud_id == link.peer_gateway_id:
        peer = attachment.router
    else:
        peer = _cached_peer(link.peer_type, link.peer_gateway_id)
    if peer is None:
        return None
    waiting = (
        attachment if attachment and attachment.is_waiting and link.is_pending and not link.gone_at else None
    )
    return LinkSides(
        account=account, peer_account=peer.project.account, peer=peer, attachment=attachment, waiting=waiting
    )


def _peer_account_name(link: PeerLink) -> str:
    """The account the link's cached peer is in ("" when it is not cached): as the link was read
    (`with_peer`), else from the peer."""
    if hasattr(link, "peer_account_name"):
        return link.peer_account_name
    return peer_account_name(peer_type=link.peer_type, peer_id=link.peer_gateway_id)


def peer_account_name(*, peer_type: str, peer_id: str) -> str:
    """The account a cached peer is in ("" when it is not cached)."""
    peer = _cached_peer(peer_type, peer_id)
    return peer.project.account.name if peer is not None else ""
