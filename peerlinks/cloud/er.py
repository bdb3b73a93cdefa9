"""Enterprise Router v3: the routers a peer link can target, and their attachments."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from peerlinks.cloud import pagination, sending, transport
from peerlinks.cloud.config import CloudConfig, resolve
from peerlinks.cloud.errors import CloudError, CloudTimeout, CloudUnreachable, ServerError
from peerlinks.cloud.iam import get_project_id
from peerlinks.cloud.models import (
    AttachmentState,
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

logger = logging.getLogger("peerlinks.cloud")

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


def accept_er_attachment(
    *, region: str, er_id: str, attachment_id: str, config: CloudConfig | None = None
) -> ErAttachmentResult:
    """The router's account accepts an attachment another account asked for (`pending_acceptance`); a lost
    reply is resolved by looking at the attachment, not by asking again."""
    return _decide(
        "AcceptAttachment", "accept", region=region, er_id=er_id, attachment_id=attachment_id, config=config
    )


def reject_er_attachment(
    *, region: str, er_id: str, attachment_id: str, config: CloudConfig | None = None
) -> ErAttachmentResult:
    """The router's account rejects an attachment another account asked for (`pending_acceptance`); a lost
    reply is resolved by looking at the attachment, not by asking again."""
    return _decide(
        "RejectAttachment", "reject", region=region, er_id=er_id, attachment_id=attachment_id, config=config
    )


# What an attachment turns into once the decision has been taken (accepting may pass through pending).
_DECIDED = {
    "accept": {AttachmentState.AVAILABLE, AttachmentState.PENDING},
    "reject": {AttachmentState.REJECTED},
}


def _decide(
    operation: str,
    verb: str,
    *,
    region: str,
    er_id: str,
    attachment_id: str,
    config: CloudConfig | None,
) -> ErAttachmentResult:
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "er_id", er_id)
    check_uuid(operation, "attachment_id", attachment_id)
    project_id = get_project_id(region=region, config=config)
    try:
        reply = transport.request(
            operation,
            "POST",
            config=config,
            service=SERVICE,
            region=region,
            path=f"{_attachments_path(project_id, er_id)}/{attachment_id}/{verb}",
            project_id=project_id,
            retry=False,
        )
    except (CloudUnreachable, ServerError) as error:
        recovered = _find_decided(
            operation,
            verb,
            region=region,
            er_id=er_id,
            attachment_id=attachment_id,
            error=error,
            config=config,
        )
        if recovered is None:
            raise
        return recovered
    result = reply.parse(ErAttachmentResult, operation)
    if result.request_id is None and reply.request_id:
        result.request_id = reply.request_id
    return result


def _find_decided(
    operation: str,
    verb: str,
    *,
    region: str,
    er_id: str,
    attachment_id: str,
    error: CloudError,
    config: CloudConfig,
) -> ErAttachmentResult | None:
    """After an accept or reject whose outcome is unknown, look at the attachment: decided as asked, it is
    the answer; still waiting (or anything else), the call did not happen and the error stands."""
    # After a timeout the service may still be working on the call: look for as long as we were prepared
    # to wait for its answer. Other failures are final, so one look is enough.
    deadline = time.monotonic() + (config.read_timeout if isinstance(error, CloudTimeout) else 0)
    lookup = 0
    while True:
        lookup += 1
        try:
            attachment = show_er_attachment(
                region=region, er_id=er_id, attachment_id=attachment_id, config=config
            )
        except CloudError as lookup_error:
            error.add_note(f"looking at the attachment afterwards failed too: {lookup_error}")
            return None
        if attachment.state in _DECIDED[verb]:
            logger.warning(
                "%s outcome was unknown (%s); attachment %s is %s, not asking again",
                operation,
                type(error).__name__,
                attachment_id,
                attachment.state,
            )
            return ErAttachmentResult(attachment=attachment, recovered=True)
        remaining = deadline - time.monotonic()
        if attachment.state != AttachmentState.PENDING_ACCEPTANCE or remaining <= 0:
            break
        sending.sleep(min(remaining, config.backoff_cap, max(config.backoff_base, 0.05) * 2 ** (lookup - 1)))
    logger.warning(
        "%s failed (%s) and attachment %s is %s; not retrying",
        operation,
        type(error).__name__,
        attachment_id,
        attachment.state,
    )
    return None
