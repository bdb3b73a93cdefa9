"""Health and readiness endpoints, request ids and JSON logs, and gunicorn + whitenoise for real."""

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from dcportal.logging import JsonFormatter, RequestIdFilter, request_id
from peerlinks.models import CloudProject
from tests.conftest import poll_until

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_answers_without_login_and_without_the_database(client):
    response = client.get("/healthz")  # no db fixture: any query would fail the test
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_database_migrations_and_sync_age(client):
    CloudProject.objects.create(region="cn-north-4", synced_at=timezone.now() - timedelta(seconds=90))
    CloudProject.objects.create(region="cn-east-3", synced_at=timezone.now() - timedelta(seconds=30))
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["migrations"] == "ok"
    assert 29 <= body["last_sync_age_seconds"] < 60
    assert 89 <= body["oldest_region_sync_age_seconds"] < 120


@pytest.mark.django_db
def test_readyz_before_any_sync_is_ready_with_no_age(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["last_sync_age_seconds"] is None


@pytest.mark.django_db
def test_readyz_is_503_while_migrations_are_not_applied(client, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("peerlinks", "9999")])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "migrations": "1 not applied"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    from django.db import OperationalError

    def refuse() -> None:
        raise OperationalError("connection refused to db.internal:5432 password=hunter2")

    monkeypatch.setattr(connections["default"], "ensure_connection", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable (OperationalError)"
    assert b"hunter2" not in response.content and b"db.internal" not in response.content


def test_health_endpoints_are_get_only(client):
    assert client.post("/healthz").status_code in (403, 405)


def test_every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept(client):
    made_up = client.get("/healthz")["X-Request-ID"]
    assert len(made_up) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "lb-abc-12345678"})["X-Request-ID"] == (
        "lb-abc-12345678"
    )
    forged = client.get("/healthz", headers={"X-Request-ID": "x\r\nSet-Cookie: a=b"})["X-Request-ID"]
    assert forged != "x\r\nSet-Cookie: a=b" and len(forged) == 32


def test_json_log_lines_carry_the_request_id_and_extras():
    record = logging.makeLogRecord({"name": "peerlinks.sync", "levelname": "INFO", "msg": "synced %s"})
    record.args = ("cn-north-4",)
    record.region = "cn-north-4"
    token = request_id.set("rid-0123456789")
    try:
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "synced cn-north-4"
    assert line["request_id"] == "rid-0123456789"
    assert line["region"] == "cn-north-4"
    assert line["level"] == "INFO" and line["logger"] == "peerlinks.sync"


# --- gunicorn, for real --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production host: DEBUG off, a real key, its own SQLite file and static root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        VAR_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "static"),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        LOG_FORMAT="json",
    )
    env.update(extra)
    return env


def test_gunicorn_with_two_workers_serves_health_static_files_and_the_login_page(tmp_path):
    env = production_env(tmp_path)
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    css = manifest["paths"]["css/dcportal.css"]

    port = _free_port()
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "dcportal.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def health_status() -> int | None:
        try:
            return _get(f"{base}/healthz")[0]
        except OSError:
            assert server.poll() is None, "gunicorn exited:\n" + log.read_text()
            return None

    try:
        status = poll_until(
            health_status, what=lambda: "gunicorn to answer:\n" + log.read_text(), timeout=30, interval=0.2
        )
        # Load balancers probe over plain HTTP: no redirect to https for these two.
        assert status == 200
        status, _, body = _get(f"{base}/readyz")
        assert status == 200, body
        assert json.loads(body)["migrations"] == "ok"

        https = {"X-Forwarded-Proto": "https"}
        status, headers, body = _get(f"{base}/static/{css}", **https)
        assert status == 200
        assert "immutable" in headers["Cache-Control"]
        assert b".topo-legend" in body
        status, headers, body = _get(f"{base}/login/", **https)
        assert status == 200
        assert f"/static/{css}".encode() in body
        assert "Content-Security-Policy" in headers and "Strict-Transport-Security" in headers
        # Without the proxy's header the site sends plain-HTTP visitors to https.
        request = urllib.request.Request(f"{base}/login/")
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=10)
        assert redirect.value.code == 301
        assert redirect.value.headers["Location"].startswith("https://")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("Booting worker" in line["message"] for line in lines)
    assert any("/login/" in line["message"] and "rid=" in line["message"] for line in lines)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
