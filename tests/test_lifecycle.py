"""The change page offers an action exactly when doing it would succeed: the page and the services ask
the same declared guard, for every state, every kind of person and every action a person can take."""

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from peerlinks.models import ChangeRequest
from peerlinks.services import approvals, changes, lifecycle
from tests.conftest import _user, make_peer_link

pytestmark = pytest.mark.django_db

State = ChangeRequest.State
PERSONAS = ("requester", "other_engineer", "approver", "viewer", "outsider")
# What each action's control looks like on the change page.
CONTROLS = {
    "approve": r'<button type="submit">Approve</button>',
    "reject": r'formaction="/changes/\d+/reject/"',
    "cancel": r'action="/changes/\d+/cancel/"',
    "edit": r'href="/changes/\d+/edit/"',
    "retry": r'action="/changes/\d+/retry/"',
    "comment": r'action="/changes/\d+/comments/"',
    "run_now": r'action="/changes/\d+/run-now/"',
}


class _Undo(Exception):
    """Raised to roll back what an attempted action did."""


def _attempt(action: str, change: ChangeRequest, user: object) -> bool:
    """Do `action` through its service, then undo it; True if the service accepted it."""
    calls = {
        "approve": lambda: approvals.approve_change(
            change_id=change.pk, user=user, payload_digest=change.payload_digest
        ),
        "reject": lambda: approvals.reject_change(
            change_id=change.pk, user=user, payload_digest=change.payload_digest, comment="no"
        ),
        "cancel": lambda: changes.cancel_change(change_id=change.pk, user=user),
        "edit": lambda: approvals.edit_change(
            change_id=change.pk, user=user, name="another-name", description="edited"
        ),
        "retry": lambda: approvals.retry_change(change_id=change.pk, user=user),
        "comment": lambda: approvals.add_comment(change_id=change.pk, user=user, body="a word"),
        "run_now": lambda: approvals.run_change_now(change_id=change.pk, user=user, reason="outage"),
    }
    try:
        with transaction.atomic():
            calls[action]()
            raise _Undo
    except _Undo:
        return True
    except changes.ChangeRefused:
        return False


@pytest.fixture
def people(db) -> dict:
    return {
        "requester": _user("req", "Engineer"),
        "other_engineer": _user("eng2", "Engineer"),
        "approver": _user("lead", "Approver"),
        "viewer": _user("view", "Viewer"),
        "outsider": _user("nobody"),
    }


def _rename_in(
    state: str, requester: object, *, expired: bool = False, waiting: bool = False
) -> ChangeRequest:
    """A rename request of `requester`'s, put straight into `state` (`waiting` for the change window)."""
    link = make_peer_link(name="the-link")
    change = changes.submit_change(
        user=requester, kind="update", gateway=link.gateway, payload={"name": "new-name"}, peer_link=link
    )
    change.state = state
    change.approvals_required = 1
    if expired:
        change.expires_at = timezone.now() - timedelta(minutes=1)
    if waiting:
        change.not_before = timezone.now() + timedelta(hours=1)
    if state in ChangeRequest.TERMINAL_STATES:
        change.finished_at = timezone.now()
    change.save()
    return change


CASES = [(state, "") for state in State.values] + [
    (State.PENDING_APPROVAL, "expired"),
    (State.APPROVED, "waiting"),  # for the change window
]


@pytest.mark.parametrize(("state", "flag"), CASES, ids=[f"{s}{'-' if f else ''}{f}" for s, f in CASES])
def test_every_control_is_shown_exactly_when_its_action_would_succeed(client, people, state, flag):
    change = _rename_in(state, people["requester"], expired=flag == "expired", waiting=flag == "waiting")
    for persona in PERSONAS:
        user = people[persona]
        offered = lifecycle.allowed(change, user)
        client.force_login(user)
        response = client.get(reverse("peerlinks:change_detail", args=[change.pk]))
        html = response.content.decode() if response.status_code == 200 else ""
        for action, control in CONTROLS.items():
            succeeds = _attempt(action, change, user)
            assert (action in offered) == succeeds, (
                persona,
                action,
                "offered" if action in offered else "hidden",
            )
            assert bool(re.search(control, html)) == succeeds, (persona, action, "control on the page")


def test_an_expired_request_not_yet_swept_offers_no_decision_and_says_why(client, people):
    change = _rename_in(State.PENDING_APPROVAL, people["requester"], expired=True)
    client.force_login(people["approver"])
    html = client.get(reverse("peerlinks:change_detail", args=[change.pk])).content.decode()
    assert "Approve</button>" not in html
    assert "This change has expired: nobody decided in time." in html
    post = {"comment": "", "payload_digest": change.payload_digest}
    response = client.post(reverse("peerlinks:change_approve", args=[change.pk]), post)
    assert response.status_code == 409
    change.refresh_from_db()
    assert change.state == State.PENDING_APPROVAL and not change.approvals.exists()


def test_every_transition_names_its_sources_and_its_audit_action():
    for name, transition in lifecycle.TRANSITIONS.items():
        assert transition.name == name
        assert transition.sources <= set(State.values)
        assert transition.target is None or transition.target in State.values
        actions = (
            transition.audit_action.values()
            if isinstance(transition.audit_action, dict)
            else [transition.audit_action]
        )
        assert all(action == "" or re.fullmatch(r"[a-z_]+\.[a-z_]+", action) for action in actions)
    # Every terminal state is reached by some transition, and none leaves one (except retrying a failure,
    # which makes a new request and leaves this one as it is).
    targets = {t.target for t in lifecycle.TRANSITIONS.values()}
    assert set(ChangeRequest.TERMINAL_STATES) <= targets
    for transition in lifecycle.TRANSITIONS.values():
        if transition.sources & set(ChangeRequest.TERMINAL_STATES) and transition.name != "comment":
            assert transition.target is None, transition.name


@pytest.mark.parametrize("step", ["expire", "release", "resume"])
def test_the_scheduler_finds_exactly_the_changes_a_system_step_may_be_taken_on(people, settings, step):
    settings.CHANGE_EXECUTION_LEASE = 60
    now = timezone.now()
    changes_made = []
    for state in State.values:
        for offset in (timedelta(minutes=-5), timedelta(minutes=5)):
            change = _rename_in(state, people["requester"])
            change.expires_at = change.not_before = now + offset
            change.save()
            # updated_at is set on every save; move it back past the lease for half of them
            ChangeRequest.objects.filter(pk=change.pk).update(updated_at=now + offset)
            changes_made.append(ChangeRequest.objects.get(pk=change.pk))
    found = set(ChangeRequest.objects.filter(lifecycle.due(step, now=now)).values_list("pk", flat=True))
    allowed = {change.pk for change in changes_made if lifecycle.allows(change, step, now=now)}
    assert found == allowed
    assert allowed  # each step is due on some of them


def test_with_a_window_the_scheduler_finds_exactly_the_changes_to_release_or_move(people):
    from peerlinks.models import Policy
    from tests.conftest import set_policy

    later = timezone.localtime() + timedelta(hours=3)
    set_policy(
        window_enabled=True,
        window_weekdays="1,2,3,4,5,6,7",
        window_start=later.time().replace(second=0, microsecond=0),
        window_end=(later + timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    now = timezone.now()
    opening = lifecycle.next_window_opening(Policy.current(), now=now)
    made = []
    for state in State.values:
        for not_before in (None, opening, opening - timedelta(hours=1), now - timedelta(minutes=5)):
            change = _rename_in(state, people["requester"])
            change.not_before = not_before
            change.save()
            made.append(change)
    for step in ("release", "reschedule"):
        found = set(ChangeRequest.objects.filter(lifecycle.due(step, now=now)).values_list("pk", flat=True))
        assert found == {change.pk for change in made if lifecycle.allows(change, step, now=now)}, step
    moved = set(
        ChangeRequest.objects.filter(lifecycle.due("reschedule", now=now)).values_list("pk", flat=True)
    )
    assert len(moved) == 2  # approved, waiting for a time the window no longer opens at
    assert not ChangeRequest.objects.filter(lifecycle.due("release", now=now)).exists()  # it is closed
