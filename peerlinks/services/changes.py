"""Change requests: submit, approve by policy, execute against the cloud, follow to a final state.

Every request ends in a known state. A create is preceded by a lookup (so a resumed or retried
execution never makes a second link), transient cloud errors are retried later, permanent ones end
the request as failed with the cloud's code and message.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import AuditEvent, ChangeRequest, Gateway, PeerLink, StatusChange
from peerlinks.services.sync import link_values

logger = logging.getLogger(__name__)

CREATE_FIELDS = ("name", "description", "peer_type", "peer_gateway_id", "peer_region", "peer_project_id")
UPDATE_FIELDS = ("name", "description")


class ChangeRefused(Exception):
    """A change request that breaks a rule; the message is for the user."""


def record_audit(
    *,
    action: str,
    actor: AbstractBaseUser | None,
    obj: object,
    before: dict | None = None,
    after: dict | None = None,
    cloud_request_id: str | None = "",
    change: ChangeRequest | None = None,
) -> AuditEvent:
    """Append one event to the audit log."""
    if isinstance(obj, PeerLink):
        object_type, object_id = "peer_link", obj.cloud_id
    elif isinstance(obj, ChangeRequest):
        object_type, object_id = "change_request", str(obj.pk)
    else:
        object_type, object_id = type(obj).__name__.lower(), str(getattr(obj, "pk", ""))
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=str(obj)[:200],
        before=before,
        after=after,
        cloud_request_id=cloud_request_id or "",
        change_request=change,
    )


def submit_change(
    *,
    user: AbstractBaseUser,
    kind: str,
    gateway: Gateway,
    payload: dict,
    peer_link: PeerLink | None = None,
) -> ChangeRequest:
    """Record a change request, approve it if policy needs no approver, and queue its execution."""
    allowed = {"create": CREATE_FIELDS, "update": UPDATE_FIELDS, "delete": ()}[kind]
    payload = {key: payload[key] for key in allowed if key in payload}
    if peer_link is not None:
        if peer_link.is_read_only:
            raise ChangeRefused("This link belongs to Cloud Connect and can only be changed there.")
        if peer_link.gone_at is not None:
            raise ChangeRefused("This link no longer exists in the cloud.")
        payload["link_name"] = peer_link.name
    with transaction.atomic():
        if peer_link is not None and _open_request_for(peer_link):
            raise ChangeRefused("Another change to this link is still open; wait for it to finish.")
        change = ChangeRequest.objects.create(
            kind=kind, requested_by=user, gateway=gateway, peer_link=peer_link, payload=payload
        )
        record_audit(action="change.submitted", actor=user, obj=change, after=payload, change=change)
        if required_approvals(kind) == 0:
            change.state = ChangeRequest.State.APPROVED
            change.save(update_fields=["state", "updated_at"])
            record_audit(
                action="change.approved", actor=None, obj=change, after={"by": "policy"}, change=change
            )
            enqueue_execution(change)
    return change


def required_approvals(kind: str) -> int:
    """How many approvals a change of this kind needs before it runs."""
    return int(settings.APPROVALS_REQUIRED.get(kind, 1))


def _open_request_for(peer_link: PeerLink) -> bool:
    return (
        ChangeRequest.objects.filter(peer_link=peer_link)
        .exclude(state__in=ChangeRequest.TERMINAL_STATES)
        .exists()
    )


def enqueue_execution(change: ChangeRequest, *, delay: float = 0.0) -> None:
    """Queue (or re-queue after `delay` seconds) the execution of an approved change."""
    from peerlinks.tasks import execute_change_task

    if delay > 0:
        execute_change_task.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(change.pk)
    else:
        execute_change_task.enqueue(change.pk)


def execute_change(*, change_id: int) -> ChangeRequest:
    """Claim an approved change and carry it out; then follow the link until its status is final."""
    change = _claim(change_id)
    if change is None:
        return ChangeRequest.objects.get(pk=change_id)
    try:
        if change.kind == ChangeRequest.Kind.CREATE:
            _send_create(change)
        elif change.kind == ChangeRequest.Kind.UPDATE:
            _send_update(change)
        else:
            _send_delete(change)
    except cloud.CloudError as exc:
        return _handle_cloud_error(change, exc)
    return follow_change(change_id=change.pk)


def _claim(change_id: int) -> ChangeRequest | None:
    """Move an approved change to executing, once; a stale executing one (worker died) is resumed."""
    lease = timedelta(seconds=settings.CHANGE_EXECUTION_LEASE)
    with transaction.atomic():
        change = (
            ChangeRequest.objects.select_for_update()
            .select_related("gateway__project", "peer_link")
            .get(pk=change_id)
        )
        if change.state == ChangeRequest.State.APPROVED:
            change.started_at = change.started_at or timezone.now()
        elif not (
            change.state == ChangeRequest.State.EXECUTING and change.updated_at < timezone.now() - lease
        ):
            return None
        change.state = ChangeRequest.State.EXECUTING
        change.attempts += 1
        change.save(update_fields=["state", "attempts", "started_at", "updated_at"])
    return change


def _send_create(change: ChangeRequest) -> None:
    gateway, payload = change.gateway, change.payload
    if change.peer_link_id is not None:
        return  # sent by an earlier attempt; only following is left
    # Look before creating: an earlier attempt may have created it and died before recording it.
    existing = next(
        (
            link
            for link in cloud.list_peer_links(
                region=gateway.region, gateway_id=gateway.cloud_id, names=[payload["name"]]
            )
            if link.peer_site and link.peer_site.gateway_id == payload["peer_gateway_id"]
        ),
        None,
    )
    request_id = None
    if existing is None:
        result = cloud.create_peer_link(
            region=gateway.region,
            gateway_id=gateway.cloud_id,
            name=payload["name"],
            description=payload.get("description") or None,
            peer_gateway_id=payload["peer_gateway_id"],
            peer_region=payload["peer_region"],
            peer_project_id=payload["peer_project_id"],
        )
        existing, request_id = result.peer_link, result.request_id
    with transaction.atomic():
        row = _store_link(gateway=gateway, link=existing)
        change.peer_link = row
        if request_id:
            change.cloud_request_ids = [*change.cloud_request_ids, request_id]
        change.save(update_fields=["peer_link", "cloud_request_ids", "updated_at"])
        record_audit(
            action="peer_link.created",
            actor=change.requested_by,
            obj=row,
            after=_jsonable(link_values(existing)),
            cloud_request_id=request_id,
            change=change,
        )


def _send_update(change: ChangeRequest) -> None:
    row = change.peer_link
    before = {field: getattr(row, field) for field in UPDATE_FIELDS}
    result = cloud.update_peer_link(
        region=change.gateway.region,
        gateway_id=change.gateway.cloud_id,
        peer_link_id=row.cloud_id,
        name=change.payload.get("name"),
        description=change.payload.get("description"),
    )
    with transaction.atomic():
        row = _store_link(gateway=change.gateway, link=result.peer_link)
        if result.request_id:
            change.cloud_request_ids = [*change.cloud_request_ids, result.request_id]
            change.save(update_fields=["cloud_request_ids", "updated_at"])
        record_audit(
            action="peer_link.updated",
            actor=change.requested_by,
            obj=row,
            before=before,
            after={field: getattr(row, field) for field in UPDATE_FIELDS},
            cloud_request_id=result.request_id,
            change=change,
        )


def _send_delete(change: ChangeRequest) -> None:
    row = change.peer_link
    try:
        request_id = cloud.delete_peer_link(
            region=change.gateway.region, gateway_id=change.gateway.cloud_id, peer_link_id=row.cloud_id
        )
    except cloud.NotFound:
        request_id = None  # already gone: the outcome the user asked for
    with transaction.atomic():
        if request_id:
            change.cloud_request_ids = [*change.cloud_request_ids, request_id]
            change.save(update_fields=["cloud_request_ids", "updated_at"])
        record_audit(
            action="peer_link.delete_sent",
            actor=change.requested_by,
            obj=row,
            before={"status": row.status, "name": row.name},
            cloud_request_id=request_id,
            change=change,
        )


def follow_change(*, change_id: int) -> ChangeRequest:
    """Look at the link once; finish the change if its status is final, else look again later."""
    change = ChangeRequest.objects.select_related("gateway__project", "peer_link").get(pk=change_id)
    if change.state != ChangeRequest.State.EXECUTING or change.peer_link is None:
        return change
    row = change.peer_link
    try:
        link = cloud.show_peer_link(
            region=change.gateway.region, gateway_id=change.gateway.cloud_id, peer_link_id=row.cloud_id
        ).peer_link
    except cloud.NotFound:
        link = None
    except cloud.CloudError as exc:
        if not exc.is_transient:
            return _finish(change, failed=True, error_code=exc.error_code, error_msg=str(exc))
        _schedule_follow(change)
        return change

    if change.kind == ChangeRequest.Kind.DELETE:
        if link is not None:
            return _keep_following(change)
        PeerLink.objects.filter(pk=row.pk).update(gone_at=timezone.now())
        return _finish(change)
    if link is None:
        return _finish(
            change, failed=True, error_code="DC.0002", error_msg="The link disappeared from the cloud."
        )
    row = _store_link(gateway=change.gateway, link=link)
    if row.status == PeerLink.Status.ACTIVE:
        return _finish(change)
    if row.status == PeerLink.Status.ERROR:
        return _finish(
            change, failed=True, error_code="ERROR", error_msg=row.reason or "The link ended in ERROR."
        )
    return _keep_following(change)


def _keep_following(change: ChangeRequest) -> ChangeRequest:
    deadline = (change.started_at or change.created_at) + timedelta(seconds=settings.CHANGE_FOLLOW_TIMEOUT)
    if timezone.now() > deadline:
        return _finish(
            change,
            failed=True,
            error_code="TIMEOUT",
            error_msg=f"The cloud did not finish the change within {settings.CHANGE_FOLLOW_TIMEOUT:.0f} s.",
        )
    ChangeRequest.objects.filter(pk=change.pk).update(updated_at=timezone.now())
    _schedule_follow(change)
    return change


def _schedule_follow(change: ChangeRequest) -> None:
    from peerlinks.tasks import follow_change_task

    run_after = timezone.now() + timedelta(seconds=settings.PENDING_RECHECK_INTERVAL)
    follow_change_task.using(run_after=run_after).enqueue(change.pk)


def _handle_cloud_error(change: ChangeRequest, exc: cloud.CloudError) -> ChangeRequest:
    if exc.is_transient and change.attempts < settings.CHANGE_MAX_ATTEMPTS:
        logger.info("change %s: transient error, will retry: %s", change.pk, exc)
        with transaction.atomic():
            ChangeRequest.objects.filter(pk=change.pk).update(
                state=ChangeRequest.State.APPROVED, error_code=exc.error_code, error_msg=str(exc)
            )
            change.refresh_from_db()
            enqueue_execution(change, delay=min(60.0, 2.0**change.attempts))
        return change
    return _finish(
        change, failed=True, error_code=exc.error_code, error_msg=str(exc), request_id=exc.request_id
    )


def _finish(
    change: ChangeRequest,
    *,
    failed: bool = False,
    error_code: str = "",
    error_msg: str = "",
    request_id: str | None = None,
) -> ChangeRequest:
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        if change.is_terminal:
            return change
        change.state = ChangeRequest.State.FAILED if failed else ChangeRequest.State.DONE
        change.finished_at = timezone.now()
        change.error_code = error_code if failed else ""
        change.error_msg = error_msg if failed else ""
        if request_id:
            change.cloud_request_ids = [*change.cloud_request_ids, request_id]
        change.save(
            update_fields=[
                "state",
                "finished_at",
                "error_code",
                "error_msg",
                "cloud_request_ids",
                "updated_at",
            ]
        )
        record_audit(
            action="change.failed" if failed else "change.done",
            actor=None,
            obj=change,
            after={"error_code": error_code, "error_msg": error_msg} if failed else {"state": "done"},
            cloud_request_id=request_id,
            change=change,
        )
    return change


def _store_link(*, gateway: Gateway, link: "cloud.PeerLink") -> PeerLink:
    """Write what the cloud just said about a link into the cache, with its status history."""
    values = link_values(link)
    row = PeerLink.objects.filter(cloud_id=link.id).first()
    now = timezone.now()
    if row is None:
        row = PeerLink.objects.create(cloud_id=link.id, gateway=gateway, synced_at=now, **values)
        StatusChange.objects.create(peer_link=row, to_status=row.status, reason=row.reason, observed_at=now)
        return row
    if row.status != values["status"]:
        StatusChange.objects.create(
            peer_link=row,
            from_status=row.status,
            to_status=values["status"],
            reason=values["reason"],
            observed_at=now,
        )
    for name, value in values.items():
        setattr(row, name, value)
    row.synced_at = now
    row.gone_at = None
    row.save()
    return row


def _jsonable(values: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


def resume_stalled_changes() -> int:
    """Re-queue changes whose execution stopped showing signs of life (a worker died mid-way)."""
    stale = timezone.now() - timedelta(seconds=settings.CHANGE_EXECUTION_LEASE)
    stalled = list(
        ChangeRequest.objects.filter(state=ChangeRequest.State.EXECUTING, updated_at__lt=stale).values_list(
            "pk", flat=True
        )
    )
    from peerlinks.tasks import execute_change_task

    for pk in stalled:
        execute_change_task.enqueue(pk)
    return len(stalled)
