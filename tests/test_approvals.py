"""The approval workflow: policy, four eyes, payload-bound approvals, reject, expiry, windows, retry."""

import datetime
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from peerlinks.models import Approval, AuditEvent, ChangeRequest, Gateway, Policy
from peerlinks.services import approvals, changes
from peerlinks.services.changes import ChangeForbidden, ChangeRefused, next_window_opening
from peerlinks.services.lifecycle import ChangeOutdated
from tests.conftest import (
    _user,
    followed_panel,
    live_version,
    make_gateway,
    make_peer_link,
    make_router,
    set_policy,
)

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
    with pytest.raises(
        approvals.ApprovalAlreadyCounts,
        match=re.escape("Your approval already counts: 1 of 2; another approver is needed."),
    ):  # a second click: records nothing, says so
        approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=seen)
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


def _window_from(start: datetime.datetime, hours: int = 2) -> dict:
    """A change window every day, opening at `start` (local time) for `hours`."""
    local = timezone.localtime(start)
    end = (local + timedelta(hours=hours)).time().replace(second=0, microsecond=0)
    return {
        "window_enabled": True,
        "window_weekdays": "1,2,3,4,5,6,7",
        "window_start": local.time().replace(second=0, microsecond=0),
        "window_end": end,
    }


@pytest.fixture
def waiting(rename, approver):
    """The rename, approved while the change window (every day, opening in three hours) is closed."""
    set_policy(**_window_from(timezone.now() + timedelta(hours=3)))
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    return rename


def test_an_approved_request_waits_for_the_window_and_is_released_when_it_opens(waiting):
    assert waiting.state == ChangeRequest.State.APPROVED
    assert waiting.not_before > timezone.now() + timedelta(hours=2)
    assert approvals.release_due_changes() == 0
    # The window opens (its time comes): the scheduler's next look releases the change.
    set_policy(**_window_from(timezone.now() - timedelta(minutes=1)))
    assert approvals.release_due_changes() == 1
    waiting.refresh_from_db()
    assert waiting.not_before is None


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param({"window_enabled": False}, id="turned-off"),
        pytest.param(
            {
                "window_weekdays": "1,2,3,4,5,6,7",
                "window_start": datetime.time(0, 0),
                "window_end": datetime.time(0, 0),
            },
            id="widened-to-all-day",
        ),
    ],
)
def test_widening_or_turning_off_the_window_releases_the_changes_waiting_for_it(
    waiting, policy, django_capture_on_commit_callbacks
):
    set_policy(**policy)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert approvals.release_due_changes() == 1
    assert len(callbacks) == 1  # the execution, queued
    waiting.refresh_from_db()
    assert waiting.not_before is None
    assert AuditEvent.objects.filter(change_request=waiting, action="change.released").exists()


def test_a_window_moved_earlier_moves_the_waiting_changes_time_with_it(waiting):
    sooner = timezone.now() + timedelta(hours=1)
    set_policy(**_window_from(sooner))
    assert approvals.release_due_changes() == 0
    waiting.refresh_from_db()
    assert waiting.not_before == next_window_opening(Policy.current(), now=timezone.now())
    assert waiting.not_before < timezone.now() + timedelta(hours=2)
    event = AuditEvent.objects.get(change_request=waiting, action="change.rescheduled")
    assert event.after["not_before"] is not None


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
    assert "Who can still approve" in html and approver.username in html
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


def _live_after_a_change(client, change: ChangeRequest) -> str:
    """What the page's one poll brings once the change moved on since the page showed it."""
    page = client.get(change.get_absolute_url()).content.decode()
    shown = {"change": followed_panel(page, "change").replace(":", ":before-"), "v": live_version(page)}
    return client.get("/live/", shown, **HTMX).content.decode()


def test_the_requesters_live_poll_brings_the_approvals_panel_up_to_date(client, rename, engineer, approver):
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    client.force_login(engineer)
    body = _live_after_a_change(client, rename)
    assert 'id="change-state" class="change-state" hx-swap-oob="true"' in body
    assert 'id="change-decision" class="card change-decision" hx-swap-oob="true"' in body
    assert approver.get_username() in body


def test_an_approvers_live_poll_leaves_their_decision_form_alone(client, rename, approver):
    client.force_login(approver)
    body = _live_after_a_change(client, rename)
    assert 'id="change-state" class="change-state" hx-swap-oob="true"' in body
    assert 'id="change-decision"' not in body


# --- when a request cannot get its approvals -------------------------------------------------------


def test_the_page_says_whether_nobody_may_approve_at_all_or_nobody_else_can(client, rename, engineer):
    client.force_login(engineer)
    page = client.get(rename.get_absolute_url()).content.decode()
    assert "nobody yet; ask an admin to give someone the Approver role." in page  # no approver at all
    lead = _user("lead-only", "Approver")
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    approvals.approve_change(change_id=rename.pk, user=lead, payload_digest=rename.payload_digest)
    page = client.get(rename.get_absolute_url()).content.decode()
    assert "nobody yet" not in page and '<span class="warning">nobody.</span>' in page  # the one decided


def test_a_request_needing_more_approvers_than_remain_says_who_can_still_approve(rename, approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    rename.refresh_from_db()
    outlook = approvals.approval_outlook(rename)
    assert (outlook.missing, [u.username for u in outlook.can_still_approve]) == (2, ["lead1"])
    assert outlook.stuck
    assert "only 1 person can still approve (lead1)" in outlook.warning
    approvals.approve_change(change_id=rename.pk, user=approver, payload_digest=rename.payload_digest)
    rename.refresh_from_db()
    outlook = approvals.approval_outlook(rename)
    assert (outlook.received, outlook.missing, outlook.can_still_approve) == (1, 1, [])
    assert "needs 1 more approval and nobody else can approve it." in outlook.warning


def test_a_request_enough_approvers_can_complete_has_no_warning(rename, approver, second_approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    rename.refresh_from_db()
    outlook = approvals.approval_outlook(rename)
    assert not outlook.stuck and outlook.warning == ""
    assert approvals.submission_warning(rename) == ""


def test_submitting_a_request_nobody_can_approve_warns_on_the_page_it_lands_on(engineer_client, db):
    set_policy(approvals_delete=1)
    link = make_peer_link(name="lonely")
    response = engineer_client.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "lonely"}, follow=True
    )
    html = response.content.decode()
    assert response.redirect_chain and "/changes/" in response.redirect_chain[-1][0]
    assert html.count("This change cannot be approved as things stand") == 2  # the message, the panel


def test_a_second_approve_on_the_page_says_the_approval_already_counts(client, rename, approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    client.force_login(approver)
    url = reverse("peerlinks:change_approve", args=[rename.pk])
    digest = rename.payload_digest
    client.post(url, {"payload_digest": digest})
    response = client.post(url, {"payload_digest": digest}, **HTMX)
    assert response.status_code == 200
    assert "Your approval already counts: 1 of 2; another approver is needed." in response.content.decode()
    plain = client.post(url, {"payload_digest": digest}, follow=True)
    assert "Your approval already counts: 1 of 2" in plain.content.decode()
    assert Approval.objects.filter(change_request=rename).count() == 1


def test_the_queue_shows_approvals_received_and_a_request_that_cannot_complete(client, rename, approver):
    ChangeRequest.objects.filter(pk=rename.pk).update(approvals_required=2)
    client.force_login(approver)
    html = client.get(reverse("peerlinks:approval_queue")).content.decode()
    assert "0 of 2" in html
    assert "cannot complete: only lead1 can still approve" in html


# --- the gateway's quota on the approval page ------------------------------------------------------


def _create(engineer, gateway) -> ChangeRequest:
    router = make_router()
    return changes.submit_change(
        user=engineer,
        kind="create",
        gateway=gateway,
        payload={
            "name": "pl-new",
            "peer_type": "ER",
            "peer_gateway_id": router.cloud_id,
            "peer_region": "cn-north-4",
        },
    )


def test_the_approval_page_shows_the_quota_now_and_after_a_create(client, engineer, approver):
    gateway = make_gateway(current_peer_link_count=1, available_peer_link_count=2)
    change = _create(engineer, gateway)
    outlook = changes.quota_outlook(change)
    assert (outlook.used, outlook.quota, outlook.after, outlook.exceeds) == (1, 3, 2, False)
    client.force_login(approver)
    html = client.get(change.get_absolute_url()).content.decode()
    assert "<strong>1 of 3</strong> peer links used; <strong>2 of 3</strong> after this change" in html
    assert "would exceed" not in html


def test_a_create_that_would_exceed_the_quota_is_flagged_to_the_approver(client, engineer, approver):
    gateway = make_gateway(current_peer_link_count=2, available_peer_link_count=1)
    change = _create(engineer, gateway)
    Gateway.objects.filter(pk=gateway.pk).update(current_peer_link_count=3, available_peer_link_count=0)
    change.refresh_from_db()
    assert changes.quota_outlook(change).exceeds
    client.force_login(approver)
    html = client.get(change.get_absolute_url()).content.decode()
    assert "This create would exceed the gateway's quota" in html
    queue = client.get(reverse("peerlinks:approval_queue")).content.decode()
    assert "over quota: the cloud will refuse it" in queue


def test_a_delete_frees_a_slot(rename, engineer):
    link = make_peer_link(gateway=make_gateway(current_peer_link_count=3, available_peer_link_count=0))
    delete = changes.submit_change(
        user=engineer, kind="delete", gateway=link.gateway, payload={}, peer_link=link
    )
    outlook = changes.quota_outlook(delete)
    assert (outlook.used, outlook.quota, outlook.after, outlook.exceeds) == (3, 3, 2, False)


# --- running an approved change before its window ---------------------------------------------------


def test_an_approver_runs_a_waiting_change_now_with_a_reason_audited_and_the_requester_told(
    waiting, second_approver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approvals.run_change_now(change_id=waiting.pk, user=second_approver, reason="  Outage P1-4411  ")
    assert len(callbacks) == 2  # the execution, the requester's notice
    waiting.refresh_from_db()
    assert waiting.not_before is None and waiting.state == ChangeRequest.State.APPROVED
    event = AuditEvent.objects.get(change_request=waiting, action="change.run_now")
    assert event.actor_name == "lead2"
    assert event.after == {"not_before": None, "reason": "Outage P1-4411"}
    assert event.before["not_before"] is not None


def test_running_now_needs_a_reason_and_is_not_for_the_requester_or_engineers(
    waiting, engineer, approver, admin
):
    with pytest.raises(ChangeRefused, match="needs a reason"):
        approvals.run_change_now(change_id=waiting.pk, user=approver, reason="   ")
    with pytest.raises(ChangeForbidden, match="Only approvers and admins"):
        approvals.run_change_now(change_id=waiting.pk, user=engineer, reason="urgent")
    ChangeRequest.objects.filter(pk=waiting.pk).update(requested_by=approver)
    with pytest.raises(ChangeForbidden, match="You asked for this change"):
        approvals.run_change_now(change_id=waiting.pk, user=approver, reason="urgent")
    waiting.refresh_from_db()
    assert waiting.not_before is not None
    assert not AuditEvent.objects.filter(change_request=waiting, action="change.run_now").exists()
    approvals.run_change_now(change_id=waiting.pk, user=admin, reason="urgent")  # an admin may
    with pytest.raises(ChangeRefused, match="not waiting for the change window"):
        approvals.run_change_now(change_id=waiting.pk, user=admin, reason="again")


def test_the_run_now_form_says_a_blank_reason_is_needed(client, waiting, second_approver):
    client.force_login(second_approver)
    url = reverse("peerlinks:change_run_now", args=[waiting.pk])
    page = client.get(waiting.get_absolute_url()).content.decode()
    assert 'id="run-now"' in page
    response = client.post(url, {"reason": " "})
    assert response.status_code == 400
    assert "Say why: running a change before its window needs a reason." in response.content.decode()
    fragment = client.post(url, {"reason": ""}, **HTMX)
    assert fragment.status_code == 200 and "needs a reason" in fragment.content.decode()
    waiting.refresh_from_db()
    assert waiting.not_before is not None
    assert client.post(url, {"reason": "P1 outage"}).status_code == 302
    waiting.refresh_from_db()
    assert waiting.not_before is None
    page = client.get(waiting.get_absolute_url()).content.decode()
    assert "change.run_now: P1 outage" in page


def test_the_requester_is_not_offered_run_now(client, waiting, engineer):
    client.force_login(engineer)
    assert 'id="run-now"' not in client.get(waiting.get_absolute_url()).content.decode()
    assert (
        client.post(reverse("peerlinks:change_run_now", args=[waiting.pk]), {"reason": "x"}).status_code
        == 403
    )


def test_the_queue_reads_a_fixed_number_of_queries_however_many_requests_wait(client, engineer, approver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(approver)
    counts = []
    for _ in range(2):
        link = make_peer_link()
        changes.submit_change(user=engineer, kind="delete", gateway=link.gateway, payload={}, peer_link=link)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("peerlinks:approval_queue")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
