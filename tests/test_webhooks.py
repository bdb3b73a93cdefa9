"""Webhooks and chat notifications, sent by the worker to a real HTTP receiver on loopback: the signed
generic JSON, each chat service's documented shape and signing rule, retries and the delivery log,
redelivery, the account and gateway limits, and the secret kept out of pages and logs."""

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks.models import AuditEvent, ChangeRequest, WebhookAttempt, WebhookDelivery, WebhookSubscription
from peerlinks.services import webhooks
from tests.conftest import _user, make_gateway, make_peer_link
from tests.test_sync import REGION, _add_gateway, add_router, control, create_link

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-never-shown-4711"
Event = WebhookSubscription.Event
Format = WebhookSubscription.Format


class Receiver:
    """An HTTP server on a loopback port that records every POST and answers from a script of
    (status, headers, delay[, body]) replies, or the one for its path; once the script runs out, 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple] = []
        self.by_path: dict[str, tuple] = {}  # the reply for one path, every time
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parsed = urllib.parse.urlsplit(self.path)
                receiver.requests.append(
                    {
                        "path": parsed.path,
                        "query": dict(urllib.parse.parse_qsl(parsed.query)),
                        "headers": dict(self.headers),
                        "body": body,
                        "json": json.loads(body),
                    }
                )
                if parsed.path in receiver.by_path:
                    reply = receiver.by_path[parsed.path]
                else:
                    reply = receiver.replies.pop(0) if receiver.replies else (200, {}, 0.0)
                status, headers, delay, *body = reply
                time.sleep(delay)
                answer = body[0] if body else b'{"ok": true}' if status < 300 else b'{"errcode": 93000}'
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.SITE_URL = "https://dcportal.example.net"
    settings.WEBHOOK_TIMEOUT = 0.5
    settings.WEBHOOK_RETRY_BASE = 0.0  # retries at once: the test's worker round picks them up
    server = Receiver()
    yield server
    server.stop()


def _subscribe(url: str, *, format: str = Format.GENERIC, events=None, **fields) -> WebhookSubscription:
    subscription = WebhookSubscription(
        name=f"link-hook-{format}",
        url=url,
        format=format,
        secret=fields.pop("secret", SECRET if format == Format.GENERIC else ""),
        events=events or [Event.SUBMITTED],
        **fields,
    )
    webhooks.save_subscription(subscription, user=None)
    return subscription


def _run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _ask_to_delete(client, link) -> ChangeRequest:
    response = client.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": link.name}
    )
    assert response.status_code == 302
    return ChangeRequest.objects.get()


def _publish_submitted(change: ChangeRequest) -> None:
    """The submitted event's deliveries, queued as the notify task would, without running that task."""
    webhooks.publish_change("submitted", change=change, title=f"#{change.pk}")


@pytest.fixture
def requester(client):
    client.force_login(_user("alice", "Engineer"))
    return client


def _readme_verify():
    """The receiver's check as the README shows it (its "Webhooks and chat" Python sample), run as is."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    sample = re.search(r"```python\n(import hashlib\nimport hmac\n.*?)```", readme, flags=re.S).group(1)
    names: dict = {}
    exec(sample, names)
    return names["verify"]


verify = _readme_verify()


def _check_signature(request: dict, secret: str = SECRET) -> bool:
    return verify(secret, request["headers"]["X-Dcportal-Signature"], request["body"])


def test_a_submitted_change_reaches_a_generic_webhook_signed_after_commit(receiver, requester):
    _subscribe(f"{receiver.url}/hook")
    change = _ask_to_delete(requester, make_peer_link(name="pl-doomed"))
    assert receiver.requests == []  # the web request only queued it
    _run_worker()
    [request] = receiver.requests
    assert _check_signature(request)
    assert not _check_signature(request, secret="another")
    event = request["json"]
    assert set(event) == {"id", "type", "occurred_at", "account", "change"}
    assert event["type"] == "change.submitted"
    assert request["headers"]["X-Dcportal-Event"] == "change.submitted"
    assert request["headers"]["X-Dcportal-Delivery"] == event["id"]
    assert event["change"]["number"] == change.pk
    assert event["change"]["state"] == "pending_approval"
    assert "pl-doomed" in event["change"]["title"]
    assert event["change"]["url"] == f"https://dcportal.example.net/changes/{change.pk}/"
    assert event["account"] == change.account.name
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == '{"ok": true}'


def test_each_chat_format_sends_its_services_documented_shape(receiver, requester):
    for format in (Format.WECOM, Format.SLACK, Format.TEAMS):
        _subscribe(f"{receiver.url}/{format}", format=format)
    _subscribe(f"{receiver.url}/dingtalk?access_token=tok", format=Format.DINGTALK, secret="SECding")
    _subscribe(f"{receiver.url}/feishu", format=Format.FEISHU, secret="feishu-secret")
    change = _ask_to_delete(requester, make_peer_link(name="pl-chat"))
    _run_worker()
    by_path = {request["path"]: request for request in receiver.requests}
    assert set(by_path) == {"/wecom", "/slack", "/teams", "/dingtalk", "/feishu"}
    url = f"https://dcportal.example.net/changes/{change.pk}/"

    wecom = by_path["/wecom"]["json"]
    assert wecom["msgtype"] == "markdown" and "pl-chat" in wecom["markdown"]["content"]
    assert url in wecom["markdown"]["content"] and "Pending approval" in wecom["markdown"]["content"]

    dingtalk = by_path["/dingtalk"]
    assert dingtalk["json"]["msgtype"] == "markdown"
    assert "pl-chat" in dingtalk["json"]["markdown"]["title"] and url in dingtalk["json"]["markdown"]["text"]
    # DingTalk's rule: sign = base64(HMAC-SHA256(secret, "{timestamp ms}\n{secret}")), in the query.
    query = dingtalk["query"]
    assert query["access_token"] == "tok"
    digest = hmac.new(b"SECding", f"{query['timestamp']}\nSECding".encode(), hashlib.sha256).digest()
    assert query["sign"] == base64.b64encode(digest).decode()
    assert abs(int(query["timestamp"]) / 1000 - time.time()) < 60

    feishu = by_path["/feishu"]["json"]
    assert feishu["msg_type"] == "interactive"
    assert "pl-chat" in feishu["card"]["header"]["title"]["content"]
    assert feishu["card"]["elements"][1]["actions"][0]["url"] == url
    # Feishu's rule: sign = base64(HMAC-SHA256 keyed with "{timestamp s}\n{secret}" over nothing), in the
    # body.
    digest = hmac.new(f"{feishu['timestamp']}\nfeishu-secret".encode(), b"", hashlib.sha256).digest()
    assert feishu["sign"] == base64.b64encode(digest).decode()

    slack = by_path["/slack"]["json"]
    assert "pl-chat" in slack["text"] and url in slack["text"]
    assert [block["type"] for block in slack["blocks"]] == ["header", "section", "actions"]

    teams = by_path["/teams"]["json"]
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and "pl-chat" in card["body"][0]["text"]
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open in dcportal", "url": url}
    # Nothing but generic JSON carries dcportal's own signature.
    assert all("X-Dcportal-Signature" not in request["headers"] for request in receiver.requests)


def test_a_failed_delivery_is_retried_with_each_attempt_logged_until_the_receiver_takes_it(
    receiver, requester
):
    receiver.replies = [(503, {}, 0.0), (429, {"Retry-After": "0"}, 0.0), (200, {}, 2.0), (200, {}, 0.0)]
    _subscribe(f"{receiver.url}/hook")
    _ask_to_delete(requester, make_peer_link())
    started = time.monotonic()
    for _round in range(4):
        _run_worker()
    assert time.monotonic() - started < 10  # the receiver that stalled got WEBHOOK_TIMEOUT, not 2 s each
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    attempts = list(delivery.attempt_log.values_list("status_code", "response_excerpt"))
    assert attempts[:2] == [(503, '{"errcode": 93000}'), (429, '{"errcode": 93000}')]
    assert attempts[2][0] is None and "Timeout" in delivery.attempt_log.all()[2].error
    assert attempts[3] == (200, '{"ok": true}')
    # Every attempt carried the same event id: the receiver drops what it already has.
    assert len({request["json"]["id"] for request in receiver.requests}) == 1


def test_a_4xx_stops_at_once_and_too_many_failures_fail_the_delivery(receiver, requester, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.replies = [(410, {}, 0.0)]
    _subscribe(f"{receiver.url}/gone")
    _ask_to_delete(requester, make_peer_link())
    _run_worker()
    gone = WebhookDelivery.objects.get()
    assert gone.state == WebhookDelivery.State.FAILED and gone.attempts == 1

    receiver.replies = [(500, {}, 0.0)] * 3
    _subscribe(f"{receiver.url}/broken", events=[Event.REJECTED])
    change = ChangeRequest.objects.get()
    from peerlinks.services import approvals

    approvals.reject_change(
        change_id=change.pk, user=_user("bob", "Approver"), payload_digest=change.payload_digest, comment="no"
    )
    for _round in range(3):
        _run_worker()
    broken = WebhookDelivery.objects.get(event_type=Event.REJECTED)
    assert broken.state == WebhookDelivery.State.FAILED and broken.attempts == 2
    assert broken.event["change"]["decision"] == {"by": "bob", "decision": "reject", "comment": "no"}


def test_an_admin_redelivers_a_failed_delivery_from_its_page(receiver, requester, admin, client):
    receiver.replies = [(400, {}, 0.0)]
    _subscribe(f"{receiver.url}/hook")
    _ask_to_delete(requester, make_peer_link())
    _run_worker()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.FAILED
    client.force_login(admin)
    page = client.get(reverse("admin:peerlinks_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and b"Redeliver" in page.content
    response = client.post(reverse("admin:peerlinks_webhookdelivery_redeliver", args=[delivery.pk]))
    assert response.status_code == 302
    _run_worker()
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert [request["json"]["id"] for request in receiver.requests] == [str(delivery.event_id)] * 2
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2
    assert AuditEvent.objects.filter(action="webhook.redelivered", actor=admin).exists()
    # While it is on its way, it cannot be redelivered.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=WebhookDelivery.State.PENDING)
    client.post(reverse("admin:peerlinks_webhookdelivery_redeliver", args=[delivery.pk]))
    assert WebhookDelivery.objects.get().attempts == 1


def test_a_subscription_limited_to_a_gateway_or_account_hears_only_about_it(
    receiver, requester, two_accounts
):
    link = two_accounts["link_a"]
    _subscribe(f"{receiver.url}/this-gateway", gateway=link.gateway)
    _subscribe(f"{receiver.url}/other-gateway", gateway=make_gateway(project=link.gateway.project))
    _subscribe(f"{receiver.url}/this-account", account=link.gateway.account)
    _subscribe(f"{receiver.url}/other-account", account=two_accounts["team_b"])
    _subscribe(f"{receiver.url}/inactive", active=False)
    _subscribe(f"{receiver.url}/other-event", events=[Event.DONE])
    _ask_to_delete(requester, link)
    _run_worker()
    assert sorted(request["path"] for request in receiver.requests) == ["/this-account", "/this-gateway"]


def test_a_sync_tells_about_status_changes_and_drift(receiver, settings, simulator):
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.CLOUD_MAX_RETRIES = 0
    control(simulator, "PUT", "config", json={"transition_delay": 0})
    from peerlinks.services.sync import sync_region

    gateway_id = _add_gateway(simulator, name="gw-a", quota=3)
    router_id = add_router(simulator, name="er-a")
    sync_region(region=REGION)
    _subscribe(f"{receiver.url}/hook", events=[Event.LINK_STATUS, Event.DRIFT])
    _subscribe(f"{receiver.url}/wecom", format=Format.WECOM, events=[Event.LINK_STATUS])
    link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="sneaky")
    sync_region(region=REGION)
    control(simulator, "PATCH", f"peer-links/{link_id}", json={"status": "ERROR", "reason": "BGP down"})
    sync_region(region=REGION)
    _run_worker()
    [wecom] = [request["json"] for request in receiver.requests if request["path"] == "/wecom"]
    content = wecom["markdown"]["content"]
    assert "Link status changed: sneaky" in content and "State: Error" in content and "Was: Active" in content
    assert f"https://dcportal.example.net/links/{link_id}/" in content
    generic = [request for request in receiver.requests if request["path"] == "/hook"]
    events = {request["json"]["type"]: request["json"] for request in generic}
    assert set(events) == {"drift.found", "link.status_changed"}
    assert events["drift.found"]["drift"]["kind"] == "created"
    assert events["drift.found"]["link"]["name"] == "sneaky"
    status = events["link.status_changed"]["link"]
    assert (status["from_status"], status["status"], status["reason"]) == ("ACTIVE", "ERROR", "BGP down")
    assert status["url"] == f"https://dcportal.example.net/links/{link_id}/"
    assert all(_check_signature(request) for request in generic)


def test_the_secret_is_never_shown_logged_or_audited(receiver, requester, admin, client, caplog):
    receiver.replies = [(500, {}, 0.0)]
    client.force_login(admin)
    add = client.post(
        reverse("admin:peerlinks_webhooksubscription_add"),
        {
            "name": "ops",
            "url": f"{receiver.url}/hook?token=abc",
            "format": Format.GENERIC,
            "secret": SECRET,
            "events": [Event.SUBMITTED],
            "active": "on",
        },
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret == SECRET
    page = client.get(reverse("admin:peerlinks_webhooksubscription_change", args=[subscription.pk]))
    assert page.status_code == 200 and SECRET not in page.content.decode()
    # Saved again with the secret left empty: the stored one is kept.
    client.post(
        reverse("admin:peerlinks_webhooksubscription_change", args=[subscription.pk]),
        {
            "name": "ops2",
            "url": subscription.url,
            "format": Format.GENERIC,
            "secret": "",
            "events": [Event.DONE],
        },
    )
    subscription.refresh_from_db()
    assert (subscription.name, subscription.secret, subscription.active) == ("ops2", SECRET, False)
    with caplog.at_level(logging.DEBUG):
        subscription.active, subscription.events = True, [Event.SUBMITTED]
        subscription.save()
        _ask_to_delete(requester, make_peer_link())
        _run_worker()
    assert receiver.requests
    for event in AuditEvent.objects.filter(action__startswith="webhook."):
        assert SECRET not in json.dumps([event.before, event.after])
    assert AuditEvent.objects.get(action="webhook.added").after["secret"] == "set"
    assert SECRET not in caplog.text
    for name in ("webhooksubscription", "webhookdelivery"):
        listing = client.get(reverse(f"admin:peerlinks_{name}_changelist"))
        assert listing.status_code == 200 and SECRET not in listing.content.decode()
    delivery = WebhookDelivery.objects.get()
    detail = client.get(reverse("admin:peerlinks_webhookdelivery_change", args=[delivery.pk]))
    assert SECRET not in detail.content.decode()


def test_a_generic_webhook_without_a_secret_is_refused(admin, client):
    client.force_login(admin)
    response = client.post(
        reverse("admin:peerlinks_webhooksubscription_add"),
        {"name": "x", "url": "http://127.0.0.1:9/", "format": Format.GENERIC, "events": [Event.DONE]},
    )
    assert response.status_code == 200 and not WebhookSubscription.objects.exists()
    assert "needs a secret" in response.content.decode()


def test_a_delivery_whose_worker_died_while_sending_is_sent_again_once_its_lease_runs_out(
    receiver, requester
):
    _subscribe(f"{receiver.url}/hook")
    _publish_submitted(_ask_to_delete(requester, make_peer_link()))
    delivery = WebhookDelivery.objects.get()
    # As a worker killed mid-send leaves it: claimed, its task gone from the queue, no answer recorded.
    DBTaskResult.objects.all().delete()
    soon = timezone.now() + timedelta(seconds=60)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.SENDING, attempts=1, next_attempt_at=soon
    )
    assert webhooks.resume_stalled_deliveries() == 0  # still within its lease
    assert webhooks.resume_stalled_deliveries(now=soon + timedelta(seconds=1)) == 1
    _run_worker()
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED and delivery.attempts == 2
    assert [request["json"]["id"] for request in receiver.requests] == [str(delivery.event_id)]


def test_a_webhook_turned_off_stops_its_retries(receiver, requester):
    receiver.replies = [(503, {}, 0.0)]
    subscription = _subscribe(f"{receiver.url}/hook")
    _publish_submitted(_ask_to_delete(requester, make_peer_link()))
    assert WebhookDelivery.objects.count() == 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)
    for _round in range(2):
        _run_worker()
    delivery = WebhookDelivery.objects.get()
    # Queued before the webhook was turned off: not even tried once it is off.
    assert delivery.state == WebhookDelivery.State.FAILED and receiver.requests == []


def test_chat_messages_speak_the_sites_language(receiver, requester, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    _subscribe(f"{receiver.url}/wecom", format=Format.WECOM)
    _ask_to_delete(requester, make_peer_link(name="pl-zh"))
    _run_worker()
    content = receiver.requests[0]["json"]["markdown"]["content"]
    assert "变更已提交" in content and "待审批" in content and "在 dcportal 中打开" in content


def test_the_audit_log_shows_a_receivers_host_not_the_token_in_its_url():
    subscription = _subscribe("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-123")
    subscription.url = "https://hooks.slack.com/services/T000/B000/slack-token-456"
    webhooks.save_subscription(subscription, user=None)
    logged = json.dumps(
        [[event.before, event.after] for event in AuditEvent.objects.all()], ensure_ascii=False
    )
    assert "robot-key-123" not in logged and "slack-token-456" not in logged
    assert "https://qyapi.weixin.qq.com/…" in logged and "https://hooks.slack.com/…" in logged


def test_only_http_and_https_receivers_are_taken():
    with pytest.raises(ValidationError):
        _subscribe("ftp://files.example.net/drop")
    with pytest.raises(ValidationError):
        _subscribe("http://127.0.0.1:9/", events=["change.renamed"])


def test_the_webhook_admin_pages_read_in_chinese(receiver, requester, admin, client):
    from tests.test_i18n_every_page import ZH, english_left

    receiver.replies = [(400, {}, 0.0)]
    subscription = _subscribe(f"{receiver.url}/hook", events=[Event.SUBMITTED, Event.DRIFT])
    _ask_to_delete(requester, make_peer_link())
    _run_worker()
    delivery = WebhookDelivery.objects.get()
    client.force_login(admin)
    for path in (
        reverse("admin:peerlinks_webhooksubscription_changelist"),
        reverse("admin:peerlinks_webhooksubscription_change", args=[subscription.pk]),
        reverse("admin:peerlinks_webhookdelivery_changelist"),
        reverse("admin:peerlinks_webhookdelivery_change", args=[delivery.pk]),
    ):
        page = client.get(path, **ZH)
        assert page.status_code == 200
        assert english_left(page.content.decode(), admin=True) == [], path
    assert "重新投递" in page.content.decode()


def test_a_chat_service_that_answers_200_with_an_error_code_failed_the_delivery(receiver, requester):
    receiver.by_path = {
        "/dingtalk": (200, {}, 0.0, b'{"errcode": 310000, "errmsg": "sign not match"}'),
        "/redirect": (302, {"Location": "http://127.0.0.1:9/"}, 0.0),
    }
    _subscribe(f"{receiver.url}/dingtalk", format=Format.DINGTALK, secret="SECwrong")
    _subscribe(f"{receiver.url}/redirect")
    _ask_to_delete(requester, make_peer_link())
    _run_worker()
    states = {delivery.subscription.format: delivery for delivery in WebhookDelivery.objects.all()}
    dingtalk, generic = states[Format.DINGTALK], states[Format.GENERIC]
    assert dingtalk.state == WebhookDelivery.State.FAILED and dingtalk.attempts == 1
    assert dingtalk.attempt_log.get().error == "errcode 310000: sign not match"
    # A redirect is not followed, nor tried again.
    assert generic.state == WebhookDelivery.State.FAILED and generic.attempts == 1
    assert [request["path"] for request in receiver.requests].count("/redirect") == 1
