"""`/api/v1/drift`: changes made outside dcportal that a sync noticed, and acknowledging one."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from peerlinks.api.access import Input, drawn, get_or_404, require
from peerlinks.api.idempotency import once
from peerlinks.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from peerlinks.models import Drift
from peerlinks.permissions import SUBMIT, VIEW
from peerlinks.services import dashboard

router = Router(tags=["drift"])


class DriftOut(Schema):
    id: int
    kind: str
    link_id: str = Field(alias="peer_link.cloud_id")
    link_name: str = Field(alias="peer_link.name")
    account: str = Field(alias="peer_link.gateway.project.account.name")
    detail: dict[str, Any]
    detected_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = None

    @staticmethod
    def resolve_acknowledged_by(obj: Drift) -> str | None:
        return obj.acknowledged_by.username if obj.acknowledged_by_id else None


class DriftPage(Schema):
    items: list[DriftOut]
    next: str | None


class DriftQuery(Input):
    acknowledged: bool = Field(False, description="Also list drift already acknowledged")
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _drift(request: HttpRequest):
    """The drift the caller may read (peerlinks.permissions.readable_accounts)."""
    return Drift.objects.visible_to(request.user).select_related(
        "peer_link__gateway__project__account", "acknowledged_by"
    )


@router.get("/drift", response=DriftPage, summary="List drift")
def list_drift(request: HttpRequest, filters: Query[DriftQuery]) -> dict:
    """Drift newest first: open drift only, unless `acknowledged` asks for all of it."""
    require(request, VIEW)
    queryset = (
        _drift(request) if filters.acknowledged else _drift(request).filter(acknowledged_at__isnull=True)
    )
    page = paginate(request, queryset, cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next": page.next}


@router.get("/drift/{drift_id}", response=DriftOut, summary="Get a drift")
def get_drift(request: HttpRequest, drift_id: int) -> Drift:
    require(request, VIEW)
    return get_or_404(_drift(request), pk=drift_id)


@router.post("/drift/{drift_id}/acknowledge", response=DriftOut, summary="Acknowledge a drift")
def acknowledge_drift(request: HttpRequest, drift_id: int) -> HttpResponse:
    """Mark a drift as seen (acknowledging twice keeps the first acknowledgement)."""
    require(request, SUBMIT)
    drift = get_or_404(_drift(request), pk=drift_id)
    require(request, SUBMIT, drift.peer_link.gateway)

    def act() -> HttpResponse:
        dashboard.acknowledge_drift(drift_id=drift.pk, user=request.user)
        return drawn(request, DriftOut, _drift(request).get(pk=drift.pk))

    return once(request, act)
