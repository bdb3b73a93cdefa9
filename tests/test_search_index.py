"""Searching links through the search index (peerlinks.search_index): the same links as reading every
link's every searched column, the index kept in step as links come, change and go, and the index used."""

import uuid

import pytest
from django.db import connection

from peerlinks import search_index
from peerlinks.models import PeerLink
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db

QUERIES = [
    "link",
    "LINK-00",
    "Frankfurt",
    "frankfurt er",
    "t e",
    "中文",
    "文标签",
    "Ünï",
    "ünï",
    'say "hi"',
    '"hi',
    "50%",
    "a_b",
    "chg-12",
    "Team-Blue",
    "prod",
    "dc-",
    "nothing-like-this",
    "ab",
    "k",
]


def _links() -> None:
    make_peer_link(name="link-001", description="to the Frankfurt ER", owner_team="team-blue")
    make_peer_link(name="LINK-002", ticket_ref="CHG-1234", labels=["prod", "dc-3"])
    make_peer_link(name="other", labels=["中文标签", 'say "hi"'], description="ÜNÏCODE Ünïcode")
    make_peer_link(name="percent", description="50% done, a_b")
    make_peer_link(name="plain", description="abc", owner_team="Team-Red")


def _without_index(monkeypatch, query: str) -> list[str]:
    with monkeypatch.context() as patched:
        patched.setattr(search_index, "narrowed", lambda queryset, texts, **_: queryset)
        return sorted(PeerLink.objects.matching(query).values_list("name", flat=True))


@pytest.mark.parametrize("query", QUERIES)
def test_search_through_the_index_finds_what_reading_every_link_finds(monkeypatch, query):
    _links()
    found = sorted(PeerLink.objects.matching(query).values_list("name", flat=True))
    assert found == _without_index(monkeypatch, query)


@pytest.mark.parametrize("few_found", [1, search_index.FEW_FOUND])
@pytest.mark.parametrize("query", QUERIES)
def test_a_search_counted_then_read_finds_what_reading_every_link_finds(monkeypatch, query, few_found):
    """The list page's search (looked up once for its count and its page): the same links, whether the
    index finds few enough links to name them or asks again in each statement."""
    _links()
    monkeypatch.setattr(search_index, "FEW_FOUND", few_found)
    found = PeerLink.objects.matching(query, read_twice=True)
    assert found.count() == len(_without_index(monkeypatch, query))
    assert sorted(found.values_list("name", flat=True)) == _without_index(monkeypatch, query)


def test_search_through_the_index_finds_a_part_of_each_searched_column(monkeypatch):
    _links()
    link = PeerLink.objects.get(name="other")
    for query in [link.cloud_id[4:20], link.peer_gateway_id[-12:], "中文", "nïcode"]:
        assert "other" in PeerLink.objects.matching(query).values_list("name", flat=True), query


def test_the_index_follows_links_as_they_come_change_and_go():
    link = make_peer_link(name="first-name", owner_team="alpha-team")
    assert list(PeerLink.objects.matching("first-name")) == [link]
    link.name = "second-name"
    link.save()
    assert not PeerLink.objects.matching("first-name").exists()
    assert list(PeerLink.objects.matching("second-name")) == [link]
    PeerLink.objects.filter(pk=link.pk).update(owner_team="omega-team", labels=["edge-zone"])
    assert list(PeerLink.objects.matching("omega-te")) == [link]
    assert list(PeerLink.objects.matching("edge-zo")) == [link]
    assert not PeerLink.objects.matching("alpha-te").exists()
    link.delete()
    assert not PeerLink.objects.matching("second-name").exists()


def test_a_search_is_answered_from_the_index():
    _links()
    plan = _plan(PeerLink.objects.matching("frankfurt"))
    if connection.vendor == "postgresql":
        assert search_index.PG_INDEX in plan
    else:
        assert connection.vendor == "sqlite"
        assert f"{search_index.FTS_TABLE} VIRTUAL TABLE" in plan


def test_a_text_shorter_than_the_index_can_find_is_still_searched():
    _links()
    assert list(PeerLink.objects.matching("ai").values_list("name", flat=True)) == ["plain"]
    assert list(PeerLink.objects.matching("0%").values_list("name", flat=True)) == ["percent"]


def test_a_whole_id_is_looked_up_not_searched():
    link = make_peer_link(name="by-id")
    assert list(PeerLink.objects.matching(link.cloud_id.upper())) == [link]
    assert not PeerLink.objects.matching(str(uuid.uuid4())).exists()


def _plan(queryset) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: a scan would win
    return queryset.explain()
