"""Carrying out approved change requests: claim, re-check the cloud, send, follow to a final state.

A change is claimed once (a stale claim whose worker died is resumed). Just before anything is sent the
request is re-checked against fresh cloud state; a resumed or retried execution looks for the link an
earlier attempt may have made (so there is never a second link). Transient cloud errors are retried later
with backoff; permanent ones end the request as failed with the cloud's code and message.

Fencing: each claim or resume numbers its attempt (`ChangeRequest.attempts`). An attempt holds the change
only while that number is current: `_hold` checks it under the row lock and renews the lease immediately
before every cloud write and between the steps of a pre-check, and the reply of a write is recorded only
if the attempt still holds the change then. A worker paused past CHANGE_EXECUTION_LEASE (a VM stall, swap,
SIGSTOP) while another attempt resumed the change therefore sends nothing more, and its late reply never
lands over newer state.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import ChangeRequest, EnterpriseRouter, Gateway, PeerLink, SharedAttachment
from peerlinks.presentation import reasons
from peerlinks.presentation.text import stored_cloud_error
from peerlinks.services import dispatch, lifecycle
from peerlinks.services.audit import record_audit
from peerlinks.services.changes import LOCAL_FIELDS, UPDATE_FIELDS, link_summary
from peerlinks.services.mirror import link_values, mark_gone, store_link, store_shared_attachment

logger = logging.getLogger(__name__)

# Error codes of failures decided here rather than by the cloud.
PRECHECK_FAILED = "PRECHECK_FAILED"
LINK_ERROR = "PEER_LINK_ERROR"
LINK_VANISHED = "PEER_LINK_VANISHED"
FOLLOW_TIMEOUT = "FOLLOW_TIMEOUT"


class _Retry(Exception):
    """The cloud is busy with the link (pending, 409): try the whole step again later."""


class _Precheck(Exception):
    """A fresh look at the cloud shows the change can no longer be made; nothing was sent."""


class _Superseded(Exception):
    """Another attempt took the change over while this one was paused past its lease: stand down."""


def execute_change(*, change_id: int) -> ChangeRequest:
    """Claim an approved change and carry it out; then follow the link until its status is final."""
    claimed = _claim(change_id)
    if claimed is None:
        return ChangeRequest.objects.get(pk=change_id)
    change, resumed = claimed
    try:
        if change.kind == ChangeRequest.Kind.CREATE:
            _send_create(change, resumed=resumed)
        elif change.kind == ChangeRequest.Kind.UPDATE:
            _send_update(change, resumed=resumed)
        else:
            _send_delete(change, resumed=resumed)
    except _Superseded as exc:
        return _stand_down(change, str(exc))
    except _Precheck as exc:
        return _finish(change, failed=True, error_code=PRECHECK_FAILED, error_msg=str(exc))
    except _Retry as exc:
        return _retry_later(change, error_code="BUSY", error_msg=str(exc))
    except cloud.CloudError as exc:
        return _handle_cloud_error(change, exc)
    return follow_change(change_id=change.pk)


def _claim(change_id: int) -> tuple[ChangeRequest, bool] | None:
    """Move an approved change to executing, once; a stale executing one (its worker died) is resumed.

    Returns the change and whether an earlier attempt may already have reached the cloud.
    """
    with transaction.atomic():
        change = (
            # Lock the change row only: peer_link is an outer join, which PostgreSQL cannot lock.
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("gateway__project", "peer_link", "requested_by")
            .filter(pk=change_id)
            .first()
        )
        if change is None:
            return None
        now = timezone.now()
        attempt = change.attempts + 1
        if lifecycle.allows(change, "claim", now=now):
            resumed = change.attempts > 0
            started_at = change.started_at or now
            lifecycle.apply(change, "claim", fields={"attempts": attempt, "started_at": started_at})
        elif lifecycle.allows(change, "resume", now=now):
            # A resumed change gets a fresh follow window: the outage was ours, not the cloud's.
            resumed = True
            first_started = change.started_at
            lifecycle.apply(
                change,
                "resume",
                fields={"attempts": attempt, "started_at": now},
                after={"attempt": attempt, "first_started_at": first_started},
            )
        else:
            return None  # done, cancelled, another worker's, or waiting for the change window
    return change, resumed


def _send_create(change: ChangeRequest, *, resumed: bool) -> None:
    gateway, payload = change.gateway, change.payload
    if change.peer_link_id is not None:
        return  # sent and recorded by an earlier attempt; only following is left
    existing = _recheck_create(change, resumed=resumed)
    request_id = None
    if existing is None:
        _hold(change)
        result = cloud.create_peer_link(
            region=gateway.region,
            gateway_id=gateway.cloud_id,
            name=payload["name"],
            description=payload.get("description") or None,
            peer_gateway_id=payload["peer_gateway_id"],
            peer_region=payload["peer_region"],
            peer_project_id=payload["peer_project_id"],
            config=account_config(change),
        )
        existing, request_id = result.peer_link, result.request_id
        if result.recovered:
            logger.warning("change %s: create reply lost; found link %s by lookup", change.pk, existing.id)
    with transaction.atomic():
        locked = _held(change, reply=existing)
        row = store_link(gateway=gateway, link=existing)
        local = _keep_local_fields(row, payload)
        lifecycle.apply(
            locked,
            "execute",
            actor=change.requested_by,
            fields={"peer_link": row, "cloud_request_ids": _with_request_id(locked, request_id)},
            after={**link_values(existing), **local},
            audit_on=row,
            cloud_request_id=request_id,
        )
        change.peer_link, change.cloud_request_ids = row, locked.cloud_request_ids


def _keep_local_fields(row: PeerLink, payload: dict) -> dict:
    """Write the local fields asked for with the link (owner team, ticket) on its new row, where it has none
    yet; returns those written, for the audit log."""
    local = {
        field: payload[field] for field in LOCAL_FIELDS if payload.get(field) and not getattr(row, field)
    }
    if local:
        PeerLink.objects.filter(pk=row.pk).update(**local)
        for field, value in local.items():
            setattr(row, field, value)
    return local


def _recheck_create(change: ChangeRequest, *, resumed: bool) -> "cloud.PeerLink | None":
    """Look at the cloud just before creating: the link an earlier attempt made, quota, peer, duplicates.

    Returns the link to adopt when an earlier attempt already made it; raises _Precheck when the
    create must not be sent.
    """
    gateway, payload = change.gateway, change.payload
    peer_id = payload["peer_gateway_id"]
    config = account_config(change)
    links = list(cloud.list_peer_links(region=gateway.region, gateway_id=gateway.cloud_id, config=config))
    to_peer = [link for link in links if link.peer_site and link.peer_site.gateway_id == peer_id]
    if resumed:
        ours = [link for link in to_peer if link.name == payload["name"]]
        if ours:
            return max(ours, key=lambda link: (link.created_time is not None, link.created_time or 0))
    if to_peer:
        raise _Precheck(reasons.ALREADY_LINKED.format(name=to_peer[0].name))
    _hold(change)
    fresh = cloud.show_global_dc_gateway(region=gateway.region, gateway_id=gateway.cloud_id, config=config)
    if str(fresh.status or "") != Gateway.Status.ACTIVE:
        if not fresh.status:
            raise _Precheck(reasons.GATEWAY_STATE_UNKNOWN)
        raise _Precheck(reasons.GATEWAY_NOT_ACTIVE.format(status=fresh.status))
    if fresh.available_peer_link_count is not None and fresh.available_peer_link_count <= 0:
        raise _Precheck(reasons.NO_QUOTA)
    _hold(change)
    if payload["peer_type"] == PeerLink.PeerType.ER:
        router = _show_peer(
            cloud.show_enterprise_router,
            region=payload["peer_region"],
            er_id=peer_id,
            config=peer_config(change),
        )
        if str(router.state or "") != EnterpriseRouter.AVAILABLE:
            raise _Precheck(reasons.ROUTER_NOT_AVAILABLE.format(name=router.name, state=router.state))
    else:
        peer = _show_peer(
            cloud.show_global_dc_gateway,
            region=payload["peer_region"],
            gateway_id=peer_id,
            config=peer_config(change),
        )
        if str(peer.status or "") != Gateway.Status.ACTIVE:
            raise _Precheck(reasons.PEER_GATEWAY_NOT_ACTIVE.format(name=peer.name, status=peer.status))
    return None


def account_config(change: ChangeRequest) -> "cloud.CloudConfig":
    """How to reach the account the change is made in (its gateway's)."""
    return change.gateway.project.account.cloud_config()


def peer_config(change: ChangeRequest) -> "cloud.CloudConfig":
    """How to reach the peer's account: another managed account's for a cross-account link."""
    return change.peer_account.cloud_config() if change.peer_account_id else account_config(change)


def _show_peer(show: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return show(**kwargs)
    except cloud.NotFound as exc:
        raise _Precheck(reasons.PEER_GONE) from exc


def _recheck_link(change: ChangeRequest, *, resumed: bool) -> "cloud.PeerLink":
    """Look at the link just before renaming or deleting it: it exists, is ours to change, is not busy.

    A resumed attempt may find its own earlier call at work (pending): that is not a refusal.
    """
    row = change.peer_link
    if row is None:
        raise _Precheck(reasons.LINK_UNKNOWN)
    try:
        current = cloud.show_peer_link(
            region=change.gateway.region,
            gateway_id=change.gateway.cloud_id,
            peer_link_id=row.cloud_id,
            config=account_config(change),
        ).peer_link
    except cloud.NotFound as exc:
        raise _Precheck(reasons.LINK_GONE) from exc
    if str(current.create_owner or "") == "cc":
        raise _Precheck(reasons.LINK_CLOUD_CONNECT)
    if not resumed and str(current.status) in PeerLink.PENDING_STATUSES:
        raise _Precheck(reasons.LINK_NOT_SETTLED.format(status=current.status))
    return current


def _send_update(change: ChangeRequest, *, resumed: bool) -> None:
    row = change.peer_link
    wanted = {field: change.payload[field] for field in UPDATE_FIELDS if field in change.payload}
    current = _recheck_link(change, resumed=resumed)
    before = change.payload.get("before") or {field: getattr(row, field) for field in UPDATE_FIELDS}
    if all((getattr(current, field) or "") == value for field, value in wanted.items()):
        link, request_id = current, None  # already applied (a resumed attempt, or nothing to change)
    else:
        if str(current.status) in PeerLink.PENDING_STATUSES:
            raise _Retry(reasons.RENAME_WAITS.format(status=current.status))
        _hold(change)
        result = cloud.update_peer_link(
            region=change.gateway.region,
            gateway_id=change.gateway.cloud_id,
            peer_link_id=row.cloud_id,
            config=account_config(change),
            name=wanted.get("name"),
            description=wanted.get("description"),
        )
        link, request_id = result.peer_link, result.request_id
    with transaction.atomic():
        locked = _held(change, reply=link)
        row = store_link(gateway=change.gateway, link=link)
        _executed(
            change,
            locked,
            on=row,
            request_id=request_id,
            before={field: before.get(field, "") for field in UPDATE_FIELDS},
            after={field: getattr(row, field) for field in UPDATE_FIELDS},
        )


def _send_delete(change: ChangeRequest, *, resumed: bool) -> None:
    row = change.peer_link
    if not resumed:
        _recheck_link(change, resumed=False)
    elif row is None:
        raise _Precheck(reasons.LINK_UNKNOWN)
    _hold(change)
    try:
        request_id = cloud.delete_peer_link(
            region=change.gateway.region,
            gateway_id=change.gateway.cloud_id,
            peer_link_id=row.cloud_id,
            config=account_config(change),
        )
    except cloud.NotFound:
        request_id = None  # already gone: the outcome the user asked for
    except cloud.Conflict as exc:
        raise _Retry(reasons.DELETE_WAITS.format(detail=exc.error_msg)) from exc
    with transaction.atomic():
        _executed(change, _held(change), on=row, request_id=request_id, before=link_summary(row))


def _executed(
    change: ChangeRequest,
    locked: ChangeRequest,
    *,
    on: PeerLink,
    request_id: str | None,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """Record that a rename or delete reached the cloud (with its request id), in the open transaction;
    `locked` is the change as `_held` locked it."""
    lifecycle.apply(
        locked,
        "execute",
        actor=change.requested_by,
        fields={"cloud_request_ids": _with_request_id(locked, request_id)} if request_id else None,
        before=before,
        after=after,
        audit_on=on,
        cloud_request_id=request_id,
    )
    change.cloud_request_ids = locked.cloud_request_ids


def _hold(change: ChangeRequest) -> None:
    """Renew this attempt's lease if it still holds the change, checked under the row lock; else stand down.

    One conditional UPDATE: the database locks the row, re-checks state and attempt, and stamps the sign
    of life that keeps the scheduler from resuming the change. Called immediately before every cloud
    write and between the steps of a pre-check (each step can take a cloud call's full timeout).
    """
    held = ChangeRequest.objects.filter(
        pk=change.pk, state=ChangeRequest.State.EXECUTING, attempts=change.attempts
    ).update(updated_at=timezone.now())
    if not held:
        raise _Superseded(f"attempt {change.attempts} no longer holds the change; nothing was sent")


def _held(change: ChangeRequest, *, reply: "cloud.PeerLink | None" = None) -> ChangeRequest:
    """Lock the change to record a cloud reply, if this attempt still holds it (in the open transaction).

    A worker paused between its write and this point finds another attempt took over: its reply is
    discarded (it is older than what the other attempt or the sync recorded).
    """
    locked = ChangeRequest.objects.select_for_update().get(pk=change.pk)
    if locked.state != ChangeRequest.State.EXECUTING or locked.attempts != change.attempts:
        link = f" (link {reply.id}, {reply.status})" if reply is not None else ""
        raise _Superseded(
            f"attempt {change.attempts} no longer holds the change; its cloud reply{link} was discarded"
        )
    return locked


def _stand_down(change: ChangeRequest, why: str) -> ChangeRequest:
    """A superseded attempt stops here: logged and audited, nothing else written."""
    logger.warning("change %s: %s (paused past CHANGE_EXECUTION_LEASE?)", change.pk, why)
    record_audit(
        action="change.attempt_superseded",
        obj=change,
        change=change,
        after={"attempt": change.attempts, "detail": why},
    )
    return ChangeRequest.objects.get(pk=change.pk)


def _with_request_id(change: ChangeRequest, request_id: str | None) -> list[str]:
    return [*change.cloud_request_ids, request_id] if request_id else list(change.cloud_request_ids)


# --- Following ------------------------------------------------------------------------------------


def follow_change(*, change_id: int) -> ChangeRequest:
    """Look at the link once; finish the change if its status is final, else look again later."""
    change = ChangeRequest.objects.select_related("gateway__project", "peer_link").get(pk=change_id)
    if change.state != ChangeRequest.State.EXECUTING or change.peer_link is None:
        return change
    row = change.peer_link
    try:
        link = cloud.show_peer_link(
            region=change.gateway.region,
            gateway_id=change.gateway.cloud_id,
            peer_link_id=row.cloud_id,
            config=account_config(change),
        ).peer_link
    except cloud.NotFound:
        link = None
    except cloud.CloudError as exc:
        if not exc.is_transient:
            return _finish(change, failed=True, error_code=exc.error_code, **_cloud_error_text(exc))
        return _keep_following(change)

    if change.kind == ChangeRequest.Kind.DELETE:
        if link is not None:
            return _keep_following(change)
        mark_gone(row)
        return _finish(change)
    if link is None:
        return _finish(change, failed=True, error_code=LINK_VANISHED, error_msg=reasons.LINK_VANISHED)
    with transaction.atomic():
        row = store_link(gateway=change.gateway, link=link)
    if row.is_pending:
        if _awaits_acceptance(change, row):
            # The link is made; the router's account now decides, which may take days (the link shows it).
            return _finish(change)
        return _keep_following(change)
    if change.kind == ChangeRequest.Kind.UPDATE or row.status == PeerLink.Status.ACTIVE:
        # A rename is done once the link settles, whatever its status was before.
        return _finish(change)
    return _finish(
        change,
        failed=True,
        error_code=LINK_ERROR,
        error_msg=(
            reasons.LINK_ENDED.format(status=row.status, reason=row.reason)
            if row.reason
            else reasons.LINK_ENDED_NO_REASON.format(status=row.status)
        ),
    )


def _awaits_acceptance(change: ChangeRequest, row: PeerLink) -> bool:
    """Whether a new cross-account link waits for the router's account to accept its attachment (then
    noted, so that account's approvers hear of it at once). A cloud that cannot say means: keep following."""
    if change.kind != ChangeRequest.Kind.CREATE or not change.peer_account_id:
        return False
    if row.peer_type != PeerLink.PeerType.ER or not row.link_id:
        return False
    router = EnterpriseRouter.objects.filter(cloud_id=row.peer_gateway_id).first()
    if router is None:
        return False
    try:
        attachment = cloud.show_er_attachment(
            region=row.peer_region,
            er_id=row.peer_gateway_id,
            attachment_id=row.link_id,
            config=peer_config(change),
        )
    except cloud.CloudError as exc:
        logger.info("change %s: the attachment of link %s not looked at: %s", change.pk, row.cloud_id, exc)
        return False
    if attachment.state != cloud.AttachmentState.PENDING_ACCEPTANCE:
        return False
    with transaction.atomic():
        known = SharedAttachment.objects.select_for_update().filter(cloud_id=attachment.id).first()
        kept, started = store_shared_attachment(
            router=router, attachment=attachment, now=timezone.now(), known=known
        )
        if started:
            dispatch.notify_attachment("waiting", attachment_id=kept.pk)
    return True


def _keep_following(change: ChangeRequest) -> ChangeRequest:
    deadline = (change.started_at or change.created_at) + timedelta(seconds=settings.CHANGE_FOLLOW_TIMEOUT)
    if timezone.now() > deadline:
        return _finish(
            change,
            failed=True,
            error_code=FOLLOW_TIMEOUT,
            error_msg=reasons.FOLLOW_TIMEOUT.format(seconds=f"{settings.CHANGE_FOLLOW_TIMEOUT:.0f}"),
        )
    # A sign of life, so the change is not taken for stalled while it is being followed.
    ChangeRequest.objects.filter(pk=change.pk, state__in=lifecycle.TRANSITIONS["follow"].sources).update(
        updated_at=timezone.now()
    )
    dispatch.follow_change(change.pk, delay=settings.PENDING_RECHECK_INTERVAL)
    return change


def _handle_cloud_error(change: ChangeRequest, exc: cloud.CloudError) -> ChangeRequest:
    # 409 means the link is busy (still pending) in the cloud: worth another try later.
    if exc.is_transient or isinstance(exc, cloud.Conflict):
        return _retry_later(
            change,
            error_code=exc.error_code,
            request_id=exc.request_id,
            at_least=getattr(exc, "retry_after", None) or 0.0,
            **_cloud_error_text(exc),
        )
    return _finish(
        change, failed=True, error_code=exc.error_code, request_id=exc.request_id, **_cloud_error_text(exc)
    )


def _cloud_error_text(exc: cloud.CloudError) -> dict[str, str]:
    """A cloud failure as a change records it: in plain words, and as the cloud client reported it."""
    return {"error_msg": stored_cloud_error(exc), "error_detail": str(exc)}


def _retry_later(
    change: ChangeRequest,
    *,
    error_code: str,
    error_msg: str,
    error_detail: str = "",
    request_id: str | None = None,
    at_least: float = 0.0,
) -> ChangeRequest:
    """Put the change back to approved and queue another attempt with backoff; fail it when out of tries."""
    if change.attempts >= settings.CHANGE_MAX_ATTEMPTS:
        return _finish(
            change,
            failed=True,
            error_code=error_code,
            error_msg=reasons.GAVE_UP.format(count=change.attempts, reason=error_msg),
            error_detail=error_detail,
            request_id=request_id,
        )
    delay = max(at_least, min(60.0, settings.PENDING_RECHECK_INTERVAL * 2 ** (change.attempts - 1)))
    logger.info(
        "change %s: attempt %s failed, retrying in %.1f s: %s", change.pk, change.attempts, delay, error_msg
    )
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        if not lifecycle.allows(change, "requeue"):
            return change
        lifecycle.apply(
            change,
            "requeue",
            fields={
                "error_code": error_code,
                "error_msg": error_msg,
                "error_detail": error_detail,
                "cloud_request_ids": _with_request_id(change, request_id),
            },
            after={
                "attempt": change.attempts,
                "delay": delay,
                "error_code": error_code,
                "error_msg": error_msg,
                "error_detail": error_detail,
            },
            cloud_request_id=request_id,
        )
        dispatch.execute_change(change.pk, delay=delay)
    return change


def _finish(
    change: ChangeRequest,
    *,
    failed: bool = False,
    error_code: str = "",
    error_msg: str = "",
    error_detail: str = "",
    request_id: str | None = None,
) -> ChangeRequest:
    step = "fail" if failed else "done"
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        if not lifecycle.allows(change, step):
            return change
        error_code = (error_code or "ERROR")[:64] if failed else ""
        lifecycle.apply(
            change,
            step,
            fields={
                "error_code": error_code,
                "error_msg": error_msg if failed else "",
                "error_detail": error_detail if failed else "",
                "cloud_request_ids": _with_request_id(change, request_id),
            },
            after=(
                {"error_code": error_code, "error_msg": error_msg, "error_detail": error_detail}
                if failed
                else {"state": "done"}
            ),
            cloud_request_id=request_id,
        )
        dispatch.notify("finished", change_id=change.pk)
    return change


def resume_stalled_changes() -> int:
    """Re-queue changes whose execution stopped showing signs of life (a worker died mid-way).

    An executing change past its lease is resumed (its next attempt looks before it acts); an approved
    one that long untouched lost its queued task and is queued again. A change whose execute task is still
    waiting in the queue (a backlog older than the lease, a retry's backoff) is left to it: queueing
    another at every round, from every scheduler, would flood the queue with no-ops. A duplicate task
    is harmless otherwise: only one of them can claim the change.
    """
    now = timezone.now()
    lost_task = Q(
        state=ChangeRequest.State.APPROVED,
        not_before__isnull=True,
        updated_at__lt=lifecycle.lease_expired_before(now=now),
    )
    stalled = list(
        ChangeRequest.objects.filter(lifecycle.due("resume", now=now) | lost_task).values_list(
            "pk", flat=True
        )
    )
    if stalled:
        waiting = dispatch.changes_waiting_to_execute()
        stalled = [pk for pk in stalled if pk not in waiting]
    for pk in stalled:
        dispatch.execute_change(pk)
    return len(stalled)
