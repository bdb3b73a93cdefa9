"""The topology map's reads: the peer links the filters pick, grouped per gateway and peer in SQL (a fixed
number of queries, rows as values, never model instances), the worst MAX_EDGES of them, and the gateways,
routers and regions they touch. `peerlinks.presentation.topology` lays these rows out as a map.
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Func, IntegerField, Max, Min, Q, QuerySet, Window

from peerlinks.models import EnterpriseRouter, Gateway, PeerLink, cached_regions
from peerlinks.permissions import readable_accounts, rows_for_reader
from peerlinks.presentation.text import describe_problem

# A map beyond this is unreadable and slow to draw: the worst connections are kept, a notice says so.
MAX_EDGES = 150
MAX_NODES = 200


@dataclass(frozen=True)
class GatewayRow:
    cloud_id: str
    name: str
    region: str
    status: str
    bgp_asn: int | None = None
    account: str = ""  # its account's name


@dataclass(frozen=True)
class RouterRow:
    cloud_id: str
    name: str
    region: str
    state: str
    asn: int | None = None
    account: str = ""


@dataclass(frozen=True)
class EdgeRow:
    """The present peer links from a gateway to one peer: how many, how many in trouble, the one if alone."""

    gateway_id: str
    peer_type: str
    peer_id: str
    peer_region: str
    count: int
    errors: int = 0  # neither active nor pending
    pending: int = 0
    link_id: str = ""  # the link's own cloud id, name, status and reason when it is the only one
    name: str = ""
    status: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RegionRow:
    region: str
    sync_error: str = ""


@dataclass
class TopologyRows:
    """What the map draws, and how much of what the filters matched it leaves out."""

    gateways: list[GatewayRow] = field(default_factory=list)
    routers: list[RouterRow] = field(default_factory=list)
    edges: list[EdgeRow] = field(default_factory=list)  # the worst first
    regions: list[RegionRow] = field(default_factory=list)
    total_edges: int = 0
    total_links: int = 0
    hidden_gateways: int = 0

    @property
    def shown_links(self) -> int:
        return sum(row.count for row in self.edges)


class SumOverAll(Func):
    """`SUM(expr) OVER ()`: a grouped query's column summed over every group, beside each group (how many
    links all the groups hold, read with the groups instead of by grouping them again)."""

    template = "SUM(%(expressions)s) OVER ()"
    contains_over_clause = True
    output_field = IntegerField()


def _edge_row(**values: object) -> EdgeRow:
    if values["count"] != 1:  # a group has no single name, status or page
        values.update(link_id="", name="", status="", reason="")
    return EdgeRow(**values)


def _ranked(links: QuerySet[PeerLink]) -> QuerySet:
    """The links grouped by gateway and peer, the worst MAX_EDGES groups first."""
    not_active = ~Q(status=PeerLink.Status.ACTIVE)
    grouped = (
        links.order_by()
        .values("gateway__cloud_id", "peer_type", "peer_gateway_id")
        .annotate(
            n=Count("id"),
            n_errors=Count("id", filter=not_active & ~Q(status__in=PeerLink.PENDING_STATUSES)),
            n_pending=Count("id", filter=Q(status__in=PeerLink.PENDING_STATUSES)),
            any_peer_region=Max("peer_region"),
            one_id=Min("cloud_id"),
            one_name=Min("name"),
            one_status=Max("status"),
            one_reason=Max("reason"),
        )
    )
    # The worst first: connections in error, then pending, then the busiest; ties by ids (a stable map).
    # Each row also says how many connections and links there are in all, had the map no cap.
    ranked = grouped.annotate(all_edges=Window(Count("*")), all_links=SumOverAll(Count("id"))).order_by(
        "-n_errors", "-n_pending", "-n", "gateway__cloud_id", "peer_gateway_id"
    )
    return ranked[:MAX_EDGES]


def topology_rows(
    *,
    links: QuerySet[PeerLink],
    gateways: QuerySet[Gateway],
    user: AbstractBaseUser,
    unfiltered: bool = False,
) -> TopologyRows:
    """Group the links by gateway and peer in SQL, keep the worst MAX_EDGES, and read what they touch (a
    peer in an account `user` may not read is drawn as one not in the cache).

    `unfiltered`: `links` are the present links `user` may read, no filter set (the map as most open it):
    their grouping, the same SQL for everyone who reads the same accounts, is then compiled once per
    process (`rows_for_reader`) instead of on every request."""
    if unfiltered:
        key = ("topology: connections", MAX_EDGES)  # the cap is in the SQL (LIMIT)
        ranked_rows = rows_for_reader(user, key, lambda user: _ranked(links))
    else:
        ranked_rows = list(_ranked(links))
    edge_rows = [
        _edge_row(
            gateway_id=row["gateway__cloud_id"],
            peer_type=row["peer_type"],
            peer_id=row["peer_gateway_id"],
            peer_region=row["any_peer_region"],
            count=row["n"],
            errors=row["n_errors"],
            pending=row["n_pending"],
            link_id=row["one_id"],
            name=row["one_name"],
            status=row["one_status"],
            reason=row["one_reason"],
        )
        for row in ranked_rows
    ]
    total_edges, total_links = (
        (ranked_rows[0]["all_edges"], ranked_rows[0]["all_links"]) if ranked_rows else (0, 0)
    )

    ends = {row.peer_id for row in edge_rows} | {row.gateway_id for row in edge_rows}
    gateway_fields = ("cloud_id", "name", "project__region", "status", "bgp_asn", "project__account__name")
    gateway_values = list(Gateway.objects.visible_to(user).filter(cloud_id__in=ends).values(*gateway_fields))
    room = max(MAX_NODES - len(ends), 0)
    others = gateways.exclude(cloud_id__in=ends).order_by("name", "cloud_id").values(*gateway_fields)
    extra = list(others[: room + 1])
    hidden_gateways = 0
    if len(extra) > room:
        extra = extra[:room]
        hidden_gateways = others.count() - room
    gateway_rows = [
        GatewayRow(
            cloud_id=gw["cloud_id"],
            name=gw["name"],
            region=gw["project__region"],
            status=gw["status"],
            bgp_asn=gw["bgp_asn"],
            account=gw["project__account__name"],
        )
        for gw in gateway_values + extra
    ]
    router_ids = {row.peer_id for row in edge_rows if row.peer_type == PeerLink.PeerType.ER}
    router_rows = [
        RouterRow(
            cloud_id=er["cloud_id"],
            name=er["name"],
            region=er["project__region"],
            state=er["state"],
            asn=er["asn"],
            account=er["project__account__name"],
        )
        for er in EnterpriseRouter.objects.visible_to(user)
        .filter(cloud_id__in=router_ids)
        .values("cloud_id", "name", "project__region", "state", "asn", "project__account__name")
    ]
    # A failed sync in plain words (older rows have only the technical text).
    readable = readable_accounts(user)
    region_rows = [
        RegionRow(region=p.region, sync_error=describe_problem(p.sync_problem) or p.sync_error)
        for p in cached_regions()
        if readable is None or p.account_id in readable
    ]
    return TopologyRows(
        gateways=gateway_rows,
        routers=router_rows,
        edges=edge_rows,
        regions=region_rows,
        total_edges=total_edges,
        total_links=total_links,
        hidden_gateways=hidden_gateways,
    )
