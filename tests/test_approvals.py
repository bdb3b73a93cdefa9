"""The approval workflow: policy, four eyes, payload-bound approvals, reject, expiry, windows, retry."""

import datetime
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from peerlinks.models import Approval, AuditEvent, ChangeRequest, Policy
from peerlinks.services import approvals, changes
from peerlinks.services.changes import ChangeForbidden, ChangeRefused, next_window_opening
from peerlinks.services.lifecycle import ChangeOutdated
from tests.conftest import make_peer_link, set_policy

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rename(engineer):
    """A pending rename asked for by the engineer, needing one approval."""
    set_policy(approvals_update=1)
    link = make_peer_link(name="old-name")
    return changes.submit_change(
        user=engineer, kind="update", gateway=link.gateway, payload={"name": "new-name"}, peer_link=link
    )


def test_submission_snapshots_the_policy(rename):
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL
    assert rename.approvals_required == 1
    assert rename.expires_at > timezone.now() + timedelta(days=6)


def test_by_default_every_kind_of_change_needs_one_approval(engineer, db):
    policy = Policy.current()
    assert [policy.approvals_for(kind) for kind in ChangeRequest.Kind.values] == [1, 1, 1]
    link = make_peer_link(name="old-name")
    rename = changes.submit_change(
        user=engineer, kind="update", gateway=link.gateway, payload={"name": "new-name"}, peer_link=link
    )
    assert (rename.state, rename.approvals_required) == (ChangeRequest.State.PENDING_APPROVAL, 1)


def test_approver_cannot_approve_own_request(approver, db):
    set_policy(approvals_update=1)
    link = make_peer_link()
    own = changes.submit_change(
        user=approver, kind="update", gateway=link.gateway, payload={"name": "x"}, peer_link=link
    )
    with pytest.raises(ChangeForbidden, match="someone else"):
        approvals.approve_change(change_id=own.pk, user=approver, payload_digest=own.payload_digest)


def test_one_approval_approves_and_queues_execution(rename, approver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.APPROVED
    assert len(callbacks) == 2  # the execution, the notification
    assert AuditEvent.objects.filter(change_request=rename, action="change.approved").exists()


def test_two_approvals_must_come_from_two_approvers(rename, approver, second_approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    seen = rename.payload_digest
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=seen)
    approvals.approve_change(
        change_id=rename.pk, user=approver, payload_digest=seen
    )  # a second click: nothing
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL
    assert Approval.objects.filter(change_request=rename).count() == 1
    approvals.approve_change(change_id=rename.pk, user=second_approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.APPROVED


def test_editing_a_pending_request_drops_its_approvals(rename, engineer, approver, second_approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    assert len(approvals.valid_approvals(rename)) == 1
    approvals.edit_change(change_id=rename.pk, user=engineer, name="newer-name", description="")
    rename.refresh_from_db()
    assert approvals.valid_approvals(rename) == []
    approvals.approve_change(change_id=rename.pk, user=second_approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL  # the old approval does not count
    event = AuditEvent.objects.get(change_request=rename, action="change.edited")
    assert event.before["name"] == "new-name"
    assert event.after["name"] == "newer-name"


def test_only_the_requester_can_edit(rename, approver):
    with pytest.raises(ChangeForbidden):
        approvals.edit_change(change_id=rename.pk, user=approver, name="mine", description="")


def _edited_after_opening(change: ChangeRequest, requester) -> str:
    """The requester edits the change after an approver opened it; returns the digest the approver saw."""
    seen = change.payload_digest
    approvals.edit_change(change_id=change.pk, user=requester, name="edited-name", description="")
    change.refresh_from_db()
    return seen


@pytest.mark.parametrize("decide", [approvals.approve_change, approvals.reject_change])
def test_a_decision_on_a_version_edited_since_is_refused_and_records_nothing(
    rename, engineer, approver, decide
):
    seen = _edited_after_opening(rename, engineer)
    events = AuditEvent.objects.count()
    with pytest.raises(ChangeOutdated, match="edited after you opened it"):
        decide(change_id=rename.pk, user=approver, payload_digest=seen, comment="looks right")
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL
    assert not rename.approvals.exists()
    assert AuditEvent.objects.count() == events


def test_reject_needs_a_comment_and_ends_the_request(rename, approver):
    with pytest.raises(ChangeRefused, match="comment"):
        approvals.reject_change(
            change_id=rename.pk, user=approver, payload_digest=rename.payload_digest, comment="  "
        )
    approvals.reject_change(
        change_id=rename.pk, user=approver, payload_digest=rename.payload_digest, comment="wrong link"
    )
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.REJECTED
    event = AuditEvent.objects.get(change_request=rename, action="change.rejected")
    assert event.after == {"state": "rejected", "comment": "wrong link"}


def test_pending_requests_expire_after_the_policy_time(rename, approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert approvals.expire_due_changes() == 1
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.EXPIRED
    with pytest.raises(ChangeRefused):
        approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)


def test_an_expired_but_unswept_request_cannot_be_approved(rename, approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ChangeRefused, match="expired"):
        approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime.datetime(2026, 3, 2, 12, 0), datetime.datetime(2026, 3, 2, 22, 0)),  # Monday noon
        (datetime.datetime(2026, 3, 3, 2, 0), None),  # Tuesday 02:00, inside Monday's window
        (datetime.datetime(2026, 3, 7, 12, 0), datetime.datetime(2026, 3, 9, 22, 0)),  # Saturday
        (datetime.datetime(2026, 3, 7, 3, 0), None),  # Saturday 03:00, inside Friday's window
    ],
)
def test_the_change_window_opens_on_weekdays_and_crosses_midnight(db, now, expected):
    policy = set_policy(window_enabled=True)
    aware = timezone.make_aware(now)
    opening = next_window_opening(policy, now=aware)
    assert opening == (timezone.make_aware(expected) if expected else None)


def test_an_approved_request_waits_for_the_window_and_is_released(rename, approver, monkeypatch):
    set_policy(window_enabled=True, window_weekdays="1,2,3,4,5,6,7")
    opening = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(changes, "next_window_opening", lambda policy, now: opening)
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.APPROVED
    assert rename.not_before == opening
    assert approvals.release_due_changes() == 0
    ChangeRequest.objects.filter(pk=rename.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    assert approvals.release_due_changes() == 1
    rename.refresh_from_db()
    assert rename.not_before is None


def test_a_failed_request_is_retried_as_a_new_linked_request(rename, engineer):
    ChangeRequest.objects.filter(pk=rename.pk).update(state=ChangeRequest.State.FAILED)
    new = approvals.retry_change(change_id=rename.pk, user=engineer)
    assert new.pk != rename.pk
    assert new.retry_of_id == rename.pk
    assert new.state == ChangeRequest.State.PENDING_APPROVAL
    assert new.payload["name"] == "new-name"
    with pytest.raises(ChangeRefused, match="already retried"):
        approvals.retry_change(change_id=rename.pk, user=engineer)


# --- pages -----------------------------------------------------------------------------------------


def test_the_request_page_shows_what_changes_and_who_can_approve(client, rename, engineer, approver):
    client.force_login(engineer)
    html = client.get(rename.get_absolute_url()).content.decode()
    assert "old-name" in html and "new-name" in html
    assert "0 of 1" in html
    assert "Who can approve" in html and approver.username in html
    assert "someone else has to approve it" in html


def _digest_on_page(html: str) -> str:
    """The version the page's decision form decides on, as a browser would post it."""
    return re.search(r'name="payload_digest" value="([0-9a-f]*)"', html).group(1)


def test_approve_over_htmx_returns_the_decision_panel(client, rename, approver):
    client.force_login(approver)
    digest = _digest_on_page(client.get(rename.get_absolute_url()).content.decode())
    url = reverse("peerlinks:change_approve", args=[rename.pk])
    response = client.post(url, {"payload_digest": digest}, **HTMX)
    assert response.status_code == 200
    assert response.templates[0].name == "peerlinks/_change_decision.html"
    assert "1 of 1" in response.content.decode()


def test_self_approval_is_refused_with_a_clear_message(client, approver, db):
    set_policy(approvals_update=1)
    link = make_peer_link()
    own = changes.submit_change(
        user=approver, kind="update", gateway=link.gateway, payload={"name": "x"}, peer_link=link
    )
    client.force_login(approver)
    response = client.post(reverse("peerlinks:change_approve", args=[own.pk]))
    assert response.status_code == 403
    assert "someone else has to approve" in response.content.decode()
    response = client.post(reverse("peerlinks:change_approve", args=[own.pk]), **HTMX)
    assert response.status_code == 200
    assert "someone else has to approve" in response.content.decode()


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_deciding_on_a_version_edited_since_answers_409_with_the_new_version(
    client, rename, engineer, approver, decision, htmx
):
    client.force_login(approver)
    seen = _digest_on_page(client.get(rename.get_absolute_url()).content.decode())
    _edited_after_opening(rename, engineer)
    events = AuditEvent.objects.count()
    url = reverse(f"peerlinks:change_{decision}", args=[rename.pk])
    headers = HTMX if htmx else {}

    response = client.post(url, {"comment": "Looks right.", "payload_digest": seen}, **headers)
    assert response.status_code == 409
    assert response.templates[0].name == "peerlinks/change_detail.html"
    html = response.content.decode()
    assert "This change was edited after you opened it: review the new version." in html
    assert "<td>edited-name</td>" in html
    assert "Looks right." in html  # the comment being typed is kept
    if htmx:  # htmx puts the fresh page in place of the old one (base.html has it swap a 409)
        assert (response["HX-Retarget"], response["HX-Reselect"]) == ("main", "main")
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL
    assert not rename.approvals.exists()
    assert AuditEvent.objects.count() == events

    # The page now decides on the version it shows.
    response = client.post(
        url, {"comment": "Looks right.", "payload_digest": _digest_on_page(html)}, **headers
    )
    assert response.status_code == (200 if htmx else 302)
    rename.refresh_from_db()
    decided = {"approve": ChangeRequest.State.APPROVED, "reject": ChangeRequest.State.REJECTED}[decision]
    assert rename.state == decided


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_that_names_no_version_is_refused(client, rename, approver, decision):
    client.force_login(approver)
    url = reverse(f"peerlinks:change_{decision}", args=[rename.pk])
    response = client.post(url, {"comment": "From an old page."})
    assert response.status_code == 409
    assert "edited after you opened it" in response.content.decode()
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL
    assert not rename.approvals.exists()


def test_reject_without_a_comment_is_a_form_error(client, rename, approver):
    client.force_login(approver)
    url = reverse("peerlinks:change_reject", args=[rename.pk])
    assert client.post(url, {"comment": ""}).status_code == 400
    response = client.post(url, {"comment": ""}, **HTMX)
    assert response.status_code == 200
    assert "needs a comment" in response.content.decode()
    rename.refresh_from_db()
    assert rename.state == ChangeRequest.State.PENDING_APPROVAL


def test_approval_queue_lists_others_pending_requests_oldest_first(client, rename, approver):
    client.force_login(approver)
    response = client.get(reverse("peerlinks:approval_queue"))
    assert response.status_code == 200
    assert rename.get_absolute_url() in response.content.decode()
    assert 'class="count-badge"' in response.content.decode()


def test_comments_are_added_over_htmx_and_capped(client, rename, engineer):
    client.force_login(engineer)
    url = reverse("peerlinks:change_comment", args=[rename.pk])
    response = client.post(url, {"body": "please look"}, **HTMX)
    assert response.status_code == 200
    assert "please look" in response.content.decode()
    assert client.post(url, {"body": "x" * 2001}).status_code == 400
    assert AuditEvent.objects.filter(change_request=rename, action="change.commented").count() == 1


def test_the_requesters_live_poll_brings_the_approvals_panel_up_to_date(client, rename, engineer, approver):
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    client.force_login(engineer)
    response = client.get(reverse("peerlinks:change_detail", args=[rename.pk]), **HTMX)
    body = response.content.decode()
    assert 'id="change-state"' in body
    assert 'id="change-decision" class="card change-decision" hx-swap-oob="true"' in body
    assert approver.get_username() in body


def test_an_approvers_live_poll_leaves_their_decision_form_alone(client, rename, approver):
    client.force_login(approver)
    response = client.get(reverse("peerlinks:change_detail", args=[rename.pk]), **HTMX)
    body = response.content.decode()
    assert 'id="change-state"' in body
    assert 'id="change-decision"' not in body
