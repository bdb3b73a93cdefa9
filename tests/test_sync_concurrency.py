"""Syncs that meet: at most one per region at a time, each link cached once, no deadlock, no lost Refresh.

Real threads, each with its own database connection, against the simulator over HTTP (with some latency,
so the syncs' fetches overlap). On PostgreSQL the region claim and the row locks order them; on SQLite
the write lock does too. A killed worker is a real `manage.py sync_peerlinks` process killed mid-fetch.
"""

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import AuditEvent, CloudProject, Drift, Gateway, PeerLink, StatusChange
from peerlinks.services import mirror, sync
from peerlinks.services.sync import SyncResult, recheck_pending, sync_region
from tests.conftest import on_sqlite, poll_until
from tests.test_sync import create_link

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
REGION = "cn-north-4"
LATENCY_MS = 100  # every API call, so that two syncs started together are fetching at the same time


class Background:
    """One call in a thread of its own (with its own database connection); its result or exception."""

    def __init__(self, action: Callable[[], object], *, barrier: threading.Barrier | None = None) -> None:
        self.outcome: object = None

        def run() -> None:
            try:
                if barrier is not None:
                    barrier.wait(timeout=10)
                self.outcome = action()
            except Exception as exc:
                self.outcome = exc
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 60.0) -> object:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the call did not return within {timeout:g} s"
        return self.outcome


def together(*actions: Callable[[], object]) -> list[object]:
    """Start the actions at the same instant, each in its thread; what each returned or raised."""
    barrier = threading.Barrier(len(actions))
    calls = [Background(action, barrier=barrier) for action in actions]
    return [call.result() for call in calls]


@pytest.fixture
def world(simulator, settings) -> dict:
    """Two gateways with a link each (to a router of its own) in the simulator, synced once."""
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.CLOUD_MAX_RETRIES = 0
    sim = simulator.sim
    sim.set_config(transition_delay=0)
    gateways = [sim.add_gateway(name=f"gw-{i}", region=REGION, quota=20)["id"] for i in range(2)]
    world = {"sim": sim, "base": simulator.base_url, "gateways": gateways}
    for gateway in gateways:
        create_link(gateway_id=gateway, router_id=new_router(world), name=f"old-{gateway[:8]}")
    assert sync_region(region=REGION).ok
    return world


def new_router(world: dict) -> str:
    """A router of its own for each new link: two links from one gateway to one peer are a duplicate."""
    return world["sim"].add_router(name=f"er-{uuid.uuid4().hex[:8]}", region=REGION)["id"]


def _links_in_cloud(gateway_ids: list[str]) -> set[str]:
    return {link.id for g in gateway_ids for link in cloud.list_peer_links(region=REGION, gateway_id=g)}


def _assert_each_link_once(world: dict, new: list[str]) -> None:
    """The cache holds every cloud link once; each new one has one first status and was noticed once."""
    assert sorted(PeerLink.objects.values_list("cloud_id", flat=True)) == sorted(
        _links_in_cloud(world["gateways"])
    )
    for link_id in new:
        assert StatusChange.objects.filter(peer_link__cloud_id=link_id, from_status="").count() == 1
        assert Drift.objects.filter(peer_link__cloud_id=link_id, kind=Drift.Kind.CREATED).count() == 1
        assert AuditEvent.objects.filter(action="peer_link.created_outside", object_id=link_id).count() == 1


def _no_errors(outcomes: list[object]) -> None:
    errors = [o for o in outcomes if isinstance(o, Exception) or (isinstance(o, SyncResult) and not o.ok)]
    assert not errors, errors


def _hold_region(*, for_seconds: float, holder: str = "another-worker") -> None:
    """The region claimed by another sync, as its row would show it."""
    CloudProject.objects.filter(region=REGION).update(
        sync_claim=holder, sync_claimed_until=timezone.now() + timedelta(seconds=for_seconds)
    )


def _free_region() -> None:
    CloudProject.objects.filter(region=REGION).update(sync_claim="", sync_claimed_until=None)


@pytest.fixture
def meet_in_the_write(monkeypatch) -> Callable[[], contextlib.AbstractContextManager]:
    """Within `with meet_in_the_write():`, two syncs that both get as far as writing links wait there for
    each other (a second at most): the worst moment for them to meet. Syncs that cannot both get there
    (one holds the region) go on alone after that second."""
    meeting: list[threading.Barrier] = []
    real_apply = sync._apply_links

    def apply_links(**kwargs: object) -> None:
        if meeting:
            with contextlib.suppress(threading.BrokenBarrierError):
                meeting[0].wait(timeout=1)
        real_apply(**kwargs)

    @contextlib.contextmanager
    def armed() -> Iterator[None]:
        meeting.append(threading.Barrier(2))
        try:
            yield
        finally:
            meeting.clear()

    monkeypatch.setattr(sync, "_apply_links", apply_links)
    return armed


# --- syncs started together -------------------------------------------------------------------


def test_two_full_syncs_meeting_the_same_new_links_store_each_once(world, meet_in_the_write):
    new = [
        create_link(gateway_id=gateway, router_id=new_router(world), name=f"new-{i}-{gateway[:8]}")
        for gateway in world["gateways"]
        for i in range(5)
    ]
    world["sim"].set_faults(latency_ms=LATENCY_MS)
    with meet_in_the_write():
        outcomes = together(lambda: sync_region(region=REGION), lambda: sync_region(region=REGION))
    _no_errors(outcomes)
    # One of them found the links new; the other, run after it, found them cached.
    assert sorted(r.links_created for r in outcomes) == [0, len(new)]
    _assert_each_link_once(world, new)


def test_a_full_sync_and_a_pending_recheck_together_store_each_link_once(world, meet_in_the_write):
    world["sim"].set_config(transition_delay=3600)
    gateway = world["gateways"][0]
    pending = create_link(gateway_id=gateway, router_id=new_router(world), name="pending")
    assert sync_region(region=REGION).ok
    assert PeerLink.objects.get(cloud_id=pending).status == "PENDING_CREATE"
    new = [create_link(gateway_id=gateway, router_id=new_router(world), name=f"new-{i}") for i in range(5)]
    world["sim"].force_peer_link(pending, status="ACTIVE")
    world["sim"].set_faults(latency_ms=LATENCY_MS)

    with meet_in_the_write():
        outcomes = together(lambda: sync_region(region=REGION), recheck_pending)
    _no_errors(outcomes)
    _assert_each_link_once(world, new)
    history = PeerLink.objects.get(cloud_id=pending).status_changes.values_list("from_status", "to_status")
    assert list(history) == [("", "PENDING_CREATE"), ("PENDING_CREATE", "ACTIVE")]


# --- a second ask while the region is held ----------------------------------------------------


def test_a_recheck_while_another_sync_holds_the_region_is_merged(world):
    world["sim"].set_config(transition_delay=3600)
    pending = create_link(gateway_id=world["gateways"][0], router_id=new_router(world), name="pending")
    assert sync_region(region=REGION).ok
    world["sim"].force_peer_link(pending, status="ACTIVE")
    _hold_region(for_seconds=60)

    started = time.monotonic()
    assert recheck_pending() == 0
    assert time.monotonic() - started < 2  # left to the sync holding the region, not waited for
    assert PeerLink.objects.get(cloud_id=pending).status == "PENDING_CREATE"

    _free_region()
    assert recheck_pending() == 1
    assert PeerLink.objects.get(cloud_id=pending).status == "ACTIVE"


def test_a_full_sync_while_another_holds_the_region_waits_and_then_runs(world):
    added = create_link(gateway_id=world["gateways"][0], router_id=new_router(world), name="added")
    _hold_region(for_seconds=60)
    refresh = Background(lambda: sync_region(region=REGION))
    time.sleep(0.5)
    assert refresh.thread.is_alive()  # waiting, not merged away
    assert not PeerLink.objects.filter(cloud_id=added).exists()

    _free_region()
    result = refresh.result(timeout=10)
    assert isinstance(result, SyncResult) and result.ok, result
    assert PeerLink.objects.filter(cloud_id=added).exists()


def test_a_full_sync_waits_for_a_live_holder_no_longer_than_the_lease(world, settings):
    settings.SYNC_LEASE = 0.5
    added = create_link(gateway_id=world["gateways"][0], router_id=new_router(world), name="added")
    _hold_region(for_seconds=60)  # a holder that keeps renewing
    started = time.monotonic()
    result = sync_region(region=REGION)
    assert 0.5 <= time.monotonic() - started < 5
    assert not result.ok
    assert "Another sync" in result.error
    assert not PeerLink.objects.filter(cloud_id=added).exists()
    assert CloudProject.objects.get(region=REGION).sync_claim == "another-worker"  # not taken from it


def test_a_sync_holds_the_region_while_it_runs_and_gives_it_back(world, monkeypatch):
    holders: list[str] = []
    real_fetch = sync._fetch_region

    def fetch(**kwargs: object) -> object:
        holders.append(CloudProject.objects.get(region=REGION).sync_claim)
        return real_fetch(**kwargs)

    monkeypatch.setattr(sync, "_fetch_region", fetch)
    assert sync_region(region=REGION).ok
    assert len(holders) == 1 and holders[0]
    project = CloudProject.objects.get(region=REGION)
    assert (project.sync_claim, project.sync_claimed_until) == ("", None)


# --- a worker killed mid-sync -----------------------------------------------------------------


def _database_url() -> str:
    """The test database as a URL another process understands."""
    db = connection.settings_dict
    if on_sqlite(db):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_worker_killed_mid_sync_blocks_the_region_no_longer_than_the_lease(world, settings, tmp_path):
    lease = 1.5
    settings.SYNC_LEASE = lease
    added = create_link(gateway_id=world["gateways"][0], router_id=new_router(world), name="added")
    # The other process's first listing of links hangs: it dies holding the claim.
    world["sim"].queue_fault("latency", method="GET", path_contains="peer-links", latency_ms=10_000)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CLOUD_ENDPOINT": world["base"],
        "CLOUD_REGIONS": REGION,
        "CLOUD_MAX_RETRIES": "0",
        "SYNC_LEASE": str(lease),
        "DEBUG": "1",
    }
    with (tmp_path / "sync.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "sync_peerlinks"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        poll_until(
            lambda: (
                not world["sim"].get_faults()["queued"] and CloudProject.objects.get(region=REGION).sync_claim
            ),
            what="the worker to claim the region and hang in its fetch",
            timeout=20,
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=5)
    left = CloudProject.objects.get(region=REGION)
    assert left.sync_claim  # nobody gave it back

    started = time.monotonic()
    result = sync_region(region=REGION)
    assert result.ok, result.error
    # It waited for the dead worker's lease to run out, and no longer.
    assert timezone.now() >= left.sync_claimed_until
    assert time.monotonic() - started < lease + 1
    assert PeerLink.objects.filter(cloud_id=added).exists()


# --- the executor storing a link while a sync writes ----------------------------------------------


def test_a_link_stored_by_the_executor_while_the_sync_writes_is_cached_once(world, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite the executor's write waits for the sync's: they cannot meet inside it")
    gateway_id = world["gateways"][0]
    made = create_link(gateway_id=gateway_id, router_id=new_router(world), name="ours")
    [wire] = [link for link in cloud.list_peer_links(region=REGION, gateway_id=gateway_id) if link.id == made]
    real_insert = sync._insert_new_links
    stored: list[object] = []

    def insert_after_the_executor(*args: object, **kwargs: object) -> None:
        if not stored:
            # The sync holds the gateway (no key lock): the executor's insert under it must not wait.
            def store() -> None:
                with transaction.atomic():
                    mirror.store_link(gateway=Gateway.objects.get(cloud_id=gateway_id), link=wire)

            stored.append(Background(store).result(timeout=10))
        real_insert(*args, **kwargs)

    monkeypatch.setattr(sync, "_insert_new_links", insert_after_the_executor)
    result = sync_region(region=REGION)
    assert stored == [None]
    assert result.ok
    assert PeerLink.objects.filter(cloud_id=made).count() == 1
    assert StatusChange.objects.filter(peer_link__cloud_id=made, from_status="").count() == 1


def test_the_command_reports_a_sync_that_could_not_get_its_region(world, settings):
    settings.SYNC_LEASE = 0.2
    _hold_region(for_seconds=60)
    err = io.StringIO()
    with pytest.raises(CommandError, match="No region could be synced"):
        call_command("sync_peerlinks", stdout=io.StringIO(), stderr=err)
    assert "Another sync" in err.getvalue()
