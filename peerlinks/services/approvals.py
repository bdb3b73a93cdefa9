"""Deciding change requests: approve, reject, edit while pending, comment, expire, release, run now, retry.

Four eyes: nobody decides their own request, and with 2+ approvals required each comes from a different
approver. A link between two accounts needs, by default, an approver of each account too (the policy may
say any approver of either account will do); who may decide at all is `lifecycle.may_approve`.

An approval is bound to the payload it was given on (its digest): after an edit, only approvals
of the current payload count, and a decision is taken only on the version the approver saw: one given on
an earlier version is refused (nothing is recorded). Every decision is written to the audit log with before
and after; who may take which step, and when, is declared in `lifecycle`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from peerlinks.models import Approval, ChangeBatch, ChangeRequest, CloudAccount, Comment, Policy
from peerlinks.permissions import APPROVE, Holder, holder, holders
from peerlinks.services import dispatch, lifecycle
from peerlinks.services.changes import authorize, check_payload, submit_change
from peerlinks.services.lifecycle import ChangeOutdated, ChangeRefused

COMMENT_MAX = 2000


class ApprovalAlreadyCounts(ChangeRefused):
    """A second Approve by someone whose approval of this version already counts: nothing is recorded."""


def valid_approvals(change: ChangeRequest) -> list[Approval]:
    """Approvals that count: of the current payload, one per approver, never the requester's own."""
    digest = change.payload_digest
    seen: set[int] = set()
    counted = []
    # In Python, over `approvals.all()`: a page listing many changes prefetches them all at once.
    for approval in sorted(change.approvals.all(), key=lambda a: (a.decided_at, a.pk)):
        if approval.decision != Approval.Decision.APPROVE or approval.payload_digest != digest:
            continue
        if approval.approver_id == change.requested_by_id or approval.approver_id in seen:
            continue
        seen.add(approval.approver_id)
        counted.append(approval)
    return counted


def sides_missing(
    change: ChangeRequest, *, approvers: dict[int, Holder] | None = None, policy: Policy | None = None
) -> list[CloudAccount]:
    """The accounts of a cross-account change that still lack a valid approval from one of their approvers,
    when the policy asks for an approver of each account (else, and for a change in one account, none).

    `approvers`: user pk → where they approve (`holders(APPROVE)`), when a page weighs many changes. The
    policy's rule is the one `change` was read with (`with_cross_account_rule`), else `policy`'s, else the
    policy in force."""
    if not change.peer_account_id:
        return []
    rule = policy.cross_account_approval if policy else getattr(change, "cross_account_rule", None)
    if (rule or Policy.current().cross_account_approval) != Policy.CrossAccount.EACH:
        return []
    counted = valid_approvals(change)
    if approvers is None:
        approvers = {approval.approver_id: holder(approval.approver, APPROVE) for approval in counted}
    given = [approvers[approval.approver_id] for approval in counted if approval.approver_id in approvers]
    return [account for account in change.accounts if not any(h.holds_for(account.pk) for h in given)]


def _names(accounts: list[CloudAccount]) -> str:
    return pgettext("list separator", ", ").join(account.name for account in accounts)


@dataclass(frozen=True)
class ApprovalOutlook:
    """Where a pending change's approvals stand: how many count, who can still give the rest, and, for a
    link between two accounts, which account still needs one of its approvers."""

    required: int
    received: int
    can_still_approve: list[AbstractBaseUser]
    anyone_may_approve: bool = True  # someone may approve it at all, whether or not they have decided
    sides_missing: list[CloudAccount] = field(default_factory=list)
    # … of which nobody who can still approve is an approver.
    sides_nobody_can: list[CloudAccount] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return max(0, self.required - self.received, len(self.sides_missing))

    @property
    def stuck(self) -> bool:
        """It cannot complete as things stand: fewer people can still approve than approvals are missing,
        or an account still needing its approver has nobody left who is one."""
        return self.missing > len(self.can_still_approve) or bool(self.sides_nobody_can)

    @property
    def names(self) -> str:
        return pgettext("list separator", ", ").join(
            user.get_username() for user in self.can_still_approve
        ) or _("nobody")

    @property
    def still_needed(self) -> str:
        """'another approver is needed', or how many more, or that none is."""
        if self.missing == 0:
            return _("no other approval is needed")
        return ngettext(
            "another approver is needed", "{count} more approvers are needed", self.missing
        ).format(count=self.missing)

    @property
    def sides_needed(self) -> str:
        """'Needs an approver of team-b.' ("" when no account waits for its approver)."""
        if not self.sides_missing:
            return ""
        return _("Needs an approver of {accounts}.").format(accounts=_names(self.sides_missing))

    @property
    def warning(self) -> str:
        """What the page says when the change cannot complete ("" when it can)."""
        if not self.stuck:
            return ""
        if self.sides_nobody_can:
            return _(
                "This change cannot be approved as things stand: it needs an approver of {accounts} and "
                "nobody else is one. It will expire unless an admin gives someone the Approver role for "
                "{accounts}; or cancel it."
            ).format(accounts=_names(self.sides_nobody_can))
        count = len(self.can_still_approve)
        if count == 0:
            sentence = ngettext(
                "This change cannot be approved as things stand: it needs {missing} more approval and "
                "nobody else can approve it. It will expire unless an admin gives someone else the "
                "Approver role; or cancel it.",
                "This change cannot be approved as things stand: it needs {missing} more approvals and "
                "nobody else can approve it. It will expire unless an admin gives someone else the "
                "Approver role; or cancel it.",
                self.missing,
            )
        else:
            # Fewer can approve than are missing: with {missing} at least 2, {count} decides the wording.
            sentence = ngettext(
                "This change cannot be approved as things stand: it needs {missing} more approvals and "
                "only {count} person can still approve ({names}). It will expire unless an admin gives "
                "someone else the Approver role; or cancel it.",
                "This change cannot be approved as things stand: it needs {missing} more approvals and "
                "only {count} people can still approve ({names}). It will expire unless an admin gives "
                "someone else the Approver role; or cancel it.",
                count,
            )
        return sentence.format(missing=self.missing, count=count, names=self.names)


def approval_outlook(change: ChangeRequest) -> ApprovalOutlook:
    """Where the change's approvals stand, with everyone who may still approve it (names)."""
    return approval_outlooks([change], approvers=holders(APPROVE))[change.pk]


def approval_outlooks(
    changes: Iterable[ChangeRequest], *, approvers: list[Holder], policy: Policy | None = None
) -> dict[int, ApprovalOutlook]:
    """The outlook of several changes against one list of `holders(APPROVE)` (the queue reads it once);
    the policy is read only when a cross-account change read without its rule is weighed (sides_missing).

    Who can still approve: those who may approve the change (lifecycle.may_approve) and have not decided
    on this version."""
    by_pk = {approver.user.pk: approver for approver in approvers}
    outlooks = {}
    for change in changes:
        decided = {
            approval.approver_id
            for approval in change.approvals.all()
            if approval.payload_digest == change.payload_digest
        }
        may = [a for a in approvers if lifecycle.may_approve(a, change)]
        able = [a for a in may if a.user.pk not in decided]
        missing = sides_missing(change, approvers=by_pk, policy=policy)
        outlooks[change.pk] = ApprovalOutlook(
            required=change.approvals_required,
            received=len(valid_approvals(change)),
            can_still_approve=[approver.user for approver in able],
            anyone_may_approve=bool(may),
            sides_missing=missing,
            sides_nobody_can=[acc for acc in missing if not any(a.holds_for(acc.pk) for a in able)],
        )
    return outlooks


def awaiting_decision(user: AbstractBaseUser) -> QuerySet[ChangeRequest]:
    """Pending changes `user` may decide (others' requests in the accounts they approve for), oldest first."""
    pending = ChangeRequest.objects.filter(state=ChangeRequest.State.PENDING_APPROVAL)
    return pending.filter(lifecycle.may_approve_filter(holder(user, APPROVE))).order_by("created_at", "id")


def submission_warning(change: ChangeRequest) -> str:
    """What to tell the requester right after submitting, when the change cannot be approved as things
    stand ("" when it can, or needs no approval)."""
    if change.state != ChangeRequest.State.PENDING_APPROVAL:
        return ""
    return approval_outlook(change).warning


def _lock(change_id: int) -> ChangeRequest:
    return ChangeRequest.objects.select_for_update().get(pk=change_id)


def check_version(change: ChangeRequest, payload_digest: str) -> None:
    """Refuse a decision on any version but the current one: `payload_digest` is the one the approver saw."""
    if payload_digest != change.payload_digest:
        raise ChangeOutdated(_("This change was edited after you opened it: review the new version."))


def approve_change(
    *,
    change_id: int,
    user: AbstractBaseUser,
    payload_digest: str,
    comment: str = "",
    tell_requester: bool = True,
) -> ChangeRequest:
    """Add one approval of the version the approver saw (`payload_digest`, refused unless it is still the
    current one); with enough approvals of the current payload, the change is approved and queued.

    Approving twice (a double click) records nothing: the second click finds the first approval and is
    told it already counts (ApprovalAlreadyCounts). `tell_requester` False leaves telling the requester to
    the batch decision it is part of (services.bulk); the webhooks still hear of it.
    """
    with transaction.atomic():
        change = _lock(change_id)
        digest = change.payload_digest
        if (
            payload_digest == digest
            and change.approvals.filter(approver=user, payload_digest=digest).exists()
        ):
            raise _already_counts(change)
        lifecycle.check(change, "approve", user=user)
        check_version(change, payload_digest)
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
            raise _already_counts(change) from None  # the same approver's other click got there first
        received = len(valid_approvals(change))
        waiting_for = sides_missing(change)
        after = {"approvals": received, "required": change.approvals_required, "comment": approval.comment}
        if waiting_for:
            after["needs_approver_of"] = [account.name for account in waiting_for]
        lifecycle.apply(
            change,
            "approve",
            actor=user,
            before={"approvals": received - 1, "required": change.approvals_required},
            after=after,
        )
        if received >= change.approvals_required and not waiting_for:
            authorize(change, policy=Policy.current(), by=user.get_username())
        dispatch.notify("decided", change_id=change.pk, approval_id=approval.pk, people=tell_requester)
    return change


def _already_counts(change: ChangeRequest) -> ApprovalAlreadyCounts:
    outlook = approval_outlook(change)
    rest = (
        outlook.still_needed
        if change.state == ChangeRequest.State.PENDING_APPROVAL
        else _("the change is {state}").format(state=change.get_state_display().lower())
    )
    return ApprovalAlreadyCounts(
        _("Your approval already counts: {received} of {required}; {rest}.").format(
            received=outlook.received, required=outlook.required, rest=rest
        )
    )


def rejection_comment(comment: str | None) -> str:
    """The comment a rejection needs, stripped: it says why, in at most COMMENT_MAX characters."""
    comment = (comment or "").strip()
    if not comment:
        raise ChangeRefused(_("Say why: a rejection needs a comment."))
    if len(comment) > COMMENT_MAX:
        raise ChangeRefused(_("The comment must be at most {count} characters.").format(count=COMMENT_MAX))
    return comment


def reject_change(
    *, change_id: int, user: AbstractBaseUser, payload_digest: str, comment: str, tell_requester: bool = True
) -> ChangeRequest:
    """End a pending change as rejected, if `payload_digest` (the version the approver saw) is still the
    current one; the comment (required) tells the requester why (`tell_requester`: as approve_change)."""
    comment = rejection_comment(comment)
    with transaction.atomic():
        change = _lock(change_id)
        lifecycle.check(change, "reject", user=user)
        check_version(change, payload_digest)
        approval = Approval.objects.create(
            change_request=change,
            approver=user,
            decision=Approval.Decision.REJECT,
            comment=comment,
            payload_digest=change.payload_digest,
        )
        lifecycle.apply(
            change,
            "reject",
            actor=user,
            before={"state": change.state},
            after={"state": ChangeRequest.State.REJECTED, "comment": comment},
        )
        dispatch.notify("decided", change_id=change.pk, approval_id=approval.pk, people=tell_requester)
    return change


def edit_change(*, change_id: int, user: AbstractBaseUser, name: str, description: str) -> ChangeRequest:
    """Change the name/description of one's own pending create or rename; earlier approvals stop counting."""
    with transaction.atomic():
        change = _lock(change_id)
        lifecycle.check(change, "edit", user=user)
        payload = {**change.payload, "name": name, "description": description}
        check_payload(change.kind, payload)
        before = {"name": change.payload.get("name"), "description": change.payload.get("description")}
        after = {"name": name, "description": description}
        if before == after:
            raise ChangeRefused(_("Nothing to change: the name and description are as they are now."))
        dropped = len(valid_approvals(change))
        lifecycle.apply(
            change,
            "edit",
            actor=user,
            fields={"payload": payload},
            before=before,
            after={**after, "approvals_dropped": dropped},
        )
    return change


def add_comment(*, change_id: int, user: AbstractBaseUser, body: str) -> Comment:
    """Add a message to a change request's discussion."""
    body = (body or "").strip()
    if not body:
        raise ChangeRefused(_("Write something first."))
    if len(body) > COMMENT_MAX:
        raise ChangeRefused(_("A comment is at most {count} characters.").format(count=COMMENT_MAX))
    with transaction.atomic():
        change = ChangeRequest.objects.get(pk=change_id)
        lifecycle.check(change, "comment", user=user)
        comment = Comment.objects.create(change_request=change, author=user, body=body)
        lifecycle.apply(change, "comment", actor=user, after={"comment": body})
        dispatch.notify("commented", change_id=change.pk, comment_id=comment.pk)
    return comment


def retry_change(
    *, change_id: int, user: AbstractBaseUser, batch: ChangeBatch | None = None
) -> ChangeRequest:
    """Ask again for what a failed request asked: a new, linked request that needs approval again (in
    `batch` when a batch's failed rows are asked for again together)."""
    with transaction.atomic():
        change = (
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("gateway", "peer_link")
            .get(pk=change_id)
        )
        lifecycle.check(change, "retry", user=user)
        payload = {key: value for key, value in change.payload.items() if key not in ("link_name", "before")}
        new = submit_change(
            user=user,
            kind=change.kind,
            gateway=change.gateway,
            payload=payload,
            peer_link=change.peer_link,
            retry_of=change,
            batch=batch,
        )
        lifecycle.apply(change, "retry", actor=user, before={"state": change.state}, after={"retry": new.pk})
    return new


def expire_due_changes() -> int:
    """End pending requests nobody decided in time as expired; returns how many."""
    due = ChangeRequest.objects.filter(lifecycle.due("expire"))
    count = 0
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            change = _lock(pk)
            if not lifecycle.allows(change, "expire"):
                continue  # decided or cancelled meanwhile
            lifecycle.apply(
                change,
                "expire",
                before={"state": change.state},
                after={"state": ChangeRequest.State.EXPIRED, "expires_at": change.expires_at},
            )
            dispatch.notify("expired", change_id=change.pk)
            count += 1
    return count


def release_due_changes() -> int:
    """Queue approved changes whose change window is open by the policy as it stands now (widened or turned
    off since they were approved, too); those whose window moved wait for its new opening. Returns how
    many were queued."""
    now = timezone.now()
    moved = ChangeRequest.objects.filter(lifecycle.due("reschedule", now=now))
    for pk in moved.values_list("pk", flat=True):
        with transaction.atomic():
            change = _lock(pk)
            if lifecycle.allows(change, "reschedule", now=now):
                opening = lifecycle.next_window_opening(Policy.current(), now=now)
                lifecycle.apply(
                    change,
                    "reschedule",
                    fields={"not_before": opening},
                    before={"not_before": change.not_before},
                    after={"not_before": opening},
                )
    due = ChangeRequest.objects.filter(lifecycle.due("release", now=now))
    count = 0
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            change = _lock(pk)
            if not lifecycle.allows(change, "release", now=now):
                continue
            lifecycle.apply(
                change,
                "release",
                fields={"not_before": None},
                before={"not_before": change.not_before},
                after={"not_before": None},
            )
            dispatch.execute_change(change.pk)
            count += 1
    return count


def run_reason(reason: str | None) -> str:
    """The reason running before the window needs, stripped: at most COMMENT_MAX characters."""
    reason = (reason or "").strip()
    if not reason:
        raise ChangeRefused(_("Say why: running a change before its window needs a reason."))
    if len(reason) > COMMENT_MAX:
        raise ChangeRefused(_("The reason must be at most {count} characters.").format(count=COMMENT_MAX))
    return reason


def run_change_now(*, change_id: int, user: AbstractBaseUser, reason: str) -> ChangeRequest:
    """Run an approved change waiting for the change window at once (an emergency), saying why; the
    requester is told."""
    reason = run_reason(reason)
    with transaction.atomic():
        change = _lock(change_id)
        lifecycle.check(change, "run_now", user=user)
        lifecycle.apply(
            change,
            "run_now",
            actor=user,
            fields={"not_before": None},
            before={"not_before": change.not_before},
            after={"not_before": None, "reason": reason},
        )
        dispatch.execute_change(change.pk)
        dispatch.notify("run_now", change_id=change.pk)
    return change
