"""`/api/v1/gateways` and `/api/v1/routers`: global DC gateways and enterprise routers as last synced."""

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from peerlinks.api.access import Input, get_or_404, require
from peerlinks.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from peerlinks.models import EnterpriseRouter, Gateway
from peerlinks.permissions import VIEW

router = Router(tags=["gateways and routers"])


class GatewayOut(Schema):
    id: str = Field(alias="cloud_id")
    name: str
    description: str
    account: str = Field(alias="project.account.name")
    region: str = Field(alias="project.region")
    status: str
    bgp_asn: int | None
    current_peer_link_count: int
    available_peer_link_count: int
    reason: str
    synced_at: datetime | None
    links_synced_at: datetime | None
    gone_at: datetime | None


class RouterOut(Schema):
    id: str = Field(alias="cloud_id")
    name: str
    description: str
    account: str = Field(alias="project.account.name")
    region: str = Field(alias="project.region")
    state: str
    asn: int | None
    synced_at: datetime | None
    gone_at: datetime | None


class GatewayPage(Schema):
    items: list[GatewayOut]
    next: str | None


class RouterPage(Schema):
    items: list[RouterOut]
    next: str | None


class CachedQuery(Input):
    region: str | None = Field(None, max_length=36)
    show_gone: bool = False
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _listed(request: HttpRequest, queryset, filters: CachedQuery) -> dict:
    require(request, VIEW)
    queryset = queryset.select_related("project__account")
    if not filters.show_gone:
        queryset = queryset.present()
    if filters.region:
        queryset = queryset.filter(project__region=filters.region)
    page = paginate(
        request, queryset.order_by("name", "cloud_id"), cursor=filters.cursor, limit=filters.limit
    )
    return {"items": page.items, "next": page.next}


@router.get("/gateways", response=GatewayPage, summary="List global DC gateways")
def list_gateways(request: HttpRequest, filters: Query[CachedQuery]) -> dict:
    return _listed(request, Gateway.objects.visible_to(request.user), filters)


@router.get("/gateways/{gateway_id}", response=GatewayOut, summary="Get a global DC gateway")
def get_gateway(request: HttpRequest, gateway_id: UUID) -> Gateway:
    require(request, VIEW)
    return get_or_404(
        Gateway.objects.visible_to(request.user).select_related("project__account"), cloud_id=str(gateway_id)
    )


@router.get("/routers", response=RouterPage, summary="List enterprise routers")
def list_routers(request: HttpRequest, filters: Query[CachedQuery]) -> dict:
    return _listed(request, EnterpriseRouter.objects.visible_to(request.user), filters)


@router.get("/routers/{router_id}", response=RouterOut, summary="Get an enterprise router")
def get_router(request: HttpRequest, router_id: UUID) -> EnterpriseRouter:
    require(request, VIEW)
    return get_or_404(
        EnterpriseRouter.objects.visible_to(request.user).select_related("project__account"),
        cloud_id=str(router_id),
    )
