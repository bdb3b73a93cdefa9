"""Webhooks and chat notifications: events (a change submitted, approved, rejected, done, failed or expired;
a link's status changed; drift found) sent to the receivers admins subscribed.

An event becomes one delivery per matching subscription, in the transaction that saw it happen; each
delivery is sent by the task worker after that commits (`dispatch.deliver_webhook`), retried with backoff on
a network error, a 5xx or a 429, and logged attempt by attempt. Delivery is at least once: a worker killed
after the receiver answered but before the answer was recorded sends it again, with the same event id, so
receivers drop duplicates by it.

Generic JSON is signed with HMAC-SHA256 over "{timestamp}.{body}" (X-Dcportal-Signature: t=…,v1=…); the
chat formats follow each service's incoming-webhook JSON and, for DingTalk and Feishu, their signing rule.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from peerlinks.models import (
    Approval,
    ChangeRequest,
    CloudAccount,
    Drift,
    Gateway,
    PeerLink,
    StatusChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from peerlinks.services import dispatch
from peerlinks.services.audit import record_audit

logger = logging.getLogger(__name__)

Event = WebhookSubscription.Event
Format = WebhookSubscription.Format
EXCERPT = 500  # characters of a receiver's answer kept in the delivery log
READ_AT_MOST = 4096  # bytes of a receiver's answer read at all
MAX_BACKOFF = 3600.0  # seconds: the longest wait between two attempts, Retry-After included
SIGNATURE_HEADER = "X-Dcportal-Signature"


# Subscriptions


def _audited_fields() -> list[str]:
    return [
        field.attname
        for field in WebhookSubscription._meta.concrete_fields
        if not field.primary_key and field.attname != "created_at"
    ]


@transaction.atomic
def save_subscription(subscription: WebhookSubscription, *, user: AbstractBaseUser | None) -> None:
    """Save a subscription as an admin edited it, audited as `webhook.added` or `webhook.changed`; the
    secret is only named ("set", "changed", "cleared"), never written anywhere but its encrypted column."""
    before_row = (
        WebhookSubscription.objects.select_for_update().filter(pk=subscription.pk).first()
        if subscription.pk
        else None
    )
    subscription.full_clean()
    subscription.save()
    before, after = {}, {}
    for name in _audited_fields():
        old = getattr(before_row, name) if before_row else None
        new = getattr(subscription, name)
        if before_row is not None and old == new:
            continue
        if name == "secret":
            if old or new:
                after[name] = "cleared" if not new else ("changed" if old else "set")
            continue
        if name == "url":  # a chat robot's URL carries its token (WeCom's key, Slack's path): the host only
            old, new = (shown_url(value) if value else value for value in (old, new))
        if before_row is not None:
            before[name] = old
        after[name] = new
    if before_row is None:
        record_audit(action="webhook.added", actor=user, obj=subscription, after=after)
    elif after:
        record_audit(action="webhook.changed", actor=user, obj=subscription, before=before, after=after)


def shown_url(url: str) -> str:
    """A receiver's URL as the audit log and errors may show it: its scheme and host; the path and query,
    where chat services put the robot's token, left out."""
    parts = urllib.parse.urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{rest}"


def _subscribers(
    event_type: str,
    *,
    account_ids: Iterable[int | None],
    gateway_ids: Iterable[int],
    among: list[WebhookSubscription] | None = None,
) -> list[WebhookSubscription]:
    """Active subscriptions (or those `among` them) to `event_type` whose account and gateway limits let
    the event through."""
    account_ids, gateway_ids = set(account_ids), set(gateway_ids)
    if among is None:
        among = list(WebhookSubscription.objects.filter(active=True))
    return [
        subscription
        for subscription in among
        if event_type in (subscription.events or [])
        and (subscription.account_id is None or subscription.account_id in account_ids)
        and (subscription.gateway_id is None or subscription.gateway_id in gateway_ids)
    ]


def _queue(subscriptions: list[WebhookSubscription], event: dict[str, Any]) -> list[WebhookDelivery]:
    """One delivery of `event` per subscription, each sent by the worker once this transaction commits."""
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription, event_id=event["id"], event_type=event["type"], event=event
        )
        for subscription in subscriptions
    )
    for delivery in deliveries:
        dispatch.deliver_webhook(delivery.pk)
    return deliveries


def _envelope(event_type: str, *, account: str, **objects: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": timezone.now().isoformat(),
        "account": account,
        **objects,
    }


def _url(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


# Events


def change_event_type(event: str, *, change: ChangeRequest, approval: Approval | None = None) -> str | None:
    """The webhook event for a notification `event` about a change (None: not one webhooks carry)."""
    if event == "submitted":
        return Event.SUBMITTED
    if event == "decided" and approval is not None:
        return Event.REJECTED if approval.decision == Approval.Decision.REJECT else Event.APPROVED
    if event == "finished":
        return Event.DONE if change.state == ChangeRequest.State.DONE else Event.FAILED
    if event == "expired":
        return Event.EXPIRED
    return None


def publish_change(event: str, *, change: ChangeRequest, title: str, approval: Approval | None = None) -> int:
    """Queue the webhook deliveries for a notification `event` about `change` (`title`: its one-line label,
    as notices name it); how many."""
    event_type = change_event_type(event, change=change, approval=approval)
    if event_type is None:
        return 0
    account = change.account
    accounts = [account.pk, change.peer_account_id]
    subscriptions = _subscribers(event_type, account_ids=accounts, gateway_ids=[change.gateway_id])
    if not subscriptions:
        return 0
    body = {
        "number": change.pk,
        "title": title,
        "kind": change.kind,
        "state": change.state,
        "gateway": change.gateway.cloud_id,
        "gateway_name": change.gateway.name,
        "requested_by": change.requested_by.get_username(),
        "error_code": change.error_code or "",
        "url": _url(change.get_absolute_url()),
    }
    if approval is not None:
        body["decision"] = {
            "by": approval.approver.get_username(),
            "decision": approval.decision,
            "comment": approval.comment,
        }
    with transaction.atomic():
        return len(_queue(subscriptions, _envelope(event_type, account=account.name, change=body)))


def publish_link_events(
    *, transitions: list[StatusChange], drifts: list[Drift], gateways: Iterable[Gateway], account_id: int
) -> int:
    """Queue deliveries for the status changes and drift a sync of `account` found (in its transaction);
    how many. Costs one query when nobody subscribed."""
    if not transitions and not drifts:
        return 0
    active = list(WebhookSubscription.objects.filter(active=True))
    if not active:
        return 0
    account = CloudAccount.objects.get(pk=account_id)
    gateways = {gateway.pk: gateway for gateway in gateways}
    queued = 0
    for transition in transitions:
        link = transition.peer_link
        subscriptions = _subscribers(
            Event.LINK_STATUS, account_ids=[account.pk], gateway_ids=[link.gateway_id], among=active
        )
        if subscriptions:
            body = {
                **_link(link, gateways),
                "from_status": transition.from_status,
                "reason": transition.reason,
            }
            queued += len(
                _queue(subscriptions, _envelope(Event.LINK_STATUS, account=account.name, link=body))
            )
    for drift in drifts:
        link = drift.peer_link
        subscriptions = _subscribers(
            Event.DRIFT, account_ids=[account.pk], gateway_ids=[link.gateway_id], among=active
        )
        if subscriptions:
            event = _envelope(
                Event.DRIFT,
                account=account.name,
                link=_link(link, gateways),
                drift={"kind": drift.kind, "detail": drift.detail},
            )
            queued += len(_queue(subscriptions, event))
    return queued


def _link(link: PeerLink, gateways: dict[int, Gateway]) -> dict[str, Any]:
    gateway = gateways.get(link.gateway_id)
    return {
        "id": link.cloud_id,
        "name": link.name,
        "status": link.status,
        "gateway": gateway.cloud_id if gateway else "",
        "gateway_name": gateway.name if gateway else "",
        "url": _url(link.get_absolute_url()),
    }


# Delivery


class Refused(Exception):
    """The receiver said no for good (a 4xx other than 429): trying again would not help."""


def deliver(delivery_id: int) -> str:
    """Send one delivery (the worker's task): one attempt, logged; then delivered, failed, or queued again
    after a backoff. Returns the delivery's state. A delivery left "sending" by a worker that died is sent
    again (at least once)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return ""
        if delivery.state not in (WebhookDelivery.State.PENDING, WebhookDelivery.State.SENDING):
            return delivery.state  # delivered, failed or redelivered meanwhile
        if not delivery.subscription.active:  # turned off meanwhile: its retries stop too
            delivery.state, delivery.finished_at = WebhookDelivery.State.FAILED, timezone.now()
            delivery.save(update_fields=["state", "finished_at"])
            return delivery.state
        delivery.state = WebhookDelivery.State.SENDING
        delivery.attempts += 1
        # A lease: past it, a delivery still "sending" lost its worker (resume_stalled_deliveries).
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT + 30)
        delivery.save(update_fields=["state", "attempts", "next_attempt_at"])
    attempt = WebhookAttempt(delivery=delivery)
    retry_after = None
    refused = False
    started = time.monotonic()
    try:
        url, headers, body = render(delivery)
        response = _post(url, headers=headers, body=body)
    except requests.RequestException as exc:
        attempt.error = _short(f"{type(exc).__name__}: {_without_query(str(exc))}")
    except Exception as exc:  # a bug or bad data must not retry forever, nor kill the worker
        logger.exception("webhook delivery #%s could not be sent", delivery.pk)
        attempt.error = _short(f"{type(exc).__name__}")
        refused = True
    else:
        status, text, retry_after = response
        attempt.status_code = status
        attempt.response_excerpt = _short(text)
        # Only a 5xx or a 429 may go better later; a 3xx (never followed) or another 4xx will not.
        refused = status < 500 and status != 429 and not 200 <= status < 300
        if 200 <= status < 300 and (said := chat_refusal(delivery.subscription.format, text)):
            attempt.error, refused = said, True
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.save(force_insert=True)
    return _after_attempt(delivery, attempt, refused=refused, retry_after=retry_after)


def _after_attempt(
    delivery: WebhookDelivery, attempt: WebhookAttempt, *, refused: bool, retry_after: float | None
) -> str:
    now = timezone.now()
    if not refused and attempt.status_code is not None and 200 <= attempt.status_code < 300:
        delivery.state, delivery.finished_at, delivery.next_attempt_at = (
            WebhookDelivery.State.DELIVERED,
            now,
            None,
        )
    elif refused or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.state, delivery.finished_at, delivery.next_attempt_at = (
            WebhookDelivery.State.FAILED,
            now,
            None,
        )
        logger.warning(
            "webhook delivery #%s (%s) failed after %s attempt(s)",
            delivery.pk,
            delivery.event_type,
            delivery.attempts,
        )
    else:
        wait = retry_after if retry_after is not None else backoff(delivery.attempts)
        wait = min(max(wait, 0.0), MAX_BACKOFF)
        delivery.state, delivery.next_attempt_at = (
            WebhookDelivery.State.PENDING,
            now + timedelta(seconds=wait),
        )
        with transaction.atomic():
            dispatch.deliver_webhook(delivery.pk, delay=wait)
            delivery.save(update_fields=["state", "finished_at", "next_attempt_at"])
        return delivery.state
    delivery.save(update_fields=["state", "finished_at", "next_attempt_at"])
    return delivery.state


def chat_refusal(format: str, answer: str) -> str:
    """Why a chat service refused a message it answered with a 200 ("" if it took it): WeCom and DingTalk
    say so in `errcode`, Feishu in `code` (a wrong signature, a keyword missing, a rate limit)."""
    field = {Format.WECOM: "errcode", Format.DINGTALK: "errcode", Format.FEISHU: "code"}.get(format)
    if field is None:
        return ""
    try:
        said = json.loads(answer)
    except ValueError:
        return ""
    code = said.get(field, 0) if isinstance(said, dict) else 0
    if code in (0, None):
        return ""
    message = said.get("errmsg") or said.get("msg") or ""
    return _short(f"{field} {code}: {message}")


def resume_stalled_deliveries(*, now: datetime | None = None) -> int:
    """Queue again the deliveries whose worker died while sending them (their lease ran out): for the
    scheduler. The receiver may have had it already: at least once, the event id tells."""
    now = now or timezone.now()
    stalled = list(
        WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.SENDING, next_attempt_at__lt=now
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        for pk in stalled:
            dispatch.deliver_webhook(pk)
    return len(stalled)


def backoff(attempts: int) -> float:
    """Seconds to wait after `attempts` failed attempts: WEBHOOK_RETRY_BASE, then three times longer each
    time, at most an hour."""
    return min(settings.WEBHOOK_RETRY_BASE * 3 ** (attempts - 1), MAX_BACKOFF)


def _post(url: str, *, headers: dict[str, str], body: bytes) -> tuple[int, str, float | None]:
    """POST `body`; the status, the start of the answer, and its Retry-After in seconds (None: not given).
    Never follows a redirect; a receiver that is slow to connect or to answer gets WEBHOOK_TIMEOUT."""
    timeout = settings.WEBHOOK_TIMEOUT
    with requests.post(
        url, data=body, headers=headers, timeout=(timeout, timeout), allow_redirects=False, stream=True
    ) as response:
        raw = response.raw.read(READ_AT_MOST, decode_content=True) or b""
        return response.status_code, raw.decode("utf-8", "replace"), _retry_after(response)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return (parsedate_to_datetime(value) - timezone.now()).total_seconds()
    except (TypeError, ValueError):
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _without_query(text: str) -> str:
    """An error message with every query left out: a DingTalk or WeCom URL carries its token there."""
    return " ".join(word.split("?", 1)[0] for word in text.split(" "))


@transaction.atomic
def redeliver(delivery_id: int, *, user: AbstractBaseUser) -> WebhookDelivery:
    """Send a delivered or failed delivery again, as it was (same event id), with a fresh set of attempts;
    audited. Raises ValidationError while it is still on its way."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.state not in (WebhookDelivery.State.DELIVERED, WebhookDelivery.State.FAILED):
        raise ValidationError(_("This delivery is still on its way."))
    before = delivery.state
    delivery.state, delivery.attempts = WebhookDelivery.State.PENDING, 0
    delivery.finished_at, delivery.next_attempt_at = None, timezone.now()
    delivery.save(update_fields=["state", "attempts", "finished_at", "next_attempt_at"])
    record_audit(
        action="webhook.redelivered",
        actor=user,
        obj=delivery,
        before={"state": before},
        after={"event_id": str(delivery.event_id), "event": delivery.event_type},
    )
    dispatch.deliver_webhook(delivery.pk)
    return delivery


# Formats


def render(delivery: WebhookDelivery) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers and body that send `delivery` in its subscription's format, signed if it has a
    secret (generic JSON always has one)."""
    subscription = delivery.subscription
    event, secret, url = delivery.event, subscription.secret or "", subscription.url
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "dcportal-webhooks",
        "X-Dcportal-Event": delivery.event_type,
        "X-Dcportal-Delivery": str(delivery.event_id),
    }
    if subscription.format == Format.GENERIC:
        body = _dumps(event)
        headers[SIGNATURE_HEADER] = signature_header(secret, body)
        return url, headers, body
    with translation.override(settings.LANGUAGE_CODE):
        message = _message(event)
        if subscription.format == Format.WECOM:
            payload = {"msgtype": "markdown", "markdown": {"content": _markdown(message)}}
        elif subscription.format == Format.DINGTALK:
            payload = {
                "msgtype": "markdown",
                "markdown": {"title": message["title"], "text": _markdown(message)},
            }
            if secret:
                url = dingtalk_signed_url(url, secret)
        elif subscription.format == Format.FEISHU:
            payload = {"msg_type": "interactive", "card": _feishu_card(message)}
            if secret:
                payload = {**feishu_sign(secret), **payload}
        elif subscription.format == Format.SLACK:
            payload = _slack(message)
        else:
            payload = _teams(message)
    return url, headers, _dumps(payload)


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}" keyed with the secret>`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def dingtalk_signed_url(url: str, secret: str, *, timestamp_ms: int | None = None) -> str:
    """DingTalk's signed robot URL: `timestamp` (ms) and `sign` = base64(HMAC-SHA256 keyed with the secret
    over "{timestamp}\\n{secret}"), URL-encoded, added to the query."""
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    query = urllib.parse.urlencode({"timestamp": timestamp_ms, "sign": base64.b64encode(digest).decode()})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def feishu_sign(secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Feishu's body fields: `timestamp` (seconds) and `sign` = base64(HMAC-SHA256 keyed with
    "{timestamp}\\n{secret}" over nothing)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return {"timestamp": str(timestamp), "sign": base64.b64encode(digest).decode()}


def _message(event: dict[str, Any]) -> dict[str, Any]:
    """What a chat message says, in the site's language: a title naming the change or link, lines of
    facts (its state first), and the link to its page."""
    what = Event(event["type"]).label if event["type"] in Event.values else event["type"]
    lines: list[tuple[str, str]] = []
    if change := event.get("change"):
        title = f"{what}: {change['title']}"
        lines.append((_("State"), _label(ChangeRequest.State, change["state"])))
        if decision := change.get("decision"):
            lines.append((_("By"), decision["by"]))
            if decision.get("comment"):
                lines.append((_("Comment"), decision["comment"]))
        if change.get("error_code"):
            lines.append((_("Error"), change["error_code"]))
        lines.append((_("Gateway"), change["gateway_name"] or change["gateway"]))
        url = change["url"]
    else:
        link = event.get("link", {})
        title = f"{what}: {link.get('name') or link.get('id', '')}"
        if drift := event.get("drift"):
            lines.append((_("Drift"), _label(Drift.Kind, drift["kind"])))
        lines.append((_("State"), _label(PeerLink.Status, link.get("status", ""))))
        if event.get("link", {}).get("from_status"):
            lines.append((_("Was"), _label(PeerLink.Status, link["from_status"])))
        lines.append((_("Gateway"), link.get("gateway_name") or link.get("gateway", "")))
        url = link.get("url", "")
    if event.get("account"):
        lines.append((_("Cloud account"), event["account"]))
    return {"title": title, "lines": lines, "url": url, "open": _("Open in dcportal")}


def _label(choices: Any, value: str) -> str:
    return str(choices(value).label) if value in choices.values else value


def _markdown(message: dict[str, Any]) -> str:
    facts = "\n".join(f"> {name}: {value}" for name, value in message["lines"])
    return f"### {message['title']}\n{facts}\n\n[{message['open']}]({message['url']})"


def _feishu_card(message: dict[str, Any]) -> dict[str, Any]:
    facts = "\n".join(f"**{name}**: {value}" for name, value in message["lines"])
    return {
        "header": {"title": {"tag": "plain_text", "content": message["title"]}},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": facts}},
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": message["open"]},
                        "url": message["url"],
                        "type": "primary",
                    }
                ],
            },
        ],
    }


def _slack(message: dict[str, Any]) -> dict[str, Any]:
    facts = "\n".join(f"*{name}:* {value}" for name, value in message["lines"])
    return {
        "text": f"{message['title']} <{message['url']}|{message['open']}>",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message["title"][:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": message["open"]},
                        "url": message["url"],
                    }
                ],
            },
        ],
    }


def _teams(message: dict[str, Any]) -> dict[str, Any]:
    """An Adaptive Card in the message shape Teams' incoming webhooks (Workflows) take."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": message["title"], "weight": "Bolder", "wrap": True},
                        {
                            "type": "FactSet",
                            "facts": [{"title": name, "value": value} for name, value in message["lines"]],
                        },
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": message["open"], "url": message["url"]}],
                },
            }
        ],
    }
