"""Parts of pages kept by each web process (peerlinks.data_version) stay right across processes: two
gunicorn servers on the test database, as two web hosts, each keep the link table they drew, and each
draws it again at the next request once another process wrote (here, the test's own), on SQLite and on
PostgreSQL alike."""

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from peerlinks.models import PeerLink
from tests.conftest import listed_names, make_peer_link, poll_until, worker_database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Page:
    """What a test client response offers listed_names: the body."""

    def __init__(self, body: bytes) -> None:
        self.content = body


@pytest.fixture
def two_web_hosts(tmp_path):
    """Two gunicorn servers, one worker each, on the test database: their base URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    env.update(
        DEBUG="1",
        SECRET_KEY=settings.SECRET_KEY,  # the sessions the test signs in are signed with it
        DATABASE_URL=worker_database_url(),
        DATABASE_CONN_MAX_AGE="60",
        VAR_DIR=str(tmp_path),
        GUNICORN_WORKERS="1",
        GUNICORN_ACCESS_LOG="0",
        LOG_LEVEL="WARNING",
    )
    servers, bases = [], []
    try:
        for name in ("a", "b"):
            port = _free_port()
            log = (tmp_path / f"web-{name}.log").open("wb")
            servers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "dcportal.wsgi"],
                    cwd=ROOT,
                    env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            bases.append(f"http://127.0.0.1:{port}")
        for base, name in zip(bases, ("a", "b"), strict=True):

            def answers(base: str = base) -> bool:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                        return response.status == 200
                except OSError:
                    return False

            poll_until(answers, what=lambda n=name: (tmp_path / f"web-{n}.log").read_text(), timeout=30)
        yield bases
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


def test_each_web_process_draws_its_kept_table_again_after_another_process_writes(
    two_web_hosts, client, engineer
):
    link = make_peer_link(name="before-rename", status="ACTIVE")
    client.force_login(engineer)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    def names(base: str) -> list[str]:
        request = urllib.request.Request(f"{base}/links/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            return listed_names(_Page(response.read()))

    for base in two_web_hosts:
        assert names(base) == ["before-rename"]
        assert names(base) == ["before-rename"]  # kept
    PeerLink.objects.filter(pk=link.pk).update(name="after-rename")  # another process: this test's
    for base in two_web_hosts:
        assert names(base) == ["after-rename"]
    make_peer_link(name="new-link")
    for base in reversed(two_web_hosts):
        assert names(base) == ["after-rename", "new-link"]
