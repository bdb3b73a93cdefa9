"""Fault run (issue 5, reliability): 200 change requests through the real task workers while the simulator
injects faults into about 20% of the API requests, then a full sync, then the figures.

    .venv/bin/python bench/fault_run.py [--db postgres] [--workers 4] [--strict]

Creates (to enterprise routers and to other gateways), renames and deletes are submitted with a policy
that needs no approval, and run by `manage.py db_worker` subprocesses (and `manage.py run_scheduler`, as
in production) against the simulator with 500, 503, 429 + Retry-After, added latency, dropped
connections and dropped create responses, at fixed rates with a fixed seed. Printed: requests terminal
(%), duplicates in the cloud, lost requests, cache equal to cloud after the sync (every field of every
link), wall time. Goal: 100%, 0, 0, yes.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

REGION = "cn-north-4"
GATEWAYS = 6
# Rates per API request (checked in this order by the simulator: drop, throttle, error); dropped create
# responses apply to creates only; latency is added to one API request in every LATENCY_EVERY.
FAULTS = {
    "drop_rate": 0.05,
    "throttle_rate": 0.05,
    "error_rate": 0.07,
    "drop_create_response_rate": 0.25,
    "retry_after": 1,
}
LATENCY_MS = 1500
LATENCY_EVERY = 25


def build_world(sim, *, existing: int) -> dict:
    """Gateways with room to spare, 40 routers, and `existing` ACTIVE links to rename and delete."""
    import dcsim
    from dcsim import store

    project = dcsim.project_id_for(REGION)
    gateways = [sim.add_gateway(name=f"gdgw-f{i}", region=REGION, quota=200)["id"] for i in range(GATEWAYS)]
    routers = [sim.add_router(name=f"er-f{i:02d}", region=REGION)["id"] for i in range(40)]
    now = time.time()
    links = []
    for i in range(existing):
        # Routers 0-19 hold the existing links; 20-39 stay free for new ones.
        links.append(
            store.PeerLink(
                id=str(uuid.uuid4()),
                project_id=project,
                gateway_id=gateways[i % GATEWAYS],
                name=f"old-{i:03d}",
                description="",
                peer_gateway_id=routers[(i // GATEWAYS) % 20],
                peer_project_id=project,
                peer_region_id=REGION,
                peer_type="ER",
                created_at=now,
                updated_at=now,
                status="ACTIVE",
                create_owner="dc",
                link_id=str(uuid.uuid4()),
            )
        )
    sim.store.insert(*links)
    return {"gateways": gateways, "routers": routers, "links": [link.id for link in links]}


def plan_requests(world: dict, *, total: int, rng: random.Random) -> list[dict]:
    """Half creates (4 in 5 to a router, 1 in 5 to another gateway), a quarter renames, a quarter deletes."""
    creates, changes = total // 2, total - total // 2
    renames = changes // 2
    gateways, routers = world["gateways"], world["routers"]
    er_pairs = [(g, r) for r in routers[20:] for g in gateways]
    gw_pairs = [(g, p) for g in gateways for p in gateways if g != p]
    rng.shuffle(er_pairs)
    rng.shuffle(gw_pairs)
    to_gateways = creates // 5
    plan = [
        {"kind": "create", "gateway": g, "peer": r, "peer_type": "ER", "name": f"new-er-{i:03d}"}
        for i, (g, r) in enumerate(er_pairs[: creates - to_gateways])
    ]
    plan += [
        {"kind": "create", "gateway": g, "peer": p, "peer_type": "GDGW", "name": f"new-gw-{i:03d}"}
        for i, (g, p) in enumerate(gw_pairs[:to_gateways])
    ]
    links = list(world["links"])
    rng.shuffle(links)
    plan += [
        {"kind": "update", "link": link, "name": f"renamed-{i:03d}"} for i, link in enumerate(links[:renames])
    ]
    plan += [{"kind": "delete", "link": link} for link in links[renames:changes]]
    rng.shuffle(plan)
    return plan


def submit(plan: list[dict], user) -> list[int]:
    from peerlinks.models import Gateway, PeerLink
    from peerlinks.services import changes

    ids = []
    for item in plan:
        if item["kind"] == "create":
            gateway = Gateway.objects.get(cloud_id=item["gateway"])
            payload = {
                "name": item["name"],
                "description": "fault run",
                "peer_type": item["peer_type"],
                "peer_gateway_id": item["peer"],
                "peer_region": REGION,
            }
            change = changes.submit_change(user=user, kind="create", gateway=gateway, payload=payload)
        else:
            link = PeerLink.objects.select_related("gateway").get(cloud_id=item["link"])
            payload = {"name": item["name"]} if item["kind"] == "update" else {}
            change = changes.submit_change(
                user=user, kind=item["kind"], gateway=link.gateway, payload=payload, peer_link=link
            )
        ids.append(change.pk)
    return ids


class LatencyInjector(threading.Thread):
    """Queues one slow response (LATENCY_MS) in the simulator for every LATENCY_EVERY API requests."""

    def __init__(self, handle) -> None:
        super().__init__(daemon=True)
        self.handle, self.stop, self.queued = handle, threading.Event(), 0

    def run(self) -> None:
        next_at = self.handle.counter.total + LATENCY_EVERY
        while not self.stop.wait(0.05):
            if self.handle.counter.total >= next_at:
                self.handle.sim.queue_fault("latency", latency_ms=LATENCY_MS)
                self.queued += 1
                next_at += LATENCY_EVERY

    def injected(self) -> int:
        return self.queued - len(self.handle.sim.get_faults()["queued"])


def duplicates_in_cloud(sim) -> tuple[int, int]:
    """(links beyond one with the same gateway, peer and name; links beyond one to the same peer)."""
    links = list(sim.store.peer_links.values())
    same_name = Counter((link.gateway_id, link.peer_gateway_id, link.name) for link in links)
    same_peer = Counter((link.gateway_id, link.peer_gateway_id) for link in links)
    return sum(n - 1 for n in same_name.values() if n > 1), sum(n - 1 for n in same_peer.values() if n > 1)


def compare_cache_with_cloud(gateway_ids: list[str]) -> list[str]:
    """Every link of every gateway, field by field: the cache against a fresh listing from the cloud."""
    from peerlinks import cloud
    from peerlinks.models import PeerLink
    from peerlinks.services.mirror import LINK_FIELDS, link_values

    problems = []
    for gateway_id in gateway_ids:
        wire = {
            link.id: link_values(link) for link in cloud.list_peer_links(region=REGION, gateway_id=gateway_id)
        }
        rows = {row.cloud_id: row for row in PeerLink.objects.present().filter(gateway__cloud_id=gateway_id)}
        for missing in wire.keys() - rows.keys():
            problems.append(f"in the cloud, not in the cache: {missing} ({wire[missing]['name']})")
        for extra in rows.keys() - wire.keys():
            problems.append(f"in the cache, gone from the cloud: {extra} ({rows[extra].name})")
        for link_id in wire.keys() & rows.keys():
            for field in LINK_FIELDS:
                if getattr(rows[link_id], field) != wire[link_id][field]:
                    problems.append(
                        f"{link_id} {field}: cache {getattr(rows[link_id], field)!r}, "
                        f"cloud {wire[link_id][field]!r}"
                    )
    return problems


def outcome_counts(change_ids: list[int]) -> tuple[Counter, Counter, int, int]:
    """The requests' states, failures by kind and code, how many are terminal, and how many not (lost)."""
    from peerlinks.models import ChangeRequest

    states = Counter(ChangeRequest.objects.filter(pk__in=change_ids).values_list("state", flat=True))
    failures = Counter(
        ChangeRequest.objects.filter(pk__in=change_ids, state=ChangeRequest.State.FAILED).values_list(
            "kind", "error_code"
        )
    )
    terminal = sum(n for state, n in states.items() if state in ChangeRequest.TERMINAL_STATES)
    return states, failures, terminal, len(change_ids) - terminal


def outcome_problems(plan: list[dict], change_ids: list[int], sim) -> list[str]:
    """Done requests whose effect is not what the cloud shows (a create without its link, …)."""
    from peerlinks.models import ChangeRequest

    changes = ChangeRequest.objects.in_bulk(change_ids)
    cloud_links = list(sim.store.peer_links.values())
    problems = []
    for item, pk in zip(plan, change_ids, strict=True):
        change = changes[pk]
        if change.state != ChangeRequest.State.DONE:
            continue
        if item["kind"] == "create":
            found = [
                link
                for link in cloud_links
                if link.gateway_id == item["gateway"] and link.peer_gateway_id == item["peer"]
            ]
            if len(found) != 1 or found[0].name != item["name"]:
                problems.append(
                    f"#{pk} create {item['name']} done, cloud has {[link.name for link in found]}"
                )
        elif item["kind"] == "update":
            link = sim.store.peer_links.get(item["link"])
            if link is None or link.name != item["name"]:
                problems.append(f"#{pk} rename to {item['name']} done, cloud has {link and link.name}")
        elif item["link"] in sim.store.peer_links:
            problems.append(f"#{pk} delete done, link {item['link']} still in the cloud")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, choices=range(1, 9), metavar="2-4")
    parser.add_argument("--seed", type=int, default=20250105)
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds for every request to end")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args, _ = parser.parse_known_args(argv)

    started = time.perf_counter()
    url = common.fresh_database(args.db, "fault")
    handle = common.start_simulator(transition_delay=0.3, delete_delay=0.3)
    common.setup_django(
        url,
        **common.cloud_env(handle, [REGION]),
        PENDING_RECHECK_INTERVAL="0.5",
        SYNC_INTERVAL="10",
    )
    from django.conf import settings

    from peerlinks.models import ChangeRequest, Policy
    from peerlinks.services import sync

    print(f"fault run on {args.db} with {args.workers} workers ({common.machine()})")
    sim = handle.sim
    world = build_world(sim, existing=args.requests // 2)
    [result] = sync.sync_all(regions=[REGION])
    assert result.ok, result
    Policy.current()
    Policy.objects.update(approvals_create=0, approvals_update=0, approvals_delete=0)
    plan = plan_requests(world, total=args.requests, rng=random.Random(args.seed))
    user = common.engineer("fault-engineer")

    commands = [(f"fault-worker-{i}", common.worker_args()) for i in range(args.workers)]
    commands.append(("fault-scheduler", ["run_scheduler"]))
    goals = common.Goals()
    with common.processes(commands):
        time.sleep(2)
        handle.counter.reset()
        import requests

        requests.put(
            f"{handle.base_url}/_dcsim/faults", json={**FAULTS, "seed": args.seed}, timeout=5
        ).raise_for_status()
        latency = LatencyInjector(handle)
        latency.start()
        change_ids = submit(plan, user)
        submitted = time.perf_counter()
        print(f"  submitted {len(change_ids)} requests in {submitted - started:.1f} s (setup included)")
        deadline = submitted + args.deadline
        open_states = [s for s in ChangeRequest.State if s not in ChangeRequest.TERMINAL_STATES]
        next_report = 0.0
        while time.perf_counter() < deadline:
            still_open = ChangeRequest.objects.filter(pk__in=change_ids, state__in=open_states).count()
            if not still_open:
                break
            if time.perf_counter() >= next_report:
                print(f"  {time.perf_counter() - submitted:5.0f} s: {still_open} requests still open")
                next_report = time.perf_counter() + 10
            time.sleep(0.5)
        run_time = time.perf_counter() - submitted
        latency.stop.set()
        latency.join()
        latencies = latency.injected()
        requests.delete(f"{handle.base_url}/_dcsim/faults", timeout=5).raise_for_status()
        api_total, outcomes = handle.counter.total, Counter(handle.counter.outcomes)
        dropped_creates = handle.counter.op_outcomes["POST peer-links", "dropped"]
    # Workers stopped; let the cloud settle (transitions, deletions), then one full sync.
    time.sleep(1.0)
    [final] = sync.sync_all(regions=[REGION])

    states, failures, terminal, lost = outcome_counts(change_ids)
    dup_name, dup_peer = duplicates_in_cloud(sim)
    mismatches = compare_cache_with_cloud(world["gateways"])
    wrong = outcome_problems(plan, change_ids, sim)
    faults = (
        sum(n for status, n in outcomes.items() if status in ("500", "503", "429", "dropped")) + latencies
    )

    kinds = Counter(item["kind"] for item in plan)
    print(
        f"\n  requests: {dict(kinds)}; workers {args.workers}, "
        f"re-check {settings.PENDING_RECHECK_INTERVAL:g} s"
    )
    print(
        f"  API requests {api_total}, faults injected {faults} ({faults / max(api_total, 1):.1%}): "
        f"500 {outcomes['500']}, 503 {outcomes['503']}, 429 {outcomes['429']}, "
        f"dropped {outcomes['dropped']} (of which creates {dropped_creates}), "
        f"+{LATENCY_MS} ms latency {latencies}"
    )
    print(f"  states: {dict(states)}")
    if failures:
        print(f"  failed by kind and code: {dict(failures)}")
    print(
        f"  final sync: ok={final.ok} created={final.links_created} "
        f"updated={final.links_updated} gone={final.links_gone}"
    )
    print(f"  requests terminal: {terminal}/{len(change_ids)} ({terminal / len(change_ids):.0%})")
    print(
        f"  duplicates in the cloud: {dup_name} (same gateway, peer and name); "
        f"{dup_peer} (same gateway and peer)"
    )
    print(f"  lost requests (not terminal after {args.deadline:.0f} s): {lost}")
    print(
        f"  cache equal to cloud after sync: {'yes' if not mismatches else 'no'} "
        f"({len(mismatches)} differences)"
    )
    for line in mismatches[:10]:
        print(f"    {line}")
    print(f"  done requests whose effect the cloud does not show: {len(wrong)}")
    for line in wrong[:10]:
        print(f"    {line}")
    print(
        f"  wall time: {run_time:.1f} s from submission to the last terminal state; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    handle.stop()

    goals.check("requests terminal", terminal == len(change_ids), f"{terminal / len(change_ids):.0%}")
    goals.check("duplicates in the cloud", dup_name == 0 and dup_peer == 0, str(dup_name + dup_peer))
    goals.check("lost requests", lost == 0, str(lost))
    goals.check("cache equal to cloud after sync", not mismatches, "yes" if not mismatches else "no")
    goals.check("done requests match the cloud", not wrong, f"{len(wrong)} mismatched")
    return goals.finish(strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
