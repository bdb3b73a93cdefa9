"""The topology map's layout: one column per region, gateways above routers, one edge per connection,
in SVG user units, with the colour of each edge and the page each box and line opens. A pure function
of the rows `peerlinks.services.topology` reads.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape as esc

from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from peerlinks.models import PeerLink
from peerlinks.presentation.addresses import address, object_address
from peerlinks.services.topology import EdgeRow, GatewayRow, RouterRow, TopologyRows

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
    account: str = ""  # the name of its account ("" when not in the cache)
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
    count: int = 1
    link_id: str = ""  # set when the edge is one peer link


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
    # What the filters matched, of which the map draws `edges` and the nodes (the rest is capped).
    total_edges: int = 0
    total_links: int = 0
    shown_links: int = 0
    hidden_gateways: int = 0

    @property
    def nodes(self) -> list[Node]:
        return [node for column in self.columns for node in column.nodes]

    @property
    def is_empty(self) -> bool:
        return not self.columns

    @property
    def is_capped(self) -> bool:
        return len(self.edges) < self.total_edges or self.hidden_gateways > 0


def layout_topology(rows: TopologyRows) -> Topology:
    """Place every gateway and peer in its region's column and draw one edge per EdgeRow. Deterministic,
    linear in the rows apart from sorting each column."""
    edge_rows = rows.edges
    nodes: dict[str, Node] = {gw.cloud_id: _gateway_node(gw) for gw in rows.gateways}
    routers_by_id = {er.cloud_id: er for er in rows.routers}
    for row in edge_rows:
        if row.gateway_id not in nodes:
            nodes[row.gateway_id] = _unknown_node(row.gateway_id, kind="gateway", region="")
        if row.peer_id not in nodes:
            if row.peer_type == PeerLink.PeerType.ER and row.peer_id in routers_by_id:
                nodes[row.peer_id] = _router_node(routers_by_id[row.peer_id])
            else:
                kind = "er" if row.peer_type == PeerLink.PeerType.ER else "gateway"
                nodes[row.peer_id] = _unknown_node(row.peer_id, kind=kind, region=row.peer_region)

    columns = _place(nodes.values(), sync_errors={r.region: r.sync_error for r in rows.regions})
    bottom = max((column.height for column in columns), default=HEADER + MARGIN)
    for column in columns:
        column.height = bottom  # equal boxes; links that skip a column run in lanes below them
    drawn = []
    pair_count: dict[tuple[str, str], int] = {}
    lanes = 0
    for row in edge_rows:
        a, b = nodes[row.gateway_id], nodes[row.peer_id]
        pair = tuple(sorted((a.key, b.key)))
        nth = pair_count.get(pair, 0)
        pair_count[pair] = nth + 1
        if abs(a.x - b.x) > COLUMN_WIDTH + COLUMN_GAP:
            lanes += 1
            edge = _edge(row, a, b, nth=nth, lane_y=bottom + 4 + LANE * lanes)
        else:
            edge = _edge(row, a, b, nth=nth)
        drawn.append(edge)
    height = bottom + 4 + LANE * (lanes + 1) if lanes else bottom + 8
    width = MARGIN * 2 + len(columns) * COLUMN_WIDTH + max(len(columns) - 1, 0) * COLUMN_GAP + COLUMN_GAP // 2
    return Topology(
        columns=columns,
        edges=drawn,
        width=width,
        height=height,
        total_edges=rows.total_edges,
        total_links=rows.total_links,
        shown_links=rows.shown_links,
        hidden_gateways=rows.hidden_gateways,
    )


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


def _edge(row: EdgeRow, a: Node, b: Node, *, nth: int, lane_y: int | None = None) -> Edge:
    spread = 14 * nth  # parallel edges between the same two nodes fan out instead of overlapping
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
    if row.count == 1:
        title = f"{row.name}: {a.label} → {b.label} ({row.status})"
        if row.reason:
            title += f" — {row.reason}"
        return Edge(
            key=row.link_id,
            label=row.name,
            status=row.status,
            tone=edge_tone(row.status),
            title=title,
            href=_url("peerlinks:detail", row.link_id) or _peer_filter_url(row.peer_id),
            path=path,
            link_id=row.link_id,
        )
    tone = "bad" if row.errors else "warn" if row.pending else "ok"
    active = row.count - row.errors - row.pending
    return Edge(
        key=f"{row.gateway_id}>{row.peer_id}",
        label=ngettext("{count} link", "{count} links", row.count).format(count=row.count),
        status={"bad": "ERROR", "warn": "PENDING", "ok": "ACTIVE"}[tone],
        tone=tone,
        title=_(
            "{count} peer links: {a} → {b} ({active} active, {pending} pending, {errors} in error); "
            "click to list them"
        ).format(
            count=row.count, a=a.label, b=b.label, active=active, pending=row.pending, errors=row.errors
        ),
        href=_peer_filter_url(row.peer_id, gateway=row.gateway_id),
        path=path,
        count=row.count,
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
        title=_("Global DC gateway {name} ({region}, {status}{asn}) {id}").format(
            name=gw.name, region=gw.region, status=gw.status, asn=asn, id=gw.cloud_id
        ),
        href=_url("peerlinks:gateway_detail", gw.cloud_id) or _peer_filter_url(gw.cloud_id),
        account=gw.account,
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
        title=_("Enterprise router {name} ({region}, {status}{asn}) {id}").format(
            name=er.name, region=er.region, status=er.state, asn=asn, id=er.cloud_id
        ),
        href=_peer_filter_url(er.cloud_id),
        account=er.account,
    )


def _unknown_node(cloud_id: str, *, kind: str, region: str) -> Node:
    if kind == "er":
        title = _("Enterprise router {id} in {region} (not in dcportal's cache)")
    else:
        title = _("Global DC gateway {id} in {region} (not in dcportal's cache)")
    return Node(
        key=cloud_id,
        kind=kind,
        label=cloud_id,
        region=region,
        known=False,
        state="",
        title=title.format(id=cloud_id, region=region or _("an unknown region")),
        href=_peer_filter_url(cloud_id),
    )


def _short(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _url(name: str, cloud_id: str) -> str:
    """The page of the object with this cloud ID; "" for an ID that is not a UUID (no page of its own)."""
    return object_address(name)(cloud_id)


def _peer_filter_url(cloud_id: str, *, gateway: str = "") -> str:
    """The peer-link list narrowed to links that touch this peer (and start at `gateway`, if given)."""
    query = {"gateway": gateway, "q": cloud_id} if gateway else {"q": cloud_id}
    return f"{address('peerlinks:link_list')}?{urlencode(query)}"


def draw_map(topology: Topology, *, several_accounts: bool) -> SafeString:
    """The map as an SVG element: region columns, then the edges, then the nodes above them, each a link
    with a title and a label for screen readers. Drawn here rather than in a template: with 150 edges and
    200 nodes the template language took most of the page's time (issue 13)."""

    def e(value: object) -> str:  # as Django's escape, without its lazy-text wrapper (2,400 a map)
        return esc(str(value))

    title = _("Peer-link topology: %(nodes)s nodes, %(edges)s connections, %(links)s peer links") % {
        "nodes": len(topology.nodes),
        "edges": len(topology.edges),
        "links": topology.shown_links,
    }
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="group" aria-labelledby="topology-title" '
        f'width="{topology.width}" height="{topology.height}" '
        f'viewBox="0 0 {topology.width} {topology.height}" '
        f'font-family="system-ui, sans-serif">',
        f'<title id="topology-title">{e(title)}</title>',
    ]
    unknown_region, stale = _("Unknown region"), _("last sync failed: data may be stale")
    for column in topology.columns:
        out.append(
            f'<g class="topo-column" id="region-{e(column.region or "unknown")}">'
            f'<rect class="topo-region" x="{column.x}" y="4" width="{column.width}" '
            f'height="{column.height}" rx="8"/>'
            f'<text class="topo-region-label" x="{column.label_x}" y="24" text-anchor="middle">'
            f"{e(column.region or unknown_region)}</text>"
        )
        if column.sync_error:
            out.append(
                f'<text class="topo-stale" x="{column.label_x}" y="38" text-anchor="middle">'
                f"<title>{e(column.sync_error)}</title>{e(stale)}</text>"
            )
        out.append("</g>")
    # Each text translated once per map, not once per edge or node (a lookup each, 750 a map).
    one_link, several_links = _("Peer link %(name)s (%(status)s)"), _("%(links)s, worst %(status)s")
    router_label, gateway_label = _("Enterprise router %(name)s"), _("Gateway %(name)s")
    in_account, not_cached = " · " + _("account %(account)s"), " · " + _("not in cache")
    router_kind, gateway_kind = _("enterprise router"), _("global DC gateway")
    out.append('<g id="topology-edges">')
    for edge in topology.edges:
        if edge.link_id:
            label = one_link % {"name": edge.label, "status": edge.status}
            named = f'aria-label="{e(label)}" data-link="{e(edge.link_id)}"'
        else:
            label = several_links % {"links": edge.label, "status": edge.status}
            named = f'aria-label="{e(label)}" data-edge="{e(edge.key)}"'
        out.append(
            f'<a href="{e(edge.href)}" {named}><title>{e(edge.title)}</title>'
            f'<path class="topo-edge-hit" d="{e(edge.path)}"/>'
            f'<path class="topo-edge tone-{e(edge.tone)}" d="{e(edge.path)}"/></a>'
        )
    out.append('</g><g id="topology-nodes">')
    for node in topology.nodes:
        router = node.kind == "er"
        label = (router_label if router else gateway_label) % {"name": node.label}
        title = node.title
        if several_accounts and node.account:
            title += in_account % {"account": node.account}
        sub = router_kind if router else gateway_kind
        if not node.known:
            sub += not_cached
        else:
            sub += f" · {node.state}" + (f" · {node.account}" if several_accounts else "")
        unknown = "" if node.known else " unknown"
        out.append(
            f'<a href="{e(node.href)}" aria-label="{e(label)}" data-node="{e(node.key)}">'
            f"<title>{e(title)}</title>"
            f'<rect class="topo-node kind-{e(node.kind)}{unknown}" x="{node.x}" y="{node.y}" '
            f'width="{node.width}" height="{node.height}" rx="{18 if router else 4}"/>'
            f'<text class="topo-label{"" if node.known else " id"}" x="{node.text_x}" y="{node.text_y}">'
            f"{e(node.label)}</text>"
            f'<text class="topo-sub" x="{node.text_x}" y="{node.sub_y}">{e(sub)}</text></a>'
        )
    out.append("</g></svg>")
    return mark_safe("".join(out))
