import logging
import smtplib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.utils import timezone

from peerlinks.models import Approval, ChangeRequest, Notice
from peerlinks.services import notifications
from peerlinks.services.approvals import expire_due_changes, reject_change
from peerlinks.services.changes import submit_change
from tests.conftest import _user, make_gateway, make_peer_link, make_router

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://dcportal.example.net"
    settings.DEFAULT_FROM_EMAIL = "dcportal <noreply@example.net>"


def make_change(requester, **overrides):
    values = {
        "kind": "create",
        "requested_by": requester,
        "gateway": make_gateway(name="gw-main"),
        "payload": {
            "name": "pl-x",
            "description": "",
            "peer_type": "ER",
            "peer_gateway_id": "0f0e0d0c-0000-4000-8000-000000000001",
            "peer_region": "cn-north-4",
        },
        "approvals_required": 1,
    }
    values.update(overrides)
    return ChangeRequest.objects.create(**values)


def person(username, *, group=None, email=True, **flags):
    user = _user(username, email=f"{username}@example.net" if email else "", **flags)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def recipients(outbox=None):
    return sorted(address for message in (outbox or mail.outbox) for address in message.to)


def test_submission_mails_every_approver_but_not_the_requester():
    requester = person("alice", group="Approver")
    person("bob", group="Approver")
    person("carol", group="Admin")
    change = make_change(requester)
    notifications.notify_submitted(change=change)
    assert recipients() == ["bob@example.net", "carol@example.net"]


def test_submission_mails_a_user_given_the_approve_permission_directly():
    requester = person("alice", group="Engineer")
    direct = person("dave")
    direct.user_permissions.add(Permission.objects.get(codename="approve_change"))
    notifications.notify_submitted(change=make_change(requester))
    assert recipients() == ["dave@example.net"]


def test_submission_skips_inactive_approvers_and_people_who_cannot_approve():
    requester = person("alice", group="Engineer")
    person("bob", group="Approver", is_active=False)
    person("erin", group="Engineer")
    person("vic", group="Viewer")
    person("olga", group="Approver")
    notifications.notify_submitted(change=make_change(requester))
    assert recipients() == ["olga@example.net"]
    assert list(Notice.objects.values_list("user__username", flat=True)) == ["olga"]


def test_submission_mail_has_a_short_subject_and_an_absolute_link():
    requester = person("alice", group="Engineer")
    person("bob", group="Approver")
    change = make_change(requester)
    notifications.notify_submitted(change=change)
    [message] = mail.outbox
    assert message.subject == f"[dcportal] #{change.pk} create pl-x needs your approval"
    assert message.from_email == "dcportal <noreply@example.net>"
    assert f"https://dcportal.example.net/changes/{change.pk}/" in message.body
    assert "alice asks for a change" in message.body
    assert "gw-main" in message.body


def test_submission_mail_names_the_peer_with_its_id_and_region():
    requester = person("alice", group="Engineer")
    person("bob", group="Approver")
    router = make_router(name="core-er-1")
    named = make_change(requester)
    named.payload["peer_gateway_id"] = router.cloud_id
    named.save(update_fields=["payload"])
    notifications.notify_submitted(change=named)
    assert f"Enterprise router core-er-1 ({router.cloud_id}) in cn-north-4" in mail.outbox[0].body
    notifications.notify_submitted(change=make_change(requester))  # a peer dcportal does not cache
    assert "Enterprise router 0f0e0d0c-0000-4000-8000-000000000001 in cn-north-4" in mail.outbox[1].body


def test_submission_leaves_an_unread_notice_for_each_approver_even_without_an_email_address():
    requester = person("alice", group="Engineer")
    nomail = person("bob", group="Approver", email=False)
    change = make_change(requester)
    notifications.notify_submitted(change=change)
    assert mail.outbox == []
    notice = Notice.objects.get()
    assert notice.user == nomail
    assert notice.change_request == change
    assert notice.read_at is None
    assert notice.message == f"#{change.pk} create pl-x by alice needs your approval"
    assert notifications.unread_notices(nomail).count() == 1


def test_a_rejection_mails_the_requester_with_the_approvers_comment():
    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    change = make_change(requester, state="rejected")
    approval = Approval.objects.create(
        change_request=change,
        approver=lead,
        decision="reject",
        comment="Wrong peer: use er-2",
        payload_digest="x",
    )
    notifications.notify_decided(change=change, approval=approval)
    [message] = mail.outbox
    assert message.to == ["alice@example.net"]
    assert message.subject == f"[dcportal] #{change.pk} create pl-x rejected by bob"
    assert "Wrong peer: use er-2" in message.body
    assert f"https://dcportal.example.net/changes/{change.pk}/" in message.body
    assert Notice.objects.get(user=requester).message.endswith("rejected by bob: Wrong peer: use er-2")


def test_an_approval_mails_the_requester_and_says_whether_more_approvals_are_needed():
    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    change = make_change(requester, state="pending_approval", approvals_required=2)
    approval = Approval.objects.create(
        change_request=change, approver=lead, decision="approve", payload_digest="x"
    )
    notifications.notify_decided(change=change, approval=approval)
    [message] = mail.outbox
    assert message.subject == f"[dcportal] #{change.pk} create pl-x approved by bob"
    assert "still waits for further approvals" in message.body


def test_comments_reach_the_mail_unescaped():
    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    change = make_change(requester, state="rejected")
    approval = Approval.objects.create(
        change_request=change,
        approver=lead,
        decision="reject",
        comment="Don't <do> this & that",
        payload_digest="x",
    )
    notifications.notify_decided(change=change, approval=approval)
    assert "Don't <do> this & that" in mail.outbox[0].body


def test_a_failed_execution_mails_the_requester_the_clouds_error_code_and_message():
    requester = person("alice", group="Engineer")
    change = make_change(
        requester, state="failed", error_code="GDGW.0012", error_msg="The peer router is not available."
    )
    notifications.notify_finished(change=change)
    [message] = mail.outbox
    assert message.to == ["alice@example.net"]
    assert message.subject == f"[dcportal] #{change.pk} create pl-x failed: GDGW.0012"
    assert "GDGW.0012" in message.body
    assert "The peer router is not available." in message.body
    assert "GDGW.0012" in Notice.objects.get(user=requester).message


def test_a_done_execution_mails_the_requester():
    requester = person("alice", group="Engineer")
    change = make_change(requester, state="done")
    notifications.notify_finished(change=change)
    [message] = mail.outbox
    assert message.subject == f"[dcportal] #{change.pk} create pl-x done"
    assert "is done" in message.body


def test_an_update_is_named_after_the_link_it_changes():
    requester = person("alice", group="Engineer")
    change = make_change(
        requester, kind="update", state="done", payload={"link_name": "pl-old", "name": "pl-new"}
    )
    notifications.notify_finished(change=change)
    assert mail.outbox[0].subject == f"[dcportal] #{change.pk} update pl-old done"
    assert "pl-old -> pl-new" in mail.outbox[0].body


def test_expiry_mails_the_requester():
    requester = person("alice", group="Engineer")
    person("bob", group="Approver")
    change = make_change(requester, state="expired")
    notifications.notify_expired(change=change)
    [message] = mail.outbox
    assert message.to == ["alice@example.net"]
    assert message.subject == f"[dcportal] #{change.pk} create pl-x expired"
    assert "expired" in message.body
    assert f"https://dcportal.example.net/changes/{change.pk}/" in message.body


def test_an_inactive_requester_gets_neither_mail_nor_notice():
    requester = person("alice", group="Engineer", is_active=False)
    notifications.notify_expired(change=make_change(requester, state="expired"))
    assert mail.outbox == []
    assert Notice.objects.count() == 0


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 Username and Password not accepted")


class UnreachableBackend(BrokenBackend):
    def open(self):
        raise ConnectionRefusedError(111, "Connection refused")


@pytest.mark.parametrize("backend", ["BrokenBackend", "UnreachableBackend"])
def test_a_mail_failure_is_logged_and_never_raises(settings, caplog, backend):
    settings.EMAIL_BACKEND = f"tests.test_notifications.{backend}"
    settings.EMAIL_HOST_PASSWORD = "s3cret-smtp-password"
    requester = person("alice", group="Engineer")
    person("bob", group="Approver")
    change = make_change(requester)
    with caplog.at_level(logging.WARNING, logger="peerlinks.services.notifications"):
        notifications.notify_submitted(change=change)
        notifications.notify_finished(change=change)
    assert f"mail about change #{change.pk} (submitted) not sent" in caplog.text
    assert "s3cret-smtp-password" not in caplog.text
    # The in-app notices are there even though no mail went out.
    assert Notice.objects.count() == 2


def test_an_unexpected_error_while_notifying_is_logged_and_never_raises(monkeypatch, caplog):
    requester = person("alice", group="Engineer")

    def explode(*args, **kwargs):
        raise RuntimeError("template missing")

    monkeypatch.setattr(notifications, "render_to_string", explode)
    with caplog.at_level(logging.ERROR, logger="peerlinks.services.notifications"):
        notifications.notify_expired(change=make_change(requester, state="expired"))
    assert "notify_expired for change" in caplog.text


def test_a_long_comment_is_cut_to_fit_the_notice():
    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    change = make_change(requester, state="rejected")
    approval = Approval.objects.create(
        change_request=change, approver=lead, decision="reject", comment="no " * 500, payload_digest="x"
    )
    notifications.notify_decided(change=change, approval=approval)
    assert len(Notice.objects.get().message) == 300
    assert "no no no" in mail.outbox[0].body


def test_marking_read_touches_only_the_users_own_unread_notices():
    alice = person("alice")
    bob = person("bob")
    mine = Notice.objects.create(user=alice, message="one")
    Notice.objects.create(user=alice, message="two")
    theirs = Notice.objects.create(user=bob, message="three")
    assert notifications.mark_notices_read(user=alice, notice_id=theirs.pk) == 0
    assert notifications.mark_notices_read(user=alice, notice_id=mine.pk) == 1
    assert notifications.unread_notices(alice).count() == 1
    assert notifications.mark_notices_read(user=alice) == 1
    assert notifications.unread_notices(alice).count() == 0
    assert notifications.unread_notices(bob).count() == 1


def test_a_delete_is_named_after_its_link_though_its_payload_has_no_name():
    requester = person("alice", group="Engineer")
    person("bob", group="Approver")
    change = make_change(
        requester, kind="delete", payload={"link_name": "pl-doomed", "before": {"name": "pl-doomed"}}
    )
    notifications.notify_submitted(change=change)
    [message] = mail.outbox
    assert message.subject == f"[dcportal] #{change.pk} delete pl-doomed needs your approval"
    assert "Link:      pl-doomed" in message.body


def test_a_request_nobody_can_approve_is_logged(caplog):
    change = make_change(person("alice", group="Approver"))
    with caplog.at_level(logging.WARNING, logger="peerlinks.services.notifications"):
        notifications.notify_submitted(change=change)
    assert mail.outbox == []
    assert f"change #{change.pk} waits for approval but nobody active may approve it" in caplog.text


# --- sent by the task worker, queued by the change services after commit ------------------------


def run_queued_tasks() -> None:
    """What the task worker does: run every queued task once."""
    from django.core.management import call_command

    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_submitting_a_change_that_needs_approval_mails_the_approvers_after_commit():
    requester = person("alice", group="Engineer")
    person("bob", group="Approver")
    link = make_peer_link(name="pl-doomed")
    change = submit_change(user=requester, kind="delete", gateway=link.gateway, payload={}, peer_link=link)
    assert change.state == "pending_approval"
    assert mail.outbox == []  # not in the request: the worker sends it
    run_queued_tasks()
    [message] = mail.outbox
    assert message.to == ["bob@example.net"]
    assert message.subject == f"[dcportal] #{change.pk} delete pl-doomed needs your approval"


@pytest.mark.django_db(transaction=True)
def test_rejecting_and_expiring_mail_the_requester_after_commit():
    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    rejected = make_change(requester, expires_at=timezone.now() + timedelta(days=1))
    expired = make_change(requester, expires_at=timezone.now() - timedelta(seconds=1))
    reject_change(
        change_id=rejected.pk, user=lead, payload_digest=rejected.payload_digest, comment="Not this week"
    )
    expire_due_changes()
    run_queued_tasks()
    # In any order: the two mails are sent by separate tasks.
    assert sorted(message.subject for message in mail.outbox) == sorted(
        [
            f"[dcportal] #{rejected.pk} create pl-x rejected by bob",
            f"[dcportal] #{expired.pk} create pl-x expired",
        ]
    )
    assert all(message.to == ["alice@example.net"] for message in mail.outbox)


def test_a_comment_notifies_the_requester_the_deciders_and_earlier_commenters_never_its_author():
    from peerlinks.models import Comment

    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    person("dave", group="Approver")  # may approve, took no part: not told
    talker = person("carol", group="Engineer")
    change = make_change(requester, state="pending_approval", approvals_required=2)
    Approval.objects.create(change_request=change, approver=lead, decision="approve", payload_digest="x")
    Comment.objects.create(change_request=change, author=talker, body="first")
    comment = Comment.objects.create(change_request=change, author=lead, body="Check the <ASN> & peer")
    notifications.notify("commented", change_id=change.pk, comment_id=comment.pk)
    assert recipients() == ["alice@example.net", "carol@example.net"]
    message = mail.outbox[0]
    assert message.subject == f"[dcportal] #{change.pk} create pl-x: comment from bob"
    assert "Check the <ASN> & peer" in message.body
    assert f"https://dcportal.example.net/changes/{change.pk}/#change-comments" in message.body
    assert (
        Notice.objects.filter(
            message=f"#{change.pk} create pl-x: bob commented: Check the <ASN> & peer"
        ).count()
        == 2
    )
    assert not Notice.objects.filter(user=lead).exists()


def test_running_a_change_before_its_window_tells_the_requester_who_and_why():
    from peerlinks.services.audit import record_audit

    requester = person("alice", group="Engineer")
    lead = person("bob", group="Approver")
    change = make_change(requester, state="approved")
    record_audit(
        action="change.run_now", actor=lead, obj=change, after={"reason": "P1 outage"}, change=change
    )
    notifications.notify("run_now", change_id=change.pk)
    [message] = mail.outbox
    assert message.to == ["alice@example.net"]
    assert message.subject == f"[dcportal] #{change.pk} create pl-x run now by bob, before the change window"
    assert "P1 outage" in message.body
    assert Notice.objects.get(user=requester).message.endswith("before the change window: P1 outage")
