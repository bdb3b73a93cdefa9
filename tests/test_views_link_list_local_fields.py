"""Owner team, ticket and labels in the link list: columns, filters kept in the URL, search terms, CSV."""

import csv
import io

import pytest

from tests.conftest import listed_names, make_peer_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def links():
    return {
        "a": make_peer_link(
            name="a-link", owner_team="net-core", ticket_ref="CHG-1", labels=["prod", "dc-a"]
        ),
        "b": make_peer_link(name="b-link", owner_team="finance", ticket_ref="CHG-2", labels=["prod"]),
        "c": make_peer_link(name="c-link", labels=["production"]),
    }


def _names(response):
    return listed_names(response)


def test_owner_ticket_and_label_are_columns_linking_to_their_filter(engineer_client, links):
    body = engineer_client.get("/links/").content.decode()
    assert ">Owner</a>" in body and ">Ticket</a>" in body and ">Labels</th>" in body
    assert 'href="/links/?owner=net-core">net-core</a>' in body
    assert 'href="/links/?ticket=CHG-1">CHG-1</a>' in body
    assert 'href="/links/?label=dc-a">dc-a</a>' in body


def test_owner_ticket_and_label_filter_the_list(engineer_client, links):
    assert _names(engineer_client.get("/links/", {"owner": "NET-CORE"})) == ["a-link"]
    assert _names(engineer_client.get("/links/", {"ticket": "chg-2"})) == ["b-link"]
    # a label filter matches whole labels: "prod" is not "production"
    assert _names(engineer_client.get("/links/", {"label": "prod"})) == ["a-link", "b-link"]
    assert _names(engineer_client.get("/links/", {"label": "prod", "owner": "finance"})) == ["b-link"]
    # the filter form shows what the URL asked for, so a shared link reopens the same list
    body = engineer_client.get("/links/", {"label": "prod", "owner": "finance"}).content.decode()
    assert 'name="owner" value="finance"' in body
    assert 'name="label" value="prod"' in body


def test_the_search_field_finds_owner_ticket_and_label(engineer_client, links):
    assert _names(engineer_client.get("/links/", {"q": "core"})) == ["a-link"]
    assert _names(engineer_client.get("/links/", {"q": "chg-2"})) == ["b-link"]
    assert _names(engineer_client.get("/links/", {"q": "product"})) == ["c-link"]


def test_sorting_by_owner_keeps_links_without_one_together(engineer_client, links):
    assert _names(engineer_client.get("/links/", {"sort": "owner"})) == ["c-link", "b-link", "a-link"]


def test_the_csv_of_a_filtered_list_has_owner_ticket_and_labels(engineer_client, links):
    response = engineer_client.get("/links/export.csv", {"owner": "net-core"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["name"], r["owner_team"], r["ticket_ref"], r["labels"]) for r in rows] == [
        ("a-link", "net-core", "CHG-1", "prod;dc-a")
    ]


def test_an_overlong_owner_filter_is_a_form_error_not_a_500(engineer_client, links):
    response = engineer_client.get("/links/", {"owner": "x" * 500})
    assert response.status_code == 200
    assert "Some filters were ignored" in response.content.decode()
