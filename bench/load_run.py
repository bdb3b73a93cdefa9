"""Load run (issue 5, reliability): gunicorn with 4 workers on PostgreSQL, 50 logged-in users browsing and
filtering for 60 s, on loopback; error count and p50/p95/p99 latency per page and overall.

    .venv/bin/python bench/load_run.py [--duration 60] [--users 50] [--think 1.0] [--links 5000] [--strict]

The database is a dedicated one (`dcportal_bench_load` at BENCH_POSTGRES_URL), migrated and filled with
cached links by bulk_create. The simulator runs as a subprocess so the link page's live attachment
lookup is a real HTTP call. The load generator is this script: an asyncio client (standard library,
one connection per request as gunicorn's sync workers close them), each user with its own session,
pausing `--think` seconds on average between pages (0: no pause, a saturation test). Bounded by
`--duration` and `--max-requests`; it only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

HOST = "127.0.0.1"
STATUSES = ["ACTIVE", "ERROR", "PENDING_CREATE", "PENDING_UPDATE"]
SORTS = ["name", "-name", "status", "-updated", "gateway", "region", "-created", "peer_type"]


def sessions_for(count: int) -> list[str]:
    """Session cookies of `count` logged-in engineers, made directly (no password hashing under load)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for i in range(count):
        user = common.engineer(f"load-user-{i:02d}")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "peerlinks.permissions.GlobalRolesBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


def next_page(rng: random.Random, link_ids: list[str], gateway_ids: list[str]) -> tuple[str, str, bool]:
    """(page name, path, htmx) of what a browsing person opens next."""
    roll = rng.random()
    if roll < 0.15:
        return "dashboard", "/", False
    if roll < 0.30:
        return "link list", "/links/", False
    if roll < 0.65:
        query: dict[str, str] = {}
        if rng.random() < 0.5:
            query["status"] = rng.choice(STATUSES)
        if rng.random() < 0.3:
            query["peer_type"] = rng.choice(["ER", "GDGW"])
        if rng.random() < 0.3:
            query["gateway"] = rng.choice(gateway_ids)
        if rng.random() < 0.2:
            query["q"] = f"link-{rng.randrange(1000):03d}"
        if rng.random() < 0.6:
            query["sort"] = rng.choice(SORTS)
        if rng.random() < 0.5:
            query["page"] = str(rng.randint(1, 20))
        return "link list filtered", f"/links/?{urlencode(query)}", rng.random() < 0.5
    if roll < 0.90:
        return "link detail", f"/links/{rng.choice(link_ids)}/", False
    return "topology", "/topology/", False


async def fetch(port: int, path: str, cookie: str, htmx: bool, timeout: float) -> int:
    """GET one page over a fresh connection; returns the HTTP status (the body is read in full)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        headers = f"Host: {HOST}:{port}\r\nCookie: sessionid={cookie}\r\nConnection: close\r\n"
        if htmx:
            headers += "HX-Request: true\r\n"
        writer.write(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    status_line = response.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) > 1 else 0


async def user(
    port: int,
    cookie: str,
    *,
    seed: int,
    until: float,
    think: float,
    results: dict,
    budget: list[int],
    link_ids: list[str],
    gateway_ids: list[str],
    skip: tuple[str, ...] = (),
) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, max(think, 0.05)))  # users arrive spread out, not in one burst
    while time.perf_counter() < until and budget[0] > 0:
        budget[0] -= 1
        page, path, htmx = next_page(rng, link_ids, gateway_ids)
        while page in skip:
            page, path, htmx = next_page(rng, link_ids, gateway_ids)
        started = time.perf_counter()
        try:
            status = await fetch(port, path, cookie, htmx, timeout=10.0)
        except (TimeoutError, OSError) as exc:
            status = type(exc).__name__
        elapsed = time.perf_counter() - started
        results[page].append((elapsed, status))
        if think > 0:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))


async def run_load(port: int, cookies: list[str], args: argparse.Namespace, link_ids, gateway_ids) -> dict:
    results: dict[str, list] = defaultdict(list)
    until = time.perf_counter() + args.duration
    budget = [args.max_requests]
    await asyncio.gather(
        *(
            user(
                port,
                cookie,
                seed=i,
                until=until,
                think=args.think,
                results=results,
                budget=budget,
                link_ids=link_ids,
                gateway_ids=gateway_ids,
                skip=tuple(getattr(args, "skip", ())),
            )
            for i, cookie in enumerate(cookies)
        )
    )
    return results


def cpu_by_pid(pids: set[int]) -> dict[int, float]:
    """User + system CPU seconds spent so far by each of these processes and by their children that have
    ended (from /proc; gone ones left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = sum(int(v) for v in fields[11:15]) / tick  # utime, stime, cutime, cstime
    return seconds


def postmaster_pid() -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (its data directory readable)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        (data_directory,) = cursor.fetchone()
    try:
        return int((Path(data_directory) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def our_processes(web_pid: int, postmaster: int | None) -> dict[str, set[int]]:
    """gunicorn's master and workers, and the PostgreSQL server: its main process and its children (the
    backends serving the run among them). A child that ends adds its time to its parent's, so connections
    closed during the run still count."""
    found: dict[str, set[int]] = {"gunicorn": {web_pid}, "postgres": {postmaster} if postmaster else set()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == web_pid:
            found["gunicorn"].add(int(entry.name))
        elif postmaster and ppid == postmaster:
            found["postgres"].add(int(entry.name))
    return found


def cpu_snapshot(web_pid: int, postmaster: int | None) -> dict[str, dict]:
    """CPU seconds so far per process: gunicorn, the PostgreSQL server, this load generator, the machine."""
    self_usage = os.times()
    machine = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(machine) if i not in (3, 4))  # all but idle, iowait
    snapshot = {name: cpu_by_pid(pids) for name, pids in our_processes(web_pid, postmaster).items()}
    snapshot["load generator"] = {0: self_usage.user + self_usage.system}
    snapshot["machine"] = {0: busy / os.sysconf("SC_CLK_TCK")}
    return snapshot


def report_cpu(before: dict[str, dict], after: dict[str, dict], requests: int, took: float) -> None:
    cores = os.cpu_count() or 1
    print(f"  CPU over the run ({cores} cores = {cores * took:.0f} CPU-s available):")
    # Processes that started during the run count from zero; one that ended counts in its parent's time.
    used_by = {
        name: sum(seconds - before[name].get(pid, 0.0) for pid, seconds in after[name].items())
        for name in after
    }
    used_by["other processes"] = used_by["machine"] - sum(v for k, v in used_by.items() if k != "machine")
    for name, used in used_by.items():
        per_request = f", {1000 * used / requests:.1f} ms per request" if requests else ""
        share = 100 * used / (cores * took)
        print(f"    {name:<16}{used:7.1f} CPU-s ({share:3.0f}% of the machine{per_request})")


def report(results: dict, duration: float, goals: common.Goals) -> None:
    print(f"  {'page':<20}{'requests':>9}{'errors':>8}{'p50':>10}{'p95':>10}{'p99':>10}")
    everything: list[float] = []
    errors_total = 0
    for page in sorted(results):
        rows = results[page]
        times = [elapsed for elapsed, _ in rows]
        errors = [status for _, status in rows if status != 200]
        everything += times
        errors_total += len(errors)
        print(
            f"  {page:<20}{len(rows):>9}{len(errors):>8}{common.ms(common.percentile(times, 50)):>10}"
            f"{common.ms(common.percentile(times, 95)):>10}{common.ms(common.percentile(times, 99)):>10}"
        )
        if errors:
            kinds = {str(s): errors.count(s) for s in set(errors)}
            print(f"    errors: {kinds}")
    p95 = common.percentile(everything, 95)
    print(
        f"  {'overall':<20}{len(everything):>9}{errors_total:>8}"
        f"{common.ms(common.percentile(everything, 50)):>10}"
        f"{common.ms(p95):>10}{common.ms(common.percentile(everything, 99)):>10}"
    )
    print(f"  throughput {len(everything) / duration:.1f} requests/s")
    goals.check("load errors", errors_total == 0, str(errors_total))
    goals.check("load p95 < 200 ms", p95 < 0.2, common.ms(p95))


def run_baseline(ref: str, argv: list[str]) -> None:
    """The baseline's own load_run.py from `git archive ref`, on its own database, before this tree's run;
    its lines are printed as they come, marked `baseline |`."""
    tree = common.baseline_tree(ref)
    skip = {"--baseline", ref}
    passed = [a for a in argv if a not in skip and not a.startswith("--baseline=")]
    print(f"baseline {ref[:12]} (its own load run, same arguments):", flush=True)
    child = subprocess.Popen(
        [sys.executable, str(tree / "bench" / "load_run.py"), *passed],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in child.stdout:
        print(f"  baseline | {line.rstrip()}", flush=True)
    child.wait()
    print("\nthis tree:", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a user's pages")
    parser.add_argument("--links", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=200_000, help="upper bound on requests sent")
    parser.add_argument("--skip", action="append", default=[], help="a page to leave out, e.g. topology")
    parser.add_argument("--db", choices=("postgres",), default="postgres")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--baseline",
        default="",
        help="a git revision whose own load run goes first, with the same arguments (e.g. the code before "
        "issue 13: ca66b0b6f77f08e8406d941adee92222b05beb4d)",
    )
    args, _ = parser.parse_known_args(argv)
    if args.baseline:
        run_baseline(
            args.baseline, [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--strict"]
        )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        raise SystemExit(f"{gunicorn} not found: make setup (gunicorn is pinned in requirements.txt)")

    from bench.speed import fill_cache, planner_statistics

    sim_port, web_port = common.free_port(), common.free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "dcsim", "--seed", "empty", "--quiet", "--port", str(sim_port)],
        cwd=common.REPO,
        stdout=subprocess.DEVNULL,
    )
    try:
        common.wait_for_port(sim_port)
        import dcsim

        regions = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
        url = common.fresh_database("postgres", "load")
        common.setup_django(
            url,
            CLOUD_ENDPOINT=f"http://{HOST}:{sim_port}",
            CLOUD_REGIONS=",".join(regions),
            CLOUD_PROJECT_IDS=",".join(f"{r}={dcsim.project_id_for(r)}" for r in regions),
            CLOUD_MAX_RETRIES="0",
            DATABASE_CONN_MAX_AGE="60",
        )
        from peerlinks.models import Gateway, PeerLink

        started = time.perf_counter()
        fill_cache(args.links)
        # ER links with an attachment id: their page asks the cloud for the attachment's live state.
        PeerLink.objects.filter(peer_type="ER").update(link_id="0b0b0b0b-0000-4000-8000-000000000000")
        # The database as upkeep leaves it within a minute of a bulk load (vacuumed and analyzed): without
        # statistics PostgreSQL plans the run's first queries for an empty table, and until a vacuum its
        # counts read every row instead of the index.
        planner_statistics()
        postmaster = postmaster_pid()
        link_ids = list(PeerLink.objects.order_by("?").values_list("cloud_id", flat=True)[:500])
        gateway_ids = list(Gateway.objects.values_list("cloud_id", flat=True))
        cookies = sessions_for(args.users)
        print(f"load run: gunicorn {args.workers} workers on PostgreSQL ({common.machine()})")
        print(
            f"  {PeerLink.objects.count():,} cached links, {args.users} users, think {args.think:g} s, ",
            end="",
        )
        print(f"{args.duration:g} s (setup {time.perf_counter() - started:.1f} s)")
        env = {
            **os.environ,
            "GUNICORN_WORKERS": str(args.workers),
            "GUNICORN_BIND": f"{HOST}:{web_port}",
            "GUNICORN_ACCESS_LOG": "0",
            "LOG_LEVEL": "WARNING",
        }
        log = (common.BENCH_DIR / "load-gunicorn.log").open("wb")
        web = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "dcportal.wsgi"],
            cwd=common.REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            common.wait_for_port(web_port)
            warm = asyncio.run(
                run_load(
                    web_port,
                    cookies[:4],
                    argparse.Namespace(duration=3, think=0, max_requests=100),
                    link_ids,
                    gateway_ids,
                )
            )
            assert all(status == 200 for rows in warm.values() for _, status in rows), dict(warm)
            cpu_before = cpu_snapshot(web.pid, postmaster)
            began = time.perf_counter()
            results = asyncio.run(run_load(web_port, cookies, args, link_ids, gateway_ids))
            took = time.perf_counter() - began
            cpu_after = cpu_snapshot(web.pid, postmaster)
        finally:
            web.terminate()
            web.wait(timeout=30)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    goals = common.Goals()
    report(results, took, goals)
    report_cpu(cpu_before, cpu_after, sum(len(rows) for rows in results.values()), took)
    return goals.finish(strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
