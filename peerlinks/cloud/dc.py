"""Direct Connect v3: global DC gateways and their peer links."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from peerlinks.cloud import pagination, sending, transport
from peerlinks.cloud.config import CloudConfig, resolve
from peerlinks.cloud.errors import CloudError, CloudTimeout, CloudUnreachable, InvalidRequest, ServerError
from peerlinks.cloud.iam import get_project_id
from peerlinks.cloud.models import (
    CreatePeerLinkBody,
    GlobalDcGateway,
    GlobalDcGatewayList,
    GlobalDcGatewayResult,
    PeerLink,
    PeerLinkList,
    PeerLinkResult,
    PeerSiteRequest,
    QuotasResult,
    UpdatePeerLinkBody,
)
from peerlinks.cloud.pagination import Page
from peerlinks.cloud.signing import QueryValue
from peerlinks.cloud.validation import (
    check_description,
    check_filter_values,
    check_name,
    check_project_id,
    check_region,
    check_uuid,
)

logger = logging.getLogger("peerlinks.cloud")

SERVICE = "dcaas"


def _gateways_path(project_id: str) -> str:
    return f"/v3/{project_id}/dcaas/global-dc-gateways"


def _peer_links_path(project_id: str, gateway_id: str) -> str:
    return f"{_gateways_path(project_id)}/{gateway_id}/peer-links"


def iter_global_dc_gateway_pages(
    *, region: str, config: CloudConfig | None = None, **filters: QueryValue
) -> Iterator[Page[GlobalDcGateway]]:
    """The region's global DC gateways, page by page; filters are ListGlobalDcGateways query parameters."""
    operation = "ListGlobalDcGateways"
    config = resolve(config)
    check_region(operation, "region", region)
    query = pagination.check_filters(operation, filters)
    project_id = get_project_id(region=region, config=config)
    return pagination.list_pages(
        operation,
        config=config,
        service=SERVICE,
        region=region,
        path=_gateways_path(project_id),
        project_id=project_id,
        query=query,
        envelope=GlobalDcGatewayList,
        items_field="global_dc_gateways",
    )


def list_global_dc_gateways(
    *, region: str, config: CloudConfig | None = None, **filters: QueryValue
) -> Iterator[GlobalDcGateway]:
    """Every global DC gateway in the region, fetched page by page as the iterator is consumed."""
    return pagination.items(iter_global_dc_gateway_pages(region=region, config=config, **filters))


def show_global_dc_gateway(
    *, region: str, gateway_id: str, config: CloudConfig | None = None
) -> GlobalDcGateway:
    """One global DC gateway, with its peer-link counters."""
    operation = "ShowGlobalDcGateway"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "gateway_id", gateway_id)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "GET",
        config=config,
        service=SERVICE,
        region=region,
        path=f"{_gateways_path(project_id)}/{gateway_id}",
        project_id=project_id,
    )
    return reply.parse(GlobalDcGatewayResult, operation).global_dc_gateway


def iter_peer_link_pages(
    *,
    region: str,
    gateway_id: str,
    names: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    config: CloudConfig | None = None,
) -> Iterator[Page[PeerLink]]:
    """The gateway's peer links page by page (each page keeps its request id), optionally by name or ID."""
    operation = "ListPeerLinks"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "gateway_id", gateway_id)
    name_values = check_filter_values(operation, "name", names)
    id_values = check_filter_values(operation, "id", ids)
    for name in name_values or []:
        check_name(operation, "name", name)
    for link_id in id_values or []:
        check_uuid(operation, "id", link_id)
    if name_values == [] or id_values == []:
        return iter(())
    project_id = get_project_id(region=region, config=config)
    return pagination.list_pages(
        operation,
        config=config,
        service=SERVICE,
        region=region,
        path=_peer_links_path(project_id, gateway_id),
        project_id=project_id,
        query={"name": name_values, "id": id_values},
        envelope=PeerLinkList,
        items_field="peer_links",
    )


def list_peer_links(
    *,
    region: str,
    gateway_id: str,
    names: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    config: CloudConfig | None = None,
) -> Iterator[PeerLink]:
    """Every peer link of the gateway (at most five names or IDs as filters), fetched lazily page by page."""
    pages = iter_peer_link_pages(region=region, gateway_id=gateway_id, names=names, ids=ids, config=config)
    return pagination.items(pages)


def _result(reply: transport.Reply, operation: str) -> PeerLinkResult:
    result = reply.parse(PeerLinkResult, operation)
    if result.request_id is None and reply.request_id:
        result.request_id = reply.request_id
    return result


def show_peer_link(
    *, region: str, gateway_id: str, peer_link_id: str, config: CloudConfig | None = None
) -> PeerLinkResult:
    """One peer link; raises NotFound once a deletion has completed."""
    operation = "ShowPeerLink"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "gateway_id", gateway_id)
    check_uuid(operation, "peer_link_id", peer_link_id)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "GET",
        config=config,
        service=SERVICE,
        region=region,
        path=f"{_peer_links_path(project_id, gateway_id)}/{peer_link_id}",
        project_id=project_id,
    )
    return _result(reply, operation)


def create_peer_link(
    *,
    region: str,
    gateway_id: str,
    name: str,
    peer_gateway_id: str,
    peer_region: str,
    peer_project_id: str,
    description: str | None = None,
    config: CloudConfig | None = None,
) -> PeerLinkResult:
    """Ask for a new peer link (starts PENDING_CREATE); a lost reply is resolved by lookup, not a resend."""
    operation = "CreatePeerLink"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "gateway_id", gateway_id)
    check_name(operation, "name", name)
    check_uuid(operation, "peer_gateway_id", peer_gateway_id)
    check_region(operation, "peer_region", peer_region)
    check_project_id(operation, "peer_project_id", peer_project_id, lower_only=True)
    if description is not None:
        check_description(operation, description)
    body = CreatePeerLinkBody(
        name=name,
        description=description,
        peer_site=PeerSiteRequest(
            gateway_id=peer_gateway_id, project_id=peer_project_id, region_id=peer_region
        ),
    )
    project_id = get_project_id(region=region, config=config)
    try:
        reply = transport.request(
            operation,
            "POST",
            config=config,
            service=SERVICE,
            region=region,
            path=_peer_links_path(project_id, gateway_id),
            body={"peer_link": body.model_dump(mode="json", exclude_none=True)},
            project_id=project_id,
            retry=False,
        )
    except (CloudUnreachable, ServerError) as error:
        recovered = _find_created(
            region=region,
            gateway_id=gateway_id,
            name=name,
            peer_gateway_id=peer_gateway_id,
            error=error,
            config=config,
        )
        if recovered is None:
            raise
        return recovered
    return _result(reply, operation)


def _find_created(
    *,
    region: str,
    gateway_id: str,
    name: str,
    peer_gateway_id: str,
    error: CloudError,
    config: CloudConfig,
) -> PeerLinkResult | None:
    """After a create whose outcome is unknown, find the link it made by name and peer gateway."""
    # After a timeout the service may still be working on the request: keep looking for as long as
    # we were prepared to wait for its answer. Other failures are final, so one look is enough.
    deadline = time.monotonic() + (config.read_timeout if isinstance(error, CloudTimeout) else 0)
    lookup = 0
    while True:
        lookup += 1
        try:
            pages = list(
                iter_peer_link_pages(region=region, gateway_id=gateway_id, names=[name], config=config)
            )
        except CloudError as lookup_error:
            error.add_note(f"looking for the link afterwards failed too: {lookup_error}")
            return None
        matches = [
            link for page in pages for link in page.items if link.peer_site.gateway_id == peer_gateway_id
        ]
        if matches:
            # Names need not be unique; the newest match is the one this call made.
            link = max(matches, key=lambda item: (item.created_time is not None, item.created_time or 0))
            logger.warning(
                "CreatePeerLink outcome was unknown (%s); found peer link %s by name, not creating it again",
                type(error).__name__,
                link.id,
            )
            request_id = pages[-1].request_id if pages else None
            return PeerLinkResult(peer_link=link, request_id=request_id, recovered=True)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sending.sleep(min(remaining, config.backoff_cap, max(config.backoff_base, 0.05) * 2 ** (lookup - 1)))
    logger.warning(
        "CreatePeerLink failed (%s) and no link named %r exists; not retrying", type(error).__name__, name
    )
    return None


def update_peer_link(
    *,
    region: str,
    gateway_id: str,
    peer_link_id: str,
    name: str | None = None,
    description: str | None = None,
    config: CloudConfig | None = None,
) -> PeerLinkResult:
    """Rename a peer link or change its description (an empty description clears it)."""
    operation = "UpdatePeerLink"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "gateway_id", gateway_id)
    check_uuid(operation, "peer_link_id", peer_link_id)
    if name is None and description is None:
        raise InvalidRequest(
            "nothing to update: give a name or a description",
            error_code="InvalidRequest",
            operation=operation,
        )
    if name is not None:
        check_name(operation, "name", name)
    if description is not None:
        check_description(operation, description)
    body = UpdatePeerLinkBody(name=name, description=description)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "PUT",
        config=config,
        service=SERVICE,
        region=region,
        path=f"{_peer_links_path(project_id, gateway_id)}/{peer_link_id}",
        body={"peer_link": body.model_dump(mode="json", exclude_none=True)},
        project_id=project_id,
    )
    return _result(reply, operation)


def delete_peer_link(
    *, region: str, gateway_id: str, peer_link_id: str, config: CloudConfig | None = None
) -> str:
    """Ask for a peer link's deletion (asynchronous: Show answers 404 once done); returns the request id."""
    operation = "DeletePeerLink"
    config = resolve(config)
    check_region(operation, "region", region)
    check_uuid(operation, "gateway_id", gateway_id)
    check_uuid(operation, "peer_link_id", peer_link_id)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "DELETE",
        config=config,
        service=SERVICE,
        region=region,
        path=f"{_peer_links_path(project_id, gateway_id)}/{peer_link_id}",
        project_id=project_id,
    )
    return reply.request_id or ""


def show_quotas(
    *, region: str, types: Sequence[str] | None = None, config: CloudConfig | None = None
) -> QuotasResult:
    """DC quotas of the account in the region (for example `peerLinkPerGdgw`)."""
    operation = "ShowQuotas"
    config = resolve(config)
    check_region(operation, "region", region)
    project_id = get_project_id(region=region, config=config)
    reply = transport.request(
        operation,
        "GET",
        config=config,
        service=SERVICE,
        region=region,
        path=f"/v3/{project_id}/dcaas/quotas",
        query={"type": list(types) if types else None},
        project_id=project_id,
    )
    return reply.parse(QuotasResult, operation)
