"""The topology map: global DC gateways and their peers, one column per region, edges for peer links.

`build_topology` reads the cache (a fixed number of queries) into plain rows; `layout_topology` is a
pure function from those rows to positioned nodes and edges that the template draws as SVG.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from peerlinks.models import CloudProject, EnterpriseRouter, Gateway, PeerLink

# Geometry, in SVG user units.
MARGIN = 16
HEADER = 44
COLUMN_WIDTH = 260
COLUMN_GAP = 90  # room for the arcs between two nodes of the same column
NODE_WIDTH = 228
NODE_HEIGHT = 40
ROW = 54
LABEL_MAX = 30
LANE = 9  # vertical distance between the lanes of links that skip a column


@dataclass(frozen=True)
class GatewayRow:
    cloud_id: str
    name: str
    region: str
    status: str
    bgp_asn: int | None = None


@dataclass(frozen=True)
class RouterRow:
    cloud_id: str
    name: str
    region: str
    state: str
    asn: int | None = None


@dataclass(frozen=True)
class LinkRow:
    cloud_id: str
    name: str
    status: str
    gateway_id: str
    peer_type: str
    peer_id: str
    peer_region: str
    reason: str = ""


@dataclass(frozen=True)
class RegionRow:
    region: str
    sync_error: str = ""


@dataclass
class Node:
    key: str
    kind: str  # "gateway" or "er"
    label: str
    region: str
    known: bool  # False: a peer the cache does not hold (e.g. in a region dcportal does not manage)
    state: str
    title: str
    href: str
    x: int = 0
    y: int = 0
    width: int = NODE_WIDTH
    height: int = NODE_HEIGHT

    @property
    def text_x(self) -> int:
        return self.x + 12

    @property
    def text_y(self) -> int:
        return self.y + 17

    @property
    def sub_y(self) -> int:
        return self.y + 32


@dataclass
class Edge:
    key: str
    label: str
    status: str
    tone: str  # "ok", "warn", "bad": the colour of the line
    title: str
    href: str
    path: str = ""


@dataclass
class Column:
    region: str
    x: int
    height: int
    sync_error: str = ""
    nodes: list[Node] = field(default_factory=list)

    @property
    def width(self) -> int:
        return COLUMN_WIDTH

    @property
    def label_x(self) -> int:
        return self.x + COLUMN_WIDTH // 2


@dataclass
class Topology:
    columns: list[Column]
    edges: list[Edge]
    width: int
    height: int

    @property
    def nodes(self) -> list[Node]:
        return [node for column in self.columns for node in column.nodes]

    @property
    def is_empty(self) -> bool:
        return not self.columns


def build_topology(*, links: QuerySet[PeerLink], gateways: QuerySet[Gateway]) -> Topology:
    """Read the given links and gateways (plus every peer they name) from the cache and lay them out."""
    link_rows = [
        LinkRow(
            cloud_id=link.cloud_id,
            name=link.name,
            status=link.status,
            gateway_id=link.gateway.cloud_id,
            peer_type=link.peer_type,
            peer_id=link.peer_gateway_id,
            peer_region=link.peer_region,
            reason=link.reason,
        )
        for link in links.select_related("gateway").order_by("name", "cloud_id")
    ]
    peer_ids = {row.peer_id for row in link_rows} | {row.gateway_id for row in link_rows}
    gateway_rows = [
        GatewayRow(
            cloud_id=gw.cloud_id, name=gw.name, region=gw.project.region, status=gw.status, bgp_asn=gw.bgp_asn
        )
        for gw in Gateway.objects.filter(Q(pk__in=gateways.values("pk")) | Q(cloud_id__in=peer_ids))
        .select_related("project")
        .order_by("name", "cloud_id")
    ]
    router_ids = {row.peer_id for row in link_rows if row.peer_type == PeerLink.PeerType.ER}
    router_rows = [
        RouterRow(cloud_id=er.cloud_id, name=er.name, region=er.project.region, state=er.state, asn=er.asn)
        for er in EnterpriseRouter.objects.filter(cloud_id__in=router_ids).select_related("project")
    ]
    region_rows = [RegionRow(region=p.region, sync_error=p.sync_error) for p in CloudProject.objects.all()]
    return layout_topology(gateways=gateway_rows, routers=router_rows, links=link_rows, regions=region_rows)


def layout_topology(
    *,
    gateways: Iterable[GatewayRow],
    routers: Iterable[RouterRow],
    links: Iterable[LinkRow],
    regions: Iterable[RegionRow] = (),
) -> Topology:
    """Place every gateway and peer in its region's column and draw one edge per link. Deterministic."""
    links = sorted(links, key=lambda row: (row.name, row.cloud_id))
    nodes: dict[str, Node] = {gw.cloud_id: _gateway_node(gw) for gw in gateways}
    routers_by_id = {er.cloud_id: er for er in routers}
    for link in links:
        if link.gateway_id not in nodes:
            nodes[link.gateway_id] = _unknown_node(link.gateway_id, kind="gateway", region="")
        if link.peer_id not in nodes:
            if link.peer_type == PeerLink.PeerType.ER and link.peer_id in routers_by_id:
                nodes[link.peer_id] = _router_node(routers_by_id[link.peer_id])
            else:
                kind = "er" if link.peer_type == PeerLink.PeerType.ER else "gateway"
                nodes[link.peer_id] = _unknown_node(link.peer_id, kind=kind, region=link.peer_region)

    columns = _place(nodes.values(), sync_errors={r.region: r.sync_error for r in regions})
    bottom = max((column.height for column in columns), default=HEADER + MARGIN)
    for column in columns:
        column.height = bottom  # equal boxes; links that skip a column run in lanes below them
    edges = []
    pair_count: dict[tuple[str, str], int] = {}
    lanes = 0
    for link in links:
        a, b = nodes[link.gateway_id], nodes[link.peer_id]
        pair = tuple(sorted((a.key, b.key)))
        nth = pair_count.get(pair, 0)
        pair_count[pair] = nth + 1
        if abs(a.x - b.x) > COLUMN_WIDTH + COLUMN_GAP:
            lanes += 1
            edge = _edge(link, a, b, nth=nth, lane_y=bottom + 4 + LANE * lanes)
        else:
            edge = _edge(link, a, b, nth=nth)
        edges.append(edge)
    height = bottom + 4 + LANE * (lanes + 1) if lanes else bottom + 8
    width = MARGIN * 2 + len(columns) * COLUMN_WIDTH + max(len(columns) - 1, 0) * COLUMN_GAP + COLUMN_GAP // 2
    return Topology(columns=columns, edges=edges, width=width, height=height)


def edge_tone(status: str) -> str:
    if status == PeerLink.Status.ACTIVE:
        return "ok"
    if status.startswith("PENDING"):
        return "warn"
    return "bad"


def _place(nodes: Iterable[Node], *, sync_errors: dict[str, str]) -> list[Column]:
    # Regions that hold a gateway come first, then regions known only as peers; an empty region last.
    by_region: dict[str, list[Node]] = {}
    for node in nodes:
        by_region.setdefault(node.region, []).append(node)
    with_gateways = sorted(r for r, ns in by_region.items() if r and any(n.kind == "gateway" for n in ns))
    order = with_gateways + sorted(r for r in by_region if r and r not in with_gateways)
    if "" in by_region:
        order.append("")
    columns = []
    for index, region in enumerate(order):
        x = MARGIN + index * (COLUMN_WIDTH + COLUMN_GAP)
        members = sorted(
            by_region[region], key=lambda n: (n.kind != "gateway", not n.known, n.label.lower(), n.key)
        )
        for row, node in enumerate(members):
            node.x = x + (COLUMN_WIDTH - NODE_WIDTH) // 2
            node.y = HEADER + row * ROW
        height = HEADER + len(members) * ROW + MARGIN
        columns.append(
            Column(region=region, x=x, height=height, sync_error=sync_errors.get(region, ""), nodes=members)
        )
    return columns


def _edge(link: LinkRow, a: Node, b: Node, *, nth: int, lane_y: int | None = None) -> Edge:
    spread = 14 * nth  # parallel links between the same two nodes fan out instead of overlapping
    ay, by = a.y + NODE_HEIGHT // 2, b.y + NODE_HEIGHT // 2
    if a.x == b.x:
        # Same column: an arc out to the right, wider the further apart the two nodes are.
        x = a.x + NODE_WIDTH
        bulge = 28 + abs(by - ay) // 4 + spread
        path = f"M{x},{ay} C{x + bulge},{ay} {x + bulge},{by} {x},{by}"
    else:
        left, right = (a, b) if a.x < b.x else (b, a)
        ly, ry = (ay, by) if left is a else (by, ay)
        x1, x2 = left.x + NODE_WIDTH, right.x
        if lane_y is None:
            pull = max(40, (x2 - x1) // 3) + spread
            path = f"M{x1},{ly} C{x1 + pull},{ly + spread} {x2 - pull},{ry + spread} {x2},{ry}"
        else:
            # Down the gap after the left column, along a lane under all columns, up the gap before the right.
            g1, g2 = x1 + 34 + spread // 2, x2 - 34 - spread // 2
            path = (
                f"M{x1},{ly} C{g1},{ly} {g1},{ly} {g1},{ly + 12} L{g1},{lane_y - 12} "
                f"C{g1},{lane_y} {g1},{lane_y} {g1 + 12},{lane_y} L{g2 - 12},{lane_y} "
                f"C{g2},{lane_y} {g2},{lane_y} {g2},{lane_y - 12} L{g2},{ry + 12} "
                f"C{g2},{ry} {g2},{ry} {x2},{ry}"
            )
    title = f"{link.name}: {a.label} → {b.label} ({link.status})"
    if link.reason:
        title += f" — {link.reason}"
    return Edge(
        key=link.cloud_id,
        label=link.name,
        status=link.status,
        tone=edge_tone(link.status),
        title=title,
        href=_url("peerlinks:detail", link.cloud_id) or _peer_filter_url(link.gateway_id),
        path=path,
    )


def _gateway_node(gw: GatewayRow) -> Node:
    asn = f", ASN {gw.bgp_asn}" if gw.bgp_asn is not None else ""
    return Node(
        key=gw.cloud_id,
        kind="gateway",
        label=_short(gw.name),
        region=gw.region,
        known=True,
        state=gw.status,
        title=f"Global DC gateway {gw.name} ({gw.region}, {gw.status}{asn}) {gw.cloud_id}",
        href=_url("peerlinks:gateway_detail", gw.cloud_id) or _peer_filter_url(gw.cloud_id),
    )


def _router_node(er: RouterRow) -> Node:
    asn = f", ASN {er.asn}" if er.asn is not None else ""
    return Node(
        key=er.cloud_id,
        kind="er",
        label=_short(er.name),
        region=er.region,
        known=True,
        state=er.state,
        title=f"Enterprise router {er.name} ({er.region}, {er.state}{asn}) {er.cloud_id}",
        href=_peer_filter_url(er.cloud_id),
    )


def _unknown_node(cloud_id: str, *, kind: str, region: str) -> Node:
    what = "Enterprise router" if kind == "er" else "Global DC gateway"
    return Node(
        key=cloud_id,
        kind=kind,
        label=cloud_id,
        region=region,
        known=False,
        state="",
        title=f"{what} {cloud_id} in {region or 'an unknown region'} (not in dcportal's cache)",
        href=_peer_filter_url(cloud_id),
    )


def _short(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _url(name: str, cloud_id: str) -> str:
    try:
        return reverse(name, args=[cloud_id])
    except NoReverseMatch:  # an id that is not a UUID has no page of its own
        return ""


def _peer_filter_url(cloud_id: str) -> str:
    """The peer-link list narrowed to links that touch this peer."""
    return f"{reverse('peerlinks:link_list')}?{urlencode({'q': cloud_id})}"
