"""Marker pagination as the DC and ER list APIs do it: limit + marker, until next_marker is empty."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from peerlinks.cloud import transport
from peerlinks.cloud.config import CloudConfig
from peerlinks.cloud.errors import InvalidRequest, InvalidResponse
from peerlinks.cloud.signing import QueryValue

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list call: its items, the request id that served it, and the marker for the next."""

    items: list[T]
    request_id: str | None
    next_marker: str | None = None


def paginate(operation: str, fetch: Callable[[str | None], Page[T]]) -> Iterator[Page[T]]:
    """Call `fetch(marker)` page after page, starting with no marker; yield every page, even an empty one."""
    marker: str | None = None
    seen: set[str] = set()
    while True:
        page = fetch(marker)
        yield page
        if not page.items or not page.next_marker:
            return
        if page.next_marker in seen:
            raise InvalidResponse(
                f"pagination marker {page.next_marker!r} came back twice",
                error_code="InvalidResponse",
                request_id=page.request_id,
                operation=operation,
            )
        seen.add(page.next_marker)
        marker = page.next_marker


def items(pages: Iterator[Page[T]]) -> Iterator[T]:
    """Flatten pages into a stream of items."""
    for page in pages:
        yield from page.items


def check_filters(operation: str, filters: Mapping[str, QueryValue]) -> dict[str, QueryValue]:
    """List filters as given, refusing the paging parameters that `list_pages` manages itself."""
    if "limit" in filters or "marker" in filters:
        raise InvalidRequest(
            "limit and marker are managed by pagination (set page_size in the config instead)",
            error_code="InvalidRequest",
            operation=operation,
        )
    return dict(filters)


def list_pages(
    operation: str,
    *,
    config: CloudConfig,
    service: str,
    region: str,
    path: str,
    project_id: str,
    query: Mapping[str, QueryValue],
    envelope: type[BaseModel],
    items_field: str,
) -> Iterator[Page]:
    """Page through a DC or ER list API: GET `path` with `query`, `limit` and `marker` until the last page."""

    def fetch(marker: str | None) -> Page:
        reply = transport.request(
            operation,
            "GET",
            config=config,
            service=service,
            region=region,
            path=path,
            query={**query, "limit": config.page_size, "marker": marker},
            project_id=project_id,
        )
        body = reply.parse(envelope, operation)
        page_info = getattr(body, "page_info", None)
        next_marker = page_info.next_marker if page_info else None
        request_id = getattr(body, "request_id", None) or reply.request_id
        return Page(getattr(body, items_field), request_id, next_marker)

    return paginate(operation, fetch)
