"""`make run` keeps going when a child dies: scripts/run-dev.sh starts it again, and TERM stops everything.

The real script runs on loopback ports of its own, with its database and logs in a temporary directory; the
simulator and the task worker are killed with SIGKILL and must come back while the site keeps answering.
It needs no test database: the script migrates its own.
"""

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Migrate, demo users and a first sync: 10-20 s; the bounds leave room for a machine busy with other work.
STARTUP_SECONDS = 90
RESTART_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    """Status and body of a GET; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def _wait_for(condition: Callable[[], object], *, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what}: not after {timeout:.0f} s")


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent pid, process group, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if stat[0] != "Z":  # a zombie has stopped already; only its parent has not read its status yet
            found[int(entry.name)] = (int(stat[1]), int(stat[2]), cmdline)
    return found


def _descendants(root: int) -> dict[int, tuple[int, int, str]]:
    everything = _processes()
    family, grew = {root}, True
    while grew:
        more = {pid for pid, (ppid, _, _) in everything.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    return {pid: everything[pid] for pid in family - {root} if pid in everything}


def _child(script: int, marker: str) -> int | None:
    """The script's direct child whose command line has `marker` (the leader of that child's group)."""
    for pid, (ppid, _, cmdline) in _processes().items():
        if ppid == script and marker in cmdline:
            return pid
    return None


def _cached_by_account(database: Path) -> set[tuple[str, str]]:
    """(account, name) of every cached gateway and router, read straight from the run's SQLite file."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return {
            row
            for table in ("peerlinks_gateway", "peerlinks_enterpriserouter")
            for row in connection.execute(
                f"SELECT a.name, t.name FROM {table} t"
                " JOIN peerlinks_cloudproject p ON p.id = t.project_id"
                " JOIN peerlinks_cloudaccount a ON a.id = p.account_id"
            )
        }


@pytest.fixture
def run_dev(tmp_path: Path) -> Iterator[dict]:
    """scripts/run-dev.sh on free ports with its own database and logs; stopped (and checked) after."""
    web_port, sim_port = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLOUD_", "DATABASE_", "GUNICORN_")) and key not in ("PORT", "DCSIM_PORT")
    }
    env |= {
        "PORT": str(web_port),
        "DCSIM_PORT": str(sim_port),
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dcportal.sqlite3'}",
        "DEBUG": "1",
        "SYNC_INTERVAL": "3600",
    }
    output = tmp_path / "terminal.log"
    with output.open("wb") as terminal:
        script = subprocess.Popen(
            [str(ROOT / "scripts" / "run-dev.sh")],
            cwd=ROOT,
            env=env,
            stdout=terminal,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    groups: set[int] = set()
    try:
        yield {
            "script": script,
            "web": f"http://127.0.0.1:{web_port}",
            "sim": f"http://127.0.0.1:{sim_port}",
            "terminal": output,
            "groups": groups,
            "database": tmp_path / "dcportal.sqlite3",
        }
    finally:
        for pid, (_, group, _) in _descendants(script.pid).items():
            groups.update((pid, group))
        if script.poll() is None:
            script.kill()
            script.wait()
        for group in groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)


def test_killed_children_are_started_again_and_term_stops_everything(run_dev: dict) -> None:
    script, web = run_dev["script"], run_dev["web"]
    _wait_for(lambda: _get(f"{web}/healthz")[0] == 200, timeout=STARTUP_SECONDS, what="the site answering")
    simulator = _wait_for(lambda: _child(script.pid, "-m dcsim"), timeout=5, what="the simulator")
    worker = _wait_for(lambda: _child(script.pid, "db_worker"), timeout=5, what="the worker")
    _wait_for(lambda: _child(script.pid, "run_scheduler"), timeout=5, what="the scheduler")
    # Mail links point at the port this run serves on (PORT), not SITE_URL's default of 8000.
    environment = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    assert f"SITE_URL={web}".encode() in environment
    # Two accounts after the first sync: the settings' and the simulator's second, team-b, with its own.
    assert _cached_by_account(run_dev["database"]) >= {
        ("main", "gdgw-beijing-core"),
        ("team-b", "gdgw-team-b-edge"),
        ("team-b", "er-team-b-shared"),
    }

    os.kill(simulator, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)

    _wait_for(
        lambda: (_child(script.pid, "-m dcsim") or simulator) != simulator,
        timeout=RESTART_SECONDS,
        what="a new simulator",
    )
    _wait_for(
        lambda: (_child(script.pid, "db_worker") or worker) != worker,
        timeout=RESTART_SECONDS,
        what="a new worker",
    )
    _wait_for(
        lambda: _get(f"{run_dev['sim']}/_dcsim/state")[0] == 200,
        timeout=RESTART_SECONDS,
        what="the simulator",
    )
    assert _get(f"{web}/healthz")[0] == 200
    status, body = _get(f"{web}/login/")
    assert status == 200
    assert "csrfmiddlewaretoken" in body
    terminal = run_dev["terminal"].read_text()
    assert "Task worker exited (code 137); restarting in 1 s" in terminal
    assert "Cloud simulator on" in terminal and "exited (code 137); restarting in 1 s" in terminal
    assert script.poll() is None

    family = _descendants(script.pid)
    run_dev["groups"].update(group for _, group, _ in family.values())
    script.send_signal(signal.SIGTERM)
    assert script.wait(timeout=15) == 143
    left = {
        pid: cmdline
        for pid, (_, group, cmdline) in _processes().items()
        if pid in family or group in run_dev["groups"]
    }
    assert left == {}
    assert "Stopping dcportal..." in run_dev["terminal"].read_text()
