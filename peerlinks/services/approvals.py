"""Deciding change requests: approve, reject, edit while pending, expire, release at the window, retry.

Four eyes: nobody decides their own request, and with 2+ approvals required each comes from a different
approver. An approval is bound to the payload it was given on (its digest): after an edit, only approvals
of the current payload count. Every decision is written to the audit log with before and after.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from peerlinks.models import Approval, ChangeRequest, Comment, Policy
from peerlinks.services import notifications
from peerlinks.services.changes import (
    ChangeForbidden,
    ChangeRefused,
    approve_now,
    check_payload,
    enqueue_execution,
    record_audit,
    submit_change,
)

COMMENT_MAX = 2000


def valid_approvals(change: ChangeRequest) -> list[Approval]:
    """Approvals that count: of the current payload, one per approver, never the requester's own."""
    digest = change.payload_digest
    seen: set[int] = set()
    counted = []
    for approval in change.approvals.select_related("approver").order_by("decided_at", "id"):
        if approval.decision != Approval.Decision.APPROVE or approval.payload_digest != digest:
            continue
        if approval.approver_id == change.requested_by_id or approval.approver_id in seen:
            continue
        seen.add(approval.approver_id)
        counted.append(approval)
    return counted


def _lock(change_id: int) -> ChangeRequest:
    return ChangeRequest.objects.select_for_update().get(pk=change_id)


def _check_decidable(change: ChangeRequest, user: AbstractBaseUser) -> None:
    if change.requested_by_id == user.pk:
        raise ChangeForbidden("You asked for this change: someone else has to approve or reject it.")
    if not user.has_perm("peerlinks.approve_change"):
        raise ChangeForbidden("Only approvers can approve or reject change requests.")
    if change.state != ChangeRequest.State.PENDING_APPROVAL:
        raise ChangeRefused(
            f"This change is {change.get_state_display().lower()}: there is nothing to decide."
        )
    if change.expires_at is not None and change.expires_at <= timezone.now():
        raise ChangeRefused("This change has expired: nobody decided in time.")


def approve_change(*, change_id: int, user: AbstractBaseUser, comment: str = "") -> ChangeRequest:
    """Add one approval; with enough approvals of the current payload, the change is approved and queued.

    Approving twice (a double click) is harmless: the second click finds the first approval.
    """
    with transaction.atomic():
        change = _lock(change_id)
        digest = change.payload_digest
        if change.approvals.filter(approver=user, payload_digest=digest).exists():
            return change
        _check_decidable(change, user)
        try:
            with transaction.atomic():
                approval = Approval.objects.create(
                    change_request=change,
                    approver=user,
                    decision=Approval.Decision.APPROVE,
                    comment=comment.strip()[:COMMENT_MAX],
                    payload_digest=digest,
                )
        except IntegrityError:
            return change  # the same approver's other click got there first
        received = len(valid_approvals(change))
        record_audit(
            action="change.approval_added",
            actor=user,
            obj=change,
            before={"approvals": received - 1, "required": change.approvals_required},
            after={"approvals": received, "required": change.approvals_required, "comment": approval.comment},
            change=change,
        )
        if received >= change.approvals_required:
            approve_now(change, policy=Policy.current(), by=user.get_username())
        transaction.on_commit(lambda: notifications.notify_decided(change=change, approval=approval))
    return change


def reject_change(*, change_id: int, user: AbstractBaseUser, comment: str) -> ChangeRequest:
    """End a pending change as rejected; the comment (required) tells the requester why."""
    comment = (comment or "").strip()
    if not comment:
        raise ChangeRefused("Say why: a rejection needs a comment.")
    if len(comment) > COMMENT_MAX:
        raise ChangeRefused(f"The comment must be at most {COMMENT_MAX} characters.")
    with transaction.atomic():
        change = _lock(change_id)
        _check_decidable(change, user)
        approval = Approval.objects.create(
            change_request=change,
            approver=user,
            decision=Approval.Decision.REJECT,
            comment=comment,
            payload_digest=change.payload_digest,
        )
        change.state = ChangeRequest.State.REJECTED
        change.finished_at = timezone.now()
        change.save(update_fields=["state", "finished_at", "updated_at"])
        record_audit(
            action="change.rejected",
            actor=user,
            obj=change,
            before={"state": ChangeRequest.State.PENDING_APPROVAL},
            after={"state": change.state, "comment": comment},
            change=change,
        )
        transaction.on_commit(lambda: notifications.notify_decided(change=change, approval=approval))
    return change


def edit_change(*, change_id: int, user: AbstractBaseUser, name: str, description: str) -> ChangeRequest:
    """Change the name/description of one's own pending create or rename; earlier approvals stop counting."""
    with transaction.atomic():
        change = _lock(change_id)
        if change.requested_by_id != user.pk:
            raise ChangeForbidden("Only the person who asked for this change can edit it.")
        if not change.can_be_edited_by(user):
            raise ChangeRefused("Only a pending create or rename can be edited.")
        payload = {**change.payload, "name": name, "description": description}
        check_payload(change.kind, payload)
        before = {"name": change.payload.get("name"), "description": change.payload.get("description")}
        after = {"name": name, "description": description}
        if before == after:
            raise ChangeRefused("Nothing to change: the name and description are as they are now.")
        dropped = len(valid_approvals(change))
        change.payload = payload
        change.save(update_fields=["payload", "updated_at"])
        record_audit(
            action="change.edited",
            actor=user,
            obj=change,
            before=before,
            after={**after, "approvals_dropped": dropped},
            change=change,
        )
    return change


def add_comment(*, change_id: int, user: AbstractBaseUser, body: str) -> Comment:
    """Add a message to a change request's discussion."""
    body = (body or "").strip()
    if not body:
        raise ChangeRefused("Write something first.")
    if len(body) > COMMENT_MAX:
        raise ChangeRefused(f"A comment is at most {COMMENT_MAX} characters.")
    with transaction.atomic():
        change = ChangeRequest.objects.get(pk=change_id)
        comment = Comment.objects.create(change_request=change, author=user, body=body)
        record_audit(
            action="change.commented", actor=user, obj=change, after={"comment": body}, change=change
        )
    return comment


def retry_change(*, change_id: int, user: AbstractBaseUser) -> ChangeRequest:
    """Ask again for what a failed request asked: a new, linked request that needs approval again."""
    with transaction.atomic():
        change = (
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("gateway", "peer_link")
            .get(pk=change_id)
        )
        if change.state != ChangeRequest.State.FAILED:
            raise ChangeRefused("Only a failed change can be retried.")
        existing = change.retries.order_by("pk").first()
        if existing is not None:
            raise ChangeRefused(f"This change was already retried as #{existing.pk}.")
        if not user.has_perm("peerlinks.retry_change"):
            raise ChangeForbidden("You may not retry changes.")
        payload = {key: value for key, value in change.payload.items() if key not in ("link_name", "before")}
        new = submit_change(
            user=user,
            kind=change.kind,
            gateway=change.gateway,
            payload=payload,
            peer_link=change.peer_link,
            retry_of=change,
        )
        record_audit(
            action="change.retried",
            actor=user,
            obj=change,
            before={"state": change.state},
            after={"retry": new.pk},
            change=change,
        )
    return new


def expire_due_changes() -> int:
    """End pending requests nobody decided in time as expired; returns how many."""
    now = timezone.now()
    due = ChangeRequest.objects.filter(state=ChangeRequest.State.PENDING_APPROVAL, expires_at__lte=now)
    count = 0
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            change = _lock(pk)
            if change.state != ChangeRequest.State.PENDING_APPROVAL or change.expires_at > timezone.now():
                continue  # decided or cancelled meanwhile
            change.state = ChangeRequest.State.EXPIRED
            change.finished_at = timezone.now()
            change.save(update_fields=["state", "finished_at", "updated_at"])
            record_audit(
                action="change.expired",
                actor=None,
                obj=change,
                before={"state": ChangeRequest.State.PENDING_APPROVAL},
                after={"state": change.state, "expires_at": change.expires_at.isoformat()},
                change=change,
            )
            transaction.on_commit(lambda change=change: notifications.notify_expired(change=change))
            count += 1
    return count


def release_due_changes() -> int:
    """Queue approved changes whose change window has opened; returns how many."""
    due = ChangeRequest.objects.filter(
        state=ChangeRequest.State.APPROVED, not_before__isnull=False, not_before__lte=timezone.now()
    )
    count = 0
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            change = _lock(pk)
            if change.state != ChangeRequest.State.APPROVED or change.not_before is None:
                continue
            waited_for = change.not_before
            change.not_before = None
            change.save(update_fields=["not_before", "updated_at"])
            record_audit(
                action="change.released",
                actor=None,
                obj=change,
                before={"not_before": waited_for.isoformat()},
                after={"not_before": None},
                change=change,
            )
            transaction.on_commit(lambda change=change: enqueue_execution(change))
            count += 1
    return count
