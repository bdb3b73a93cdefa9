import re

import pytest
from django.urls import reverse

from peerlinks.models import EnterpriseRouter, Gateway, PeerLink
from peerlinks.presentation.topology import COLUMN_GAP, COLUMN_WIDTH
from tests.conftest import make_gateway, make_peer_link, make_project, make_router

URL = reverse("peerlinks:topology")

GW_A = "aaaaaaaa-0000-4000-8000-000000000001"
GW_B = "bbbbbbbb-0000-4000-8000-000000000002"
ER_1 = "eeeeeeee-0000-4000-8000-000000000001"
ER_FAR = "ffffffff-0000-4000-8000-000000000009"

# The layout is tested on what the page runs: rows in the database, read by the topology service's SQL
# and laid out by the presentation module, as the view does it (its context's `topology`).

LINKS = [
    # cloud_id, name, status, gateway, peer type, peer, peer region, reason
    ("11111111-0000-4000-8000-000000000001", "to-er", "ACTIVE", GW_A, "ER", ER_1, "cn-north-4", ""),
    ("11111111-0000-4000-8000-000000000002", "a-to-b", "PENDING_CREATE", GW_A, "GDGW", GW_B, "cn-east-3", ""),
    (
        "11111111-0000-4000-8000-000000000003",
        "far",
        "ERROR",
        GW_B,
        "ER",
        ER_FAR,
        "eu-west-101",
        "ER not available",
    ),
]


def _world(links: list[tuple] = LINKS, *, reverse_order: bool = False) -> None:
    """Two gateways in two regions, a router, and `links` between them, in the cache."""
    PeerLink.objects.all().delete()
    Gateway.objects.all().delete()
    north, east = make_project("cn-north-4"), make_project("cn-east-3")
    gateways = [
        {"cloud_id": GW_B, "name": "gw-b", "project": east},
        {"cloud_id": GW_A, "name": "gw-a", "project": north, "bgp_asn": 64512},
    ]
    for values in reversed(gateways) if reverse_order else gateways:
        make_gateway(**values)
    if not EnterpriseRouter.objects.filter(cloud_id=ER_1).exists():
        make_router(cloud_id=ER_1, name="er-one", project=north)
    by_id = {gw.cloud_id: gw for gw in Gateway.objects.all()}
    for cloud_id, name, status, gateway, peer_type, peer, peer_region, reason in (
        reversed(links) if reverse_order else links
    ):
        make_peer_link(
            cloud_id=cloud_id,
            name=name,
            status=status,
            gateway=by_id[gateway],
            peer_type=peer_type,
            peer_gateway_id=peer,
            peer_region=peer_region,
            reason=reason,
        )


def _drawn(client, **params: str):
    """The map the topology page draws, as the view laid it out."""
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.context["topology"]


@pytest.fixture
def world(db) -> None:
    _world()


# --- layout --------------------------------------------------------------------------------------


def test_layout_puts_each_region_in_its_own_column_gateway_regions_first(engineer_client, world):
    topology = _drawn(engineer_client)
    assert [c.region for c in topology.columns] == ["cn-east-3", "cn-north-4", "eu-west-101"]
    assert [c.x for c in topology.columns] == [
        16,
        16 + COLUMN_WIDTH + COLUMN_GAP,
        16 + 2 * (COLUMN_WIDTH + COLUMN_GAP),
    ]
    north = topology.columns[1]
    assert [n.key for n in north.nodes] == [GW_A, ER_1]  # gateways above routers
    assert north.nodes[0].y < north.nodes[1].y
    assert all(n.x == north.nodes[0].x for n in north.nodes)


def test_layout_is_the_same_whatever_order_the_rows_were_written_in(engineer_client, world):
    first = _drawn(engineer_client)
    _world(reverse_order=True)
    second = _drawn(engineer_client)
    assert [(n.key, n.x, n.y) for n in first.nodes] == [(n.key, n.x, n.y) for n in second.nodes]
    assert [(e.key, e.path) for e in first.edges] == [(e.key, e.path) for e in second.edges]


def test_layout_colours_edges_by_status(engineer_client, world):
    edges = {e.label: e for e in _drawn(engineer_client).edges}
    assert edges["to-er"].tone == "ok"
    assert edges["a-to-b"].tone == "warn"
    assert edges["far"].tone == "bad"
    assert "ER not available" in edges["far"].title


def test_a_peer_missing_from_the_cache_is_drawn_labelled_with_its_id(engineer_client, world):
    nodes = {n.key: n for n in _drawn(engineer_client).nodes}
    far = nodes[ER_FAR]
    assert far.known is False
    assert far.label == ER_FAR
    assert far.region == "eu-west-101"
    assert far.kind == "er"


def test_links_point_to_their_pages_and_routers_to_the_filtered_link_list(engineer_client, world):
    topology = _drawn(engineer_client)
    nodes = {n.key: n for n in topology.nodes}
    assert nodes[GW_A].href == reverse("peerlinks:gateway_detail", args=[GW_A])
    assert nodes[ER_1].href == reverse("peerlinks:link_list") + f"?q={ER_1}"
    edge = next(e for e in topology.edges if e.label == "to-er")
    assert edge.href == reverse("peerlinks:detail", args=["11111111-0000-4000-8000-000000000001"])


def test_parallel_links_between_the_same_nodes_do_not_overlap(engineer_client, db):
    twin = ("11111111-0000-4000-8000-000000000004", "b-to-a", "ACTIVE", GW_B, "GDGW", GW_A, "cn-north-4", "")
    _world([*LINKS, twin])
    paths = [e.path for e in _drawn(engineer_client).edges if e.label in ("a-to-b", "b-to-a")]
    assert len(set(paths)) == 2


def test_same_column_links_arc_out_to_the_right(engineer_client, db):
    _world([("11111111-0000-4000-8000-000000000005", "local", "ACTIVE", GW_A, "ER", ER_1, "cn-north-4", "")])
    edge = next(e for e in _drawn(engineer_client, region="cn-north-4").edges)
    start_x, control_x = re.match(r"M(\d+),\d+ C(\d+),", edge.path).groups()
    assert int(control_x) > int(start_x)


def test_layout_of_nothing_is_empty(engineer_client, db):
    topology = _drawn(engineer_client)
    assert topology.is_empty
    assert topology.edges == []


# --- the page ------------------------------------------------------------------------------------


@pytest.fixture
def demo_rows(db) -> dict:
    north, east = make_project("cn-north-4"), make_project("cn-east-3")
    gw_a = make_gateway(name="gw-north", project=north)
    gw_b = make_gateway(name="gw-east", project=east)
    er = make_router(name="er-north", project=north)
    return {
        "gw_a": gw_a,
        "gw_b": gw_b,
        "er": er,
        "to_er": make_peer_link(name="north-to-er", gateway=gw_a, peer_gateway_id=er.cloud_id),
        "to_gw": make_peer_link(
            name="north-to-east",
            gateway=gw_a,
            peer_type="GDGW",
            peer_gateway_id=gw_b.cloud_id,
            peer_region="cn-east-3",
            status="PENDING_CREATE",
        ),
        "far": make_peer_link(
            name="east-to-far",
            gateway=gw_b,
            peer_gateway_id=ER_FAR,
            peer_region="eu-west-101",
            status="ERROR",
            reason="The ER is not available",
        ),
    }


def test_topology_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_topology_draws_gateways_routers_and_links_as_links_to_their_pages(engineer_client, demo_rows):
    response = engineer_client.get(URL)
    assert response.status_code == 200
    assert {"peerlinks/topology.html", "base.html"} <= {t.name for t in response.templates}
    body = response.content.decode()
    assert "<svg" in body and 'id="topology-map"' in body
    assert f'href="{demo_rows["gw_a"].get_absolute_url()}"' in body
    assert f'href="{demo_rows["to_er"].get_absolute_url()}"' in body
    assert f'href="{reverse("peerlinks:link_list")}?q={demo_rows["er"].cloud_id}"' in body
    assert "er-north" in body
    assert ER_FAR in body  # not cached: labelled with its id
    assert "The ER is not available" in body  # in the edge's tooltip
    for tone in ("tone-ok", "tone-warn", "tone-bad"):
        assert tone in body
    assert 'aria-label="Legend"' in body
    assert body.count("<title>") >= 1 + 4 + 3  # the map, every node, every edge


def test_topology_htmx_request_gets_only_the_map(engineer_client, demo_rows):
    response = engineer_client.get(URL, {"status": "ERROR"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "base.html" not in [t.name for t in response.templates]
    body = response.content.decode()
    assert body.strip().startswith('<section class="card" id="topology-map">')
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_boosted_htmx_request_gets_the_whole_page(engineer_client, demo_rows):
    response = engineer_client.get(URL, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "peerlinks/topology.html" in [t.name for t in response.templates]


def test_filtering_by_status_keeps_only_matching_links(engineer_client, demo_rows):
    body = engineer_client.get(URL, {"status": "ERROR"}).content.decode()
    assert demo_rows["far"].cloud_id in body
    assert demo_rows["to_er"].cloud_id not in body
    assert demo_rows["to_gw"].cloud_id not in body


def test_filtering_by_gateway_region_and_peer_type(engineer_client, demo_rows):
    body = engineer_client.get(
        URL, {"gateway": demo_rows["gw_a"].cloud_id, "peer_type": "ER"}
    ).content.decode()
    assert f'data-link="{demo_rows["to_er"].cloud_id}"' in body
    assert f'data-link="{demo_rows["to_gw"].cloud_id}"' not in body
    assert f'data-link="{demo_rows["far"].cloud_id}"' not in body

    body = engineer_client.get(URL, {"region": "cn-east-3"}).content.decode()
    assert f'data-link="{demo_rows["far"].cloud_id}"' in body
    assert f'data-link="{demo_rows["to_er"].cloud_id}"' not in body
    assert f'data-node="{demo_rows["gw_a"].cloud_id}"' not in body


def test_free_text_finds_the_links_of_a_peer_as_the_router_node_link_does(engineer_client, demo_rows):
    body = engineer_client.get(URL, {"q": demo_rows["er"].cloud_id}).content.decode()
    assert f'data-link="{demo_rows["to_er"].cloud_id}"' in body
    assert f'data-link="{demo_rows["to_gw"].cloud_id}"' not in body


def test_gone_links_are_not_drawn(engineer_client, demo_rows):
    from django.utils import timezone

    demo_rows["to_er"].gone_at = timezone.now()
    demo_rows["to_er"].save(update_fields=["gone_at"])
    body = engineer_client.get(URL).content.decode()
    assert f'data-link="{demo_rows["to_er"].cloud_id}"' not in body


@pytest.mark.parametrize(
    "params",
    [
        {"gateway": "not-a-gateway"},
        {"gateway": "aaaaaaaa-0000-4000-8000-00000000dead"},
        {"status": "EXPLODED"},
        {"peer_type": "<script>"},
        {"region": "x" * 5000},
        {"q": "y" * 500},
    ],
)
def test_bad_filter_values_get_a_clear_400_not_a_500(engineer_client, demo_rows, params):
    response = engineer_client.get(URL, params)
    assert response.status_code == 400
    body = response.content.decode()
    assert "were not understood" in body
    assert "<script>" not in body


def test_a_repeated_filter_parameter_uses_the_last_value(engineer_client, demo_rows):
    body = engineer_client.get(URL, {"status": ["ACTIVE", "ERROR"]}).content.decode()
    assert f'data-link="{demo_rows["far"].cloud_id}"' in body
    assert f'data-link="{demo_rows["to_er"].cloud_id}"' not in body


def test_bad_filter_values_over_htmx_rerender_the_map_with_the_message(engineer_client, demo_rows):
    response = engineer_client.get(URL, {"status": "EXPLODED"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "were not understood" in response.content.decode()


def test_an_empty_cache_says_there_is_nothing_to_draw(engineer_client):
    response = engineer_client.get(URL)
    assert response.status_code == 200
    assert "Nothing to draw" in response.content.decode()


def test_topology_query_count_does_not_grow_with_links(engineer_client, demo_rows, django_assert_num_queries):
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert engineer_client.get(URL, {"region": "cn-north-4"}).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    north = demo_rows["gw_a"].project
    for _ in range(3):
        gw = make_gateway(project=north)
        er = make_router(project=north)
        make_peer_link(gateway=gw, peer_gateway_id=er.cloud_id)
        make_peer_link(gateway=gw, peer_type="GDGW", peer_gateway_id=demo_rows["gw_b"].cloud_id)
        make_peer_link(gateway=gw, peer_gateway_id=ER_FAR, peer_region="eu-west-101")
    with django_assert_num_queries(before):
        assert engineer_client.get(URL, {"region": "cn-north-4"}).status_code == 200


def test_links_that_skip_a_column_run_below_every_column_instead_of_across_nodes(engineer_client, world):
    topology = _drawn(engineer_client)
    far = next(e for e in topology.edges if e.label == "far")  # cn-east-3 → eu-west-101, past cn-north-4
    bottom = max(c.height for c in topology.columns)
    lowest = max(int(y) for y in re.findall(r",(\d+)", far.path))
    assert lowest > bottom
    assert topology.height > lowest


# --- aggregation and the cap ---------------------------------------------------------------------


def test_links_between_the_same_gateway_and_peer_are_one_edge_with_their_count_and_worst_status(
    engineer_client, db
):
    twins = [
        (f"22222222-0000-4000-8000-00000000000{i}", f"twin-{i}", status, GW_A, "ER", ER_1, "cn-north-4", "")
        for i, status in enumerate(["ACTIVE", "PENDING_UPDATE"])
    ]
    _world([*LINKS, *twins])
    edges = _drawn(engineer_client).edges
    assert len(edges) == 3  # to-er and the two twins are one connection
    group = next(e for e in edges if e.count == 3)
    assert group.label == "3 links"
    assert group.tone == "warn"  # the worst of ACTIVE, ACTIVE, PENDING_UPDATE
    assert group.link_id == ""
    assert "3 peer links" in group.title and "1 pending" in group.title
    assert group.href == reverse("peerlinks:link_list") + f"?gateway={GW_A}&q={ER_1}"


def test_edges_in_error_come_first_then_pending_then_the_busiest(engineer_client, db):
    gateway = make_gateway(cloud_id=GW_A, project=make_project("cn-north-4"))
    peers = {"p-busy": ["ACTIVE"] * 9, "p-err": ["ACTIVE", "ERROR"], "p-pend": ["PENDING_CREATE"] * 2}
    peers["p-one"] = ["ACTIVE", "ACTIVE"]
    ids = {}
    for name, statuses in peers.items():
        ids[name] = make_router(name=name, project=gateway.project).cloud_id
        for status in statuses:
            make_peer_link(gateway=gateway, peer_gateway_id=ids[name], status=status)
    order = {cloud_id: name for name, cloud_id in ids.items()}
    edges = _drawn(engineer_client).edges
    assert [order[e.key.split(">")[1]] for e in edges] == ["p-err", "p-pend", "p-busy", "p-one"]


@pytest.fixture
def many_links(db) -> dict:
    """Two gateways, each with links to six routers (one router's link in error): twelve connections."""
    north = make_project("cn-north-4")
    gateways = [make_gateway(name=f"gw-{i}", project=north) for i in range(2)]
    routers = [make_router(name=f"er-{i}", project=north) for i in range(6)]
    for gw in gateways:
        for er in routers:
            make_peer_link(gateway=gw, peer_gateway_id=er.cloud_id)
            make_peer_link(gateway=gw, peer_gateway_id=er.cloud_id)
    broken = make_peer_link(gateway=gateways[1], peer_gateway_id=routers[5].cloud_id, status="ERROR")
    return {"gateways": gateways, "routers": routers, "broken": broken}


def test_the_page_draws_one_edge_per_connection(engineer_client, many_links):
    body = engineer_client.get(URL).content.decode()
    assert body.count("data-edge=") == 12
    assert "data-link=" not in body
    assert 'id="topology-cap"' not in body


def test_a_map_over_the_cap_keeps_the_worst_connections_and_says_how_many_are_left_out(
    engineer_client, many_links, monkeypatch
):
    monkeypatch.setattr("peerlinks.services.topology.MAX_EDGES", 4)
    body = engineer_client.get(URL).content.decode()
    assert body.count("data-edge=") == 4
    broken = many_links["broken"]
    assert f'data-edge="{broken.gateway.cloud_id}&gt;{broken.peer_gateway_id}"' in body  # in error: kept
    assert "Showing 4 of 12 connections (9 of 25 peer links)" in body
    assert "filter by gateway, region, status or peer to narrow" in body


def test_gateways_without_a_drawn_connection_are_capped_too(engineer_client, many_links, monkeypatch):
    north = many_links["gateways"][0].project
    for i in range(3):
        make_gateway(name=f"idle-{i}", project=north)
    monkeypatch.setattr("peerlinks.services.topology.MAX_NODES", 9)  # 8 connected nodes + 1 idle gateway
    body = engineer_client.get(URL).content.decode()
    assert body.count("data-node=") == 9
    assert "2 gateways without a drawn connection left out" in body


def test_a_capped_map_costs_the_same_queries_whatever_the_number_of_links(
    engineer_client, many_links, monkeypatch, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr("peerlinks.services.topology.MAX_EDGES", 4)
    with CaptureQueriesContext(connection) as ctx:
        assert engineer_client.get(URL).status_code == 200
    north = many_links["gateways"][0].project
    for _ in range(5):
        make_peer_link(
            gateway=make_gateway(project=north), peer_gateway_id=make_router(project=north).cloud_id
        )
    with django_assert_num_queries(len(ctx.captured_queries)):
        assert engineer_client.get(URL).status_code == 200
