"""Web CPU per page (issue 13): the pages of the load run, each served one at a time in one process, and the
CPU time the process spent per request (user + system), for this tree and a baseline revision side by side.

    .venv/bin/python bench/page_cpu.py [--baseline REF] [--links 5000] [--requests 40] [--db postgres]

The pages and their share are the load run's (`load_run.next_page`): the dashboard, the link list (plain,
then filtered, sorted and paged, half of them as htmx fragments), link pages (each asks the simulator for its
attachment over HTTP) and the topology. Each variant runs in its own process from its own code (the
baseline is `git archive REF`, unpacked under var/bench/), on a database of its own filled the same way
(`speed.fill_cache`, then ANALYZE as upkeep would), with the simulator as a subprocess. Requests go
through Django's test client (the whole middleware stack, sessions included, no sockets). In each round,
each page's requests run in one variant and right after in the other (the first taking turns), so the two
see the same machine: its speed drifts by a third within minutes. A page's figures are the medians over
the rounds, its ratio the median of the rounds' paired ratios. CPU time is what the process itself
used, so other work on the machine does not count, though it still slows a shared cache. The baseline
defaults to the code before issue 13's work began.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

PAGES = ("dashboard", "link list", "link list filtered", "link detail", "topology")
GOAL = 0.5  # at most half the CPU per request of the baseline, per page


def serve(tree: Path, links: int, db: str, requests: int) -> None:
    """In the child: set up `tree`'s Django on a fresh database, then answer 'go' lines from the parent
    with one round of CPU figures per page (a JSON line), until stdin closes."""
    sys.path.insert(0, str(tree))
    from bench import common, speed
    from bench.load_run import next_page

    sim_port = common.free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "dcsim", "--seed", "empty", "--quiet", "--port", str(sim_port)],
        cwd=tree,
        stdout=subprocess.DEVNULL,
    )
    try:
        common.wait_for_port(sim_port)
        import dcsim

        regions = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
        common.setup_django(
            common.fresh_database(db, "cpu_baseline" if "baseline" in tree.name else "cpu_this"),
            CLOUD_ENDPOINT=f"http://127.0.0.1:{sim_port}",
            CLOUD_REGIONS=",".join(regions),
            CLOUD_PROJECT_IDS=",".join(f"{r}={dcsim.project_id_for(r)}" for r in regions),
            CLOUD_MAX_RETRIES="0",
            DATABASE_CONN_MAX_AGE="60",
        )
        from django.db import connection
        from django.test import Client

        from peerlinks.models import Gateway, PeerLink

        speed.fill_cache(links)
        PeerLink.objects.filter(peer_type="ER").update(link_id="0b0b0b0b-0000-4000-8000-000000000000")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        link_ids = list(PeerLink.objects.order_by("cloud_id").values_list("cloud_id", flat=True)[:500])
        gateway_ids = list(Gateway.objects.order_by("cloud_id").values_list("cloud_id", flat=True))
        # The same pages for both variants: the load run's choices from a fixed seed, `requests` per page.
        rng = random.Random(13)
        chosen: dict[str, list[tuple[str, bool]]] = {page: [] for page in PAGES}
        while any(len(paths) < requests for paths in chosen.values()):
            page, path, htmx = next_page(rng, link_ids, gateway_ids)
            if len(chosen[page]) < requests:
                chosen[page].append((path, htmx))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(common.engineer("cpu-user"))
        for page in PAGES:  # warm up: templates compiled, connections open
            for path, htmx in chosen[page][:3]:
                client.get(path, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
        print("ready", flush=True)
        for line in sys.stdin:  # a page's name: its requests once, then their CPU and wall time per request
            page = line.strip()
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            for path, htmx in chosen[page]:
                response = client.get(path, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
                assert response.status_code == 200, (path, response.status_code)
            figures = {
                "cpu": (time.process_time() - cpu_started) / len(chosen[page]),
                "wall": (time.perf_counter() - wall_started) / len(chosen[page]),
            }
            print(json.dumps(figures), flush=True)
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="git revision to compare with (default: before issue 13)")
    parser.add_argument("--links", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20, help="requests per page per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the child: a tree to serve from
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve), args.links, args.db, args.requests)
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import common
    from bench.load_run import next_page

    args.baseline = args.baseline or common.BEFORE_ISSUE_13
    variants = {"baseline": common.baseline_tree(args.baseline), "this tree": common.REPO}
    print(f"web CPU per page: {args.links:,} cached links on {args.db}, {args.requests} requests per page")
    print(
        f"  per round, {args.rounds} rounds, the two variants page by page; "
        f"baseline {args.baseline[:12]} ({common.machine()})"
    )
    children = {}
    common.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    logs = {
        name: (common.BENCH_DIR / f"page-cpu-{name.replace(' ', '-')}.log").open("w") for name in variants
    }
    for name, tree in variants.items():
        children[name] = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve",
                str(tree),
                "--db",
                args.db,
                "--links",
                str(args.links),
                "--requests",
                str(args.requests),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": ""},
            stderr=logs[name],
        )
    samples: dict[str, dict[str, list[dict]]] = {name: {page: [] for page in PAGES} for name in variants}
    try:
        for name, child in children.items():
            line = child.stdout.readline()
            if line.strip() != "ready":
                raise SystemExit(f"{name}: did not start (exit {child.wait()}; see var/bench/page-cpu-*.log)")
        for round_ in range(args.rounds):
            for page in PAGES:
                # Each page of the two variants one right after the other, the first of them taking turns:
                # the pair sees the same machine (this machine's speed drifts by a third within minutes).
                order = list(children.items())
                for name, child in order if round_ % 2 == 0 else reversed(order):
                    child.stdin.write(f"{page}\n")
                    child.stdin.flush()
                    samples[name][page].append(json.loads(child.stdout.readline()))
    finally:
        for child in children.values():
            child.stdin.close()
            child.wait(timeout=60)

    goals = common.Goals()
    print(
        f"  {'page':<20}{'baseline CPU':>14}{'this tree':>12}{'ratio':>8}"
        f"{'wall, baseline':>17}{'this tree':>12}"
    )
    # Each page weighs in the mix as often as the load run opens it.
    rng = random.Random(13)
    opened = Counter(next_page(rng, ["x"], ["y"])[0] for _ in range(10_000))
    shares = {page: opened[page] / 10_000 for page in PAGES}
    # Per page: the median over the rounds of each variant's CPU, and the median of the rounds' ratios (each
    # round's two measurements of a page taken one right after the other).
    rounds = range(args.rounds)
    for page in PAGES:
        cpu = {name: statistics.median(f["cpu"] for f in samples[name][page]) for name in variants}
        wall = {name: statistics.median(f["wall"] for f in samples[name][page]) for name in variants}
        ratio = statistics.median(
            samples["this tree"][page][r]["cpu"] / samples["baseline"][page][r]["cpu"] for r in rounds
        )
        print(
            f"  {page:<20}{common.ms(cpu['baseline']):>14}{common.ms(cpu['this tree']):>12}{ratio:>7.2f}×"
            f"{common.ms(wall['baseline']):>17}{common.ms(wall['this tree']):>12}"
        )
        goals.check(f"{page}: CPU ≤ {GOAL}× the baseline", ratio <= GOAL, f"{ratio:.2f}×")
    mixed = {
        name: [sum(shares[page] * samples[name][page][r]["cpu"] for page in PAGES) for r in rounds]
        for name in variants
    }
    ratio = statistics.median(mixed["this tree"][r] / mixed["baseline"][r] for r in rounds)
    print(
        f"  {'load run mix':<20}{common.ms(statistics.median(mixed['baseline'])):>14}"
        f"{common.ms(statistics.median(mixed['this tree'])):>12}{ratio:>7.2f}×"
    )
    goals.check(f"load run mix: CPU ≤ {GOAL}× the baseline", ratio <= GOAL, f"{ratio:.2f}×")
    return goals.finish(strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
