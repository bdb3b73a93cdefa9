import pytest
from django.utils import timezone

from peerlinks.models import ChangeRequest
from peerlinks.services import search
from tests.conftest import listed_names, make_gateway, make_peer_link, make_router

pytestmark = pytest.mark.django_db


def _change(link, **overrides):
    values = {
        "kind": ChangeRequest.Kind.UPDATE,
        "requested_by": overrides.pop("user"),
        "gateway": link.gateway,
        "peer_link": link,
        "payload": {"name": "renamed", "description": "", "link_name": link.name},
    }
    values.update(overrides)
    return ChangeRequest.objects.create(**values)


def _kinds(response):
    return {group.kind: group for group in response.context["results"].groups}


def test_search_requires_the_view_role(client, outsider):
    assert client.get("/search/?q=x")["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.get("/search/?q=x").status_code == 403


def test_search_finds_each_kind_by_name_or_id_part(engineer_client, engineer):
    gateway = make_gateway(name="gdgw-finance-1")
    router = make_router(name="er-finance-core")
    link = make_peer_link(
        gateway=gateway,
        name="finance-to-core",
        peer_gateway_id=router.cloud_id,
        owner_team="finance-net",
        ticket_ref="FIN-1234",
        labels=["finance-prod", "dc-a"],
    )
    change = _change(link, user=engineer, payload={"name": "finance-x", "link_name": link.name})
    response = engineer_client.get("/search/", {"q": "FINANCE"})
    assert response.status_code == 200
    groups = _kinds(response)
    assert [row.name for row in groups["links"].rows] == ["finance-to-core"]
    assert [row.name for row in groups["gateways"].rows] == ["gdgw-finance-1"]
    assert [row.name for row in groups["routers"].rows] == ["er-finance-core"]
    assert [row.pk for row in groups["changes"].rows] == [change.pk]
    assert groups["owners"].rows == [("finance-net", 1)]
    assert groups["labels"].rows == [("finance-prod", 1)]
    body = response.content.decode()
    assert link.get_absolute_url() in body
    assert gateway.get_absolute_url() in body
    assert f"/links/?q={router.cloud_id}" in body
    assert change.get_absolute_url() in body
    assert "/links/?owner=finance-net" in body
    assert "/links/?label=finance-prod" in body
    # by ID part, ticket and change number
    by_id = _kinds(engineer_client.get("/search/", {"q": link.cloud_id[:13]}))
    assert [row.name for row in by_id["links"].rows] == ["finance-to-core"]
    assert _kinds(engineer_client.get("/search/", {"q": "fin-12"}))["tickets"].rows == [("FIN-1234", 1)]
    by_number = _kinds(engineer_client.get("/search/", {"q": f"#{change.pk}"}))
    assert change.pk in [row.pk for row in by_number["changes"].rows]


def test_search_leaves_gone_links_out(engineer_client):
    make_peer_link(name="gone-finance", gone_at=timezone.now())
    assert "links" not in _kinds(engineer_client.get("/search/", {"q": "gone-finance"}))


def test_an_empty_query_and_no_match_say_so_plainly(engineer_client):
    body = engineer_client.get("/search/").content.decode()
    assert "Type a name, an ID" in body
    body = engineer_client.get("/search/", {"q": "nothing-like-this"}).content.decode()
    assert "Nothing matches <strong>nothing-like-this</strong>." in body


def test_a_too_long_query_is_a_form_error_not_a_500(engineer_client):
    response = engineer_client.get("/search/", {"q": "x" * 500})
    assert response.status_code == 200
    assert "at most 100 characters" in response.content.decode()


def test_each_kind_is_bounded_and_says_there_are_more(engineer_client):
    gateway = make_gateway()
    for n in range(search.LIMIT + 3):
        make_peer_link(gateway=gateway, name=f"bulk-{n:02d}")
    group = _kinds(engineer_client.get("/search/", {"q": "bulk-"}))["links"]
    assert group.count == search.LIMIT
    assert group.more
    assert "/links/?q=bulk-" in engineer_client.get("/search/", {"q": "bulk-"}).content.decode()


def test_search_costs_the_same_queries_however_many_match(engineer_client, django_assert_max_num_queries):
    gateway = make_gateway(name="many-gw")
    for n in range(30):
        make_peer_link(
            gateway=gateway, name=f"many-{n}", owner_team=f"team-many-{n % 3}", labels=[f"many-{n}"]
        )
    # 14, and since cloud accounts: the user's roles for one account, the accounts matching, the accounts
    # whose regions the cloud banner looks at, and whether there are several (rows then name their account)
    with django_assert_max_num_queries(18):
        response = engineer_client.get("/search/", {"q": "many"})
    assert response.status_code == 200


def test_a_chinese_label_is_found_in_part_and_filtered_whole(engineer_client):
    make_peer_link(name="cn-link", labels=["生产-北京"])
    make_peer_link(name="other-link", labels=["生产-上海"])
    assert _kinds(engineer_client.get("/search/", {"q": "北京"}))["labels"].rows == [("生产-北京", 1)]
    assert listed_names(engineer_client.get("/links/", {"label": "生产-北京"})) == ["cn-link"]


def test_the_search_box_is_in_the_top_bar_for_viewers_only(client, viewer, outsider):
    client.force_login(viewer)
    body = client.get("/links/").content.decode()
    assert 'id="search-box"' in body
    assert 'action="/search/"' in body
    client.force_login(outsider)
    assert 'id="search-box"' not in client.get("/notices/").content.decode()


def test_a_pending_link_in_the_results_shows_its_status_without_polling(engineer_client):
    make_peer_link(name="pending-found", status="PENDING_CREATE")
    body = engineer_client.get("/search/", {"q": "pending-found"}).content.decode()
    assert "Creating" in body
    results = body.split('id="results-links"')[1].split('id="live-poll"')[0]
    # A snapshot: the badge does not poll, and the page's poll does not follow it.
    assert "hx-trigger" not in results and "live-link" not in results


def test_a_whole_id_in_any_case_finds_the_link_its_peer_and_the_changes_to_it(engineer_client, engineer):
    router = make_router(name="er-by-id")
    link = make_peer_link(name="link-by-id", peer_gateway_id=router.cloud_id)
    make_peer_link(name="other-link")
    change = _change(link, user=engineer)
    groups = _kinds(engineer_client.get("/search/", {"q": link.cloud_id.upper()}))
    assert [row.name for row in groups["links"].rows] == ["link-by-id"]
    assert [row.pk for row in groups["changes"].rows] == [change.pk]
    groups = _kinds(engineer_client.get("/search/", {"q": router.cloud_id}))
    assert [row.name for row in groups["routers"].rows] == ["er-by-id"]
    assert [row.name for row in groups["links"].rows] == ["link-by-id"]


def test_label_counts_say_at_least_when_only_part_of_the_matches_was_read(engineer_client, monkeypatch):
    gateway = make_gateway()
    for n in range(4):
        make_peer_link(gateway=gateway, labels=["wide-label"], name=f"wide-{n}")
    assert "4 links" in engineer_client.get("/search/", {"q": "wide-label"}).content.decode()
    monkeypatch.setattr(search, "LABEL_ROWS", 2)
    assert "at least 2 links" in engineer_client.get("/search/", {"q": "wide-label"}).content.decode()
