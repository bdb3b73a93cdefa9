"""A change request's lifecycle, declared once: every transition with its source states, who may take it,
when it may be taken, and the audit action it writes.

Services enforce it (`check`, then `apply` under the row lock); pages ask the same guard (`allowed`) to
show a button exactly when pressing it would succeed.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from peerlinks.models import ChangeRequest, CloudAccount, Policy
from peerlinks.permissions import APPROVE, OVERRIDE_WINDOW, RETRY, SUBMIT, Holder, holder
from peerlinks.presentation.times import format_time
from peerlinks.services.audit import record_audit

State = ChangeRequest.State
Kind = ChangeRequest.Kind
ANY_STATE = frozenset(State.values)


class ChangeRefused(Exception):
    """A change request that breaks a rule; the message is for the user."""


class ChangeForbidden(ChangeRefused, PermissionDenied):
    """The rule broken is who is asking (someone else's change, or a role they lack, or lack in the account
    the change is in). A PermissionDenied too: a view that lets it through answers with the 403 page."""


class ChangeOutdated(ChangeRefused):
    """A decision on a version of the change that is no longer the current one: it was edited since."""


Who = Callable[[ChangeRequest, Any], str]
When = Callable[[ChangeRequest, datetime], str]
Due = Callable[[datetime], Q]


@dataclass(frozen=True)
class Transition:
    """One step of the lifecycle. `who` and `when` return "" when allowed, else why not, for the user."""

    name: str
    sources: frozenset[str]
    target: str | None  # None: the state stays (an approval counted, an edit, a look at the link)
    # What the audit log records: one action, one per kind of change, or "" (nothing worth an event).
    audit_action: str | dict[str, str]
    wrong_state: str | Promise = _("This change is {state}.")
    who: Who | None = None  # the person asking; None for the steps the system takes
    when: When | None = None
    # `when` as a query, for the steps the scheduler looks for (which changes are due now).
    due: Due | None = None

    def action_for(self, change: ChangeRequest) -> str:
        if isinstance(self.audit_action, dict):
            return self.audit_action[change.kind]
        return self.audit_action


# --- Who: each step is taken in the accounts the change touches ----------------------------------


def may_approve(approver: Holder, change: ChangeRequest) -> bool:
    """Who may approve or reject `change`, the one rule the guard, the outlook, the queue and the notices ask:
    anyone but its requester who holds approve for an account it touches (either side of a cross-account
    link; the policy says whether each side must approve before it completes: approvals.sides_missing)."""
    if approver.user.pk == change.requested_by_id:
        return False
    return any(approver.holds_for(account.pk) for account in change.accounts)


def may_approve_filter(approver: Holder) -> Q:
    """`may_approve` as a query filter on change requests (the approvals queue and its count in the
    navigation), kept beside it so the two change together."""
    others = ~Q(requested_by=approver.user.pk)
    if approver.accounts is None:
        return others
    return others & (
        Q(gateway__project__account__in=approver.accounts) | Q(peer_account__in=approver.accounts)
    )


# Holding a role, but for other accounts than the one(s) the change acts in; {account} is one name, or
# several in a list.
_NOT_FOR_ACCOUNT = {
    SUBMIT: _("You are not an engineer for account {account}."),
    RETRY: _("You are not an engineer for account {account}."),
    APPROVE: _("You are not an approver for account {account}."),
}


def role_refusal(user: Any, perm: str, accounts: list[CloudAccount], no_role: str | Promise) -> str:
    """Why `user` may not act with `perm` in any of `accounts` ("" when they may): they hold it for other
    accounts only ("You are not an engineer for account team-b."), or nowhere (`no_role`)."""
    if user is None:
        return str(no_role)
    held = holder(user, perm)
    if any(held.holds_for(account.pk) for account in accounts):
        return ""
    if not held.accounts:
        return str(no_role)
    names = pgettext("list separator", ", ").join(account.name for account in accounts)
    return str(_NOT_FOR_ACCOUNT[perm]).format(account=names)


def _lacking(user: Any, perm: str, change: ChangeRequest, no_role: str | Promise, *, either: bool) -> str:
    """role_refusal where `change` acts: its gateway's account; with `either`, also the peer's account of a
    cross-account link."""
    return role_refusal(user, perm, change.accounts if either else [change.account], no_role)


def check_engineer_in(user: Any, account: CloudAccount) -> None:
    """Raise ChangeForbidden unless `user` is an engineer in `account`: the rule for what is done to links
    and drift besides change requests (local fields, acknowledging or adopting drift)."""
    problem = role_refusal(user, SUBMIT, [account], _("Only engineers can do this."))
    if problem:
        raise ChangeForbidden(problem)


# Who may cancel or edit, said in whole sentences (a translation cannot put a verb into a sentence).
_REQUESTER_ONLY = {
    "cancel": (
        _("Only the person who asked for this change can cancel it."),
        _("Your role does not let you cancel change requests."),
    ),
    "edit": (
        _("Only the person who asked for this change can edit it."),
        _("Your role does not let you edit change requests."),
    ),
}


def _requester(verb: str) -> Who:
    not_theirs, no_role = _REQUESTER_ONLY[verb]

    def who(change: ChangeRequest, user: Any) -> str:
        if user is None or user.pk != change.requested_by_id:
            return str(not_theirs)
        return _lacking(user, SUBMIT, change, no_role, either=False)

    return who


def _decider(change: ChangeRequest, user: Any) -> str:
    if user is None or user.pk == change.requested_by_id:
        return str(_("You asked for this change: someone else has to approve or reject it."))
    if may_approve(holder(user, APPROVE), change):
        return ""
    refusal = _("Only approvers can approve or reject change requests.")
    return role_refusal(user, APPROVE, change.accounts, refusal)  # why not: which account they lack


def _holder_of(permission: str, refusal: str | Promise, *, either: bool = False) -> Who:
    """Who holds `permission` where the change acts (with `either`: either side of a cross-account link)."""

    def who(change: ChangeRequest, user: Any) -> str:
        return _lacking(user, permission, change, refusal, either=either)

    return who


def _not_expired(change: ChangeRequest, now: datetime) -> str:
    if change.expires_at is not None and change.expires_at <= now:
        return str(_("This change has expired: nobody decided in time."))
    return ""


def _expired(change: ChangeRequest, now: datetime) -> str:
    return "" if change.expires_at is not None and change.expires_at <= now else "It has not expired yet."


def _expired_by(now: datetime) -> Q:
    return Q(expires_at__lte=now)


def _editable_kind(change: ChangeRequest, now: datetime) -> str:
    return "" if change.kind in (Kind.CREATE, Kind.UPDATE) else str(ONLY_CREATE_OR_RENAME)


def _window_open(change: ChangeRequest, now: datetime) -> str:
    if change.not_before is not None and change.not_before > now:
        return _("It waits for the change window, which opens {at}.").format(
            at=format_time(change.not_before)
        )
    return ""


def next_window_opening(policy: Policy, *, now: datetime) -> datetime | None:
    """When an approved change may run: None if now (no window, or inside one), else the next opening.

    Windows open at `window_start` on the listed ISO weekdays, in the server's time zone, and close at
    `window_end`, on the next day when the end is not after the start (22:00-06:00).
    """
    if not policy.window_enabled:
        return None
    # The server's zone (settings.TIME_ZONE), not the zone of whoever is looking at a page.
    local = timezone.localtime(now, timezone.get_default_timezone())
    days = {int(day) for day in policy.window_weekdays.split(",") if day.strip().isdigit()}
    if not days:
        return None
    start, end = policy.window_start, policy.window_end
    length = datetime.combine(local.date(), end) - datetime.combine(local.date(), start)
    if length <= timedelta(0):
        length += timedelta(days=1)
    for offset in range(-1, 9):
        day = local.date() + timedelta(days=offset)
        if day.isoweekday() not in days:
            continue
        opening = timezone.make_aware(datetime.combine(day, start), local.tzinfo)
        if opening <= local < opening + length:
            return None
        if opening > local:
            return opening
    return None


def _opening_now(now: datetime) -> datetime | None:
    """When the change window opens by the policy as it stands now (None: it is open, or there is none).

    Read at each look, so widening the window or turning it off releases the changes waiting for it.
    """
    return next_window_opening(Policy.current(), now=now)


def _waits_for_window(change: ChangeRequest, now: datetime) -> str:
    return "" if change.not_before is not None else str(_("It is not waiting for the change window."))


def _window_open_now(change: ChangeRequest, now: datetime) -> str:
    if change.not_before is None:
        return "It waits for nothing."
    return "" if _opening_now(now) is None else "The change window is closed."


def _window_open_by(now: datetime) -> Q:
    return Q(not_before__isnull=False) if _opening_now(now) is None else Q(pk__in=[])


def _window_moved(change: ChangeRequest, now: datetime) -> str:
    opening = _opening_now(now)
    if change.not_before is None or opening is None or opening == change.not_before:
        return "Its time in the change window stands."
    return ""


def _window_moved_by(now: datetime) -> Q:
    opening = _opening_now(now)
    if opening is None:
        return Q(pk__in=[])
    return Q(not_before__isnull=False) & ~Q(not_before=opening)


def _runner(change: ChangeRequest, user: Any) -> str:
    """Who may run an approved change before its window: an admin, or an approver (of an account the change
    touches) other than the requester."""
    refusal = _("Only approvers and admins can run a change before the change window.")
    problem = _lacking(user, APPROVE, change, refusal, either=True)
    if problem:
        return problem
    if user.pk == change.requested_by_id and not user.has_perm(OVERRIDE_WINDOW):
        return str(
            _("You asked for this change: another approver or an admin has to run it before the window.")
        )
    return ""


def _stalled(change: ChangeRequest, now: datetime) -> str:
    return "" if is_stalled(change, now=now) else "A worker is carrying it out."


def _stalled_by(now: datetime) -> Q:
    return Q(updated_at__lt=lease_expired_before(now=now))


def _not_retried(change: ChangeRequest, now: datetime) -> str:
    if hasattr(change, "first_retry_id"):  # read with the change (`with_first_retry`)
        existing = change.first_retry_id
    else:
        existing = change.retries.order_by("pk").values_list("pk", flat=True).first()
    if existing is None:
        return ""
    return _("This change was already retried as #{id}.").format(id=existing)


def lease_expired_before(*, now: datetime) -> datetime:
    """A change untouched since before this instant showed no sign of life for CHANGE_EXECUTION_LEASE."""
    return now - timedelta(seconds=settings.CHANGE_EXECUTION_LEASE)


def is_stalled(change: ChangeRequest, *, now: datetime) -> bool:
    """An executing change with no sign of life for longer than the lease: its worker died."""
    return change.state == State.EXECUTING and change.updated_at < lease_expired_before(now=now)


PENDING = frozenset({State.PENDING_APPROVAL})
APPROVED = frozenset({State.APPROVED})
EXECUTING = frozenset({State.EXECUTING})
NOTHING_TO_DECIDE = _("This change is {state}: there is nothing to decide.")
ONLY_CREATE_OR_RENAME = _("Only a pending create or rename can be edited.")

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(
            "submit",
            frozenset(),
            State.PENDING_APPROVAL,
            "change.submitted",
            who=_holder_of(SUBMIT, _("Only engineers can ask for changes.")),
        ),
        # One approver's approval counted; once enough of them count (or none are needed), `authorize`.
        Transition(
            "approve", PENDING, None, "change.approval_added", NOTHING_TO_DECIDE, _decider, _not_expired
        ),
        Transition("authorize", PENDING, State.APPROVED, "change.approved", NOTHING_TO_DECIDE),
        Transition(
            "reject", PENDING, State.REJECTED, "change.rejected", NOTHING_TO_DECIDE, _decider, _not_expired
        ),
        Transition(
            "cancel",
            PENDING | APPROVED,
            State.CANCELLED,
            "change.cancelled",
            _("This change is {state} and can no longer be cancelled."),
            _requester("cancel"),
        ),
        Transition(
            "edit",
            PENDING,
            None,
            "change.edited",
            ONLY_CREATE_OR_RENAME,
            _requester("edit"),
            _editable_kind,
        ),
        Transition(
            "comment",
            ANY_STATE,
            None,
            "change.commented",
            who=_holder_of(SUBMIT, _("Only engineers can comment on change requests."), either=True),
        ),
        Transition(
            "expire",
            PENDING,
            State.EXPIRED,
            "change.expired",
            NOTHING_TO_DECIDE,
            when=_expired,
            due=_expired_by,
        ),
        # The change window, read from the policy at each look: open now, release; moved, follow it.
        Transition("release", APPROVED, None, "change.released", when=_window_open_now, due=_window_open_by),
        Transition(
            "reschedule", APPROVED, None, "change.rescheduled", when=_window_moved, due=_window_moved_by
        ),
        # An emergency: an approved change run at once instead of at the window's opening, with a reason.
        Transition(
            "run_now",
            APPROVED,
            None,
            "change.run_now",
            _("This change is {state}: only an approved change waiting for the window can be run now."),
            _runner,
            _waits_for_window,
        ),
        Transition("claim", APPROVED, State.EXECUTING, "", when=_window_open),
        Transition("resume", EXECUTING, State.EXECUTING, "change.resumed", when=_stalled, due=_stalled_by),
        Transition(
            "execute",
            EXECUTING,
            None,
            {
                Kind.CREATE: "peer_link.created",
                Kind.UPDATE: "peer_link.updated",
                Kind.DELETE: "peer_link.delete_sent",
            },
        ),
        Transition("follow", EXECUTING, None, ""),
        Transition("requeue", EXECUTING, State.APPROVED, "change.retry_scheduled"),
        Transition("done", EXECUTING, State.DONE, "change.done"),
        Transition("fail", EXECUTING, State.FAILED, "change.failed"),
        # A failed request asked for again: a new, linked request, which goes through approval again.
        Transition(
            "retry",
            frozenset({State.FAILED}),
            None,
            "change.retried",
            _("Only a failed change can be retried."),
            _holder_of(RETRY, _("You may not retry changes.")),
            _not_retried,
        ),
    )
}
# States from which a change may have reached the cloud: it was approved, and maybe sent.
MAY_HAVE_REACHED_CLOUD = frozenset({State.APPROVED, State.EXECUTING, State.DONE, State.FAILED})
# What a person can do on a change's page.
USER_ACTIONS = tuple(name for name, t in TRANSITIONS.items() if t.who is not None and name != "submit")


def refusal(
    change: ChangeRequest, name: str, *, user: Any = None, now: datetime | None = None
) -> ChangeRefused | None:
    """Why `name` cannot be done to `change` now (by `user`, for the steps a person takes); None if it can."""
    transition = TRANSITIONS[name]
    if transition.who is not None:
        problem = transition.who(change, user)
        if problem:
            return ChangeForbidden(problem)
    if transition.sources and change.state not in transition.sources:  # no sources: a new request
        state = change.get_state_display().lower()
        return ChangeRefused(str(transition.wrong_state).format(state=state))
    if transition.when is not None:
        problem = transition.when(change, now or timezone.now())
        if problem:
            return ChangeRefused(problem)
    return None


def due(name: str, *, now: datetime | None = None) -> Q:
    """The changes on which the system step `name` may be taken now, as a query filter."""
    transition = TRANSITIONS[name]
    if transition.due is None:
        raise ValueError(f"{name} is not a step the scheduler looks for")
    return Q(state__in=transition.sources) & transition.due(now or timezone.now())


def check(change: ChangeRequest, name: str, *, user: Any = None, now: datetime | None = None) -> None:
    """Raise ChangeForbidden or ChangeRefused unless `name` may be done to `change` now."""
    problem = refusal(change, name, user=user, now=now)
    if problem is not None:
        raise problem


def allows(change: ChangeRequest, name: str, *, user: Any = None, now: datetime | None = None) -> bool:
    return refusal(change, name, user=user, now=now) is None


def allowed(change: ChangeRequest, user: Any, *, now: datetime | None = None) -> frozenset[str]:
    """The steps `user` may take on `change` right now: what its page offers as buttons and forms."""
    now = now or timezone.now()
    return frozenset(name for name in USER_ACTIONS if allows(change, name, user=user, now=now))


def apply(
    change: ChangeRequest,
    name: str,
    *,
    actor: Any = None,
    fields: dict[str, Any] | None = None,
    before: dict | None = None,
    after: dict | None = None,
    audit_on: object = None,
    cloud_request_id: str | None = None,
) -> ChangeRequest:
    """Take step `name` on a locked change: move it to the step's target state, set `fields`, save, and record
    the step's audit action, if it has one (on `audit_on`; the change itself unless given). Check it first."""
    transition = TRANSITIONS[name]
    changed = dict(fields or {})
    if transition.target is not None:
        changed["state"] = transition.target
        if transition.target in ChangeRequest.TERMINAL_STATES:
            changed.setdefault("finished_at", timezone.now())
    for field, value in changed.items():
        setattr(change, field, value)
    if changed:
        change.save(update_fields=[*changed, "updated_at"])
    action = transition.action_for(change)
    if action:
        record_audit(
            action=action,
            actor=actor,
            obj=change if audit_on is None else audit_on,
            before=before,
            after=after,
            cloud_request_id=cloud_request_id,
            change=change,
        )
    return change


def save_policy(policy: Policy, *, user) -> None:
    """Save the approval policy as an admin edited it, and audit what changed (`policy.changed`, before and
    after of each field whose value differs); nothing is audited when nothing changed."""
    before_row = Policy.objects.filter(pk=policy.pk).first() if policy.pk else None
    policy.save()
    fields = [field.attname for field in Policy._meta.concrete_fields if not field.primary_key]
    changed = [
        name for name in fields if before_row is None or getattr(before_row, name) != getattr(policy, name)
    ]
    if not changed:
        return
    before = {name: getattr(before_row, name) for name in changed} if before_row else None
    after = {name: getattr(policy, name) for name in changed}
    record_audit(action="policy.changed", actor=user, obj=policy, before=before, after=after)
