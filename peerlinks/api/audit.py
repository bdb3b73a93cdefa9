"""`/api/v1/audit-events`: the audit log, newest first, with the audit page's filters."""

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from peerlinks.api.access import Input, invalid_filters, require
from peerlinks.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from peerlinks.filters import AuditEventFilter
from peerlinks.models import AuditEvent
from peerlinks.permissions import VIEW

router = Router(tags=["audit"])


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: str = Field(alias="shown_actor")
    action: str
    object_type: str
    object_id: str
    object: str = Field(alias="object_repr")
    before: Any = None
    after: Any = None
    cloud_request_id: str
    change_request: int | None = Field(alias="change_request_id")
    account: str | None = None

    @staticmethod
    def resolve_account(obj: AuditEvent) -> str | None:
        return obj.account.name if obj.account_id else None


class AuditPage(Schema):
    items: list[AuditEventOut]
    next: str | None


class AuditQuery(Input):
    account: str | None = Field(None, max_length=40, description="A cloud account's name")
    action: str | None = Field(None, max_length=64)
    actor: str | None = Field(None, max_length=150)
    object_type: str | None = Field(None, max_length=32)
    object_id: str | None = Field(None, max_length=64)
    request_id: str | None = Field(None, max_length=64)
    at_after: date | None = None
    at_before: date | None = None
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("/audit-events", response=AuditPage, summary="List audit events")
def list_audit_events(request: HttpRequest, filters: Query[AuditQuery]) -> dict:
    """Who did what to which object, newest first, by action, actor, object, cloud request id and date."""
    require(request, VIEW)
    data = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in filters.model_dump(exclude={"cursor", "limit"}).items()
        if value not in (None, "")
    }
    queryset = AuditEvent.objects.visible_to(request.user).select_related("account").order_by("-at", "-id")
    filterset = AuditEventFilter(data, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise invalid_filters(filterset.form.errors)
    page = paginate(request, filterset.qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next": page.next}
