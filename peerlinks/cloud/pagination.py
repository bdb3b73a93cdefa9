"""Marker pagination as the DC and ER list APIs do it: limit + marker, until next_marker is empty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from peerlinks.cloud.errors import InvalidResponse

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
