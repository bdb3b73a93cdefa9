"""The sync service against the real simulator: fill, reconcile, notice drift, survive failures."""

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import dcsim
from peerlinks import cloud, data_version
from peerlinks.models import (
    AuditEvent,
    CloudProject,
    Drift,
    EnterpriseRouter,
    Gateway,
    PeerLink,
    StatusChange,
)
from peerlinks.services.sync import recheck_pending, sync_all, sync_region

pytestmark = pytest.mark.django_db

DEMO_REGIONS = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
REGION = "cn-north-4"


@pytest.fixture
def demo(demo_simulator, settings):
    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    settings.CLOUD_REGIONS = DEMO_REGIONS
    settings.CLOUD_MAX_RETRIES = 0
    control(demo_simulator, "PUT", "config", json={"transition_delay": 0})
    return demo_simulator


@pytest.fixture
def empty(simulator, settings):
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.CLOUD_MAX_RETRIES = 0
    control(simulator, "PUT", "config", json={"transition_delay": 0})
    return simulator


def control(sim, method: str, path: str, **kwargs: object) -> dict:
    response = requests.request(method, f"{sim.base_url}/_dcsim/{path}", timeout=5, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def _add_gateway(sim, *, name: str, quota: int) -> str:
    reply = control(sim, "POST", "global-dc-gateways", json={"name": name, "region": REGION, "quota": quota})
    return (reply.get("global_dc_gateway") or reply)["id"]


def add_router(sim, *, name: str) -> str:
    reply = control(sim, "POST", "enterprise-routers", json={"name": name, "region": REGION})
    return (reply.get("enterprise_router") or reply.get("instance") or reply)["id"]


def create_link(*, gateway_id: str, router_id: str, name: str) -> str:
    """A peer link made straight through the API, as someone outside dcportal would."""
    return cloud.create_peer_link(
        region=REGION,
        gateway_id=gateway_id,
        name=name,
        description=None,
        peer_gateway_id=router_id,
        peer_region=REGION,
        peer_project_id=dcsim.project_id_for(REGION),
    ).peer_link.id


def _create_of_ours(engineer, *, gateway_id: str, router_id: str, recorded: str | None = None) -> None:
    """A create request of dcportal's for a link named "ours", executing (and, if given, having recorded
    the link it made)."""
    from peerlinks.models import ChangeRequest

    ChangeRequest.objects.create(
        kind="create",
        state="executing",
        requested_by=engineer,
        gateway=Gateway.objects.get(cloud_id=gateway_id),
        payload={"name": "ours", "peer_gateway_id": router_id},
        peer_link=PeerLink.objects.get(cloud_id=recorded) if recorded else None,
    )


def snapshot() -> dict:
    return {
        "gateways": sorted(Gateway.objects.values_list("cloud_id", "name", "status", "gone_at")),
        "routers": sorted(EnterpriseRouter.objects.values_list("cloud_id", "name", "state")),
        "links": sorted(PeerLink.objects.values_list("cloud_id", "name", "status", "gone_at", "synced_at")),
        "changes": StatusChange.objects.count(),
        "drift": Drift.objects.count(),
    }


# --- first sync -------------------------------------------------------------------------------


def test_first_sync_fills_the_cache_from_the_demo_seed(demo):
    results = sync_all()
    assert [r.region for r in results] == DEMO_REGIONS
    assert all(r.ok for r in results), results
    wire_gateways = {g.id for region in DEMO_REGIONS for g in cloud.list_global_dc_gateways(region=region)}
    assert set(Gateway.objects.values_list("cloud_id", flat=True)) == wire_gateways
    assert EnterpriseRouter.objects.filter(project__region=REGION).exists()
    wire_links = {
        link.id
        for region in DEMO_REGIONS
        for g in cloud.list_global_dc_gateways(region=region)
        for link in cloud.list_peer_links(region=region, gateway_id=g.id)
    }
    assert set(PeerLink.objects.values_list("cloud_id", flat=True)) == wire_links
    # Every link starts its history with the status first seen.
    assert StatusChange.objects.count() == len(wire_links)
    assert StatusChange.objects.filter(from_status="").count() == len(wire_links)
    for project in CloudProject.objects.filter(region__in=DEMO_REGIONS):
        assert project.synced_at is not None
        assert project.sync_error == ""
        assert project.project_id == dcsim.project_id_for(project.region)
    assert not Gateway.objects.filter(links_synced_at__isnull=True).exists()


def test_links_inserted_by_the_first_sync_read_back_as_the_cloud_sent_them(demo):
    from peerlinks.services.mirror import LINK_FIELDS, first_status, link_values

    sync_region(region=REGION)
    wire = [
        (g.id, link)
        for g in cloud.list_global_dc_gateways(region=REGION)
        for link in cloud.list_peer_links(region=REGION, gateway_id=g.id)
    ]
    assert wire
    ids = [link.id for _, link in wire]
    rows = PeerLink.objects.select_related("gateway").in_bulk(ids, field_name="cloud_id")
    for gateway_id, link in wire:
        row = rows[link.id]
        assert {f: getattr(row, f) for f in LINK_FIELDS} == link_values(link)
        assert row.gateway.cloud_id == gateway_id
        assert (row.labels, row.owner_team, row.ticket_ref, row.gone_at) == ([], "", "", None)
        assert row.first_seen_at == row.synced_at
        # The bulk path records the first status mirror.first_status makes for one link.
        [first] = row.status_changes.all()
        expected = first_status(row, now=row.first_seen_at)
        fields = ("peer_link_id", "from_status", "to_status", "reason", "observed_at")
        assert [getattr(first, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert (first.from_status, first.to_status) == ("", row.status)
    # Timestamps are stored as the ORM stores them, so lookups on them match.
    stamped = next(link for _, link in wire if link.updated_time is not None)
    assert PeerLink.objects.filter(cloud_id=stamped.id, cloud_updated_at=stamped.updated_time).exists()


def test_first_sync_of_an_empty_region_records_the_sync_and_nothing_else(empty):
    [result] = sync_all()
    assert result.ok
    assert (Gateway.objects.count(), PeerLink.objects.count(), Drift.objects.count()) == (0, 0, 0)
    assert CloudProject.objects.get(region=REGION).synced_at is not None


def test_the_first_sync_is_a_baseline_not_drift(demo):
    sync_all()
    assert PeerLink.objects.exists()
    assert not Drift.objects.exists()


# --- later syncs ------------------------------------------------------------------------------


def test_a_second_sync_without_change_writes_no_drift_and_no_history(demo):
    sync_all()
    before = snapshot()
    events = AuditEvent.objects.count()
    results = sync_all()
    after = snapshot()
    assert all(r.ok and r.drifts == 0 and r.links_created == 0 and r.links_gone == 0 for r in results)
    assert after["drift"] == before["drift"]
    assert after["changes"] == before["changes"]
    assert AuditEvent.objects.count() == events


def test_a_recheck_that_finds_nothing_new_leaves_the_version_pages_are_kept_under(demo):
    """Re-checks run twice a second while a link is pending: one that finds the gateway's links as cached
    takes and gives back its claim and stamps the gateway's last look, which no kept part shows."""
    sync_all()
    PeerLink.objects.filter(pk=PeerLink.objects.first().pk).update(status="PENDING_CREATE")
    before = data_version.current()
    assert recheck_pending() >= 1
    assert data_version.current() == before
    sync_all()  # a full sync stamps each region's sync: the dashboard and the map show it
    assert data_version.current() > before


def test_a_link_renamed_outside_dcportal_is_drift_of_kind_changed(empty):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="before-name")
    sync_region(region=REGION)
    control(empty, "PATCH", f"peer-links/{link_id}", json={"name": "after-name"})
    result = sync_region(region=REGION)
    assert result.drifts == 1
    drift = Drift.objects.get(kind=Drift.Kind.CHANGED)
    assert drift.detail == {"name": {"before": "before-name", "after": "after-name"}}
    assert PeerLink.objects.get(cloud_id=link_id).name == "after-name"
    assert AuditEvent.objects.filter(action="peer_link.changed_outside", object_id=link_id).count() == 1


def test_a_link_created_outside_dcportal_is_drift_of_kind_created(empty):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    sync_region(region=REGION)
    link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="sneaky")
    result = sync_region(region=REGION)
    assert result.links_created == 1
    assert Drift.objects.get().kind == Drift.Kind.CREATED
    assert Drift.objects.get().peer_link.cloud_id == link_id
    assert AuditEvent.objects.filter(action="peer_link.created_outside", object_id=link_id).count() == 1


def test_a_link_created_through_dcportal_is_not_drift(empty, engineer):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    sync_region(region=REGION)
    _create_of_ours(engineer, gateway_id=gateway_id, router_id=router_id)
    create_link(gateway_id=gateway_id, router_id=router_id, name="ours")
    assert sync_region(region=REGION).links_created == 1
    assert not Drift.objects.exists()


def test_a_create_of_ours_sent_twice_explains_one_link_and_the_other_is_reported_as_a_duplicate(
    empty, engineer
):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    sync_region(region=REGION)
    _create_of_ours(engineer, gateway_id=gateway_id, router_id=router_id)
    first = create_link(gateway_id=gateway_id, router_id=router_id, name="ours")
    second = create_link(gateway_id=gateway_id, router_id=router_id, name="ours")
    assert sync_region(region=REGION).links_created == 2

    # Which of the two the create made cannot be known: one is explained, the other is the duplicate.
    drift = Drift.objects.get()
    assert drift.kind == Drift.Kind.DUPLICATE
    duplicate, original = drift.peer_link.cloud_id, drift.detail["duplicate_of"]
    assert {duplicate, original} == {first, second}
    event = AuditEvent.objects.get(action="peer_link.duplicate")
    assert event.object_id == duplicate and event.after["duplicate_of"] == original
    assert not AuditEvent.objects.filter(action="peer_link.created_outside").exists()

    # Reported once, not at every sync.
    sync_region(region=REGION)
    assert Drift.objects.count() == 1
    assert AuditEvent.objects.filter(action="peer_link.duplicate").count() == 1


def test_a_create_of_ours_that_recorded_its_link_explains_no_other(empty, engineer):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    recorded = create_link(gateway_id=gateway_id, router_id=router_id, name="ours")
    sync_region(region=REGION)
    _create_of_ours(engineer, gateway_id=gateway_id, router_id=router_id, recorded=recorded)
    # A worker paused past its lease sends its create after another attempt made and recorded the link.
    late = create_link(gateway_id=gateway_id, router_id=router_id, name="ours")
    sync_region(region=REGION)
    assert list(Drift.objects.values_list("kind", "peer_link__cloud_id")) == [(Drift.Kind.DUPLICATE, late)]


def test_two_links_to_one_peer_made_outside_are_a_creation_and_a_duplicate_on_the_dashboard(
    empty, client, viewer
):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    sync_region(region=REGION)
    first = create_link(gateway_id=gateway_id, router_id=router_id, name="one")
    second = create_link(gateway_id=gateway_id, router_id=router_id, name="two")
    sync_region(region=REGION)
    kinds = dict(Drift.objects.values_list("peer_link__cloud_id", "kind"))
    assert kinds == {first: Drift.Kind.CREATED, second: Drift.Kind.DUPLICATE}

    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "Duplicate link to the same peer" in page
    assert "repeats <strong>one</strong>" in page


def test_a_cloud_connect_link_beside_the_gateways_own_to_the_same_peer_is_no_duplicate(demo):
    sync_all()
    sync_all()
    assert not Drift.objects.filter(kind=Drift.Kind.DUPLICATE).exists()


def test_links_of_a_gateway_gone_from_the_cloud_are_marked_gone(demo):
    sync_all(regions=[REGION])
    gateway = Gateway.objects.filter(project__region=REGION, peer_links__isnull=False).distinct().first()
    links = set(gateway.peer_links.values_list("cloud_id", flat=True))
    for link_id in links:
        cloud.delete_peer_link(region=REGION, gateway_id=gateway.cloud_id, peer_link_id=link_id)
    # Deleted in the console between two syncs (the client has no call for that).
    demo.sim.store.delete_gateway(dcsim.project_id_for(REGION), gateway.cloud_id)
    sync_all(regions=[REGION])
    gateway.refresh_from_db()
    assert gateway.gone_at is not None
    assert not gateway.peer_links.present().exists()
    assert Drift.objects.filter(kind=Drift.Kind.DELETED).count() == len(links)


def test_a_link_stored_by_a_change_while_the_sync_was_fetching_is_not_marked_gone(empty, monkeypatch):
    from peerlinks.services import sync as sync_service

    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    sync_region(region=REGION)
    real_fetch = sync_service._fetch_region

    def fetch_then_store(**kwargs):
        snapshot = real_fetch(**kwargs)
        # Meanwhile the worker creates a link and stores it in the cache (execution._store_link).
        link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="fresh")
        PeerLink.objects.create(
            cloud_id=link_id,
            gateway=Gateway.objects.get(cloud_id=gateway_id),
            name="fresh",
            status="PENDING_CREATE",
            peer_type="ER",
            peer_gateway_id=router_id,
            peer_region=REGION,
            peer_project_id=dcsim.project_id_for(REGION),
            synced_at=timezone.now(),
        )
        return snapshot

    monkeypatch.setattr(sync_service, "_fetch_region", fetch_then_store)
    result = sync_region(region=REGION)
    assert result.links_gone == 0
    assert PeerLink.objects.get(name="fresh").gone_at is None
    assert not Drift.objects.exists()


def test_a_link_deleted_outside_dcportal_is_drift_of_kind_deleted_and_kept_as_gone(empty):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="doomed")
    keep_id = create_link(gateway_id=gateway_id, router_id=router_id, name="kept")
    sync_region(region=REGION)
    cloud.delete_peer_link(region=REGION, gateway_id=gateway_id, peer_link_id=link_id)
    result = sync_region(region=REGION)
    assert result.links_gone == 1
    gone = PeerLink.objects.get(cloud_id=link_id)
    assert gone.gone_at is not None
    assert Drift.objects.filter(peer_link=gone, kind=Drift.Kind.DELETED).count() == 1
    assert list(PeerLink.objects.present().values_list("cloud_id", flat=True)) == [keep_id]
    # A further sync does not flag it again.
    assert sync_region(region=REGION).drifts == 0


def test_the_cycle_collector_runs_again_after_a_sync_whether_it_worked_or_failed(demo):
    import gc

    assert sync_region(region=REGION).ok and gc.isenabled()
    control(demo, "PUT", "faults", json={"error_rate": 1.0})
    assert not sync_region(region=REGION).ok and gc.isenabled()


def test_the_planner_is_told_about_the_links_only_after_a_sync_that_wrote_some(empty):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's autovacuum keeps its own figures")
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    create_link(gateway_id=gateway_id, router_id=add_router(empty, name="er-a"), name="l")
    for wrote in (True, False):
        with CaptureQueriesContext(connection) as queries:
            sync_all(regions=[REGION])
        assert any(q["sql"].startswith("ANALYZE") for q in queries.captured_queries) is wrote


def test_a_link_gone_from_the_cloud_was_last_synced_when_it_was_last_seen(empty):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    link_id = create_link(gateway_id=gateway_id, router_id=add_router(empty, name="er-a"), name="doomed")
    sync_region(region=REGION)
    sync_region(region=REGION)  # sees it unchanged: nothing written to it
    last_seen = Gateway.objects.get(cloud_id=gateway_id).links_synced_at
    cloud.delete_peer_link(region=REGION, gateway_id=gateway_id, peer_link_id=link_id)
    sync_region(region=REGION)
    gone = PeerLink.objects.select_related("gateway").get(cloud_id=link_id)
    assert gone.gone_at > last_seen
    assert gone.last_synced_at == last_seen


def test_a_status_change_is_recorded_once(empty):
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="l")
    sync_region(region=REGION)
    control(empty, "PATCH", f"peer-links/{link_id}", json={"status": "ERROR", "reason": "BGP down"})
    sync_region(region=REGION)
    sync_region(region=REGION)
    link = PeerLink.objects.get(cloud_id=link_id)
    history = list(link.status_changes.values_list("from_status", "to_status"))
    assert history == [("", "ACTIVE"), ("ACTIVE", "ERROR")]
    assert PeerLink.objects.get(cloud_id=link_id).reason == "BGP down"
    # A status change alone is the cloud's doing, not drift.
    assert not Drift.objects.filter(kind=Drift.Kind.CHANGED).exists()


def test_recheck_pending_refreshes_only_gateways_with_pending_links(empty):
    control(empty, "PUT", "config", json={"transition_delay": 60})
    gateway_id = _add_gateway(empty, name="gw-a", quota=3)
    router_id = add_router(empty, name="er-a")
    link_id = create_link(gateway_id=gateway_id, router_id=router_id, name="slow")
    sync_region(region=REGION)
    assert PeerLink.objects.get(cloud_id=link_id).status == "PENDING_CREATE"
    control(empty, "PATCH", f"peer-links/{link_id}", json={"status": "ACTIVE"})
    assert recheck_pending() == 1
    assert PeerLink.objects.get(cloud_id=link_id).status == "ACTIVE"
    assert recheck_pending() == 0


def test_recheck_pending_lists_a_gateway_once_however_many_of_its_links_are_pending(empty):
    """Three pending links on one gateway cost one listing of it per re-check, not three."""
    control(empty, "PUT", "config", json={"transition_delay": 60})
    gateway_id = _add_gateway(empty, name="gw-a", quota=5)
    for name in ("p1", "p2", "p3"):
        create_link(gateway_id=gateway_id, router_id=add_router(empty, name=f"er-{name}"), name=name)
    sync_region(region=REGION)
    assert PeerLink.objects.pending().count() == 3
    assert recheck_pending() == 1


# --- failures ---------------------------------------------------------------------------------


def test_a_failed_sync_leaves_the_cache_untouched_and_records_why(demo):
    sync_all()
    before = snapshot()
    control(demo, "PUT", "faults", json={"error_rate": 1.0})
    results = sync_all()
    assert not any(r.ok for r in results)
    assert snapshot() == before
    for project in CloudProject.objects.filter(region__in=DEMO_REGIONS):
        assert project.sync_error
        assert project.sync_failed_at is not None
        assert project.synced_at is not None  # the last good sync is still known


def test_an_unreachable_cloud_leaves_the_cache_untouched(demo, settings):
    sync_all()
    before = snapshot()
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"
    cloud.clear_caches()
    [result] = sync_all(regions=[REGION])
    assert not result.ok
    assert result.error
    assert snapshot() == before
    assert CloudProject.objects.get(region=REGION).sync_error == result.error


def test_the_next_good_sync_clears_the_error(demo):
    control(demo, "PUT", "faults", json={"error_rate": 1.0})
    sync_all(regions=[REGION])
    assert CloudProject.objects.get(region=REGION).sync_error
    control(demo, "DELETE", "faults")
    assert sync_all(regions=[REGION])[0].ok
    project = CloudProject.objects.get(region=REGION)
    assert (project.sync_error, project.sync_failed_at) == ("", None)


# --- cost -------------------------------------------------------------------------------------


def test_the_query_count_of_a_sync_does_not_grow_with_the_number_of_links(empty):
    def queries_for(links: int) -> int:
        empty.reset(seed="empty")
        control(empty, "PUT", "config", json={"transition_delay": 0})
        PeerLink.objects.all().delete()
        Gateway.objects.all().delete()
        EnterpriseRouter.objects.all().delete()
        gateway_id = _add_gateway(empty, name="gw-big", quota=100)
        router_id = add_router(empty, name="er-big")
        for i in range(links):
            create_link(gateway_id=gateway_id, router_id=router_id, name=f"l-{i}")
        sync_region(region=REGION)  # first sync: creates
        for i, link in enumerate(cloud.list_peer_links(region=REGION, gateway_id=gateway_id)):
            if i % 2:
                control(empty, "PATCH", f"peer-links/{link.id}", json={"status": "ERROR", "name": f"x-{i}"})
        with CaptureQueriesContext(connection) as context:
            result = sync_region(region=REGION)
        assert result.ok and result.drifts == links // 2
        return len(context)

    assert queries_for(5) == queries_for(40)


def test_the_query_count_of_a_sync_finding_new_links_does_not_grow_with_the_number_of_links(empty):
    # 30, not 40: Django 5.2 caps an SQLite INSERT at 999 parameters, so rows are inserted in batches of
    # 37 peer links (one query per batch, never per link).
    def queries_for(links: int) -> int:
        empty.reset(seed="empty")
        control(empty, "PUT", "config", json={"transition_delay": 0})
        Drift.objects.all().delete()
        StatusChange.objects.all().delete()
        PeerLink.objects.all().delete()
        Gateway.objects.all().delete()
        EnterpriseRouter.objects.all().delete()
        gateway_id = _add_gateway(empty, name="gw-big", quota=100)
        router_id = add_router(empty, name="er-big")
        sync_region(region=REGION)  # the gateway is known, none of its links yet
        for i in range(links):
            create_link(gateway_id=gateway_id, router_id=router_id, name=f"l-{i}")
        with CaptureQueriesContext(connection) as context:
            assert sync_region(region=REGION).links_created == links
        return len(context)

    assert queries_for(5) == queries_for(30)


# --- command ----------------------------------------------------------------------------------


def test_sync_peerlinks_command_prints_a_summary_per_region(demo, capsys):
    call_command("sync_peerlinks")
    out = capsys.readouterr().out
    for region in DEMO_REGIONS:
        assert f"{region}: " in out
    assert "gateways" in out and "new links" in out and "drift" in out


def test_sync_peerlinks_command_fails_when_no_region_can_be_synced(demo):
    from django.core.management.base import CommandError

    control(demo, "PUT", "faults", json={"error_rate": 1.0})
    with pytest.raises(CommandError):
        call_command("sync_peerlinks", "--region", REGION)


def _last_synced() -> dict[str, tuple]:
    links = PeerLink.objects.present().select_related("gateway")
    return {link.cloud_id: (link.last_synced_at, link.synced_at) for link in links}


def test_a_second_sync_shows_unchanged_links_as_fresh_without_writing_them(demo):
    sync_all()
    first = _last_synced()
    results = sync_all()
    assert sum(r.links_updated for r in results) == 0
    second = _last_synced()
    assert second.keys() == first.keys() and second
    for cloud_id, (last_synced, written) in second.items():
        assert last_synced > first[cloud_id][0]
        assert written == first[cloud_id][1]
