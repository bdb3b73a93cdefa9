"""Cursor pagination on a list's own order (keyset): a page is the rows after the last one seen, read from
the index, as fast on the thousandth page as on the first, and never skipping or repeating a row while
rows come and go. The cursor is opaque to callers (base64 of the order and the last row's values).
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldError, ValidationError
from django.db import DataError
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from peerlinks.api.problems import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class CursorPage:
    items: list[Any]
    next: str | None


def paginate(request: HttpRequest, queryset: QuerySet, *, cursor: str | None, limit: int) -> CursorPage:
    """One page of `queryset` in its order (ties broken by the primary key), after `cursor`; `next` is the
    URL of the page after it (None on the last page)."""
    fields = _order_fields(queryset)
    fingerprint = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:12]
    annotated = queryset.annotate(**{f"_key{i}": F(path) for i, (path, _desc) in enumerate(fields)})
    ordered = annotated.order_by(
        *(
            F(f"_key{i}").desc(nulls_last=True) if desc else F(f"_key{i}").asc(nulls_first=True)
            for i, (_path, desc) in enumerate(fields)
        )
    )
    if cursor:
        values = _decode(cursor, fingerprint, len(fields))
        try:
            ordered = ordered.filter(_after(fields, values))
            rows = list(ordered[: limit + 1])
        except (ValidationError, ValueError, TypeError, FieldError, OverflowError, DataError):
            raise _bad_cursor() from None
    else:
        rows = list(ordered[: limit + 1])
    if len(rows) <= limit:
        return CursorPage(items=rows, next=None)
    rows = rows[:limit]
    last = rows[-1]
    token = _encode(fingerprint, [_jsonable(getattr(last, f"_key{i}")) for i in range(len(fields))])
    query = request.GET.copy()
    query["cursor"] = token
    return CursorPage(items=rows, next=request.build_absolute_uri(f"{request.path}?{query.urlencode()}"))


def _order_fields(queryset: QuerySet) -> list[tuple[str, bool]]:
    """(field path, descending) of the queryset's order, ending with the primary key."""
    order = list(queryset.query.order_by or queryset.model._meta.ordering)
    fields = []
    for item in order:
        if not isinstance(item, str):
            raise TypeError(f"cursor pagination needs field names in the order, not {item!r}")
        fields.append((item.lstrip("-"), item.startswith("-")))
    if not any(path in ("pk", "id") for path, _desc in fields):
        fields.append(("pk", fields[-1][1] if fields else False))
    return [("id" if path == "pk" else path, desc) for path, desc in fields]


def _after(fields: list[tuple[str, bool]], values: list[Any]) -> Q:
    """Rows strictly after `values` in this order: nulls count as smallest (first ascending, last
    descending), as the page's order puts them."""
    condition = Q(pk__in=[])
    equal = Q()
    for i, ((_path, desc), value) in enumerate(zip(fields, values, strict=True)):
        key = f"_key{i}"
        if value is None:
            beyond = Q(pk__in=[]) if desc else Q(**{f"{key}__isnull": False})
            same = Q(**{f"{key}__isnull": True})
        else:
            beyond = (
                Q(**{f"{key}__lt": value}) | Q(**{f"{key}__isnull": True})
                if desc
                else Q(**{f"{key}__gt": value})
            )
            same = Q(**{key: value})
        condition |= equal & beyond
        equal &= same
    return condition


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _encode(fingerprint: str, values: list[Any]) -> str:
    raw = json.dumps([fingerprint, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, fingerprint: str, count: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found, values = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise _bad_cursor() from None
    if found != fingerprint or not isinstance(values, list) or len(values) != count:
        raise _bad_cursor()
    if not all(value is None or isinstance(value, str | int | float | bool) for value in values):
        raise _bad_cursor()
    return values


def _bad_cursor() -> ApiProblem:
    return ApiProblem(
        400,
        _("This cursor is not one this list gave, or belongs to another order: start again without it."),
        kind="invalid-cursor",
    )
