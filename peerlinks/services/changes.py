"""Change requests: the rules a change must follow, submitting and cancelling.

Approving, rejecting, editing, expiring and retrying live in `approvals`; carrying out an approved
change against the cloud lives in `execution`; the transitions all three take are in `lifecycle`.
"""

import hashlib
import json
import logging
import re
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Func, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from peerlinks.models import (
    AuditEvent,
    ChangeBatch,
    ChangeRequest,
    CloudAccount,
    Drift,
    EnterpriseRouter,
    Gateway,
    PeerLink,
    Policy,
    count_of,
    peer_model,
)
from peerlinks.services import dispatch, lifecycle
from peerlinks.services.lifecycle import ChangeForbidden, ChangeRefused, next_window_opening

logger = logging.getLogger(__name__)

CREATE_FIELDS = ("name", "description", "peer_type", "peer_gateway_id", "peer_region", "peer_project_id")
UPDATE_FIELDS = ("name", "description")
# The new link's local fields, when asked for with it (a bulk upload's owner and ticket): not sent to the
# cloud, written on the link once it exists (services.execution).
LOCAL_FIELDS = ("owner_team", "ticket_ref")
LOCAL_MAX = PeerLink._meta.get_field("owner_team").max_length
NAME_RE = re.compile(r"^[\u4e00-\u9fa5A-Za-z0-9_.\-]{1,64}$")
DESCRIPTION_MAX = 128
OPEN_STATES = ChangeRequest.OPEN_STATES
# Raised here, declared with the transitions; the window rule is the lifecycle's too.
__all__ = ["ChangeForbidden", "ChangeRefused", "next_window_opening"]

# --- Who may be linked to whom -------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A gateway or peer the create form may offer; `problem` says why it cannot be chosen ("" if it can)."""

    id: str
    name: str
    state: str
    region: str
    project_id: str
    problem: str = ""
    detail: str = ""
    account: str = ""  # the name of the account it is in

    @property
    def is_available(self) -> bool:
        return not self.problem


def open_creates(*, gateway: Gateway) -> list[ChangeRequest]:
    """Create requests for this gateway that are not finished yet (they will use quota)."""
    return list(
        ChangeRequest.objects.filter(gateway=gateway, kind=ChangeRequest.Kind.CREATE, state__in=OPEN_STATES)
    )


@dataclass(frozen=True)
class QuotaOutlook:
    """A gateway's peer-link quota as the cloud last said, and what one change would make of it."""

    used: int
    quota: int
    after: int
    other_creates: int  # other open create requests on the gateway: each will take a slot too

    @property
    def exceeds(self) -> bool:
        return self.after > self.quota

    @property
    def crowded(self) -> bool:
        """Within quota alone, but not with the other open creates also run."""
        return not self.exceeds and self.after + self.other_creates > self.quota


def quota_outlook(change: ChangeRequest, *, open_creates: dict[int, int] | None = None) -> QuotaOutlook:
    """The gateway's links used of its quota now, and after `change` runs (a create takes one, a delete
    frees one). `open_creates`: `open_creates_by_gateway()`, when a page shows several changes."""
    gateway = change.gateway
    if open_creates is None:
        open_creates = open_creates_by_gateway(gateway=gateway)
    used = gateway.current_peer_link_count
    step = {ChangeRequest.Kind.CREATE: 1, ChangeRequest.Kind.DELETE: -1}.get(change.kind, 0)
    others = open_creates.get(gateway.pk, 0)
    if change.kind == ChangeRequest.Kind.CREATE and change.state in OPEN_STATES:
        others -= 1  # the change itself
    return QuotaOutlook(
        used=used,
        quota=used + gateway.available_peer_link_count,
        after=max(0, used + step),
        other_creates=max(0, others) if step > 0 else 0,
    )


def _readable(queryset: QuerySet, user: AbstractBaseUser | None) -> QuerySet:
    """The rows of the accounts `user` may read (all of them without a user: the worker's checks)."""
    return queryset if user is None else queryset.visible_to(user)


def gateway_choices(
    *, user: AbstractBaseUser | None = None, accounts: set[int] | None = None
) -> list[Choice]:
    """Every present gateway that `user` may read (in `accounts`, pks, when given: where the person is an
    engineer), with why it cannot get a new link (not ACTIVE, no quota left)."""
    gateways = _readable(Gateway.objects.present(), user).select_related("project__account")
    if accounts is not None:
        gateways = gateways.filter(project__account__in=accounts)
    pending = open_creates_by_gateway()
    return [_gateway_choice(gateway, pending=pending.get(gateway.pk, 0)) for gateway in gateways]


def _open_creates() -> QuerySet[ChangeRequest]:
    return ChangeRequest.objects.filter(kind=ChangeRequest.Kind.CREATE, state__in=OPEN_STATES)


def with_open_creates(changes: QuerySet[ChangeRequest]) -> QuerySet[ChangeRequest]:
    """Each change with how many create requests are open on its gateway (`open_creates`), for a page that
    weighs each one's quota outlook without a query of its own: `{c.gateway_id: c.open_creates}` is the
    `open_creates` of quota_outlook."""
    return changes.annotate(open_creates=count_of(_open_creates().filter(gateway=OuterRef("gateway"))))


def open_creates_by_gateway(*, gateway: Gateway | None = None) -> dict[int, int]:
    """How many create requests are open per gateway (pk), of every gateway or of one."""
    counts: dict[int, int] = {}
    rows = _open_creates()
    if gateway is not None:
        rows = rows.filter(gateway=gateway)
    for gateway_pk in rows.values_list("gateway_id", flat=True):
        counts[gateway_pk] = counts.get(gateway_pk, 0) + 1
    return counts


def _gateway_choice(gateway: Gateway, *, pending: int) -> Choice:
    left = max(0, gateway.available_peer_link_count - pending)
    problem = ""
    if gateway.status != Gateway.Status.ACTIVE:
        problem = _("status is {status}").format(status=gateway.status or _("unknown"))
    elif left <= 0:
        problem = _("no peer-link quota left")
        if pending:
            problem += " " + ngettext(
                "({count} create pending)", "({count} creates pending)", pending
            ).format(count=pending)
    return Choice(
        id=gateway.cloud_id,
        name=gateway.name,
        state=gateway.status,
        region=gateway.region,
        project_id=gateway.project.project_id,
        problem=problem,
        detail=_("{count} left").format(count=left),
        account=gateway.account.name,
    )


def peer_choices(
    *,
    peer_type: str,
    region: str,
    gateway: Gateway | None = None,
    user: AbstractBaseUser | None = None,
    peer_id: str | None = None,
) -> list[Choice]:
    """Possible peers of one type in one region (that `user` may read); with `gateway`, those it may not
    link to are marked; with `peer_id`, only that one (checking one wished-for link)."""
    if peer_type not in PeerLink.PeerType.values:
        return []
    rows = _readable(peer_model(peer_type).objects.present(), user)
    rows = rows.filter(project__region=region).select_related("project__account")
    if peer_id is not None:
        rows = rows.filter(cloud_id=peer_id)
    choices = [
        Choice(
            id=peer.cloud_id,
            name=peer.name,
            state=peer.state if peer_type == PeerLink.PeerType.ER else peer.status,
            region=region,
            project_id=peer.project.project_id,
            problem=_router_problem(peer)
            if peer_type == PeerLink.PeerType.ER
            else _peer_gateway_problem(peer),
            account=peer.account.name,
        )
        for peer in rows
    ]
    if gateway is None:
        return choices
    taken = _peers_taken(gateway=gateway)
    return [_with_link_problem(choice, gateway=gateway, taken=taken) for choice in choices]


def _router_problem(router: EnterpriseRouter) -> str:
    return "" if router.is_available else _("state is {state}").format(state=router.state or _("unknown"))


def _peer_gateway_problem(gateway: Gateway) -> str:
    if gateway.status == Gateway.Status.ACTIVE:
        return ""
    return _("status is {status}").format(status=gateway.status or _("unknown"))


def _peers_taken(*, gateway: Gateway) -> dict[str, str]:
    """Peers this gateway already links to, or has a create open for: peer id → why it is taken."""
    linked = (
        PeerLink.objects.present().filter(gateway=gateway).values_list("peer_gateway_id", "name", "status")
    )
    taken = {peer: _already_linked(name, status) for peer, name, status in linked}
    for change in open_creates(gateway=gateway):
        taken.setdefault(
            change.payload.get("peer_gateway_id", ""), _("create request #{id} is open").format(id=change.pk)
        )
    return taken


def _already_linked(name: str, status: str) -> str:
    """Why a peer is taken by an existing link, and what to do when that link is broken."""
    if status == PeerLink.Status.ERROR:
        return _(
            "already linked from this gateway by {name}, which ended in ERROR: ask to delete {name} first, "
            "then ask for the new link"
        ).format(name=name)
    return _("already linked from this gateway ({name})").format(name=name)


def _with_link_problem(choice: Choice, *, gateway: Gateway, taken: dict[str, str]) -> Choice:
    if choice.id == gateway.cloud_id:
        problem = _("the gateway itself")
    elif choice.id in taken:
        problem = taken[choice.id]
    else:
        return choice
    return Choice(choice.id, choice.name, choice.state, choice.region, choice.project_id, problem)


def check_create(*, gateway_id: str, peer_type: str, peer_region: str, peer_id: str) -> dict[str, str]:
    """Rule breaks of a wished-for new link, by form field (empty when it may be requested)."""
    gateway = Gateway.objects.present().select_related("project").filter(cloud_id=gateway_id).first()
    if gateway is None:
        return {"gateway": _("Choose one of the listed gateways.")}
    choice = _gateway_choice(gateway, pending=len(open_creates(gateway=gateway)))
    if choice.problem:
        return {"gateway": _("This gateway cannot get a new link: {problem}.").format(problem=choice.problem)}
    if peer_region not in CloudAccount.objects.managed_regions():
        return {"peer_region": _("Choose one of the listed regions.")}
    peers = {
        c.id: c
        for c in peer_choices(peer_type=peer_type, region=peer_region, gateway=gateway, peer_id=peer_id)
    }
    peer = peers.get(peer_id)
    if peer is None:
        if peer_type == PeerLink.PeerType.GDGW:
            problem = _("Choose one of the listed peers: no global DC gateway with this ID in {region}.")
        else:
            problem = _("Choose one of the listed peers: no enterprise router with this ID in {region}.")
        return {"peer": problem.format(region=peer_region)}
    if peer.problem:
        return {"peer": _("{name} cannot be linked: {problem}.").format(name=peer.name, problem=peer.problem)}
    if not peer.project_id:
        return {
            "peer": _("The project of {region} is not known yet; refresh the data and try again.").format(
                region=peer_region
            )
        }
    return {}


# --- Submitting and cancelling -------------------------------------------------------------------


def cached_peer(peer_type: str, peer_id: str) -> Gateway | EnterpriseRouter | None:
    """The cached router or gateway with this ID, with its project and account (None if not cached)."""
    rows = peer_model(peer_type).objects.select_related("project__account").filter(cloud_id=peer_id)
    return rows.first()


def other_account(gateway: Gateway, peer: Gateway | EnterpriseRouter | None) -> CloudAccount | None:
    """The peer's account when it is another managed account than the gateway's (a cross-account link)."""
    if peer is None or peer.project.account_id == gateway.project.account_id:
        return None
    return peer.project.account


def link_refusal(peer_link: PeerLink) -> str:
    """Why this link cannot be changed from here right now ("" if it can)."""
    if peer_link.is_read_only:
        return _("This link belongs to Cloud Connect and can only be changed there.")
    if peer_link.gone_at is not None:
        return _("This link no longer exists in the cloud.")
    if peer_link.is_pending:
        return _("This link is {status}; wait until its status is final.").format(status=peer_link.status)
    open_change = (
        ChangeRequest.objects.filter(peer_link=peer_link, state__in=OPEN_STATES).order_by("pk").first()
    )
    if open_change is not None:
        return _("Change request #{id} for this link is still open; wait for it to finish.").format(
            id=open_change.pk
        )
    return ""


def submit_change(
    *,
    user: AbstractBaseUser,
    kind: str,
    gateway: Gateway,
    payload: dict,
    peer_link: PeerLink | None = None,
    retry_of: ChangeRequest | None = None,
    reverts_drift: Drift | None = None,
    batch: ChangeBatch | None = None,
) -> ChangeRequest:
    """Record a change request under the current policy; with no approval needed, approve it at once.

    The policy is snapshot: approvals required and the expiry time do not move if an admin edits it.
    `reverts_drift` is the outside change this request undoes, when it was asked for as its revert;
    `batch` the batch it is one row of (services.bulk).
    """
    lifecycle.check(ChangeRequest(kind=kind, requested_by=user, gateway=gateway), "submit", user=user)
    allowed = {"create": CREATE_FIELDS + LOCAL_FIELDS, "update": UPDATE_FIELDS, "delete": ()}[kind]
    payload = {key: payload[key] for key in allowed if key in payload}
    if kind == ChangeRequest.Kind.CREATE:
        payload.setdefault("description", "")
    check_payload(kind, payload)
    with transaction.atomic():
        # Lock the gateway (and link): two submissions at once must not both take the last quota.
        gateway = Gateway.objects.select_for_update().select_related("project").get(pk=gateway.pk)
        if kind == ChangeRequest.Kind.CREATE:
            problems = check_create(
                gateway_id=gateway.cloud_id,
                peer_type=payload.get("peer_type", ""),
                peer_region=payload.get("peer_region", ""),
                peer_id=payload.get("peer_gateway_id", ""),
            )
            if problems:
                raise ChangeRefused(" ".join(problems.values()))
            # The peer's project is its cached project (in whichever account holds it), whatever the
            # caller sent.
            peer = cached_peer(payload["peer_type"], payload["peer_gateway_id"])
            payload["peer_project_id"] = peer.project.project_id
        else:
            if peer_link is None:
                raise ChangeRefused(_("Choose the link to change."))
            peer_link = PeerLink.objects.select_for_update().get(pk=peer_link.pk)
            refusal = link_refusal(peer_link)
            if refusal:
                raise ChangeRefused(refusal)
            if kind == ChangeRequest.Kind.UPDATE:
                # A field left out keeps its value; spelling it out makes before/after complete.
                payload = {field: payload.get(field, getattr(peer_link, field)) for field in UPDATE_FIELDS}
            payload["link_name"] = peer_link.name
            payload["before"] = link_summary(peer_link)
            peer = cached_peer(peer_link.peer_type, peer_link.peer_gateway_id)
        policy = Policy.current()
        change = ChangeRequest.objects.create(
            kind=kind,
            requested_by=user,
            gateway=gateway,
            peer_link=peer_link,
            payload=payload,
            retry_of=retry_of,
            reverts_drift=reverts_drift,
            batch=batch,
            peer_account=other_account(gateway, peer),
            approvals_required=policy.approvals_for(kind),
            expires_at=timezone.now() + policy.expire_after,
        )
        reference = {"reverts_drift": reverts_drift.pk} if reverts_drift is not None else {}
        lifecycle.apply(change, "submit", actor=user, after={**payload, **reference})
        if change.approvals_required == 0:
            authorize(change, policy=policy, by="policy")
        else:
            dispatch.notify("submitted", change_id=change.pk)
    return change


def authorize(change: ChangeRequest, *, policy: Policy, by: str) -> None:
    """Approve a locked change that has its approvals; queue it now, or at the change window's opening."""
    opening = next_window_opening(policy, now=timezone.now())
    after = {"state": ChangeRequest.State.APPROVED, "by": by}
    if opening is not None:
        after["not_before"] = opening.isoformat()
    lifecycle.apply(
        change,
        "authorize",
        fields={"not_before": opening},
        before={"state": change.state},
        after=after,
    )
    if opening is None:
        dispatch.execute_change(change.pk)


def check_payload(kind: str, payload: dict) -> None:
    if kind == ChangeRequest.Kind.DELETE:
        return
    name = payload.get("name")
    needs_name = kind == ChangeRequest.Kind.CREATE or name is not None
    if needs_name and (not isinstance(name, str) or not NAME_RE.fullmatch(name)):
        raise ChangeRefused(
            _("The name must be 1 to 64 letters, digits, Chinese characters, '_', '-' or '.'.")
        )
    description = payload.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > DESCRIPTION_MAX):
        raise ChangeRefused(
            _("The description must be at most {count} characters.").format(count=DESCRIPTION_MAX)
        )
    for field in LOCAL_FIELDS:
        value = payload.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > LOCAL_MAX):
            raise ChangeRefused(
                _("The owner team and the ticket must be at most {count} characters.").format(count=LOCAL_MAX)
            )


def link_summary(row: PeerLink) -> dict:
    """What a link is and connects, as it was when a change was asked for."""
    return {
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "peer_type": row.peer_type,
        "peer_gateway_id": row.peer_gateway_id,
        "peer_region": row.peer_region,
    }


def cancel_change(*, change_id: int, user: AbstractBaseUser) -> ChangeRequest:
    """Withdraw one's own request before it starts running."""
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change_id)
        lifecycle.check(change, "cancel", user=user)
        before = {"state": change.state}
        lifecycle.apply(
            change, "cancel", actor=user, before=before, after={"state": ChangeRequest.State.CANCELLED}
        )
    return change


# --- Following an open change from its page ------------------------------------------------------

# What a change's page shows that moves while it is open: the row's state, times, attempts, errors and
# payload (edited while pending), its link's name and status, its gateway's quota and the gateway's other open
# creates (the quota's warning), and its last audit event (every decision, comment and step records one).
SHOWN_FACTS = (
    "state",
    "updated_at",
    "attempts",
    "payload",
    "approvals_required",
    "expires_at",
    "not_before",
    "started_at",
    "finished_at",
    "cloud_request_ids",
    "error_code",
    "error_msg",
    "error_detail",
    "peer_link__name",
    "peer_link__status",
    "peer_link__gone_at",
    "gateway__current_peer_link_count",
    "gateway__available_peer_link_count",
    "last_event",
    "other_creates",
)


def visible_changes(user: AbstractBaseUser) -> QuerySet[ChangeRequest]:
    """The change requests `user` may read, each with what its page shows: its requester, gateway, link,
    drift, peer and peer account, the policy's cross-account rule, and the facts its version is made of
    (`change_version`)."""
    shown = ("requested_by", "gateway__project__account", "peer_link", "reverts_drift", "peer_account")
    changes = ChangeRequest.objects.visible_to(user).with_cross_account_rule().with_peer().with_first_retry()
    return _with_shown_facts(changes).select_related(*shown)


def _with_shown_facts(changes: QuerySet[ChangeRequest]) -> QuerySet[ChangeRequest]:
    events = AuditEvent.objects.filter(change_request=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    # COUNT over the rows, not grouped: one row (0 for none), and a query that is quicker to build.
    creates = (
        ChangeRequest.objects.filter(gateway=OuterRef("gateway"), kind=ChangeRequest.Kind.CREATE)
        .filter(state__in=OPEN_STATES)
        .order_by()
        .annotate(count=Func(F("pk"), function="COUNT"))
        .values("count")
    )
    return changes.annotate(last_event=Subquery(events), other_creates=Subquery(creates))


def change_version(change: ChangeRequest) -> str:
    """What the page of `change` (read through `visible_changes`) shows now that moves while it is open, as a
    digest: the page gives it to its one poll, which answers with the change's panels only once it changed."""
    facts = []
    for path in SHOWN_FACTS:
        value: object = change
        for name in path.split("__"):
            value = getattr(value, name, None) if value is not None else None
        facts.append(value)
    return _digest(facts)


def _digest(facts: list | tuple) -> str:
    canonical = json.dumps(list(facts), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class FollowedChange:
    """A change a page shows while it is open: the change read as its page reads it if what the page shows
    changed since (else None), and whether it is still open (then the page keeps polling fast)."""

    changed: ChangeRequest | None
    is_open: bool


def follow_change(*, user: AbstractBaseUser, change_id: int | None = None, shown: str = "") -> FollowedChange:
    """The change `change_id` whose page showed version `shown` (none: no change); one `user` may not read is
    left out. Unchanged, it costs one small query (the facts its version is made of, as `change_version`
    reads them from the page's change); changed, the change is read as its page reads it."""
    if change_id is None:
        return FollowedChange(changed=None, is_open=False)
    readable = ChangeRequest.objects.visible_to(user).filter(pk=change_id)
    facts = _with_shown_facts(readable).values_list(*SHOWN_FACTS).first()
    if facts is None:
        return FollowedChange(changed=None, is_open=False)
    if _digest(facts) == shown:
        return FollowedChange(changed=None, is_open=True)  # it showed the change open
    change = visible_changes(user).filter(pk=change_id).first()
    return FollowedChange(changed=change, is_open=change is not None and not change.is_terminal)
