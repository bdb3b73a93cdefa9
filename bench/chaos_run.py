"""Chaos run (issue 9, reliability): ~130 change requests submitted over HTTP through gunicorn while the
parts of the product fail, then one full sync, then the figures.

    .venv/bin/python bench/chaos_run.py [--db sqlite|postgres|both] [--requests 130] [--strict]

An engineer logs in and posts the create, rename and delete forms as the pages do; a lead approves each
request on its page (the policy asks one approval for every kind). 4 `manage.py db_worker` and 2
`manage.py run_scheduler` run the changes against the simulator, which sits behind a gate that can refuse
or hang connections. At fixed times after the first submission (`timeline`): a worker is SIGKILLed;
gunicorn gets SIGHUP; a worker in the middle of an execution is SIGSTOPped for longer than
CHANGE_EXECUTION_LEASE, then SIGCONTed; the cloud refuses connections, then accepts them and never
answers; the database goes away (PostgreSQL: a cluster of this run's own, stopped; SQLite: an exclusive
lock held by another connection); gunicorn's master is SIGKILLed; another worker and a scheduler are
SIGKILLed.

This script is the supervisor systemd would be: a process it killed is started again at once, and so is
one that exits on its own, but that one is counted as a death. Printed: requests submitted, terminal (%),
duplicates in the cloud (two links on one gateway to the same peer), lost requests, cache equal to cloud
after the sync, deaths and restarts by kind, wall time. Goal: 100%, 0, 0, yes, 0 deaths. Bounded in
count and time (both databases well under 10 minutes); every connection is to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, fault_run  # noqa: E402

REGION = fault_run.REGION
HOST = "127.0.0.1"
WORKERS = 4
SCHEDULERS = 2
# CHANGE_EXECUTION_LEASE for the run: the paused worker stays stopped longer than this. It is longer than
# the longest wait between two attempts (PENDING_RECHECK_INTERVAL 1 s doubled per attempt: 16 s), so a
# change waiting for its next attempt is not taken for one whose task was lost.
LEASE = 20.0
CLOUD_REFUSE, CLOUD_HANG = 12.0, 15.0  # the cloud's outage: refusing, then hanging (27 s in all)
DB_OUTAGE = {"postgres": 10.0, "sqlite": 25.0}
SUBMIT_PACE = 0.85  # seconds between two submissions, at least: they span every fault up to the web kill
PATIENCE = 90.0  # seconds the engineer (or the lead) keeps trying one request before giving up
PASSWORD = "chaos-run-password-1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


# --- The cloud, behind a gate ----------------------------------------------------------------------


class CloudGate:
    """A TCP relay in front of the simulator: `pass` relays, `refuse` closes the port (connections are
    refused, open ones cut), `hang` accepts and never answers (held connections are cut when it ends)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = common.free_port()
        self.mode = "pass"
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.counts: Counter = Counter()
        self.listener: socket.socket | None = None
        self.stopped = threading.Event()
        self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True, name="cloud-gate")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(128)
        self.listener = listener

    def set_mode(self, mode: str) -> None:
        with self.lock:
            previous, self.mode = self.mode, mode
            if mode == "refuse" and self.listener is not None:
                self.listener.close()
                self.listener = None
            if mode != "refuse" and self.listener is None:
                self._listen()
            if previous != mode and mode != "hang":
                # Going away cuts what is open; a hang ending cuts what it held.
                for conn in list(self.connections):
                    _close(conn)
                self.connections.clear()

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            listener = self.listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                continue  # closed under us by set_mode
            with self.lock:
                self.counts[self.mode] += 1
                self.connections.add(client)
            if self.mode == "pass":
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((HOST, self.target_port), timeout=5)
        except OSError:
            _close(client)
            return
        with self.lock:
            self.connections.add(upstream)
        pair = {client: upstream, upstream: client}
        try:
            while not self.stopped.is_set():
                if self.mode == "hang":
                    time.sleep(0.05)  # in-flight requests hang too; set_mode cuts them when it ends
                    continue
                ready, _, _ = select.select(list(pair), [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                self.connections.discard(client)
                self.connections.discard(upstream)
            _close(client)
            _close(upstream)

    def stop(self) -> None:
        self.set_mode("pass")
        self.stopped.set()
        self.thread.join(timeout=5)
        if self.listener is not None:
            self.listener.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- The database, and its outage ------------------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL cluster of this run's own, in a temporary directory on its own port, made with Debian's
    binaries as the postgres user: stopping it never touches the machine's server on 5432."""

    def __init__(self, port: int) -> None:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                port = common.free_port()  # taken: any free one will do
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="dcportal-chaos-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.start()

    @property
    def url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.port}"

    def _pg(self, tool: str, *args: str) -> None:
        # The server refuses to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, str(PG_BIN / tool), *args], check=True, capture_output=True, timeout=60, cwd=self.dir
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._pg(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start"
        )

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class DatabaseOutage:
    """The database going away for a while: PostgreSQL stopped, or SQLite locked (BEGIN EXCLUSIVE held by
    another connection: every writer waits, then fails; with SQLite's write-ahead log, readers go on)."""

    def __init__(self, db: str, *, postgres: OwnPostgres | None, sqlite_path: str | None) -> None:
        self.db, self.postgres, self.sqlite_path = db, postgres, sqlite_path
        self.lock_conn: sqlite3.Connection | None = None
        self.active = False

    def begin(self) -> None:
        self.active = True
        if self.postgres is not None:
            self.postgres.stop()
        else:
            self.lock_conn = sqlite3.connect(
                self.sqlite_path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self.lock_conn.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        self.active = False
        if self.postgres is not None:
            self.postgres.start()
        elif self.lock_conn is not None:
            self.lock_conn.execute("COMMIT")
            self.lock_conn.close()
            self.lock_conn = None


# --- The product's processes, supervised -----------------------------------------------------------


@dataclass
class Process:
    name: str
    kind: str  # worker, scheduler, web
    command: list[str]
    popen: subprocess.Popen | None = None
    killed_by_us: bool = False
    restart_at: float | None = None
    stopped: bool = False  # SIGSTOPped by us


@dataclass
class Supervisor:
    """Starts the processes and starts again any that exits: after a SIGKILL of ours that is a restart,
    otherwise a death (counted, with the last error line of its log)."""

    log_prefix: str
    processes: dict[str, Process] = field(default_factory=dict)
    deaths: Counter = field(default_factory=Counter)
    restarts: Counter = field(default_factory=Counter)
    kills: Counter = field(default_factory=Counter)
    death_causes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)

    def add(self, name: str, kind: str, command: list[str]) -> None:
        self.processes[name] = process = Process(name, kind, command)
        self._start(process)

    def log_path(self, name: str) -> Path:
        return common.BENCH_DIR / f"{self.log_prefix}-{name}.log"

    def _start(self, process: Process) -> None:
        with self.log_path(process.name).open("ab") as log:
            # A session of its own: its group (gunicorn's workers too) can be signalled as a whole.
            process.popen = subprocess.Popen(
                process.command,
                cwd=common.REPO,
                env=os.environ.copy(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.killed_by_us = False
        process.restart_at = None
        process.stopped = False

    def signal(self, name: str, sig: signal.Signals) -> int:
        process = self.processes[name]
        with self.lock:
            if sig == signal.SIGKILL:
                process.killed_by_us = True
                self.kills[process.kind] += 1
            process.stopped = sig == signal.SIGSTOP
            process.popen.send_signal(sig)
        return process.popen.pid

    def watch(self) -> None:
        """Until closing: notice exits, count them, start the process again a second later."""
        while not self.closing.wait(0.2):
            now = time.monotonic()
            with self.lock:
                for process in self.processes.values():
                    if process.restart_at is not None:
                        if now >= process.restart_at:
                            self.restarts[process.kind] += 1
                            self._start(process)
                        continue
                    code = process.popen.poll()
                    if code is None:
                        continue
                    # What it spawned goes with it (systemd's KillMode=control-group).
                    _kill_group(process.popen.pid)
                    if not process.killed_by_us:
                        self.deaths[process.kind] += 1
                        cause = _last_error(self.log_path(process.name))
                        self.death_causes.append(f"{process.name} exited with code {code}: {cause}")
                        print(f"  !! {process.name} died (code {code}): {cause}", flush=True)
                    process.restart_at = now + 1.0  # RestartSec=1

    def stop_all(self) -> None:
        self.closing.set()
        with self.lock:
            running = [p.popen for p in self.processes.values() if p.popen and p.popen.poll() is None]
            for popen in running:
                _signal_group(popen.pid, signal.SIGCONT)
                _signal_group(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for popen in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for popen in running:
            _kill_group(popen.pid)
            popen.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)


def _kill_group(pid: int) -> None:
    _signal_group(pid, signal.SIGKILL)


def _last_error(log: Path) -> str:
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 8192))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in lines if re.search(r"(Error|Exception)\b", line)]
    return (errors or lines or ["(empty log)"])[-1].strip()[:200]


# --- People at the pages ---------------------------------------------------------------------------


class Browser:
    """One person's session on the site: logs in with a password, posts forms with the CSRF token."""

    def __init__(self, base: str, username: str, stats: Counter) -> None:
        import requests

        self.base, self.username, self.stats = base, username, stats
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment: this stays on loopback

    def login(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            self.session.cookies.clear()
            if self.get("/login/") is not None:
                answer = self.post("/login/", {"username": self.username, "password": PASSWORD})
                if answer is not None and answer.status_code == 302:
                    return
            time.sleep(1)
        raise RuntimeError(f"{self.username} could not log in for {PATIENCE:.0f} s")

    def get(self, path: str):
        return self._send("GET", path)

    def post(self, path: str, data: dict):
        data = {**data, "csrfmiddlewaretoken": self.session.cookies.get("csrftoken", "")}
        return self._send("POST", path, data=data)

    def _send(self, method: str, path: str, **kwargs):
        import requests

        try:
            answer = self.session.request(
                method, self.base + path, timeout=30, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            self.stats[f"{method} no answer ({type(exc).__name__})"] += 1
            return None
        self.stats[f"{method} {answer.status_code}"] += 1
        if (
            answer.status_code == 302
            and "/login/" in answer.headers.get("Location", "")
            and path != "/login/"
        ):
            self.login()  # the session went away: log in again, the caller tries again
            return None
        if answer.status_code == 403 and "CSRF" in answer.text:
            self.login()
            return None
        return answer


def _db_read(query: Callable[[], object]) -> object:
    """A read from this process's own connection; None while the database is away."""
    from django.db import DatabaseError, connection

    try:
        return query()
    except DatabaseError:
        connection.close()
        return None


def find_change(item: dict, user) -> int | None:
    """The request an earlier attempt at `item` made (its answer may have been lost), if any."""
    from peerlinks.models import ChangeRequest

    if item["kind"] == "create":
        rows = ChangeRequest.objects.filter(
            kind="create", gateway__cloud_id=item["gateway"], payload__name=item["name"]
        )
    else:
        rows = ChangeRequest.objects.filter(kind=item["kind"], peer_link__cloud_id=item["link"])
    return _db_read(
        lambda: rows.filter(requested_by=user).order_by("pk").values_list("pk", flat=True).first()
    )


def form_for(item: dict, names: dict[str, str]) -> tuple[str, dict]:
    """The page's form (path and fields) that asks for `item`."""
    if item["kind"] == "create":
        return "/links/new/", {
            "gateway": item["gateway"],
            "peer_type": item["peer_type"],
            "peer_region": REGION,
            "peer": item["peer"],
            "name": item["name"],
            "description": "chaos run",
        }
    if item["kind"] == "update":
        return f"/links/{item['link']}/edit/", {"name": item["name"], "description": ""}
    return f"/links/{item['link']}/delete/", {"confirm_name": names[item["link"]]}


@dataclass
class Submissions:
    """What the engineer submitted and the lead approved, by plan index."""

    change_ids: dict[int, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    unapproved: list[int] = field(default_factory=list)
    http: Counter = field(default_factory=Counter)
    done: threading.Event = field(default_factory=threading.Event)


def engineer_submits(browser: Browser, plan: list[dict], names: dict, user, out: Submissions, to_approve):
    """Post each request's form, one per SUBMIT_PACE at most; a lost answer is looked up before a resend."""
    from django.db import connection

    started = time.monotonic()
    try:
        browser.login()
        for index, item in enumerate(plan):
            time.sleep(max(0.0, started + index * SUBMIT_PACE - time.monotonic()))
            path, data = form_for(item, names)
            deadline, pause = time.monotonic() + PATIENCE, 0.5
            while True:
                answer = browser.post(path, data)
                location = answer.headers.get("Location", "") if answer is not None else ""
                made = re.fullmatch(r"/changes/(\d+)/", location)
                pk = int(made.group(1)) if made else find_change(item, user)
                if pk is not None:
                    out.change_ids[index] = pk
                    to_approve.put(pk)
                    break
                if answer is not None and answer.status_code < 500 and answer.status_code != 429:
                    out.refused.append(f"{item['kind']} {item.get('name', '')}: HTTP {answer.status_code}")
                    break
                if time.monotonic() > deadline:
                    out.refused.append(
                        f"{item['kind']} {item.get('name', '')}: no answer for {PATIENCE:.0f} s"
                    )
                    break
                time.sleep(pause)
                pause = min(pause * 2, 4.0)
    finally:
        to_approve.put(None)
        connection.close()


# The version of the change the approval form carries (the payload digest), as the page renders it.
_DIGEST = re.compile(r'name="payload_digest" value="([0-9a-f]+)"')


def lead_approves(browser: Browser, to_approve, out: Submissions) -> None:
    """Approve each submitted request on its page, until its state says it was decided."""
    from django.db import connection

    from peerlinks.models import ChangeRequest

    try:
        browser.login()
        while (pk := to_approve.get()) is not None:
            deadline, pause = time.monotonic() + PATIENCE, 0.5
            while True:
                # As a person does: open the change, approve the version the page shows.
                page = browser.get(f"/changes/{pk}/")
                digest = _DIGEST.search(page.text) if page is not None and page.status_code == 200 else None
                if digest is not None:
                    form = {"comment": "chaos run", "payload_digest": digest.group(1)}
                    answer = browser.post(f"/changes/{pk}/approve/", form)
                    if answer is not None and answer.status_code == 302:
                        break
                state = _db_read(
                    lambda pk=pk: ChangeRequest.objects.values_list("state", flat=True).get(pk=pk)
                )
                if state not in (None, ChangeRequest.State.PENDING_APPROVAL):
                    break
                if time.monotonic() > deadline:
                    out.unapproved.append(pk)
                    break
                time.sleep(pause)
                pause = min(pause * 2, 4.0)
    finally:
        out.done.set()
        connection.close()


# --- The run -----------------------------------------------------------------------------------------


def executing_worker() -> str | None:
    """The worker running a change's execution right now, if one is."""
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(status="RUNNING", task_path__endswith="execute_change_task")
    for worker_ids in _db_read(lambda: list(rows.values_list("worker_ids", flat=True))) or []:
        if worker_ids and worker_ids[-1].startswith("chaos-"):
            return f"worker-{worker_ids[-1].removeprefix('chaos-')}"
    return None


@dataclass
class Pause:
    """SIGSTOP a worker in the middle of an execution (the first seen within 5 s, else worker-2), SIGCONT
    it later."""

    supervisor: Supervisor
    name: str = "worker-2"

    def stop(self) -> str:
        deadline = time.monotonic() + 5
        while (chosen := executing_worker()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.name = chosen or self.name
        self.supervisor.signal(self.name, signal.SIGSTOP)
        return self.name

    def resume(self) -> str:
        self.supervisor.signal(self.name, signal.SIGCONT)
        return self.name


def timeline(
    supervisor: Supervisor, gate: CloudGate, outage: DatabaseOutage, db: str
) -> list[tuple[float, str, Callable[[], str | None]]]:
    """(seconds after the first submission, what, how): the faults, in order. An action may return the
    name of the process it chose."""
    db_outage = DB_OUTAGE[db]
    pause = Pause(supervisor)
    cloud_back = CLOUD_REFUSE + CLOUD_HANG
    return sorted(
        [
            (6.0, "SIGKILL worker-1", lambda: supervisor.signal("worker-1", signal.SIGKILL)),
            (12.0, "SIGHUP gunicorn", lambda: supervisor.signal("gunicorn", signal.SIGHUP)),
            # While the cloud answers: a paused worker may be about to send what another one resumes.
            (20.0, f"SIGSTOP a worker that is executing (lease {LEASE:.0f} s)", pause.stop),
            (25.0 + LEASE, "SIGCONT it", pause.resume),
            (48.0, f"cloud refuses connections ({CLOUD_REFUSE:.0f} s)", lambda: gate.set_mode("refuse")),
            (48.0 + CLOUD_REFUSE, f"cloud hangs ({CLOUD_HANG:.0f} s)", lambda: gate.set_mode("hang")),
            (48.0 + cloud_back, "cloud answers again", lambda: gate.set_mode("pass")),
            (78.0, f"database outage ({db_outage:.0f} s)", outage.begin),
            (78.0 + db_outage, "database back", outage.end),
            (108.0, "SIGKILL gunicorn master", lambda: supervisor.signal("gunicorn", signal.SIGKILL)),
            (114.0, "SIGKILL worker-3", lambda: supervisor.signal("worker-3", signal.SIGKILL)),
            (116.0, "SIGKILL scheduler-0", lambda: supervisor.signal("scheduler-0", signal.SIGKILL)),
        ],
        key=lambda event: event[0],
    )


def run_faults(events, started: float, log: list[str], stop: threading.Event) -> None:
    from django.db import connection

    try:
        for at, what, action in events:
            if stop.wait(max(0.0, started + at - time.monotonic())):
                return
            try:
                chosen = action()
                line = f"{what}: {chosen}" if isinstance(chosen, str) else what
            except Exception as exc:  # the run goes on and says what could not be done
                line = f"{what}: FAILED {type(exc).__name__}: {exc}"
            log.append(f"{at:5.0f} s  {line}")
            print(f"  {time.monotonic() - started:5.1f} s: {line}", flush=True)
    finally:
        connection.close()


def run_once(db: str, args: argparse.Namespace) -> int:
    wall_started = time.perf_counter()
    postgres = OwnPostgres(args.pg_port) if db == "postgres" else None
    try:
        return _run(db, args, postgres, wall_started)
    finally:
        if postgres is not None:
            postgres.destroy()


@dataclass
class Run:
    """One run on one database: what it set up, what happened, what it measured."""

    db: str
    plan: list[dict]
    world: dict
    handle: Any  # the simulator (common.start_simulator)
    gate: CloudGate
    supervisor: Supervisor
    wall_started: float
    out: Submissions = field(default_factory=Submissions)
    fault_log: list[str] = field(default_factory=list)
    run_time: float = 0.0
    all_terminal: float | None = None  # seconds after the first submission


def _run(db: str, args: argparse.Namespace, postgres: OwnPostgres | None, wall_started: float) -> int:
    url = common.fresh_database(db, "chaos", **({"server": postgres.url} if postgres else {}))
    handle = common.start_simulator(transition_delay=0.3, delete_delay=0.3)
    gate = CloudGate(handle.port)
    try:
        common.setup_django(
            url,
            **common.cloud_env(handle, [REGION]) | {"CLOUD_ENDPOINT": gate.url},
            CHANGE_EXECUTION_LEASE=f"{LEASE:g}",
            PENDING_RECHECK_INTERVAL="1",
            SYNC_INTERVAL="20",
            SYNC_LEASE="15",
            CLOUD_READ_TIMEOUT="10",
            GUNICORN_WORKERS="2",
            GUNICORN_ACCESS_LOG="0",
        )
        from peerlinks.services import sync

        print(f"chaos run on {db} ({common.machine()})", flush=True)
        world = fault_run.build_world(handle.sim, existing=args.requests // 2)
        [result] = sync.sync_all(regions=[REGION])
        assert result.ok, result
        plan = fault_run.plan_requests(world, total=args.requests, rng=random.Random(args.seed))
        run = Run(db, plan, world, handle, gate, Supervisor(log_prefix=f"chaos-{db}"), wall_started)
        outage = DatabaseOutage(db, postgres=postgres, sqlite_path=url.removeprefix("sqlite:///"))
        submit_under_faults(run, outage, people=people_at_the_pages(), args=args)
        # Everything stopped; the cloud settles (transitions, deletions), then one full sync.
        time.sleep(1.0)
        [final] = sync.sync_all(regions=[REGION])
        return report(run, final, args)
    finally:
        gate.stop()
        handle.stop()


def people_at_the_pages() -> dict:
    """An engineer and a lead with passwords, under a policy asking one approval for every kind of change."""
    from django.contrib.auth import get_user_model

    from peerlinks.models import Policy
    from peerlinks.permissions import ensure_role

    Policy.current()
    Policy.objects.update(approvals_create=1, approvals_update=1, approvals_delete=1, window_enabled=False)
    people = {}
    for username, role in (("chaos-engineer", "Engineer"), ("chaos-lead", "Approver")):
        person, _ = get_user_model().objects.get_or_create(username=username)
        person.set_password(PASSWORD)
        person.save()
        person.groups.add(ensure_role(role))
        people[role] = person
    return people


def start_product(supervisor: Supervisor) -> int:
    """gunicorn, the workers and the schedulers under the supervisor; returns gunicorn's port."""
    web_port = common.free_port()
    os.environ["GUNICORN_BIND"] = f"{HOST}:{web_port}"
    for old in common.BENCH_DIR.glob(f"{supervisor.log_prefix}-*.log"):
        old.unlink()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    manage = [sys.executable, "manage.py"]
    supervisor.add("gunicorn", "web", [gunicorn, "-c", "gunicorn.conf.py", "dcportal.wsgi"])
    for i in range(WORKERS):
        supervisor.add(f"worker-{i}", "worker", [*manage, *common.worker_args(0.5), f"--worker-id=chaos-{i}"])
    for i in range(SCHEDULERS):
        supervisor.add(f"scheduler-{i}", "scheduler", [*manage, "run_scheduler"])
    return web_port


def submit_under_faults(run: Run, outage: DatabaseOutage, *, people: dict, args: argparse.Namespace) -> None:
    """Submit and approve the plan over HTTP while the faults happen; until every request is terminal and
    the faults are over (bounded by --deadline); then stop everything."""
    from django.db import connection

    from peerlinks.models import ChangeRequest, PeerLink

    names = dict(PeerLink.objects.values_list("cloud_id", "name"))
    supervisor, out = run.supervisor, run.out
    watcher = threading.Thread(target=supervisor.watch, daemon=True, name="supervisor")
    stop_faults = threading.Event()
    threads: list[threading.Thread] = []
    try:
        web_port = start_product(supervisor)
        watcher.start()
        common.wait_for_port(web_port)
        base = f"http://{HOST}:{web_port}"
        to_approve: queue.Queue = queue.Queue()
        engineer = Browser(base, "chaos-engineer", out.http)
        lead = Browser(base, "chaos-lead", out.http)
        started = time.monotonic()
        print(f"  setup {time.perf_counter() - run.wall_started:.0f} s; {len(run.plan)} requests to submit")
        events = timeline(supervisor, run.gate, outage, run.db)
        threads += [
            threading.Thread(
                target=engineer_submits, args=(engineer, run.plan, names, people["Engineer"], out, to_approve)
            ),
            threading.Thread(target=lead_approves, args=(lead, to_approve, out)),
            threading.Thread(target=run_faults, args=(events, started, run.fault_log, stop_faults)),
        ]
        for thread in threads:
            thread.start()
        open_states = [s for s in ChangeRequest.State if s not in ChangeRequest.TERMINAL_STATES]
        next_report = 0.0
        while time.monotonic() - started < args.deadline:
            ids = list(out.change_ids.values())
            still_open = _db_read(
                lambda ids=ids: ChangeRequest.objects.filter(pk__in=ids, state__in=open_states).count()
            )
            if out.done.is_set() and still_open == 0:
                run.all_terminal = run.all_terminal or time.monotonic() - started
                if not threads[2].is_alive():
                    break
            if time.monotonic() >= next_report:
                seen = "?" if still_open is None else still_open
                print(
                    f"  {time.monotonic() - started:5.0f} s: submitted {len(ids)}/{len(run.plan)}, "
                    f"open {seen}, deaths {sum(supervisor.deaths.values())}",
                    flush=True,
                )
                next_report = time.monotonic() + 15
            time.sleep(1.0)
        run.run_time = time.monotonic() - started
    finally:
        stop_faults.set()
        run.gate.set_mode("pass")
        if outage.active:  # the run ended during the outage
            outage.end()
        supervisor.stop_all()
        watcher.join(timeout=5)
        for thread in threads:
            thread.join(timeout=PATIENCE + 35)
        connection.close()


def unfinished_tasks() -> dict[str, int]:
    """Tasks still waiting or running, by status and task."""
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(status__in=("READY", "RUNNING")).values_list("status", "task_path")
    return dict(Counter(f"{status} {path.rsplit('.', 1)[-1]}" for status, path in rows))


def report(run: Run, final: Any, args: argparse.Namespace) -> int:
    """Print the figures and check the goals; the exit status."""
    from peerlinks.models import AuditEvent

    out, supervisor, sim = run.out, run.supervisor, run.handle.sim
    ids = list(out.change_ids.values())
    states, failures, terminal, lost = fault_run.outcome_counts(ids)
    _, dup_peer = fault_run.duplicates_in_cloud(sim)
    mismatches = fault_run.compare_cache_with_cloud(run.world["gateways"])
    submitted = sorted(out.change_ids)
    wrong = fault_run.outcome_problems(
        [run.plan[i] for i in submitted], [out.change_ids[i] for i in submitted], sim
    )

    print("\n  faults:")
    for line in run.fault_log:
        print(f"    {line}")
    counts = run.gate.counts
    print(f"  cloud gate: connections relayed {counts['pass']}, held while hanging {counts['hang']}")
    print(f"  HTTP to gunicorn: {dict(sorted(out.http.items()))}")
    print(f"  task queue at the end, unfinished: {unfinished_tasks()}")
    print(f"  states: {dict(states)}")
    steps = Counter(
        AuditEvent.objects.filter(
            action__in=("change.resumed", "change.retry_scheduled", "change.attempt_superseded")
        ).values_list("action", flat=True)
    )
    print(
        f"  executions resumed after their lease ran out: {steps['change.resumed']}; "
        f"superseded attempts that stood down: {steps['change.attempt_superseded']}; "
        f"retries scheduled after transient errors: {steps['change.retry_scheduled']}"
    )
    if failures:
        print(f"  failed by kind and code: {dict(failures)}")
    print(
        f"  final sync: ok={final.ok} created={final.links_created} "
        f"updated={final.links_updated} gone={final.links_gone}"
    )
    print(
        f"  requests submitted over HTTP: {len(ids)}/{len(run.plan)}; refused or given up: {len(out.refused)}"
    )
    for line in out.refused[:5]:
        print(f"    {line}")
    if out.unapproved:
        print(f"  approvals given up: {len(out.unapproved)} {out.unapproved[:10]}")
    share = terminal / len(ids) if ids else 0.0
    print(f"  requests terminal: {terminal}/{len(ids)} ({share:.0%})")
    print(f"  duplicates in the cloud (two links on one gateway to the same peer): {dup_peer}")
    print(f"  lost requests (not terminal after {args.deadline:.0f} s): {lost}")
    equal = "yes" if not mismatches else "no"
    print(f"  cache equal to cloud after one sync: {equal} ({len(mismatches)} differences)")
    for line in mismatches[:10]:
        print(f"    {line}")
    print(f"  done requests whose effect the cloud does not show: {len(wrong)}")
    for line in wrong[:10]:
        print(f"    {line}")
    deaths = sum(supervisor.deaths.values())
    print(f"  process deaths: {deaths} {dict(supervisor.deaths)}")
    for line in supervisor.death_causes[:10]:
        print(f"    {line}")
    print(f"  killed by the run: {dict(supervisor.kills)}; restarts: {dict(supervisor.restarts)}")
    finished = (
        f"{run.all_terminal:.0f} s" if run.all_terminal is not None else f"not within {args.deadline:.0f} s"
    )
    total = time.perf_counter() - run.wall_started
    print(
        f"  wall time: every request terminal {finished} after the first submission; faults and run over "
        f"after {run.run_time:.0f} s; total with setup and the final sync {total:.0f} s"
    )

    goals = common.Goals()
    goals.check("requests submitted", len(ids) == len(run.plan), f"{len(ids)}/{len(run.plan)}")
    goals.check("requests terminal", bool(ids) and terminal == len(ids), f"{share:.0%}")
    goals.check("duplicates in the cloud", dup_peer == 0, str(dup_peer))
    goals.check("lost requests", lost == 0, str(lost))
    goals.check("cache equal to cloud after one sync", not mismatches, equal)
    goals.check("process deaths", deaths == 0, f"{deaths} {dict(supervisor.deaths)}")
    return goals.finish(strict=args.strict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=130)
    parser.add_argument("--seed", type=int, default=20250109)
    parser.add_argument("--deadline", type=float, default=220.0, help="seconds from the first submission")
    parser.add_argument("--pg-port", type=int, default=55433, help="port of the run's own PostgreSQL")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args, _ = parser.parse_known_args(argv)
    # SIGTERM (a stopped `make chaos`, a timeout) unwinds like Ctrl-C, so every process the run started
    # (gunicorn, workers, schedulers, its own PostgreSQL) is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    if args.db != "both":
        return run_once(args.db, args)
    # Django is set up once per process, on one database: each database gets a run of its own.
    options = ["--requests", str(args.requests), "--seed", str(args.seed), "--deadline", str(args.deadline)]
    options += ["--pg-port", str(args.pg_port), *(["--strict"] if args.strict else [])]
    worst = 0
    for db in ("sqlite", "postgres"):
        child = subprocess.Popen([sys.executable, __file__, "--db", db, *options], cwd=common.REPO)
        try:
            worst = max(worst, child.wait(timeout=290))
        except BaseException:  # out of time, or stopped: the child stops what it started
            child.terminate()
            child.wait(timeout=60)
            raise
        print(flush=True)
    return worst


if __name__ == "__main__":
    sys.exit(main())
