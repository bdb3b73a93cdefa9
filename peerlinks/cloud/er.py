"""Enterprise Router v3: the routers a peer link can target, and their attachments."""

from __future__ import annotations

from collections.abc import Iterator

from peerlinks.cloud import pagination, transport
from peerlinks.cloud.config import CloudConfig, resolve
from peerlinks.cloud.iam import get_project_id
from peerlinks.cloud.models import (
    EnterpriseRouter,
    EnterpriseRouterList,
    EnterpriseRouterResult,
    ErAttachment,
    ErAttachmentList,
    ErAttachmentResult,
)
from peerlinks.cloud.pagination import Page
from peerlinks.cloud.signing import QueryValue
from peerlinks.cloud.validation import check_region, check_uuid

SERVICE = "er"


def _routers_path(project_id: str) -> str:
    return f"/v3/{project_id}/enterprise-router/instances"


def _attachments_path(project_id: str, er_id: str) -> str:
    return f"/v3/{project_id}/enterprise-router/{er_id}/attachments"


def iter_enterprise_router_pages(
    *, region: str, config: CloudConfig | None = None, **filters: QueryValue
) -> Iterator[Page[EnterpriseRouter]]:
    """The region's enterprise routers page by page; filters are ListEnterpriseRouters query parameters."""
    operation = "ListEnterpriseRouters"
    config = resolve(config)
    check_region(operation, "region", region)
    query = pagination.check_filters(operation, filters)
    project_id = get_project_id(region=region, config=config)
    return pagination.list_pages(
        operation,
        config=config,
        service=SERVICE,
        region=region,
        path=_routers_path(project_id),
        project_id=project_id,
        query=query,
        envelope=EnterpriseRouterList,
        items_field="instances",
    )


def list_enterprise_routers(
    *, region: str, config: CloudConfig | None = None, **filters: QueryValue
) -> Iterator[EnterpriseRouter]:
    """Every enterprise router of the account in the region (e.g. `state="available"`), fetched lazily."""
    return pagination.items(iter_enterprise_router_pages(region=region, config=config, **filters))


def show_enterprise_router(*, region: str, er_id: str, config: CloudConfig | None = None) -> EnterpriseRouter:
    """One enterprise router."""
    operation = "ShowEnterpriseRouter"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "er_id", er_id)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "GET",
        config=config,
        service=SERVICE,
        region=region,
        path=f"{_routers_path(project_id)}/{er_id}",
        project_id=project_id,
    )
    return reply.parse(EnterpriseRouterResult, operation).instance


def iter_er_attachment_pages(
    *, region: str, er_id: str, config: CloudConfig | None = None, **filters: QueryValue
) -> Iterator[Page[ErAttachment]]:
    """An enterprise router's attachments page by page; filters are ListAttachments query parameters."""
    operation = "ListAttachments"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "er_id", er_id)
    query = pagination.check_filters(operation, filters)
    project_id = get_project_id(region=region, config=config)
    return pagination.list_pages(
        operation,
        config=config,
        service=SERVICE,
        region=region,
        path=_attachments_path(project_id, er_id),
        project_id=project_id,
        query=query,
        envelope=ErAttachmentList,
        items_field="attachments",
    )


def list_er_attachments(
    *, region: str, er_id: str, config: CloudConfig | None = None, **filters: QueryValue
) -> Iterator[ErAttachment]:
    """Every attachment of an enterprise router (e.g. `resource_type="gdgw"`), fetched lazily."""
    return pagination.items(iter_er_attachment_pages(region=region, er_id=er_id, config=config, **filters))


def show_er_attachment(
    *, region: str, er_id: str, attachment_id: str, config: CloudConfig | None = None
) -> ErAttachment:
    """One attachment of an enterprise router; for an ER peer link, `peer_site.link_id` is its ID."""
    operation = "ShowAttachment"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "er_id", er_id)
    check_uuid(operation, "attachment_id", attachment_id)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "GET",
        config=config,
        service=SERVICE,
        region=region,
        path=f"{_attachments_path(project_id, er_id)}/{attachment_id}",
        project_id=project_id,
    )
    return reply.parse(ErAttachmentResult, operation).attachment
