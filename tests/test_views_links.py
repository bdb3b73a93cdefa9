import base64
import codecs
import csv
import html
import io
import json
import re
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from peerlinks.models import AuditEvent, ChangeRequest, PeerLink, StatusChange
from tests.conftest import listed_names, make_gateway, make_peer_link, make_router

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def names(response) -> list[str]:
    return listed_names(response)


# --- the table --------------------------------------------------------------------------------


def test_link_list_requires_login(client):
    assert client.get("/links/").status_code == 302


def test_link_list_shows_present_links_of_every_gateway_and_hides_gone_ones(engineer_client):
    make_peer_link(name="north-a", gateway=make_gateway(region="cn-north-4"))
    make_peer_link(name="east-a", gateway=make_gateway(region="cn-east-3"))
    make_peer_link(name="gone-a", gone_at=timezone.now())
    response = engineer_client.get("/links/")
    assert response.status_code == 200
    assert "peerlinks/peerlink_list.html" in [t.name for t in response.templates]
    assert names(response) == ["east-a", "north-a"]


def test_link_list_shows_gone_links_when_asked(engineer_client):
    make_peer_link(name="gone-a", gone_at=timezone.now())
    response = engineer_client.get("/links/?show_gone=on")
    assert names(response) == ["gone-a"]
    assert "Gone" in response.content.decode()


def test_each_row_reads_its_own_status_whatever_the_row_before_it_carries(engineer_client):
    """A row with labels, then rows of every kind after it: each badge still says its status in words."""
    gateway = make_gateway()
    make_peer_link(name="a-labelled", gateway=gateway, labels=["core", "prod"])
    make_peer_link(name="b-active", gateway=gateway, status="ACTIVE")
    make_peer_link(name="c-labelled", gateway=gateway, labels=["edge"])
    make_peer_link(name="d-gone", gateway=gateway, gone_at=timezone.now())
    make_peer_link(name="e-labelled", gateway=gateway, labels=["x"])
    make_peer_link(name="f-error", gateway=gateway, status="ERROR")
    response = engineer_client.get("/links/?show_gone=on&sort=name")
    assert response.status_code == 200
    badges = re.findall(r'class="badge status-[a-z_]+"[^>]*>([^<]+)<', response.content.decode())
    assert badges == ["Active", "Active", "Active", "Gone", "Active", "Error"]


def test_link_list_filters_by_gateway_status_peer_type_and_region(engineer_client):
    north = make_gateway(region="cn-north-4")
    east = make_gateway(region="cn-east-3")
    make_peer_link(name="a", gateway=north, status="ACTIVE", peer_type="ER")
    make_peer_link(name="b", gateway=north, status="ERROR", peer_type="GDGW")
    make_peer_link(name="c", gateway=east, status="ERROR", peer_type="ER")
    assert names(engineer_client.get(f"/links/?gateway={north.cloud_id}")) == ["a", "b"]
    assert names(engineer_client.get("/links/?status=ERROR")) == ["b", "c"]
    assert names(engineer_client.get("/links/?peer_type=GDGW")) == ["b"]
    assert names(engineer_client.get("/links/?region=cn-east-3")) == ["c"]
    assert names(engineer_client.get("/links/?status=ERROR&region=cn-north-4")) == ["b"]


def test_link_list_free_text_matches_name_id_description_and_peer_id(engineer_client):
    peer = str(uuid.uuid4())
    one = make_peer_link(name="alpha")
    make_peer_link(name="beta", description="to the Frankfurt ER")
    make_peer_link(name="gamma", peer_gateway_id=peer)
    make_peer_link(name="delta")
    assert names(engineer_client.get("/links/?q=ALPH")) == ["alpha"]
    assert names(engineer_client.get(f"/links/?q={one.cloud_id[:8]}")) == ["alpha"]
    assert names(engineer_client.get("/links/?q=frankfurt")) == ["beta"]
    assert names(engineer_client.get(f"/links/?q={peer}")) == ["gamma"]


def test_link_list_ignores_forged_filter_values_with_a_message(engineer_client):
    make_peer_link(name="a")
    response = engineer_client.get(
        f"/links/?status=DROP TABLE&gateway={uuid.uuid4()}&peer_type=XX&region=mars-1&q={'x' * 500}"
    )
    assert response.status_code == 200
    assert names(response) == ["a"]
    assert "Some filters were ignored" in response.content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["a", "b", "c"]),
        ("-name", ["c", "b", "a"]),
        ("status", ["b", "c", "a"]),
        ("-status", ["a", "c", "b"]),
    ],
)
def test_link_list_sorts_by_whitelisted_columns(engineer_client, sort, expected):
    make_peer_link(name="a", status="PENDING_CREATE")
    make_peer_link(name="b", status="ACTIVE")
    make_peer_link(name="c", status="ERROR")
    assert names(engineer_client.get(f"/links/?sort={sort}")) == expected


@pytest.mark.parametrize("sort", ["password", "gateway__project__project_id", "-", "name,status", "' OR 1=1"])
def test_link_list_falls_back_to_default_order_on_an_unknown_sort(engineer_client, sort):
    make_peer_link(name="b")
    make_peer_link(name="a")
    response = engineer_client.get("/links/", {"sort": sort})
    assert response.status_code == 200
    assert names(response) == ["a", "b"]


def test_link_list_sort_headers_keep_the_filters_and_toggle_direction(engineer_client):
    make_peer_link(name="a", status="ERROR")
    body = engineer_client.get("/links/?status=ERROR&sort=name").content.decode()
    assert 'href="?status=ERROR&amp;sort=-name"' in body
    assert 'href="?status=ERROR&amp;sort=status"' in body


def pager_link(response, rel: str) -> str | None:
    """The URL of the pager's `rel` link (first, prev, next, last) as a browser follows it, or None."""
    found = re.search(rf'<a href="([^"]*)"[^>]* rel="{rel}"', response.content.decode())
    return "/links/" + html.unescape(found.group(1)) if found else None


def many_links(count: int, **fields) -> None:
    gateway = make_gateway()
    PeerLink.objects.bulk_create(
        [
            PeerLink(
                **{
                    "cloud_id": str(uuid.uuid4()),
                    "gateway": gateway,
                    "name": f"link-{i:03d}",
                    "status": "ACTIVE",
                    "peer_type": "ER",
                    "peer_gateway_id": str(uuid.uuid4()),
                    "peer_region": "cn-north-4",
                    "peer_project_id": "p",
                    **fields,
                }
            )
            for i in range(count)
        ]
    )


def walk_pages(client, response) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """The names on each page, following "next" from `response` to the end; then on each page going back
    by "prev" from there; and the page links followed."""
    pages, followed = [], []
    while True:
        pages.append(names(response))
        following = pager_link(response, "next")
        if following is None:
            break
        followed.append(following)
        response = client.get(following)
    going_back = []
    while (previous := pager_link(response, "prev")) is not None:
        followed.append(previous)
        response = client.get(previous)
        going_back.append(names(response))
    return pages, going_back, followed


def test_link_list_pages_by_fifty_with_next_previous_first_and_last_links(engineer_client):
    many_links(120)
    first = engineer_client.get("/links/")
    assert names(first) == [f"link-{i:03d}" for i in range(50)]
    assert "120 links" in first.content.decode()
    assert pager_link(first, "prev") is None and pager_link(first, "first") is None
    second = engineer_client.get(pager_link(first, "next"))
    third = engineer_client.get(pager_link(second, "next"))
    assert names(third) == [f"link-{i:03d}" for i in range(100, 120)]
    assert pager_link(third, "next") is None and pager_link(third, "last") is None
    back = engineer_client.get(pager_link(third, "prev"))
    assert names(back) == [f"link-{i:03d}" for i in range(50, 100)]
    assert names(engineer_client.get(pager_link(back, "first"))) == names(first)
    # The last page is the last fifty rows, whichever page it is reached from.
    assert names(engineer_client.get(pager_link(first, "last"))) == [f"link-{i:03d}" for i in range(70, 120)]


def test_link_list_pages_through_ties_in_the_sort_column_keeping_the_filters(engineer_client, monkeypatch):
    """Many rows share a status: every row is shown once going forward, and again going back, and the
    filter and order stay in each page link."""
    monkeypatch.setattr("peerlinks.views.links.PAGE_SIZE", 3)
    many_links(7, status="ERROR", owner_team="red")
    many_links(4, status="ACTIVE", owner_team="red")
    many_links(5, status="ERROR", owner_team="blue")
    url = "/links/?owner=red&sort=-status"
    red = PeerLink.objects.filter(owner_team="red")
    expected = [link.name for link in red.order_by("-status", "-cloud_id")]  # ties the column's way
    pages, going_back, links = walk_pages(engineer_client, engineer_client.get(url))
    assert all("owner=red" in link and "sort=-status" in link for link in links)
    assert sum(pages, []) == expected
    assert len(pages) == 4
    assert going_back == pages[-2::-1]


@pytest.mark.parametrize("sort", ["gateway", "-gateway"])
def test_link_list_pages_through_an_order_on_another_tables_column(engineer_client, monkeypatch, sort):
    """Sorted by gateway name (the page's ids sorted first, its rows read by id), every row is shown once
    going forward and again going back, in the order asked, ties by cloud id the column's way."""
    monkeypatch.setattr("peerlinks.views.links.PAGE_SIZE", 3)
    for name, count in (("gw-b", 4), ("gw-a", 3), ("gw-c", 4)):
        many_links(count, gateway=make_gateway(name=name))
    descending = sort.startswith("-")
    rows = sorted(
        PeerLink.objects.select_related("gateway"), key=lambda link: (link.gateway.name, link.cloud_id)
    )
    expected = [link.name for link in (reversed(rows) if descending else rows)]
    with CaptureQueriesContext(connection) as ctx:
        response = engineer_client.get(f"/links/?sort={sort}")
    assert len(ctx.captured_queries) <= 10
    pages, going_back, _ = walk_pages(engineer_client, response)
    assert sum(pages, []) == expected and len(pages) == 4
    assert going_back == pages[-2::-1]


def test_link_list_deep_page_seeks_instead_of_counting_through_the_rows_before(engineer_client):
    many_links(120)
    second = pager_link(engineer_client.get("/links/?status=ACTIVE"), "next")
    with CaptureQueriesContext(connection) as queries:
        response = engineer_client.get(second)
    assert names(response)[0] == "link-050"
    assert not [query["sql"] for query in queries if "OFFSET" in query["sql"].upper()]


@pytest.mark.parametrize("token", ["abc", "eyJ4IjoxfQ", "W10", "", "%00"])
def test_link_list_answers_a_page_link_it_did_not_give_with_the_first_page(engineer_client, token):
    many_links(5)
    response = engineer_client.get(f"/links/?after={token}")
    assert response.status_code == 200
    assert names(response)[0] == "link-000"


def test_link_list_says_so_when_a_page_link_belongs_to_another_order(engineer_client, monkeypatch):
    monkeypatch.setattr("peerlinks.views.links.PAGE_SIZE", 2)
    many_links(5)
    by_name = pager_link(engineer_client.get("/links/"), "next")
    response = engineer_client.get(by_name + "&sort=-status")
    assert response.status_code == 200
    assert len(names(response)) == 2
    assert "here is the first page" in response.content.decode()


def test_link_list_answers_a_page_link_past_the_end_with_the_last_page(engineer_client, monkeypatch):
    monkeypatch.setattr("peerlinks.views.links.PAGE_SIZE", 2)
    many_links(5)
    last = engineer_client.get("/links/?last=1")
    assert names(last) == ["link-003", "link-004"]
    beyond = pager_link(engineer_client.get(pager_link(last, "prev")), "next")
    PeerLink.objects.filter(name__in=["link-003", "link-004"]).delete()
    assert names(engineer_client.get(beyond)) == ["link-001", "link-002"]


def test_link_list_over_htmx_returns_only_the_table(engineer_client):
    make_peer_link(name="a")
    response = engineer_client.get("/links/?status=ACTIVE", **HX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "peerlinks/_peerlink_table.html"
    body = response.content.decode()
    assert 'id="peerlink-table"' in body
    assert "<html" not in body


def test_link_list_boosted_request_gets_the_full_page(engineer_client):
    response = engineer_client.get("/links/", HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    assert "<html" in response.content.decode()


def test_link_list_filter_form_works_with_and_without_javascript(engineer_client):
    body = engineer_client.get("/links/").content.decode()
    assert 'method="get" action="/links/"' in body
    assert 'hx-get="/links/"' in body
    assert 'hx-push-url="true"' in body


def test_link_list_query_count_is_the_same_for_5_and_50_rows(engineer_client, django_assert_num_queries):
    gateway = make_gateway()
    for i in range(5):
        make_peer_link(gateway=gateway, name=f"a-{i}", status="PENDING_CREATE")
    with CaptureQueriesContext(connection) as five:
        engineer_client.get("/links/")
    other = make_gateway(region="cn-east-3")
    router = make_router()
    for i in range(45):
        peer = {"peer_type": "ER", "peer_gateway_id": router.cloud_id} if i % 3 else {}
        make_peer_link(gateway=other if i % 2 else gateway, name=f"b-{i}", status="ERROR", reason="r", **peer)
    with django_assert_num_queries(len(five)):
        response = engineer_client.get("/links/")
    assert len(names(response)) == 50


def test_link_list_rows_name_each_peer(engineer_client):
    router = make_router(name="core-er-1")
    make_peer_link(name="to-router", peer_type="ER", peer_gateway_id=router.cloud_id)
    make_peer_link(name="to-unknown", peer_type="ER", peer_gateway_id=str(uuid.uuid4()))
    body = engineer_client.get("/links/").content.decode()
    assert '<strong class="peer-name">core-er-1</strong>' in body
    assert router.cloud_id in body
    assert "name not known to dcportal" in body


# --- status badge -----------------------------------------------------------------------------


def test_pending_badge_is_followed_by_the_pages_one_poll_not_its_own(engineer_client):
    link = make_peer_link(status="PENDING_CREATE")
    body = engineer_client.get("/links/").content.decode()
    assert f"/links/{link.cloud_id}/status/" not in body
    assert f'name="link" value="{link.cloud_id}:PENDING_CREATE" form="live-poll"' in body
    assert 'hx-get="/live/?fast=1"' in body
    assert 'hx-trigger="every 1000ms"' in body


def test_page_without_a_pending_badge_polls_slowly(engineer_client):
    link = make_peer_link(status="ACTIVE")
    body = engineer_client.get("/links/").content.decode()
    assert f"/links/{link.cloud_id}/status/" not in body
    assert 'class="live-link"' not in body
    assert 'hx-get="/live/"' in body
    assert 'hx-trigger="every 2000ms"' in body


def test_link_status_of_a_pending_link_names_it_to_the_page_poll(engineer_client):
    link = make_peer_link(status="PENDING_CREATE")
    response = engineer_client.get(f"/links/{link.cloud_id}/status/", **HX)
    assert response.status_code == 200
    assert "Creating" in response.content.decode()
    assert f'value="{link.cloud_id}:PENDING_CREATE"' in response.content.decode()


def test_link_status_stops_polling_with_286_and_the_final_badge(engineer_client):
    link = make_peer_link(status="ERROR", reason="peer router gone")
    response = engineer_client.get(f"/links/{link.cloud_id}/status/", **HX)
    assert response.status_code == 286
    body = response.content.decode()
    assert f'id="status-{link.cloud_id}"' in body
    assert "status-error" in body
    assert "hx-get" not in body


def test_link_status_of_a_gone_link_is_final(engineer_client):
    link = make_peer_link(status="PENDING_UPDATE", gone_at=timezone.now())
    assert engineer_client.get(f"/links/{link.cloud_id}/status/", **HX).status_code == 286


def test_link_status_without_htmx_redirects_to_the_detail(engineer_client):
    link = make_peer_link()
    response = engineer_client.get(f"/links/{link.cloud_id}/status/")
    assert response.status_code == 302
    assert response["Location"] == f"/links/{link.cloud_id}/"


def test_link_status_of_an_unknown_link_is_404(engineer_client):
    assert engineer_client.get(f"/links/{uuid.uuid4()}/status/", **HX).status_code == 404


# --- CSV export -------------------------------------------------------------------------------


def export_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    raw = b"".join(response.streaming_content)
    assert raw.startswith(codecs.BOM_UTF8), "Excel reads a CSV without a BOM in a legacy code page"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_export_streams_the_filtered_set_across_all_pages(engineer_client):
    gateway = make_gateway(region="cn-east-3")
    for i in range(60):
        make_peer_link(gateway=gateway, name=f"err-{i:02d}", status="ERROR")
    make_peer_link(name="ok", status="ACTIVE")
    make_peer_link(name="gone", status="ERROR", gone_at=timezone.now())
    rows = export_rows(engineer_client.get("/links/export.csv?status=ERROR&sort=-name&page=1"))
    assert len(rows) == 60
    assert rows[0]["name"] == "err-59"
    assert rows[0]["region"] == "cn-east-3"
    assert rows[0]["gateway_id"] == gateway.cloud_id


def test_export_has_a_sane_column_set(engineer_client):
    make_peer_link(name="l", labels=["prod", "fin"], owner_team="netops")
    rows = export_rows(engineer_client.get("/links/export.csv"))
    assert list(rows[0])[:5] == ["cloud_id", "name", "description", "status", "reason"]
    assert rows[0]["labels"] == "prod;fin"
    assert rows[0]["owner_team"] == "netops"


def test_export_names_each_peer_and_keeps_chinese_names_intact(engineer_client):
    router = make_router(name="核心路由器")
    peer_gateway = make_gateway(name="gw-peer")
    make_peer_link(name="a-到路由器", peer_type="ER", peer_gateway_id=router.cloud_id)
    make_peer_link(name="b-to-gw", peer_type="GDGW", peer_gateway_id=peer_gateway.cloud_id)
    make_peer_link(name="c-unknown", peer_type="ER", peer_gateway_id=str(uuid.uuid4()))
    response = engineer_client.get("/links/export.csv?sort=name")
    rows = export_rows(response)
    assert [(row["name"], row["peer_name"]) for row in rows] == [
        ("a-到路由器", "核心路由器"),
        ("b-to-gw", "gw-peer"),
        ("c-unknown", ""),
    ]


def test_export_says_gone_for_a_gone_link(engineer_client):
    make_peer_link(name="gone", status="ACTIVE", gone_at=timezone.now())
    rows = export_rows(engineer_client.get("/links/export.csv?show_gone=on"))
    assert [(row["name"], row["status"]) for row in rows] == [("gone", "GONE")]


def test_export_defuses_spreadsheet_formulas(engineer_client):
    make_peer_link(name="x", description='=HYPERLINK("http://evil")')
    assert export_rows(engineer_client.get("/links/export.csv"))[0]["description"].startswith("'=")


def test_export_with_forged_filters_is_not_an_error(engineer_client):
    make_peer_link(name="a")
    assert len(export_rows(engineer_client.get("/links/export.csv?status=NOPE&sort=secret"))) == 1


def test_export_requires_login(client):
    assert client.get("/links/export.csv").status_code == 302


# --- detail -----------------------------------------------------------------------------------


def test_detail_shows_fields_timeline_changes_events_and_request_ids(engineer_client, engineer):
    link = make_peer_link(name="to-er", status="ACTIVE", description="primary path", link_id="")
    StatusChange.objects.create(peer_link=link, to_status="PENDING_CREATE")
    StatusChange.objects.create(peer_link=link, from_status="PENDING_CREATE", to_status="ACTIVE")
    change = ChangeRequest.objects.create(
        kind="update",
        state="done",
        requested_by=engineer,
        gateway=link.gateway,
        peer_link=link,
        cloud_request_ids=["req-from-change"],
    )
    AuditEvent.objects.create(
        action="peer_link.updated",
        object_type="peer_link",
        object_id=link.cloud_id,
        cloud_request_id="req-from-event",
        change_request=change,
    )
    response = engineer_client.get(f"/links/{link.cloud_id}/")
    assert response.status_code == 200
    assert "peerlinks/peerlink_detail.html" in [t.name for t in response.templates]
    body = response.content.decode()
    for text in ["to-er", "primary path", link.peer_gateway_id, "PENDING_CREATE", "peer_link.updated"]:
        assert text in body
    assert response.context["story"].cloud_request_ids == ["req-from-change", "req-from-event"]
    assert 'href="/audit/?request_id=req-from-change"' in body
    assert f'href="/links/{link.cloud_id}/edit/"' in body
    assert f'href="/links/{link.cloud_id}/delete/"' in body


def test_detail_of_a_cloud_connect_link_is_read_only(engineer_client):
    link = make_peer_link(create_owner="cc")
    body = engineer_client.get(f"/links/{link.cloud_id}/").content.decode()
    assert 'id="read-only-notice"' in body
    assert "/edit/" not in body
    assert "/delete/" not in body


def test_detail_of_a_gone_link_offers_no_changes(engineer_client):
    link = make_peer_link(gone_at=timezone.now())
    body = engineer_client.get(f"/links/{link.cloud_id}/").content.decode()
    assert 'id="gone-notice"' in body
    assert "/delete/" not in body


def test_a_link_deleted_through_dcportal_reads_as_gone_with_its_delete_in_the_timeline(
    engineer_client, engineer
):
    link = make_peer_link(name="was-here", status="ACTIVE", gone_at=timezone.now())
    StatusChange.objects.create(peer_link=link, to_status="ACTIVE")
    delete = ChangeRequest.objects.create(
        kind="delete", state="done", requested_by=engineer, gateway=link.gateway, peer_link=link
    )
    body = engineer_client.get(f"/links/{link.cloud_id}/").content.decode()
    status = body.split('id="link-status">', 1)[1].split("</dd>", 1)[0]
    assert status.startswith("Gone")
    gone = body.split('id="timeline-gone">', 1)[1].split("</li>", 1)[0]
    assert f'href="/changes/{delete.pk}/"' in gone
    assert "asked by engineer" in gone
    assert "Edit local fields" not in body
    assert f"/links/{link.cloud_id}/local/" not in body


def test_a_link_found_gone_by_a_sync_says_so_in_its_timeline(engineer_client):
    link = make_peer_link(gone_at=timezone.now())
    body = engineer_client.get(f"/links/{link.cloud_id}/").content.decode()
    gone = body.split('id="timeline-gone">', 1)[1].split("</li>", 1)[0]
    assert "found gone by a sync" in gone


def test_a_present_link_has_no_gone_step(engineer_client):
    link = make_peer_link()
    body = engineer_client.get(f"/links/{link.cloud_id}/").content.decode()
    assert 'id="timeline-gone"' not in body
    assert "Edit local fields" in body


def test_detail_names_the_peer_with_its_id_beside_it(engineer_client):
    router = make_router(name="er-core")
    link = make_peer_link(peer_type="ER", peer_gateway_id=router.cloud_id)
    body = engineer_client.get(f"/links/{link.cloud_id}/").content.decode()
    peer = body.split('id="link-peer">', 1)[1].split("</dd>", 1)[0]
    assert '<strong class="peer-name">er-core</strong>' in peer
    assert router.cloud_id in peer
    unknown = make_peer_link(peer_type="GDGW")
    body = engineer_client.get(f"/links/{unknown.cloud_id}/").content.decode()
    assert "name not known to dcportal" in body.split('id="link-peer">', 1)[1].split("</dd>", 1)[0]


def test_detail_of_an_unknown_link_is_404(engineer_client):
    assert engineer_client.get(f"/links/{uuid.uuid4()}/").status_code == 404
    assert engineer_client.get("/links/not-a-uuid/").status_code == 404


def test_detail_skips_the_attachment_lookup_without_a_link_id(engineer_client, settings):
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"
    link = make_peer_link(peer_type="ER", link_id="")
    response = engineer_client.get(f"/links/{link.cloud_id}/")
    assert response.status_code == 200
    assert response.context["attachment"] is None


def test_detail_shows_unknown_attachment_state_when_the_cloud_is_down(engineer_client, settings):
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.CLOUD_PROJECT_IDS = {"cn-north-4": "0123456789abcdef0123456789abcdef"}
    settings.CLOUD_MAX_RETRIES = 0
    link = make_peer_link(peer_type="ER", link_id=str(uuid.uuid4()))
    response = engineer_client.get(f"/links/{link.cloud_id}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "unknown: " not in body
    assert "The attachment's state could not be read: " in body
    assert "dcportal cannot reach Huawei Cloud (no connection to its API)." in body
    detail = '<details class="tech-detail"><summary>Technical detail</summary><code>ShowAttachment failed: '
    assert detail in body


def test_detail_shows_the_live_er_attachment_state(engineer_client, demo_simulator, settings):
    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    from peerlinks import cloud

    region = "cn-north-4"
    wire = next(
        link
        for gateway in cloud.list_global_dc_gateways(region=region)
        for link in cloud.list_peer_links(region=region, gateway_id=gateway.id)
        if link.peer_site.type == "ER" and link.peer_site.link_id and link.status == "ACTIVE"
    )
    gateway = make_gateway(region=region, cloud_id=wire.global_dc_gateway_id)
    link = make_peer_link(
        gateway=gateway,
        cloud_id=wire.id,
        peer_type="ER",
        peer_gateway_id=wire.peer_site.gateway_id,
        peer_region=wire.peer_site.region_id,
        link_id=wire.peer_site.link_id,
    )
    response = engineer_client.get(f"/links/{link.cloud_id}/")
    assert response.status_code == 200
    attachment = response.context["attachment"]
    assert attachment.error == ""
    assert attachment.state


def test_a_slow_cloud_holds_the_link_page_at_most_the_attachment_timeout(
    engineer_client, simulator, settings, monkeypatch
):
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_MAX_RETRIES = 3
    monkeypatch.setattr("peerlinks.services.links.ATTACHMENT_TIMEOUT", 0.3)
    link = make_peer_link(peer_type="ER", link_id=str(uuid.uuid4()), peer_gateway_id=str(uuid.uuid4()))
    simulator.sim.set_faults(latency_ms=2000)
    started = time.monotonic()
    response = engineer_client.get(f"/links/{link.cloud_id}/")
    assert time.monotonic() - started < 1.5  # one try, not 2 s × 4
    assert response.status_code == 200
    assert response.context["attachment"].error


# --- local fields -----------------------------------------------------------------------------


def test_local_fields_are_saved_and_audited(engineer_client, engineer):
    link = make_peer_link(owner_team="old-team")
    response = engineer_client.post(
        f"/links/{link.cloud_id}/local/",
        {"owner_team": "netops", "ticket_ref": "CHG-123", "labels": " prod, finance ,prod,, "},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/links/{link.cloud_id}/"
    link.refresh_from_db()
    assert (link.owner_team, link.ticket_ref, link.labels) == ("netops", "CHG-123", ["prod", "finance"])
    event = AuditEvent.objects.get(action="peer_link.local_fields")
    assert event.actor == engineer
    assert event.before["owner_team"] == "old-team"
    assert event.after["labels"] == ["prod", "finance"]


def test_local_fields_over_htmx_return_the_panel(engineer_client):
    link = make_peer_link()
    response = engineer_client.post(
        f"/links/{link.cloud_id}/local/", {"owner_team": "netops", "labels": "a"}, **HX
    )
    assert response.status_code == 200
    assert response.templates[0].name == "peerlinks/_local_fields.html"
    body = response.content.decode()
    assert 'id="local-fields"' in body
    assert "netops" in body


def test_unchanged_local_fields_write_no_audit_event(engineer_client):
    link = make_peer_link(owner_team="t")
    engineer_client.post(f"/links/{link.cloud_id}/local/", {"owner_team": "t"})
    assert not AuditEvent.objects.filter(action="peer_link.local_fields").exists()


@pytest.mark.parametrize(
    "data",
    [
        {"owner_team": "x" * 101},
        {"ticket_ref": "x" * 101},
        {"labels": ",".join(f"l{i}" for i in range(21))},
        {"labels": "ok," + "y" * 41},
    ],
)
def test_invalid_local_fields_are_refused_with_a_message(engineer_client, data):
    link = make_peer_link(owner_team="kept")
    plain = engineer_client.post(f"/links/{link.cloud_id}/local/", data)
    assert plain.status_code == 400
    assert "field-error" in plain.content.decode()
    htmx = engineer_client.post(f"/links/{link.cloud_id}/local/", data, **HX)
    assert htmx.status_code == 200
    assert "field-error" in htmx.content.decode()
    link.refresh_from_db()
    assert link.owner_team == "kept"
    assert not AuditEvent.objects.exists()


def test_local_fields_of_a_gone_link_are_refused_with_a_message(engineer_client):
    link = make_peer_link(owner_team="kept", gone_at=timezone.now())
    plain = engineer_client.post(f"/links/{link.cloud_id}/local/", {"owner_team": "new"}, follow=True)
    assert plain.redirect_chain == [(f"/links/{link.cloud_id}/", 302)]
    assert "no longer exists in the cloud" in plain.content.decode()
    htmx = engineer_client.post(f"/links/{link.cloud_id}/local/", {"owner_team": "new"}, **HX)
    assert htmx["HX-Redirect"] == f"/links/{link.cloud_id}/"
    link.refresh_from_db()
    assert link.owner_team == "kept"
    assert not AuditEvent.objects.exists()


def test_local_fields_of_an_unknown_link_is_404(engineer_client):
    assert engineer_client.post(f"/links/{uuid.uuid4()}/local/", {"owner_team": "x"}).status_code == 404


def test_local_fields_need_post(engineer_client):
    link = make_peer_link()
    assert engineer_client.get(f"/links/{link.cloud_id}/local/").status_code == 405


def test_link_list_filters_fold_on_a_phone_unless_a_filter_is_set(engineer_client):
    folded = engineer_client.get("/links/?sort=-name").content.decode()
    assert '<details class="filters-fold">' in folded
    for query in ("status=ACTIVE", "q=core", "show_gone=on", "status=NOPE"):
        body = engineer_client.get(f"/links/?{query}").content.decode()
        assert '<details class="filters-fold" open>' in body, query


@pytest.mark.parametrize("value", ["x\x00y", 10**30, None, True, "2026-13-45"])
def test_link_list_answers_a_forged_page_link_with_the_first_page(engineer_client, monkeypatch, value):
    """A token carrying the list's own fingerprint but values no row has (a NUL, a huge number, a date
    that is none) is a bad page link, never a 500."""
    from peerlinks import paging

    monkeypatch.setattr("peerlinks.views.links.PAGE_SIZE", 2)
    many_links(5)
    for sort, order in (("", ["name", "cloud_id"]), ("-created", ["-cloud_created_at", "cloud_id"])):
        keys = paging.Keyset.of(PeerLink.objects.order_by(*order))
        raw = json.dumps([keys.fingerprint, [value, value]]).encode()
        token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        response = engineer_client.get("/links/", {"after": token, "sort": sort})
        assert response.status_code == 200
        assert len(names(response)) <= 2
