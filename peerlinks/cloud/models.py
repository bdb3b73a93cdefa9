"""Pydantic models of the DC, ER and IAM wire bodies; field names exactly as on the wire."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

logger = logging.getLogger("peerlinks.cloud")


def parse_wire_datetime(value: Any) -> Any:
    """Accept the cloud's timestamps with or without millis and `Z`; a naive one is UTC."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def format_wire_datetime(value: datetime) -> str:
    """The wire form: UTC, millisecond precision, literal Z (2025-01-01T00:00:05.000Z)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


WireDatetime = Annotated[
    datetime,
    BeforeValidator(parse_wire_datetime),
    PlainSerializer(format_wire_datetime, return_type=str, when_used="json"),
]


def _lenient(enum: type[StrEnum]) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            return enum(value)
        except ValueError:
            # The SDK silently turns an unknown value into {}; keep it and say so instead.
            logger.warning("unknown %s value %r from the cloud; kept as a plain string", enum.__name__, value)
            return value

    return check


class PeerLinkStatus(StrEnum):
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


class PeerSiteType(StrEnum):
    ER = "ER"
    GDGW = "GDGW"


class CreateOwner(StrEnum):
    DC = "dc"
    CC = "cc"


class GlobalDcGatewayStatus(StrEnum):
    DOWN = "DOWN"
    PENDING_UPDATE = "PENDING_UPDATE"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


class AddressFamily(StrEnum):
    IPV4 = "ipv4"
    DUAL = "dual"


class EnterpriseRouterState(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    MODIFYING = "modifying"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"
    FREEZED = "freezed"


class AttachmentState(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    MODIFYING = "modifying"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"
    PENDING_ACCEPTANCE = "pending_acceptance"
    REJECTED = "rejected"
    INITIATING_REQUEST = "initiating_request"
    FREEZED = "freezed"


PeerLinkStatusValue = Annotated[str, AfterValidator(_lenient(PeerLinkStatus))]
PeerSiteTypeValue = Annotated[str, AfterValidator(_lenient(PeerSiteType))]
CreateOwnerValue = Annotated[str, AfterValidator(_lenient(CreateOwner))]
GlobalDcGatewayStatusValue = Annotated[str, AfterValidator(_lenient(GlobalDcGatewayStatus))]
AddressFamilyValue = Annotated[str, AfterValidator(_lenient(AddressFamily))]
EnterpriseRouterStateValue = Annotated[str, AfterValidator(_lenient(EnterpriseRouterState))]
AttachmentStateValue = Annotated[str, AfterValidator(_lenient(AttachmentState))]


class WireModel(BaseModel):
    """Keeps unknown keys, so a body survives a parse and dump round trip unchanged."""

    model_config = ConfigDict(extra="allow")


class BandwidthInfo(WireModel):
    bandwidth_size: int | None = None
    gcb_id: str | None = None


class PeerSite(WireModel):
    """The target of a peer link: an enterprise router or another global DC gateway."""

    gateway_id: str
    link_id: str | None = None
    region_id: str | None = None
    site_code: str | None = None
    project_id: str | None = None
    type: PeerSiteTypeValue | None = None


class PeerLink(WireModel):
    """A peer link between a global DC gateway and an ER or another gateway, as the DC API returns it."""

    # Declared in the order of the API's own example, so a dump keeps the wire's key order too.
    name: str
    id: str
    tenant_id: str | None = None
    description: str | None = None
    status: PeerLinkStatusValue
    reason: str | None = None
    created_time: WireDatetime | None = None
    updated_time: WireDatetime | None = None
    global_dc_gateway_id: str | None = None
    bandwidth_info: BandwidthInfo | None = None
    peer_site: PeerSite
    create_owner: CreateOwnerValue | None = None
    instance_id: str | None = None


class PeerLinkResult(WireModel):
    """The create, show and update envelope; `recovered` marks a link found by lookup after a lost reply."""

    peer_link: PeerLink
    request_id: str | None = None
    recovered: bool = Field(default=False, exclude=True)


class PageInfo(WireModel):
    next_marker: str | None = None
    previous_marker: str | None = None
    current_count: int | None = None


class PeerLinkList(WireModel):
    peer_links: list[PeerLink] = []
    page_info: PageInfo | None = None
    request_id: str | None = None


class Locales(WireModel):
    en_us: str | None = None
    zh_cn: str | None = None


class Tag(WireModel):
    key: str
    value: str | None = None


class GlobalDcGateway(WireModel):
    """A global DC gateway, the DC side of every peer link."""

    id: str
    name: str
    tenant_id: str | None = None
    description: str | None = None
    reason: str | None = None
    enterprise_project_id: str | None = None
    global_center_network_id: str | None = None
    bgp_asn: int | None = None
    region_id: str | None = None
    location_name: str | None = None
    locales: Locales | None = None
    current_peer_link_count: int | None = None
    available_peer_link_count: int | None = None
    tags: list[Tag] | None = None
    admin_state_up: bool | None = None
    status: GlobalDcGatewayStatusValue | None = None
    created_time: WireDatetime | None = None
    updated_time: WireDatetime | None = None
    address_family: AddressFamilyValue | None = None


class GlobalDcGatewayList(WireModel):
    global_dc_gateways: list[GlobalDcGateway] = []
    page_info: PageInfo | None = None
    request_id: str | None = None


class GlobalDcGatewayResult(WireModel):
    global_dc_gateway: GlobalDcGateway
    request_id: str | None = None


class QuotaResource(WireModel):
    type: str
    quota: int | None = None
    used: int | None = None
    unit: str | None = None


class Quotas(WireModel):
    resources: list[QuotaResource] = []


class QuotasResult(WireModel):
    quotas: Quotas


class EnterpriseRouter(WireModel):
    """An enterprise router, a possible peer-link target; it has no region field (the endpoint implies it)."""

    id: str
    name: str
    description: str | None = None
    state: EnterpriseRouterStateValue | None = None
    tags: list[Tag] | None = None
    charge_mode: str | None = None
    created_at: WireDatetime | None = None
    updated_at: WireDatetime | None = None
    enterprise_project_id: str | None = None
    project_id: str | None = None
    asn: int | None = None
    enable_default_propagation: bool | None = None
    enable_default_association: bool | None = None
    default_propagation_route_table_id: str | None = None
    default_association_route_table_id: str | None = None
    availability_zone_ids: list[str] | None = None
    auto_accept_shared_attachments: bool | None = None


class ErPageInfo(WireModel):
    next_marker: str | None = None
    current_count: int | None = None


class EnterpriseRouterList(WireModel):
    instances: list[EnterpriseRouter] = []
    page_info: ErPageInfo | None = None
    request_id: str | None = None


class EnterpriseRouterResult(WireModel):
    instance: EnterpriseRouter
    request_id: str | None = None


class ErAttachment(WireModel):
    """An ER attachment; a `gdgw` one is the ER side of an active ER-type peer link."""

    id: str
    name: str | None = None
    description: str | None = None
    state: AttachmentStateValue | None = None
    created_at: WireDatetime | None = None
    updated_at: WireDatetime | None = None
    tags: list[Tag] | None = None
    project_id: str | None = None
    er_id: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    resource_project_id: str | None = None
    associated: bool | None = None
    route_table_id: str | None = None


class ErAttachmentList(WireModel):
    attachments: list[ErAttachment] = []
    page_info: ErPageInfo | None = None
    request_id: str | None = None


class ErAttachmentResult(WireModel):
    """The show, accept and reject envelope; `recovered`: a decision found by looking after a lost reply."""

    attachment: ErAttachment
    request_id: str | None = None
    recovered: bool = Field(default=False, exclude=True)


class Project(WireModel):
    """An IAM project: one per account per region, named after the region."""

    id: str
    name: str
    domain_id: str | None = None
    enabled: bool | None = None
    description: str | None = None
    parent_id: str | None = None
    is_domain: bool | None = None


class ProjectList(WireModel):
    projects: list[Project] = []


class TokenProject(WireModel):
    id: str | None = None
    name: str | None = None


class Token(WireModel):
    """A project-scoped IAM token; `value` comes from the X-Subject-Token header and is never shown."""

    value: str = Field(default="", repr=False, exclude=True)
    expires_at: WireDatetime
    issued_at: WireDatetime | None = None
    methods: list[str] | None = None
    project: TokenProject | None = None

    def __repr__(self) -> str:
        project = self.project.name if self.project else None
        return f"Token(project={project!r}, expires_at={self.expires_at.isoformat()})"

    __str__ = __repr__


class TokenResult(WireModel):
    token: Token


class ErrorBody(WireModel):
    """The standard Huawei error body."""

    error_code: str | None = None
    error_msg: str | None = None
    request_id: str | None = None


class PeerSiteRequest(WireModel):
    gateway_id: str
    project_id: str
    region_id: str


class CreatePeerLinkBody(WireModel):
    name: str
    description: str | None = None
    peer_site: PeerSiteRequest


class UpdatePeerLinkBody(WireModel):
    name: str | None = None
    description: str | None = None
