"""A signed-in person's language and time zone are saved when they choose them, follow them to any browser,
and decide the language and zone of the mail they are sent; nothing is saved for anonymous visitors."""

import email
import email.policy
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from peerlinks.middleware import DETECTED_TIME_ZONE_COOKIE, TIME_ZONE_COOKIE
from peerlinks.models import AuditEvent, ChangeRequest, Preferences
from peerlinks.services import notifications
from peerlinks.services.preferences import save_preferences
from tests.conftest import _user, make_gateway, make_peer_link, make_project

# 2026-12-02 07:04:05 UTC is 15:04 in Shanghai and 02:04 in New York.
MOMENT = datetime(2026, 12, 2, 7, 4, 5, tzinfo=UTC)
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.8"}


def signed_in(user, **cookies: str) -> Client:
    """A fresh browser (no cookies but these) in which `user` has signed in."""
    client = Client()
    client.force_login(user)
    for name, value in cookies.items():
        client.cookies[name] = value
    return client


def audit_page(client: Client, **headers: str) -> str:
    return client.get(reverse("peerlinks:audit_list"), **headers).content.decode()


# --- Saved on choosing, applied on any browser ------------------------------------------------------


def test_a_language_chosen_in_one_browser_applies_in_a_fresh_one_over_its_browser_language(viewer):
    first = signed_in(viewer)
    # The switcher as it is, without JavaScript: a plain POST, back to the page.
    page = first.get(reverse("peerlinks:home")).content.decode()
    assert f'action="{reverse("set_language")}"' in page
    response = first.post(reverse("set_language"), {"language": "zh-hans", "next": "/links/"})
    assert response.status_code == 302 and response["Location"] == "/links/"
    assert Preferences.objects.get(user=viewer).language == "zh-hans"

    # Another browser: no language cookie, no Accept-Language, or an English one, or an English cookie.
    fresh = signed_in(viewer)
    assert '<html lang="zh-hans">' in fresh.get(reverse("peerlinks:home")).content.decode()
    page = fresh.get(reverse("peerlinks:home"), **EN).content.decode()
    assert '<html lang="zh-hans">' in page and "退出登录" in page
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in page
    english_cookie = signed_in(viewer, django_language="en")
    assert '<html lang="zh-hans">' in english_cookie.get(reverse("peerlinks:home")).content.decode()

    # Switching back in that browser is saved too; the first browser follows.
    english_cookie.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert '<html lang="en">' in first.get(reverse("peerlinks:home"), **ZH).content.decode()


def test_the_login_page_follows_the_browser_whatever_a_user_saved(viewer):
    save_preferences(user=viewer, language="zh-hans")
    visitor = Client()
    assert '<html lang="en">' in visitor.get(reverse("login"), **EN).content.decode()
    assert '<html lang="zh-hans">' in visitor.get(reverse("login"), **ZH).content.decode()


def test_a_zone_chosen_in_the_menu_applies_in_a_fresh_browser_over_its_own(viewer):
    AuditEvent.objects.create(at=MOMENT, actor_name="someone", action="peer_link.create", object_type="x")
    first = signed_in(viewer)
    response = first.post(reverse("peerlinks:set_time_zone"), {"timezone": "Asia/Shanghai", "next": "/"})
    assert response.status_code == 302
    assert Preferences.objects.get(user=viewer).time_zone == "Asia/Shanghai"

    fresh = signed_in(viewer, **{DETECTED_TIME_ZONE_COOKIE: "America/New_York", TIME_ZONE_COOKIE: "UTC"})
    page = audit_page(fresh)
    assert "2026-12-02 15:04:05 UTC+08:00" in page and "02:04:05" not in page
    menu = fresh.get(reverse("peerlinks:home")).content.decode()
    assert '<option value="Asia/Shanghai" selected>Asia/Shanghai</option>' in menu

    # "From your browser" is a choice too: saved, and the browser's zone shows again.
    fresh.post(reverse("peerlinks:set_time_zone"), {"timezone": ""})
    assert Preferences.objects.get(user=viewer).time_zone == ""
    assert "2026-12-02 02:04:05 UTC-05:00" in audit_page(fresh)


def test_the_browsers_zone_is_saved_for_mail_without_becoming_a_choice(viewer):
    browser = signed_in(viewer, **{DETECTED_TIME_ZONE_COOKIE: "Asia/Shanghai"})
    browser.get(reverse("peerlinks:home"))
    saved = Preferences.objects.get(user=viewer)
    assert (saved.browser_time_zone, saved.time_zone, saved.language) == ("Asia/Shanghai", "", "")

    browser.cookies[DETECTED_TIME_ZONE_COOKIE] = "Not/AZone"  # a cookie anyone can write
    browser.get(reverse("peerlinks:home"))
    assert Preferences.objects.get(user=viewer).browser_time_zone == "Asia/Shanghai"


def test_nothing_is_saved_for_visitors_and_a_language_picked_before_sign_in_is_kept(viewer):
    visitor = Client()
    visitor.cookies[DETECTED_TIME_ZONE_COOKIE] = "Asia/Shanghai"
    visitor.get(reverse("login"))
    response = visitor.post(reverse("set_language"), {"language": "zh-hans", "next": "/login/"})
    assert response.status_code == 302 and response.cookies["django_language"].value == "zh-hans"
    response = visitor.post(reverse("peerlinks:set_time_zone"), {"timezone": "Asia/Tokyo", "next": "/login/"})
    assert response.status_code == 302 and response.cookies[TIME_ZONE_COOKIE].value == "Asia/Tokyo"
    assert '<html lang="zh-hans">' in visitor.get(reverse("login")).content.decode()
    assert not Preferences.objects.exists()

    # Signed in on that browser: the language picked on the login page is theirs, for their mail too; the
    # zone menu's cookie is not taken for a choice, the browser's zone is kept for mail.
    visitor.force_login(viewer)
    assert '<html lang="zh-hans">' in visitor.get(reverse("peerlinks:home")).content.decode()
    saved = Preferences.objects.get(user=viewer)
    assert (saved.language, saved.time_zone, saved.browser_time_zone) == ("zh-hans", "", "Asia/Shanghai")


def test_a_language_dcportal_does_not_offer_is_neither_saved_nor_an_error(viewer):
    browser = signed_in(viewer)
    response = browser.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert not Preferences.objects.exists()
    with pytest.raises(ValidationError):
        save_preferences(user=viewer, time_zone="Mars/Olympus_Mons")


def test_the_admin_shows_a_users_preferences_on_their_page(client, admin, viewer):
    save_preferences(user=viewer, language="zh-hans", time_zone="Asia/Shanghai")
    client.force_login(admin)
    page = client.get(reverse("admin:auth_user_change", args=[viewer.pk])).content.decode()
    assert 'name="preferences-0-language"' in page
    assert 'value="Asia/Shanghai"' in page
    assert '<option value="zh-hans" selected>' in page


# --- Mail in each recipient's language and zone -----------------------------------------------------


def make_change(requester) -> ChangeRequest:
    return ChangeRequest.objects.create(
        kind="create",
        requested_by=requester,
        gateway=make_gateway(project=make_project("cn-north-4")),
        payload={"name": "pl-new", "peer_type": "ER", "peer_gateway_id": "x", "peer_region": "cn-north-4"},
        created_at=MOMENT,
        expires_at=MOMENT,
    )


def test_each_recipient_gets_the_mail_in_their_language_and_zone(settings, engineer):
    settings.TIME_ZONE = "UTC"
    chinese = _user("wang", "Approver", email="wang@example.net")
    save_preferences(user=chinese, language="zh-hans", time_zone="Asia/Shanghai")
    _user("bob", "Approver", email="bob@example.net")  # nothing saved: the server's defaults
    travelling = _user("dave", "Approver", email="dave@example.net")
    save_preferences(user=travelling, browser_time_zone="America/New_York")  # never chose one
    change = make_change(engineer)
    mail.outbox.clear()

    notifications.notify_submitted(change=change)

    by_recipient = {message.to[0]: message for message in mail.outbox}
    zh = by_recipient["wang@example.net"]
    assert zh.subject == f"[dcportal] #{change.pk} 创建 pl-new 需要您审批"
    assert "wang，您好：" in zh.body
    assert "申请人：" in zh.body and "engineer1，2026-12-02 15:04:05 UTC+08:00 (Asia/Shanghai)" in zh.body
    assert "Hello" not in zh.body and "07:04:05" not in zh.body

    en = by_recipient["bob@example.net"]
    assert en.subject == f"[dcportal] #{change.pk} create pl-new needs your approval"
    assert "Hello bob," in en.body
    assert "Asked by:  engineer1 at 2026-12-02 07:04:05 UTC" in en.body
    assert "Expires:   2026-12-02 07:04:05 UTC if nobody decides" in en.body

    ny = by_recipient["dave@example.net"]
    assert "Hello dave," in ny.body
    assert "2026-12-02 02:04:05 UTC-05:00 (America/New_York)" in ny.body


def test_the_worker_sends_each_recipient_their_own_language_over_smtp(smtp_inbox, transactional_db):
    requester = _user("alice", "Engineer", email="alice@example.net")
    save_preferences(user=requester, language="zh-hans", time_zone="Asia/Shanghai")
    approver = _user("bob", "Approver", email="bob@example.net")
    link = make_peer_link(name="pl-doomed")
    requester_browser = signed_in(requester)
    response = requester_browser.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "pl-doomed"}
    )
    assert response.status_code == 302
    change = ChangeRequest.objects.get()
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    approver_browser = signed_in(approver)
    approver_browser.post(
        reverse("peerlinks:change_reject", args=[change.pk]),
        {"comment": "Not now.", "payload_digest": change.payload_digest},
    )
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

    received = {}
    for _, recipients, content in smtp_inbox.messages:
        message = email.message_from_bytes(content.encode(), policy=email.policy.default)
        received[recipients[0]] = (str(message["subject"]), message.get_content())
    subject, body = received["bob@example.net"]
    assert "needs your approval" in subject and "Hello bob," in body
    subject, body = received["alice@example.net"]
    assert "bob" in subject and "驳回" in subject
    assert "alice，您好：" in body and "Not now." in body
    assert "UTC+08:00 (Asia/Shanghai)" in body


def test_in_app_notices_read_in_the_recipients_saved_language_on_any_browser(engineer):
    chinese = _user("wang", "Approver")
    save_preferences(user=chinese, language="zh-hans", time_zone="Asia/Shanghai")
    change = make_change(engineer)
    notifications.notify_submitted(change=change)

    page = signed_in(chinese).get(reverse("peerlinks:notice_list"), **EN).content.decode()
    assert f"engineer1 提交的 #{change.pk} 创建 pl-new 需要您审批" in page
    assert "needs your approval" not in page
