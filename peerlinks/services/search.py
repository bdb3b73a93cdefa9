"""Search across everything dcportal knows: cloud accounts, links, gateways, enterprise routers, change
requests, and the owners, tickets and labels people gave links; only in the accounts the searcher may read.

Each kind answers with at most `LIMIT` rows in one query, so a search costs the same few queries however
many links there are; a kind with more says so, and its list page (where there is one) has the rest. A
whole cloud ID is looked up by the unique and indexed ID columns instead of searched for in every column.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from peerlinks.models import (
    ChangeRequest,
    CloudAccount,
    EnterpriseRouter,
    Gateway,
    PeerLink,
    accounts_in_order,
    is_cloud_id,
)
from peerlinks.permissions import readable_accounts

LIMIT = 10
# Rows read to gather the labels that match: labels live in each link's JSON list, not a table of their own.
LABEL_ROWS = 500
MAX_QUERY = 100
CHANGE_NUMBER = re.compile(r"#?(\d{1,9})")


@dataclass
class Group:
    """The matches of one kind: up to LIMIT rows, and whether more exist."""

    kind: str
    title: str
    rows: list = field(default_factory=list)
    more: bool = False
    # The per-row counts are lower bounds: only part of what matches was read (labels).
    counts_partial: bool = False

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass
class Results:
    query: str
    groups: list[Group]

    @property
    def found(self) -> bool:
        return any(group.rows for group in self.groups)


def search_everything(*, query: str, user: AbstractBaseUser) -> Results:
    """Everything matching `query` (case-insensitive, whole or part) in the accounts `user` may read,
    grouped by kind."""
    query = query.strip()[:MAX_QUERY]
    if not query:
        return Results(query="", groups=[])
    links = PeerLink.objects.visible_to(user).present()
    groups = [
        _bounded("accounts", _("Cloud accounts"), _accounts(query, user)),
        _bounded("links", _("Peer links"), links.for_list().matching(query)),
        _bounded("gateways", _("Global DC gateways"), _by_name_or_id(Gateway, query, user)),
        _bounded("routers", _("Enterprise routers"), _by_name_or_id(EnterpriseRouter, query, user)),
        _bounded("changes", _("Change requests"), _changes(query, user)),
        *_local_fields(links, query),
    ]
    return Results(query=query, groups=[group for group in groups if group.rows])


def _bounded(kind: str, title: str, queryset: object) -> Group:
    rows = list(queryset[: LIMIT + 1])
    return Group(kind=kind, title=title, rows=rows[:LIMIT], more=len(rows) > LIMIT)


def _accounts(query: str, user: AbstractBaseUser) -> list[CloudAccount]:
    """Cloud accounts by name or description, among those the page read for its banner (a handful)."""
    needle = query.casefold()
    readable = readable_accounts(user)
    return [
        account
        for account in accounts_in_order()
        if (readable is None or account.pk in readable)
        and (needle in account.name.casefold() or needle in account.description.casefold())
    ]


def _by_name_or_id(
    model: type[Gateway] | type[EnterpriseRouter], query: str, user: AbstractBaseUser
) -> object:
    found = model.objects.visible_to(user).present().select_related("project__account")
    if is_cloud_id(query):
        return found.filter(cloud_id=query.lower())
    return found.filter(Q(name__icontains=query) | Q(cloud_id__icontains=query))


def _changes(query: str, user: AbstractBaseUser) -> object:
    """Change requests by number (#12 or 12), or by the name or ID of the link they create or change."""
    if is_cloud_id(query):
        matches = Q(peer_link__cloud_id=query.lower())
    else:
        matches = (
            Q(payload__name__icontains=query)
            | Q(payload__link_name__icontains=query)
            | Q(peer_link__cloud_id__icontains=query)
        )
    number = CHANGE_NUMBER.fullmatch(query)
    if number:
        matches |= Q(pk=int(number.group(1)))
    changes = ChangeRequest.objects.visible_to(user).select_related(
        "requested_by", "gateway__project__account"
    )
    return changes.filter(matches)


def _local_fields(links: QuerySet[PeerLink], query: str) -> list[Group]:
    """The owner teams, tickets and labels people gave links that contain `query`, in one query (each of
    the three reads its own rows, in its own order, as part of a UNION ALL)."""
    owners, tickets, labels = _read_together(
        _values(links, "owner_team", query)[: LIMIT + 1],
        _values(links, "ticket_ref", query)[: LIMIT + 1],
        links.matching_labels(query)
        .annotate(text=Cast("labels", TextField()), links=Value(0), key=F("name"), tie=F("cloud_id"))
        .values_list("text", "links", "key", "tie")[: LABEL_ROWS + 1],
    )
    return [
        _grouped("owners", _("Owner teams"), owners),
        _grouped("tickets", _("Tickets"), tickets),
        _labels([json.loads(text) if text else [] for text, *_rest in labels], query),
    ]


def _values(links: QuerySet[PeerLink], field_name: str, query: str) -> QuerySet:
    """Distinct values of a link's local field containing `query`, with how many of `links` carry each
    (then the value again and "", the order's columns of _read_together)."""
    return (
        links.filter(**{f"{field_name}__icontains": query})
        .values_list(field_name)
        .annotate(links=Count("id"), key=F(field_name), tie=Value(""))
        .order_by(field_name)
    )


def _grouped(kind: str, title: str, rows: list[tuple]) -> Group:
    rows = [(value, links) for value, links, *_order in rows]
    return Group(kind=kind, title=title, rows=rows[:LIMIT], more=len(rows) > LIMIT)


def _read_together(*parts: QuerySet) -> list[list[tuple]]:
    """The rows of several sliced `values_list` querysets in one query: each a subquery of a UNION ALL
    (which Django's union() does not allow on SQLite once sliced), told apart by its place, and kept in
    its own order by its last two columns (the same number and kinds of columns in each)."""
    selects, params = [], []
    for place, part in enumerate(parts):
        sql, values = part.query.sql_with_params()
        selects.append(f"SELECT {place} AS part, p{place}.* FROM ({sql}) p{place}")
        params.extend(values)
    found: list[list[tuple]] = [[] for _part in parts]
    with connection.cursor() as cursor:
        width = len(parts[0].query.values_select) + len(parts[0].query.annotation_select)
        cursor.execute(f"{' UNION ALL '.join(selects)} ORDER BY 1, {width}, {width + 1}", params)
        for place, *row in cursor.fetchall():
            found[place].append(tuple(row))
    return found


def _labels(labels_of_links: list[list[str]], query: str) -> Group:
    """Labels containing `query`, most used first, with how many links carry each, gathered from the first
    LABEL_ROWS links carrying one (the counts are then lower bounds)."""
    needle = query.casefold()
    counts: Counter[str] = Counter()
    for labels in labels_of_links[:LABEL_ROWS]:
        counts.update(label for label in labels or [] if needle in label.casefold())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Group(
        kind="labels",
        title=_("Labels"),
        rows=ranked[:LIMIT],
        more=len(ranked) > LIMIT,
        counts_partial=len(labels_of_links) > LABEL_ROWS,
    )
