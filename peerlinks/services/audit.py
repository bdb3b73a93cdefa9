"""The audit log's one writer: who did what to which object, before and after.

`record_audit` appends one event now; `record_audits` appends many at once (a sync's, built with
`audit_event`). Objects are named the same way everywhere, so the log reads the same whoever wrote it.
"""

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.duration import duration_iso_string

from peerlinks.models import (
    ApiToken,
    AuditEvent,
    ChangeRequest,
    CloudAccount,
    Drift,
    Gateway,
    PeerLink,
    SharedAttachment,
)

SYSTEM = AuditEvent.SYSTEM
LOOK_UP: Any = object()  # audit_event's account_id when the caller leaves it to be looked up


def audit_event(
    *,
    action: str,
    obj: object,
    actor: AbstractBaseUser | None = None,
    actor_name: str = "",
    before: dict | None = None,
    after: dict | None = None,
    cloud_request_id: str | None = "",
    change: ChangeRequest | None = None,
    at: datetime | None = None,
    account_id: int | None = LOOK_UP,
) -> AuditEvent:
    """One audit event, not yet saved. Without an actor, `actor_name` (default "system") says who acted.
    The event carries the account of its object (or change), looked up unless `account_id` is given."""
    object_type, object_id = _identify(obj)
    return AuditEvent(
        at=at or timezone.now(),
        actor=actor,
        actor_name=actor.get_username() if actor else (actor_name or SYSTEM),
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=str(obj)[:200],
        before=jsonable(before),
        after=jsonable(after),
        cloud_request_id=cloud_request_id or "",
        change_request=change,
        account_id=_account_id(obj, change) if account_id is LOOK_UP else account_id,
    )


def record_audit(**fields: Any) -> AuditEvent:
    """Append one event to the audit log (the arguments of `audit_event`)."""
    event = audit_event(**fields)
    event.save(force_insert=True)
    return event


def record_audits(events: list[AuditEvent]) -> None:
    """Append events built with `audit_event`, in one statement."""
    AuditEvent.objects.bulk_create(events)


def _account_id(obj: object, change: ChangeRequest | None) -> int | None:
    """The account `obj` (or else `change`) is in, by one small query (None: no account)."""
    if isinstance(obj, CloudAccount):
        return obj.pk
    if isinstance(obj, SharedAttachment):
        return obj.router.project.account_id  # the router's account decides it
    gateway_id = None
    if isinstance(obj, ChangeRequest | PeerLink):
        gateway_id = obj.gateway_id
    elif isinstance(obj, Gateway):
        gateway_id = obj.pk
    elif isinstance(obj, Drift):
        gateway_id = PeerLink.objects.filter(pk=obj.peer_link_id).values("gateway_id")[:1]
    elif change is not None:
        gateway_id = change.gateway_id
    if gateway_id is None:
        return None
    return Gateway.objects.filter(pk=gateway_id).values_list("project__account_id", flat=True).first()


def _identify(obj: object) -> tuple[str, str]:
    if isinstance(obj, PeerLink):
        return "peer_link", obj.cloud_id
    if isinstance(obj, ChangeRequest):
        return "change_request", str(obj.pk)
    if isinstance(obj, SharedAttachment):
        return "shared_attachment", obj.cloud_id
    if isinstance(obj, ApiToken):
        return "api_token", str(obj.pk)
    return type(obj).__name__.lower(), str(getattr(obj, "pk", ""))


def jsonable(values: dict | None) -> dict | None:
    """`values` with dates, times and durations as ISO 8601 text, as the JSON columns store them."""
    if values is None:
        return None
    return {key: _jsonable_value(value) for key, value in values.items()}


def _jsonable_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return duration_iso_string(value)
    return value
