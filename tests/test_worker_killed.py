"""Nothing is lost when a worker dies mid-execution: a restart resumes the change, without a second create;
and nothing is done twice when a worker is only paused (SIGSTOP, as a VM stall or swap would) past its lease
while another attempt resumes the change: the late worker sends nothing and its stale reply is discarded.

A real `manage.py db_worker` runs the change against the simulator and is killed (SIGKILL: no cleanup)
while the request is executing; a new worker plus the scheduler's resume pass finish it. The worker opens
the test database itself, so this needs a database two processes can share: the file SQLite test
database (tests/conftest.py) or PostgreSQL.
"""

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from peerlinks import cloud
from peerlinks.models import AuditEvent, ChangeRequest, Gateway
from peerlinks.services import changes
from peerlinks.services.execution import resume_stalled_changes
from tests.conftest import poll_until, worker_database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
REGION = "cn-north-4"
LEASE = 1.0  # seconds without a sign of life before an executing change counts as stalled
CREATE_LATENCY_MS = 3000  # long enough to kill the worker while its create is in flight


@pytest.fixture
def world(simulator, settings, no_approvals) -> dict:
    """A gateway and a router in the simulator, synced; changes run on the database task queue."""
    sim = simulator.sim
    sim.set_config(transition_delay=0.3)
    gateway = sim.add_gateway(name="gw-killed", region=REGION, quota=10)
    router = sim.add_router(name="er-killed", region=REGION)
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.CHANGE_EXECUTION_LEASE = LEASE
    call_command("sync_peerlinks", stdout=io.StringIO())
    return {"base": simulator.base_url, "gateway_id": gateway["id"], "router_id": router["id"]}


@pytest.fixture
def start_worker(world, settings, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:
    """Start `manage.py db_worker` processes on the test database; all are stopped at the end."""
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "CLOUD_ENDPOINT": settings.CLOUD_ENDPOINT,
        "CLOUD_REGIONS": REGION,
        "CHANGE_EXECUTION_LEASE": str(LEASE),
        "PENDING_RECHECK_INTERVAL": "0.2",
        "DEBUG": "1",
        "TASKS_BACKEND": "database",
    }
    workers: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = tmp_path / f"worker-{len(workers)}.log"
        with log.open("wb") as out:
            command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
            process = subprocess.Popen(
                [*command, "--interval=0.1"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        workers.append(process)
        return process

    yield start
    for process in workers:
        if process.poll() is None:
            process.terminate()
    for process in workers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _queue_fault(base: str, **fault: object) -> None:
    requests.post(f"{base}/_dcsim/faults/next", json=fault, timeout=5).raise_for_status()


def _fault_taken(base: str) -> bool:
    """The queued one-shot fault has been picked by a request: that request is inside the simulator."""
    return not requests.get(f"{base}/_dcsim/faults", timeout=5).json()["queued"]


def _links_in_cloud(base: str) -> int:
    return requests.get(f"{base}/_dcsim/state", timeout=5).json()["peer_links"]


def _submit_create(world: dict, engineer) -> ChangeRequest:
    gateway = Gateway.objects.get(cloud_id=world["gateway_id"])
    payload = {
        "name": "survivor",
        "peer_type": "ER",
        "peer_gateway_id": world["router_id"],
        "peer_region": REGION,
    }
    change = changes.submit_change(user=engineer, kind="create", gateway=gateway, payload=payload)
    assert change.state == ChangeRequest.State.APPROVED  # no approval needed: queued at once
    return change


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=5)
    assert process.returncode == -signal.SIGKILL


def _state(change: ChangeRequest) -> ChangeRequest:
    change.refresh_from_db()
    return change


def _resume(change: ChangeRequest, start_worker: Callable[[], subprocess.Popen]) -> None:
    """What a restart does: a new worker, and the scheduler's pass that re-queues stalled changes."""
    poll_until(
        lambda: time.time() - _state(change).updated_at.timestamp() > LEASE + 0.2,
        what="the execution lease to run out",
        timeout=15,
    )
    start_worker()
    assert resume_stalled_changes() == 1
    poll_until(lambda: _state(change).is_terminal, what="the resumed change to finish", timeout=20)


def _assert_one_link_and_resumed(world: dict, change: ChangeRequest) -> None:
    assert change.state == ChangeRequest.State.DONE, f"{change.error_code}: {change.error_msg}"
    links = cloud.list_peer_links(region=REGION, gateway_id=world["gateway_id"])
    to_peer = [link for link in links if link.peer_site and link.peer_site.gateway_id == world["router_id"]]
    assert [link.name for link in to_peer] == ["survivor"]
    assert _links_in_cloud(world["base"]) == 1
    assert change.peer_link.cloud_id == to_peer[0].id
    assert change.peer_link.status == "ACTIVE"
    actions = list(change.audit_events.order_by("at", "id").values_list("action", flat=True))
    assert actions.count("change.resumed") == 1
    assert actions.count("peer_link.created") == 1
    assert actions[-1] == "change.done"
    assert change.attempts == 2


def _first_worker_held_up(
    world: dict, engineer, start_worker: Callable[[], subprocess.Popen], *, method: str, path_contains: str
) -> tuple[ChangeRequest, subprocess.Popen]:
    """Submit a create and start a worker on it; return once the worker waits on a slow answer of the
    cloud (`method` to a path containing `path_contains`)."""
    _queue_fault(
        world["base"],
        fault="latency",
        latency_ms=CREATE_LATENCY_MS,
        method=method,
        path_contains=path_contains,
    )
    change = _submit_create(world, engineer)
    first = start_worker()
    poll_until(lambda: _fault_taken(world["base"]), what="the worker to reach the slow call", timeout=15)
    assert _state(change).state == ChangeRequest.State.EXECUTING
    return change, first


def test_worker_killed_while_its_create_is_in_flight_resumes_without_a_second_create(
    world, engineer, start_worker
):
    # The cloud takes the create but answers slowly; the worker dies before it hears back, so the
    # portal never learns the link's id.
    change, first = _first_worker_held_up(
        world, engineer, start_worker, method="POST", path_contains="peer-links"
    )
    _kill(first)

    assert _state(change).peer_link is None  # nothing recorded
    poll_until(
        lambda: _links_in_cloud(world["base"]) == 1, what="the cloud to make the link anyway", timeout=15
    )

    _resume(change, start_worker)
    _assert_one_link_and_resumed(world, change)
    # The link was adopted by a lookup, not made by a second create (which would carry a request id).
    assert change.cloud_request_ids == []
    resumed = change.audit_events.get(action="change.resumed")
    assert resumed.actor_name == "system"
    assert resumed.after["attempt"] == 2


def test_worker_killed_while_following_the_new_link_resumes_and_only_follows(world, engineer, start_worker):
    # The create went through and was recorded; the worker dies while it asks how the link is doing.
    _queue_fault(
        world["base"],
        fault="latency",
        latency_ms=CREATE_LATENCY_MS,
        method="GET",
        path_contains="/peer-links/",
    )
    change = _submit_create(world, engineer)
    first = start_worker()
    poll_until(
        lambda: _fault_taken(world["base"]) and _state(change).peer_link_id is not None,
        what="the worker to record the link and follow it",
        timeout=15,
    )
    assert change.state == ChangeRequest.State.EXECUTING
    _kill(first)

    _resume(change, start_worker)
    _assert_one_link_and_resumed(world, change)
    assert len(change.cloud_request_ids) == 1  # the one create, from the first attempt
    assert AuditEvent.objects.filter(action="peer_link.created").count() == 1


def _paused_while_another_resumes(
    first: subprocess.Popen,
    change: ChangeRequest,
    world: dict,
    start_worker: Callable[[], subprocess.Popen],
    *,
    slow_create: bool = False,
) -> None:
    """Pause the first worker (SIGSTOP) past its lease while another resumes the change and finishes it;
    then let the first one go on (SIGCONT)."""
    first.send_signal(signal.SIGSTOP)
    try:
        if slow_create:
            # The cloud finishes the create before anyone looks again: a resumed attempt must find it.
            # (A create still in flight past the lease is what check W001 rules out.)
            poll_until(
                lambda: _links_in_cloud(world["base"]) == 1, what="the cloud to make the link", timeout=15
            )
        _resume(change, start_worker)
        _assert_one_link_and_resumed(world, change)
    finally:
        first.send_signal(signal.SIGCONT)


def _wait_for_tasks_to_end() -> None:
    """Every task the workers took has ended (the woken worker's included)."""
    poll_until(
        lambda: not DBTaskResult.objects.filter(status="RUNNING").exists(),
        what="the workers' tasks to end",
        timeout=20,
    )


def _superseded_events(change: ChangeRequest) -> list[AuditEvent]:
    return list(change.audit_events.filter(action="change.attempt_superseded"))


def test_a_worker_paused_past_its_lease_in_the_precheck_sends_no_create_after_another_took_over(
    world, engineer, start_worker
):
    # The last look before the create (the router's state) answers slowly; the worker is paused while it
    # waits, longer than its lease, and another worker resumes the change and makes the link.
    change, first = _first_worker_held_up(
        world, engineer, start_worker, method="GET", path_contains=world["router_id"]
    )
    _paused_while_another_resumes(first, change, world, start_worker)

    # The paused worker wakes up with the router's answer: it finds its attempt superseded and stands down.
    _wait_for_tasks_to_end()
    assert _links_in_cloud(world["base"]) == 1
    assert len(_state(change).cloud_request_ids) == 1  # the resumed attempt's create only
    (event,) = _superseded_events(change)
    assert event.after["attempt"] == 1
    assert "nothing was sent" in event.after["detail"]
    assert first.poll() is None  # the worker itself carries on


def test_a_late_create_reply_never_lands_over_the_link_another_attempt_recorded(
    world, engineer, start_worker
):
    # The create reaches the cloud but its reply (PENDING_CREATE) is slow; the worker is paused meanwhile.
    # Another attempt adopts the link and follows it to ACTIVE; then the paused worker wakes with its reply.
    change, first = _first_worker_held_up(
        world, engineer, start_worker, method="POST", path_contains="peer-links"
    )
    _paused_while_another_resumes(first, change, world, start_worker, slow_create=True)

    _wait_for_tasks_to_end()
    link = _state(change).peer_link
    link.refresh_from_db()
    assert link.status == "ACTIVE"
    # No false step back in the link's history.
    assert not link.status_changes.filter(from_status="ACTIVE").exists()
    assert _state(change).state == ChangeRequest.State.DONE
    assert _links_in_cloud(world["base"]) == 1
    (event,) = _superseded_events(change)
    assert "PENDING_CREATE" in event.after["detail"] and "discarded" in event.after["detail"]
