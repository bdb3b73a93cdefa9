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
from django.db.models import F, Model, Q, QuerySet
from django.db.models import Field as DjangoField
from django.db.models.expressions import OrderBy
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
    """One page of `queryset` in its order (ties broken by a unique field), after `cursor`; `next` is the
    URL of the page after it (None on the last page)."""
    fields = _order_fields(queryset)
    fingerprint = hashlib.sha256(json.dumps([(key.path, key.desc) for key in fields]).encode()).hexdigest()[
        :12
    ]
    annotated = queryset.annotate(**{f"_key{i}": F(key.path) for i, key in enumerate(fields)})
    ordered = annotated.order_by(*(key.ordering(f"_key{i}") for i, key in enumerate(fields)))
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


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order: its path, direction, and whether it can be null."""

    path: str
    desc: bool
    nullable: bool

    def ordering(self, alias: str) -> OrderBy:
        """Nulls count as smallest (first ascending, last descending) on every database; a column that
        cannot be null is ordered plainly, so its index gives the order."""
        if not self.nullable:
            return F(alias).desc() if self.desc else F(alias).asc()
        return F(alias).desc(nulls_last=True) if self.desc else F(alias).asc(nulls_first=True)


def _order_fields(queryset: QuerySet) -> list[SortKey]:
    """The queryset's order as sort keys, ending with a unique one (the primary key unless one is there)."""
    order = list(queryset.query.order_by or queryset.model._meta.ordering)
    keys = []
    for item in order:
        if not isinstance(item, str):
            raise TypeError(f"cursor pagination needs field names in the order, not {item!r}")
        path = item.lstrip("-")
        path = "id" if path == "pk" else path
        keys.append(SortKey(path, item.startswith("-"), _nullable(queryset.model, path)))
    if not any(_unique(queryset.model, key.path) for key in keys):
        keys.append(SortKey("id", keys[-1].desc if keys else False, False))
    return keys


def _field(model: type[Model], path: str) -> DjangoField:
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name)


def _nullable(model: type[Model], path: str) -> bool:
    """Whether the column at `path` can be null: it, or a relation on the way to it."""
    parts = path.split("__")
    return any(_field(model, "__".join(parts[: n + 1])).null for n in range(len(parts)))


def _unique(model: type[Model], path: str) -> bool:
    return "__" not in path and (_field(model, path).unique or _field(model, path).primary_key)


def _after(keys: list[SortKey], values: list[Any]) -> Q:
    """Rows strictly after `values` in this order. The first column's bound is said on its own as well, so
    the database starts its index scan there instead of filtering from the first row."""
    condition = Q(pk__in=[])
    equal = Q()
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        alias = f"_key{i}"
        if value is None:
            beyond = Q(pk__in=[]) if key.desc else Q(**{f"{alias}__isnull": False})
            same = Q(**{f"{alias}__isnull": True})
        else:
            beyond = Q(**{f"{alias}__{'lt' if key.desc else 'gt'}": value})
            if key.desc and key.nullable:
                beyond |= Q(**{f"{alias}__isnull": True})
            same = Q(**{alias: value})
        condition |= equal & beyond
        equal &= same
    first, value = keys[0], values[0]
    if value is not None and not first.nullable:
        condition &= Q(**{f"_key0__{'lte' if first.desc else 'gte'}": value})
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
