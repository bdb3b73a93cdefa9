"""Cursor pagination on a list's own order (keyset, peerlinks.paging): a page is the rows after the last one
seen, read from the index, as fast on the thousandth page as on the first, and never skipping or repeating
a row while rows come and go. The cursor is opaque to callers (base64 of the order and the last row's values).
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from peerlinks import paging
from peerlinks.api.problems import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class CursorPage:
    items: list[Any]
    next: str | None


def paginate(request: HttpRequest, queryset: QuerySet, *, cursor: str | None, limit: int) -> CursorPage:
    """One page of `queryset` in its order (ties broken by a unique field), after `cursor`; `next` is the
    URL of the page after it (None on the last page)."""
    try:
        page = paging.window(queryset, size=limit, after=cursor)
    except paging.InvalidToken:
        raise _bad_cursor() from None
    if not page.has_after:
        return CursorPage(items=page.rows, next=None)
    query = request.GET.copy()
    query["cursor"] = page.last_token
    return CursorPage(items=page.rows, next=request.build_absolute_uri(f"{request.path}?{query.urlencode()}"))


def _bad_cursor() -> ApiProblem:
    return ApiProblem(
        400,
        _("This cursor is not one this list gave, or belongs to another order: start again without it."),
        kind="invalid-cursor",
    )
