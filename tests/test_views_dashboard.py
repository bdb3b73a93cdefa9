from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks.models import AuditEvent, ChangeRequest, CloudProject, Drift, StatusChange
from tests.conftest import make_gateway, make_peer_link, make_project

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_dashboard_counts_links_by_status_ignoring_gone_ones(engineer_client):
    gateway = make_gateway()
    for status in ["ACTIVE", "ACTIVE", "ERROR", "PENDING_CREATE"]:
        make_peer_link(gateway=gateway, status=status)
    make_peer_link(gateway=gateway, status="ACTIVE", gone_at=timezone.now())
    response = engineer_client.get("/")
    assert response.status_code == 200
    assert "peerlinks/home.html" in [t.name for t in response.templates]
    dash = response.context["dash"]
    assert dash.counts == {"PENDING_CREATE": 1, "PENDING_UPDATE": 0, "ACTIVE": 2, "ERROR": 1}
    assert dash.total == 4


def test_dashboard_counts_a_status_the_cloud_added_too(engineer_client):
    gateway = make_gateway()
    for status in ["ACTIVE", "DOWN", "AAA", "PENDING_DELETE", "ZZZ"]:
        make_peer_link(gateway=gateway, status=status)
    dash = engineer_client.get("/").context["dash"]
    assert dash.counts == {
        "PENDING_CREATE": 0,
        "PENDING_UPDATE": 0,
        "ACTIVE": 1,
        "ERROR": 0,
        "DOWN": 1,
        "AAA": 1,
        "PENDING_DELETE": 1,
        "ZZZ": 1,
    }
    assert dash.total == 5


def test_dashboard_lists_links_in_error_with_their_reason(engineer_client):
    make_peer_link(name="broken-link", status="ERROR", reason="The peer router is not available.")
    body = engineer_client.get("/").content.decode()
    assert "broken-link" in body
    assert "The peer router is not available." in body


def test_dashboard_lists_links_pending_for_too_long_only(engineer_client, settings):
    settings.PENDING_TOO_LONG = 600
    old = make_peer_link(name="stuck-link", status="PENDING_CREATE")
    StatusChange.objects.create(
        peer_link=old, to_status="PENDING_CREATE", observed_at=timezone.now() - timedelta(hours=1)
    )
    fresh = make_peer_link(name="fresh-link", status="PENDING_CREATE")
    StatusChange.objects.create(peer_link=fresh, to_status="PENDING_CREATE", observed_at=timezone.now())
    response = engineer_client.get("/")
    assert [link.name for link in response.context["dash"].pending_too_long] == ["stuck-link"]


def test_dashboard_shows_last_sync_per_region_and_flags_stale_and_failed_ones(engineer_client, settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
    settings.STALE_AFTER = 300
    now = timezone.now()
    make_project("cn-north-4", synced_at=now)
    make_project("cn-east-3", synced_at=now - timedelta(hours=2))
    make_project(
        "ap-southeast-1",
        synced_at=now - timedelta(hours=3),
        sync_error="The cloud could not be reached",
        sync_failed_at=now,
    )
    response = engineer_client.get("/")
    regions = {row.region: row for row in response.context["dash"].regions}
    assert not regions["cn-north-4"].stale
    assert regions["cn-east-3"].stale
    body = response.content.decode()
    assert "Sync failed" in body
    assert "The cloud could not be reached" in body
    assert "Stale" in body


def test_dashboard_lists_a_region_that_was_never_synced(engineer_client, settings):
    settings.CLOUD_REGIONS = ["cn-north-4"]
    body = engineer_client.get("/").content.decode()
    assert 'id="sync-cn-north-4"' in body
    assert "never" in body


def test_dashboard_lists_unacknowledged_drift_only(engineer_client):
    link = make_peer_link(name="renamed-out-of-band")
    Drift.objects.create(
        peer_link=link, kind="changed", detail={"name": {"before": "old-name", "after": link.name}}
    )
    seen = make_peer_link(name="already-seen")
    Drift.objects.create(peer_link=seen, kind="created", acknowledged_at=timezone.now())
    body = engineer_client.get("/").content.decode()
    assert "renamed-out-of-band" in body
    assert "old-name" in body
    assert "already-seen" not in body


def test_dashboard_shows_recent_changes_and_audit_events(engineer_client, engineer):
    gateway = make_gateway()
    ChangeRequest.objects.create(
        kind="create", requested_by=engineer, gateway=gateway, payload={"name": "new-l"}
    )
    AuditEvent.objects.create(action="change.submitted", object_type="change_request", object_repr="#1 new-l")
    response = engineer_client.get("/")
    assert len(response.context["dash"].recent_changes) == 1
    body = response.content.decode()
    assert "new-l" in body
    assert "change.submitted" in body


def test_dashboard_query_count_does_not_grow_with_rows(engineer_client, engineer, django_assert_num_queries):
    def populate(n: int) -> None:
        gateway = make_gateway()
        for i in range(n):
            link = make_peer_link(gateway=gateway, status="ERROR" if i % 2 else "PENDING_CREATE")
            Drift.objects.create(peer_link=link, kind="created")
            ChangeRequest.objects.create(
                kind="update", requested_by=engineer, gateway=gateway, peer_link=link
            )
            AuditEvent.objects.create(action="x", object_type="peer_link", object_id=link.cloud_id)

    populate(3)
    with CaptureQueriesContext(connection) as small:
        engineer_client.get("/")
    populate(20)
    with django_assert_num_queries(len(small)):
        engineer_client.get("/")


def test_refresh_queues_a_sync_and_redirects_back(engineer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = engineer_client.post("/refresh/", {"next": "/links/?status=ERROR"})
    assert response.status_code == 302
    assert response["Location"] == "/links/?status=ERROR"
    assert DBTaskResult.objects.filter(task_path="peerlinks.tasks.sync_all_regions").count() == 1
    follow = engineer_client.get(response["Location"])
    assert "Sync queued" in follow.content.decode()


def test_refresh_never_redirects_off_site(engineer_client):
    response = engineer_client.post("/refresh/", {"next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_refresh_over_htmx_returns_the_sync_queued_fragment(
    engineer_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = engineer_client.post("/refresh/", {"next": "/gateways/"}, **HX)
    assert response.status_code == 200
    assert [t.name for t in response.templates] == ["peerlinks/_sync_queued.html"]
    body = response.content.decode()
    assert 'id="sync-control"' in body
    assert "This page updates when it finishes." in body
    assert "Reload" not in body
    assert DBTaskResult.objects.count() == 1


def test_refresh_refuses_get(engineer_client):
    assert engineer_client.get("/refresh/").status_code == 405


def test_acknowledging_drift_records_who_and_when_and_audits_it(engineer_client, engineer):
    drift = Drift.objects.create(peer_link=make_peer_link(), kind="deleted")
    response = engineer_client.post(f"/drift/{drift.pk}/acknowledge/")
    assert response.status_code == 302
    drift.refresh_from_db()
    assert drift.acknowledged_by == engineer
    assert drift.acknowledged_at is not None
    assert AuditEvent.objects.filter(action="drift.acknowledged", actor=engineer).count() == 1


def test_acknowledging_drift_over_htmx_returns_the_acknowledged_row(engineer_client):
    drift = Drift.objects.create(peer_link=make_peer_link(), kind="created")
    response = engineer_client.post(f"/drift/{drift.pk}/acknowledge/", **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="drift-{drift.pk}"' in body
    assert "Acknowledged by engineer1" in body


def test_acknowledging_twice_keeps_the_first_acknowledgement(engineer_client):
    drift = Drift.objects.create(peer_link=make_peer_link(), kind="created")
    engineer_client.post(f"/drift/{drift.pk}/acknowledge/")
    first = Drift.objects.get(pk=drift.pk).acknowledged_at
    engineer_client.post(f"/drift/{drift.pk}/acknowledge/")
    assert Drift.objects.get(pk=drift.pk).acknowledged_at == first
    assert AuditEvent.objects.filter(action="drift.acknowledged").count() == 1


def test_acknowledging_unknown_drift_is_404(engineer_client):
    assert engineer_client.post("/drift/999999/acknowledge/").status_code == 404


def test_acknowledging_drift_needs_post_and_login(client, engineer_client):
    drift = Drift.objects.create(peer_link=make_peer_link(), kind="created")
    assert engineer_client.get(f"/drift/{drift.pk}/acknowledge/").status_code == 405
    client.logout()
    assert client.post(f"/drift/{drift.pk}/acknowledge/").status_code == 302
    assert CloudProject.objects.count() >= 1


# --- the page's one poll follows the pending badges ------------------------------------------------------


def _live(client, *links, fast=True, version=None):
    """/live/ as a page asks it: the badges it shows pending, its interval, its version (current if None)."""
    if version is None:
        page = client.get("/live/", HTTP_HX_REQUEST="true").content.decode()
        version = page.split('name="v" value="')[1].split('"')[0]
    params = {"v": version, "link": [f"{link.cloud_id}:{status}" for link, status in links]}
    if fast:
        params["fast"] = "1"
    return client.get("/live/", params, HTTP_HX_REQUEST="true")


def test_live_is_204_while_every_followed_link_is_still_pending(engineer_client):
    links = [make_peer_link(name=f"p{i}", status="PENDING_CREATE") for i in range(3)]
    assert _live(engineer_client, *[(link, "PENDING_CREATE") for link in links]).status_code == 204


def test_live_swaps_only_the_badges_that_changed_and_slows_down_once_none_is_pending(engineer_client):
    done = make_peer_link(name="done", status="ACTIVE")
    waiting = make_peer_link(name="waiting", status="PENDING_CREATE")
    body = _live(engineer_client, (done, "PENDING_CREATE"), (waiting, "PENDING_CREATE")).content.decode()
    assert f'id="status-{done.cloud_id}" class="badge status-active" hx-swap-oob="true"' in body
    assert f"status-{waiting.cloud_id}" not in body
    assert 'hx-get="/live/?fast=1"' in body  # one is still pending: the poll stays fast
    assert 'id="nav-notices"' not in body  # the navigation did not change: not sent again

    waiting.status = "ACTIVE"
    waiting.save()
    body = _live(engineer_client, (waiting, "PENDING_CREATE")).content.decode()
    assert f'id="status-{waiting.cloud_id}" class="badge status-active"' in body
    assert 'hx-get="/live/"' in body and 'hx-trigger="every 2000ms"' in body


def test_live_reads_the_followed_links_in_one_query(engineer_client):
    links = [make_peer_link(name=f"q{i}", status="PENDING_CREATE") for i in range(40)]
    version = engineer_client.get("/live/", HTTP_HX_REQUEST="true").content.decode()
    version = version.split('name="v" value="')[1].split('"')[0]
    with CaptureQueriesContext(connection) as few:
        _live(engineer_client, (links[0], "PENDING_CREATE"), version=version)
    with CaptureQueriesContext(connection) as many:
        _live(engineer_client, *[(link, "ACTIVE") for link in links], version=version)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_live_ignores_malformed_and_unknown_links(engineer_client):
    unknown = "6f1c4a4e-0000-4000-8000-000000000000:PENDING_CREATE"
    params = {"link": ["not-a-uuid:ACTIVE", "", "a:b:c", unknown]}
    response = engineer_client.get("/live/", params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'hx-swap-oob="true"' not in response.content.decode().split("live-poll", 1)[0]


def test_slow_page_poll_turns_fast_when_it_meets_a_pending_badge(engineer_client):
    """A badge swapped in by another request (a filter, a page of the list) speeds the poll up."""
    link = make_peer_link(status="PENDING_UPDATE")
    body = _live(engineer_client, (link, "PENDING_UPDATE"), fast=False).content.decode()
    assert 'hx-get="/live/?fast=1"' in body and 'hx-trigger="every 1000ms"' in body
    assert f"status-{link.cloud_id}" not in body
