"""Every page names each row's cloud account when there are several (a column, a filter kept in the URL
and the export), and stays as it was with one; with LIMIT_READING_TO_OWN_ACCOUNTS a user with a role in
one account reads that account only, everywhere."""

import csv
import io

import pytest

from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


# --- Lists and filters --------------------------------------------------------------------------


def test_link_list_has_no_account_column_or_filter_with_one_account(viewer_client):
    make_peer_link(name="pl-alone")
    body = viewer_client.get("/links/").content.decode()
    assert "pl-alone" in body
    assert 'name="account"' not in body
    assert "?account=" not in body


def test_link_list_names_each_links_account_and_filters_by_it(viewer_client, carry_two_accounts):
    body = viewer_client.get("/links/").content.decode()
    assert 'name="account"' in body
    assert "pl-first" in body and "pl-teamb" in body
    assert '<a href="/links/?account=team-b">team-b</a>' in body
    only_b = viewer_client.get("/links/", {"account": "team-b"}).content.decode()
    assert "pl-teamb" in only_b and "pl-first" not in only_b
    # the export link keeps the filter
    assert "/links/export.csv?account=team-b" in only_b


def test_link_list_with_an_unknown_account_says_the_filter_was_ignored(viewer_client, carry_two_accounts):
    response = viewer_client.get("/links/", {"account": "nope"})
    assert response.status_code == 200
    assert "Some filters were ignored" in response.content.decode()


def test_link_export_has_an_account_column_and_keeps_the_account_filter(viewer_client, carry_two_accounts):
    rows = _csv(viewer_client.get("/links/export.csv"))
    assert {(row["name"], row["account"]) for row in rows} == {
        ("pl-first", carry_two_accounts["first"].name),
        ("pl-teamb", "team-b"),
    }
    rows = _csv(viewer_client.get("/links/export.csv", {"account": "team-b"}))
    assert [row["name"] for row in rows] == ["pl-teamb"]


def test_link_list_can_be_sorted_by_account(viewer_client, carry_two_accounts):
    body = viewer_client.get("/links/", {"sort": "-account"}).content.decode()
    assert body.index("pl-teamb") < body.index("pl-first")
