"""What the benchmark scripts share: a fresh database, Django set up on it, the simulator with a request
counter, worker subprocesses, percentiles and goal checks.

Run the scripts from the repository root with the project's venv: `.venv/bin/python bench/speed.py`.
Nothing here leaves loopback.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PYTHON = sys.executable
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
BENCH_DIR = REPO / "var" / "bench"
# The code when issue 13 (speed, raised) was filed: the baseline of the benches that measure against it.
BEFORE_ISSUE_13 = "ca66b0b6f77f08e8406d941adee92222b05beb4d"


# --- Databases and Django ---------------------------------------------------------------------------


def fresh_database(kind: str, name: str, *, server: str = POSTGRES_URL) -> str:
    """A new, empty database for one run: a SQLite file under var/bench/, or a PostgreSQL database
    `dcportal_bench_<name>` (dropped and created again) at `server` (default BENCH_POSTGRES_URL)."""
    if kind == "sqlite":
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    if kind == "postgres":
        import psycopg

        database = f"dcportal_bench_{name}"
        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        return f"{server}/{database}"
    raise SystemExit(f"unknown --db {kind!r}: sqlite or postgres")


def setup_django(database_url: str, **env: str) -> None:
    """Point the settings at `database_url` (and the extra environment), set Django up, migrate.

    The same environment is inherited by the worker and scheduler subprocesses started later.
    """
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "dcportal.settings",
            "DATABASE_URL": database_url,
            # Production-like: no debug cursor recording every query. A throwaway key for this run only.
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "LOG_LEVEL": "WARNING",
            "TASKS_BACKEND": "database",
            # Plain HTTP on loopback: no redirect to HTTPS, cookies without the Secure flag.
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "STATIC_ROOT": str(BENCH_DIR / "static"),
            **env,
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # With DEBUG off, pages name the hashed static files collectstatic writes.
    call_command("collectstatic", interactive=False, verbosity=0)


def person(username: str, *, role: str, superuser: bool = False):
    """A user holding `role` ("Engineer", "Approver", …), a superuser too when asked."""
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": superuser, "is_superuser": superuser}
    )
    user.groups.add(ensure_role(role))
    return user


def engineer(username: str = "bench-engineer", *, superuser: bool = False):
    """A user with the Engineer role (a superuser too when asked)."""
    return person(username, role="Engineer", superuser=superuser)


# --- The simulator, counted ------------------------------------------------------------------------


@dataclass
class RequestCounter:
    """A WSGI wrapper around the simulator: counts API requests by operation and outcome, and their
    server-side time. Control calls under /_dcsim/ are not counted."""

    app: Callable
    by_op: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    op_outcomes: Counter = field(default_factory=Counter)
    server_seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_dcsim"):
            return self.app(environ, start_response)
        op = f"{environ.get('REQUEST_METHOD')} {_kind(path)}"
        status_seen: list[str] = []

        def recording_start(status: str, headers: list, *args: object) -> object:
            status_seen.append(status.split(" ", 1)[0])
            return start_response(status, headers, *args)

        started = time.perf_counter()
        try:
            return self.app(environ, recording_start)
        except BaseException:
            status_seen.append("dropped")
            raise
        finally:
            with self.lock:
                self.by_op[op] += 1
                outcome = status_seen[0] if status_seen else "dropped"
                self.outcomes[outcome] += 1
                self.op_outcomes[op, outcome] += 1
                self.server_seconds.append(time.perf_counter() - started)

    def reset(self) -> None:
        with self.lock:
            self.by_op.clear()
            self.outcomes.clear()
            self.op_outcomes.clear()
            self.server_seconds.clear()

    @property
    def total(self) -> int:
        return sum(self.by_op.values())


def _kind(path: str) -> str:
    """The API a path belongs to, without IDs: `peer-links/{id}`, `global-dc-gateways`, …"""
    parts = [p for p in path.split("/") if p]
    names = [p for p in parts if not _looks_like_id(p)]
    tail = names[-1] if names else path
    if parts and _looks_like_id(parts[-1]) and tail != parts[-1]:
        return f"{tail}/{{id}}"
    return tail


def _looks_like_id(part: str) -> bool:
    return len(part) >= 32 and all(c in "0123456789abcdef-" for c in part.lower())


def start_simulator(**options: object):
    """The simulator in a background thread on an ephemeral loopback port, its requests counted.

    Returns the handle (`.sim`, `.base_url`) with `.counter` added.
    """
    from dcsim.server import start_background

    options.setdefault("log", False)
    handle = start_background(host="127.0.0.1", port=0, seed="empty", **options)
    counter = RequestCounter(handle.server.get_app())
    handle.server.set_app(counter)
    handle.counter = counter
    return handle


def cloud_env(handle, regions: list[str]) -> dict[str, str]:
    """Settings that point dcportal at the simulator, project IDs fixed (no IAM round trip)."""
    import dcsim

    return {
        "CLOUD_ENDPOINT": handle.base_url,
        "CLOUD_REGIONS": ",".join(regions),
        "CLOUD_PROJECT_IDS": ",".join(f"{r}={dcsim.project_id_for(r)}" for r in regions),
    }


def point_settings_at(handle, regions: list[str]) -> None:
    """Django settings (already loaded) and the environment for subprocesses, both at the simulator."""
    from django.conf import settings

    env = cloud_env(handle, regions)
    os.environ.update(env)
    settings.CLOUD_ENDPOINT = env["CLOUD_ENDPOINT"]
    settings.CLOUD_REGIONS = list(regions)
    import dcsim

    settings.CLOUD_PROJECT_IDS = {r: dcsim.project_id_for(r) for r in regions}


# --- Subprocesses ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 30) -> None:
    """Until something accepts connections on 127.0.0.1:`port`; SystemExit after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing answers on 127.0.0.1:{port} after {timeout:.0f} s")


@contextmanager
def processes(commands: list[tuple[str, list[str]]], *, env: dict[str, str] | None = None) -> Iterator[dict]:
    """Start `manage.py` commands (name, args) with the current environment; stop them (by pid) on exit.

    Logs go to var/bench/<name>.log; yields {name: Popen}.
    """
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    started: dict[str, subprocess.Popen] = {}
    try:
        for name, args in commands:
            log = (BENCH_DIR / f"{name}.log").open("wb")
            started[name] = subprocess.Popen(
                [PYTHON, "manage.py", *args],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
        yield started
    finally:
        for process in started.values():
            process.terminate()
        for process in started.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_args(interval: float = 0.2) -> list[str]:
    return ["db_worker", "--no-reload", "--no-startup-delay", f"--interval={interval}"]


# --- Figures -----------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Goals:
    """Goals checked in one run: each printed as met or MISSED; `--strict` turns a miss into exit 1."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def check(self, label: str, ok: bool, figure: str) -> None:
        print(f"  goal {'met   ' if ok else 'MISSED'}  {label}: {figure}")
        if not ok:
            self.missed.append(f"{label}: {figure}")

    def finish(self, *, strict: bool) -> int:
        if self.missed:
            print(f"\n{len(self.missed)} goal(s) missed:")
            for line in self.missed:
                print(f"  - {line}")
            return 1 if strict else 0
        print("\nall goals met")
        return 0


def machine() -> str:
    import platform

    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def cleanup_bench_dir() -> None:
    shutil.rmtree(BENCH_DIR, ignore_errors=True)


def baseline_tree(ref: str) -> Path:
    """The code of the git revision `ref`, unpacked under var/bench/ (no checkout: nothing in the repository
    changes), to run beside this tree in the same run."""
    import tarfile

    target = BENCH_DIR / f"baseline-{ref.replace('/', '-')}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "archive", ref], cwd=REPO, stdout=archive, check=True)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(target, filter="data")
    return target


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="dcportal-bench-"))
