"""Keyset (seek) paging on a list's own order: a page is the rows after (or before) a row already seen, read
from the index where one serves the order, so the thousandth page costs what the first does (no OFFSET
through the rows before it), and a page never skips or repeats a row while rows come and go.

Where a page stands is an opaque token: base64 of a fingerprint of the order and that row's sort values.
The API's `cursor` and the link list's page links are both such tokens (peerlinks.api.pagination,
peerlinks.views.links).
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


class InvalidToken(ValueError):
    """A token this list did not give, or one given for another order."""


@dataclass(frozen=True)
class Window:
    """One page of rows, and whether rows come before and after it."""

    rows: list[Any]
    has_before: bool
    has_after: bool
    keyset: "Keyset"

    @property
    def first_token(self) -> str | None:
        """Where the page before this one ends (its rows are those before this page's first row)."""
        return self.keyset.token(self.rows[0]) if self.rows else None

    @property
    def last_token(self) -> str | None:
        """Where the page after this one starts (its rows are those after this page's last row)."""
        return self.keyset.token(self.rows[-1]) if self.rows else None


def window(
    queryset: QuerySet, *, size: int, after: str | None = None, before: str | None = None, last: bool = False
) -> Window:
    """`size` rows of `queryset` in its order: those right after the row `after` names, right before the
    row `before` names, the last ones (`last`), or the first. Raises InvalidToken for a token of another
    list or order."""
    keyset = Keyset.of(queryset)
    backwards = bool(before) or last
    rows_query = keyset.ordered(queryset, backwards=backwards)
    token = before or after
    try:
        if token:
            rows_query = rows_query.filter(keyset.beyond(keyset.decode(token), backwards=backwards))
        rows = _first(rows_query, size + 1, keyset)
    except (ValidationError, ValueError, TypeError, FieldError, OverflowError, DataError):
        raise InvalidToken from None
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        return Window(rows, has_before=more, has_after=not last, keyset=keyset)
    return Window(rows, has_before=bool(after), has_after=more, keyset=keyset)


def _first(rows_query: QuerySet, count: int, keyset: "Keyset") -> list[Any]:
    """The first `count` rows of `rows_query`. In an order on another table's column no index gives the
    order: every row is joined and sorted. Only the ids are sorted then (narrow rows sort in about half the
    time of whole ones), and the page's rows read by id."""
    if not keyset.crosses_tables:
        return list(rows_query[:count])
    ids = list(rows_query.values_list("pk", flat=True)[:count])
    by_pk = {row.pk: row for row in rows_query.filter(pk__in=ids)}
    return [by_pk[pk] for pk in ids if pk in by_pk]


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order: its path, direction, and whether it can be null."""

    path: str
    desc: bool
    nullable: bool

    def ordering(self, alias: str, *, backwards: bool = False) -> OrderBy:
        """Nulls count as smallest (first ascending, last descending) on every database; a column that
        cannot be null is ordered plainly, so its index gives the order."""
        desc = self.desc != backwards
        if not self.nullable:
            return F(alias).desc() if desc else F(alias).asc()
        return F(alias).desc(nulls_last=True) if desc else F(alias).asc(nulls_first=True)


@dataclass(frozen=True)
class Keyset:
    """A queryset's order as sort keys ending with a unique one, and the fingerprint tokens carry."""

    keys: tuple[SortKey, ...]

    @classmethod
    def of(cls, queryset: QuerySet) -> "Keyset":
        model = queryset.model
        keys = []
        for item in queryset.query.order_by or model._meta.ordering:
            if not isinstance(item, str):
                raise TypeError(f"keyset paging needs field names in the order, not {item!r}")
            path = item.lstrip("-")
            path = "id" if path == "pk" else path
            keys.append(SortKey(path, item.startswith("-"), _nullable(model, path)))
        if not any(_unique(model, key.path) for key in keys):
            keys.append(SortKey("id", keys[-1].desc if keys else False, False))
        return cls(tuple(keys))

    @property
    def crosses_tables(self) -> bool:
        """Whether the order is on a column of another table (the link's gateway's name, say)."""
        return any("__" in key.path for key in self.keys)

    @property
    def fingerprint(self) -> str:
        order = json.dumps([(key.path, key.desc) for key in self.keys])
        return hashlib.sha256(order.encode()).hexdigest()[:12]

    def ordered(self, queryset: QuerySet, *, backwards: bool = False) -> QuerySet:
        """`queryset` with each sort value as `_key<i>`, in this order (or its reverse)."""
        annotated = queryset.annotate(**{f"_key{i}": F(key.path) for i, key in enumerate(self.keys)})
        return annotated.order_by(
            *(key.ordering(f"_key{i}", backwards=backwards) for i, key in enumerate(self.keys))
        )

    def beyond(self, values: list[Any], *, backwards: bool = False) -> Q:
        """Rows strictly after `values` in this order (before them, `backwards`). The first column's bound
        is said on its own as well, so the database starts its index scan there instead of filtering from
        the first row."""
        condition = Q(pk__in=[])
        equal = Q()
        for i, (key, value) in enumerate(zip(self.keys, values, strict=True)):
            alias = f"_key{i}"
            desc = key.desc != backwards
            if value is None:
                beyond = Q(pk__in=[]) if desc else Q(**{f"{alias}__isnull": False})
                same = Q(**{f"{alias}__isnull": True})
            else:
                beyond = Q(**{f"{alias}__{'lt' if desc else 'gt'}": value})
                if desc and key.nullable:
                    beyond |= Q(**{f"{alias}__isnull": True})
                same = Q(**{alias: value})
            condition |= equal & beyond
            equal &= same
        first, value = self.keys[0], values[0]
        if value is not None and not first.nullable:
            condition &= Q(**{f"_key0__{'lte' if first.desc != backwards else 'gte'}": value})
        return condition

    def token(self, row: Any) -> str:
        """Where `row` stands in this order (a row of `ordered`)."""
        values = [_jsonable(getattr(row, f"_key{i}")) for i in range(len(self.keys))]
        raw = json.dumps([self.fingerprint, values], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, token: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            found, values = json.loads(raw)
        except (ValueError, TypeError, binascii.Error):
            raise InvalidToken from None
        if found != self.fingerprint or not isinstance(values, list) or len(values) != len(self.keys):
            raise InvalidToken
        if not all(value is None or isinstance(value, str | int | float | bool) for value in values):
            raise InvalidToken
        return values


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


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
