"""The version of the data pages draw (peerlinks.data_version), and the parts of pages kept under it: a
person never sees a kept part older than what was last written, whoever wrote it and however."""

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Subquery
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from peerlinks import data_version
from peerlinks.models import CloudProject, Gateway, Notice, PeerLink, ProcessHeartbeat, StatusChange
from tests.conftest import _user, listed_names, make_gateway, make_peer_link, make_router

pytestmark = pytest.mark.django_db(transaction=True)

TOPOLOGY = "/topology/"


def test_every_way_django_writes_a_drawn_table_moves_the_version(engineer):
    link = make_peer_link()
    writes = {
        "save": lambda: PeerLink.objects.filter(pk=link.pk).first().save(),
        "update": lambda: PeerLink.objects.filter(pk=link.pk).update(status="ERROR"),
        "bulk_create": lambda: StatusChange.objects.bulk_create(
            [
                StatusChange(peer_link=link, to_status="ERROR"),
                StatusChange(peer_link=link, to_status="ACTIVE"),
            ]
        ),
        "delete": lambda: StatusChange.objects.filter(peer_link=link).delete(),
        "raw SQL": lambda: connection.cursor().execute(
            f"UPDATE {PeerLink._meta.db_table} SET reason = %s WHERE id = %s", ["x", link.pk]
        ),
    }
    for how, write in writes.items():
        before = data_version.current()
        write()
        assert data_version.current() > before, how


def test_writes_to_tables_no_page_part_draws_leave_the_version(engineer):
    before = data_version.current()
    Notice.objects.create(user=engineer, message="hello")
    ProcessHeartbeat.objects.create(
        kind="worker",
        name="w",
        host="h",
        pid=1,
        started_at="2026-01-01T00:00Z",
        last_seen="2026-01-01T00:00Z",
    )
    ProcessHeartbeat.objects.update(last_seen="2026-01-01T00:01Z")
    assert data_version.current() == before


def test_writes_of_columns_no_part_shows_leave_the_version(engineer):
    """A sync's claim on its region and a re-check's stamp on a gateway (twice a second while a link is
    pending) leave the version; the same statements setting anything else with them move it."""
    gateway = make_gateway()
    region = CloudProject.objects.filter(pk=gateway.project_id)
    name = Subquery(Gateway.objects.filter(pk=gateway.pk).values("name")[:1])
    writes = [
        ("a sync's claim", lambda: region.update(sync_claim="x", sync_claimed_until=timezone.now()), False),
        ("the claim given back", lambda: region.update(sync_claim="", sync_claimed_until=None), False),
        ("a gateway's last look", lambda: Gateway.objects.update(links_synced_at=timezone.now()), False),
        ("the look and a name", lambda: Gateway.objects.update(links_synced_at=None, name="new"), True),
        ("a region's sync error", lambda: region.update(sync_error="down"), True),
        ("a claim from a subquery", lambda: region.update(sync_claim=name), True),
        ("a gateway saved whole", lambda: Gateway.objects.get(pk=gateway.pk).save(), True),
    ]
    for how, write, moves in writes:
        before = data_version.current()
        write()
        assert (data_version.current() > before) == moves, how


def test_a_reader_sees_the_version_move_no_earlier_than_the_data_it_versions():
    """Inside the writing transaction the data is not committed; a reader that takes the version then and
    draws the old data must not have drawn under the version readers use once it is committed."""
    link = make_peer_link()
    with transaction.atomic():
        PeerLink.objects.filter(pk=link.pk).update(status="ERROR")
        during = data_version.current()
    after = data_version.current()
    if connection.vendor == "postgresql":
        assert after > during  # moved again once committed
    else:
        assert after == during  # one row, moved in the transaction: seen with the data, at its commit


def test_a_rolled_back_transaction_leaves_no_move_waiting_for_the_next():
    link = make_peer_link()
    with pytest.raises(RuntimeError), transaction.atomic():
        PeerLink.objects.filter(pk=link.pk).update(status="ERROR")
        raise RuntimeError("refused")
    with transaction.atomic():
        PeerLink.objects.filter(pk=link.pk).update(status="ACTIVE")
        during = data_version.current()
    after = data_version.current()
    assert after > during if connection.vendor == "postgresql" else after == during


def _edges(body: str) -> dict[str, str]:
    """The map's edges drawn for single links: link cloud ID → the tone it is drawn in."""
    return dict(
        re.findall(
            r'data-link="([^"]+)"><title>[^<]*</title><path[^>]*/><path class="topo-edge tone-(\w+)"', body
        )
    )


def _map(body: str) -> str:
    return body[body.index('<section class="card" id="topology-map">') :].split("</section>")[0]


def test_the_map_is_drawn_once_then_kept_until_a_link_changes(engineer_client):
    gateway = make_gateway(name="gw-kept")
    router = make_router(name="er-kept")
    link = make_peer_link(gateway=gateway, peer_gateway_id=router.cloud_id, name="kept")
    first = engineer_client.get(TOPOLOGY).content.decode()
    assert _edges(first) == {link.cloud_id: "ok"}
    with CaptureQueriesContext(connection) as kept:
        again = engineer_client.get(TOPOLOGY).content.decode()
    assert _map(again) == _map(first)
    assert not any("peerlinks_peerlink" in query["sql"] for query in kept.captured_queries)

    PeerLink.objects.filter(pk=link.pk).update(status="ERROR", reason="down")  # as the status poller does
    assert _edges(engineer_client.get(TOPOLOGY).content.decode()) == {link.cloud_id: "bad"}
    other = make_peer_link(gateway=gateway, name="new", peer_gateway_id=make_router(name="er-2").cloud_id)
    assert set(_edges(engineer_client.get(TOPOLOGY).content.decode())) == {link.cloud_id, other.cloud_id}
    # Each filter, language and zone is a map of its own.
    assert set(_edges(engineer_client.get(TOPOLOGY, {"status": "ERROR"}).content.decode())) == {link.cloud_id}
    chinese = engineer_client.get(TOPOLOGY, headers={"accept-language": "zh-hans"}).content.decode()
    assert "对等连接" in chinese or "网关" in chinese


def test_with_drawn_parts_off_every_request_draws_the_map(engineer_client, settings):
    settings.DRAWN_PART_SECONDS = 0
    make_peer_link(gateway=make_gateway(name="gw-off"), peer_gateway_id=make_router(name="er-off").cloud_id)
    engineer_client.get(TOPOLOGY)
    with CaptureQueriesContext(connection) as drawn:
        engineer_client.get(TOPOLOGY)
    assert any("peerlinks_peerlink" in query["sql"] for query in drawn.captured_queries)


LIST = "/links/"


def _table(body: str) -> str:
    """The link table, but for its CSRF token (masked afresh on every request)."""
    table = body[body.index('<div id="peerlink-table">') :].split("</table>")[0]
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", table)


def _filters(body: str) -> str:
    return body[body.index('<form class="filters card"') :].split("</form>")[0]


def _status(body: str, link: PeerLink) -> str:
    return re.search(rf'id="status-{link.cloud_id}" class="badge status-(\w+)"', body).group(1)


def test_the_link_table_is_drawn_once_then_kept_until_a_link_changes(engineer_client):
    link = make_peer_link(name="kept", status="ACTIVE")
    first = engineer_client.get(LIST, {"sort": "name"}).content.decode()
    with CaptureQueriesContext(connection) as kept:
        again = engineer_client.get(LIST, {"sort": "name"}).content.decode()
    assert _table(again) == _table(first)
    assert _filters(again) == _filters(first)
    # Only what every page's frame reads (session, person with their permissions, counts, accounts):
    # neither the links nor the gateways the filter offers.
    assert not any("peerlinks_peerlink" in query["sql"] for query in kept.captured_queries)
    assert len(kept.captured_queries) == 4, [query["sql"][:80] for query in kept.captured_queries]

    PeerLink.objects.filter(pk=link.pk).update(status="ERROR", reason="down")  # as the status poller does
    assert _status(engineer_client.get(LIST, {"sort": "name"}).content.decode(), link) == "error"
    make_peer_link(name="new")
    assert listed_names(engineer_client.get(LIST, {"sort": "name"})) == ["kept", "new"]
    # Each query string is a table of its own: its filter, its order, its page.
    assert listed_names(engineer_client.get(LIST, {"sort": "-name"})) == ["new", "kept"]
    assert listed_names(engineer_client.get(LIST, {"status": "ERROR"})) == ["kept"]


def test_a_kept_table_shows_each_reader_their_own_delete_form_and_what_they_may_do(client, engineer):
    """The table one engineer's request drew is shown to the next, with a bulk-delete form that carries
    the next one's CSRF token (the delete goes through); a viewer gets it without checkboxes or form."""
    link = make_peer_link(name="chosen")
    other = _user("engineer2", "Engineer")
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first.force_login(engineer)
    second.force_login(other)
    assert listed_names(first.get(LIST)) == ["chosen"]
    with CaptureQueriesContext(connection) as kept:
        page = second.get(LIST).content.decode()
    assert not any("peerlinks_peerlink" in query["sql"] for query in kept.captured_queries)
    token = re.search(
        r'<form id="bulk-delete"[^>]*><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', page
    )
    preview = second.post(
        reverse("peerlinks:batch_delete"), {"csrfmiddlewaretoken": token.group(1), "link": [link.cloud_id]}
    )
    assert preview.status_code == 200 and "chosen" in preview.content.decode()

    viewer = Client()
    viewer.force_login(_user("viewer2", "Viewer"))
    shown = viewer.get(LIST).content.decode()
    assert listed_names(viewer.get(LIST)) == ["chosen"]
    assert 'id="bulk-delete"' not in shown and 'class="choose"' not in shown


def test_a_kept_table_with_a_pending_link_still_starts_the_page_s_poll(engineer_client):
    make_peer_link(name="pending", status="PENDING_CREATE")
    first = engineer_client.get(LIST).content.decode()
    again = engineer_client.get(LIST).content.decode()
    poll = re.compile(r'<div id="live-poll"[^>]*>')
    assert poll.search(again).group(0) == poll.search(first).group(0)
    assert "fast=1" in poll.search(again).group(0)
    assert 'class="live-link"' in again


def _stat(body: str, status: str) -> int:
    return int(re.search(rf'\?status={status}"><span class="stat-value">(\d+)<', body).group(1))


def _pending_too_long(body: str) -> str:
    return body.split('id="pending-too-long"')[1].split("</section>")[0]


def test_the_dashboard_keeps_its_counts_and_pending_links_but_weighs_the_time_on_every_request(
    engineer_client, settings
):
    settings.PENDING_TOO_LONG = 3600
    link = make_peer_link(name="slow", status="PENDING_CREATE")
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    StatusChange.objects.create(peer_link=link, to_status="PENDING_CREATE", observed_at=ten_minutes_ago)
    make_peer_link(name="up", status="ACTIVE")
    first = engineer_client.get("/").content.decode()
    assert (_stat(first, "ACTIVE"), _stat(first, "PENDING_CREATE")) == (1, 1)
    assert "slow" not in _pending_too_long(first)
    with CaptureQueriesContext(connection) as kept:
        again = engineer_client.get("/").content.decode()
    assert not any("peerlinks_statuschange" in query["sql"] for query in kept.captured_queries)
    assert (_stat(again, "ACTIVE"), _stat(again, "PENDING_CREATE")) == (1, 1)
    # Nothing written, but the link has now been pending too long: the kept links are weighed again.
    settings.PENDING_TOO_LONG = 300
    assert "slow" in _pending_too_long(engineer_client.get("/").content.decode())

    PeerLink.objects.filter(pk=link.pk).update(status="ACTIVE")  # as the status poller does
    done = engineer_client.get("/").content.decode()
    assert (_stat(done, "ACTIVE"), _stat(done, "PENDING_CREATE")) == (2, 0)
    assert "slow" not in _pending_too_long(done)
