"""Security: production settings pass `check --deploy`, headers (CSP, framing), CSRF on every POST,
login throttling, session expiry, the admin for staff only."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import TEST_PASSWORD, run_tasks_until

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"


def production_env(**extra: str) -> dict[str, str]:
    # Not DJANGO_*: the browser tests' conftest sets DJANGO_ALLOW_ASYNC_UNSAFE, which --deploy rejects.
    prefixes = ("SECURE_", "SESSION_", "CSRF_", "DJANGO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        DEBUG="0",
        SECRET_KEY="a-production-key-for-this-test-only-0123456789-abcdefghij",
        ALLOWED_HOSTS="dcportal.example.com",
        DATABASE_URL="",
        FIELD_ENCRYPTION_KEYS="i0TkKiOF_IQYYiQxWomY0llnR2JOdlzS0qhC9d-3CGk=",  # for this test only
    )
    env.update(extra)
    return env


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_has_no_warnings_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_protections_are_turned_off():
    env = production_env(SESSION_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0")
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "SESSION_COOKIE_SECURE" in result.stderr


SHOW_SETTINGS = """
import django, json
django.setup()
from django.conf import settings as s
names = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_CONTENT_TYPE_NOSNIFF",
         "X_FRAME_OPTIONS",
         "SESSION_COOKIE_AGE", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SECURE_PROXY_SSL_HEADER"]
print(json.dumps({n: getattr(s, n, None) for n in names}))
"""


def production_settings(**extra: str) -> dict:
    import json

    env = production_env(DJANGO_SETTINGS_MODULE="dcportal.settings", **extra)
    result = subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults_turn_every_protection_on():
    values = production_settings()
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SESSION_COOKIE_AGE": 8 * 3600,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_protections_follow_the_environment():
    values = production_settings(
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_PRELOAD="0",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SESSION_COOKIE_AGE="3600",
    )
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SESSION_COOKIE_AGE"] == 3600


# --- headers ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_forbid_framing_sniffing_and_anything_not_from_this_site(engineer_client):
    response = engineer_client.get(reverse("peerlinks:home"))
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_templates_need_no_inline_script_style_or_event_handler():
    """What the CSP forbids: inline <script>, <style>, style="" and on*="" in any page template."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.parts:
            continue  # mail is not a page: no CSP there
        text = path.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)", r"<style\b", r"\sstyle=", r"\son[a-z]+="):
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for m in re.finditer(pattern, text)]
    assert offenders == []


# --- CSRF ------------------------------------------------------------------------------------------

POSTS = [
    ("logout", {}),
    ("peerlinks:refresh", {}),
    ("peerlinks:drift_acknowledge", {"pk": 1}),
    ("peerlinks:link_create", {}),
    ("peerlinks:link_local", {"cloud_id": "00000000-0000-0000-0000-000000000001"}),
    ("peerlinks:link_edit", {"cloud_id": "00000000-0000-0000-0000-000000000001"}),
    ("peerlinks:link_delete", {"cloud_id": "00000000-0000-0000-0000-000000000001"}),
    ("peerlinks:change_cancel", {"pk": 1}),
    ("peerlinks:change_edit", {"pk": 1}),
    ("peerlinks:change_approve", {"pk": 1}),
    ("peerlinks:change_reject", {"pk": 1}),
    ("peerlinks:change_retry", {"pk": 1}),
    ("peerlinks:change_comment", {"pk": 1}),
    ("peerlinks:notice_mark_read", {}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwargs"), POSTS, ids=[name for name, _ in POSTS])
def test_every_post_without_a_csrf_token_is_refused(admin, name, kwargs):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    client.get(reverse("peerlinks:home"))  # sets the CSRF cookie, as a browser would have it
    response = client.post(reverse(name, kwargs=kwargs), {"name": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.mark.django_db
def test_the_login_form_without_a_csrf_token_is_refused(engineer):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": engineer.username, "password": TEST_PASSWORD})
    assert response.status_code == 403


@pytest.mark.django_db
def test_htmx_requests_carry_the_token_from_hx_headers_and_pass(engineer):
    from peerlinks.models import Notice

    notice = Notice.objects.create(user=engineer, message="a notice to mark read")
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    page = client.get(reverse("peerlinks:home")).content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    response = client.post(
        reverse("peerlinks:notice_mark_read"), HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content.decode()[:500]
    assert 'id="notice-list"' in response.content.decode()
    assert "Nothing unread." in response.content.decode()
    notice.refresh_from_db()
    assert notice.read_at is not None


@pytest.mark.django_db
def test_every_form_in_a_page_carries_a_csrf_token(admin, client):
    client.force_login(admin)
    for name in ("peerlinks:home", "peerlinks:link_list", "peerlinks:link_create", "peerlinks:notice_list"):
        html = client.get(reverse(name)).content.decode()
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S):
            if re.search(r'method="post"', form, flags=re.I):
                assert "csrfmiddlewaretoken" in form, f"{name}: {form[:200]}"


# --- login throttling ------------------------------------------------------------------------------


def login(client: Client, username: str, password: str, ip: str = "10.0.0.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_five_failed_logins_lock_that_username_from_that_address_out_with_a_clear_message(client, engineer):
    for _ in range(4):
        response = login(client, engineer.username, "wrong")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    response = login(client, engineer.username, "wrong")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "refused for 15 minutes" in response.content.decode()
    # Even the right password is refused now.
    response = login(client, engineer.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_lockout_holds_only_for_that_username_and_address(client, engineer, viewer):
    for _ in range(5):
        login(client, engineer.username, "wrong")
    assert login(Client(), viewer.username, TEST_PASSWORD).status_code == 302
    assert login(Client(), engineer.username, TEST_PASSWORD, ip="10.0.0.8").status_code == 302


@pytest.mark.django_db
def test_a_lockout_ends_after_the_cool_off(client, engineer):
    for _ in range(5):
        login(client, engineer.username, "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert login(client, engineer.username, TEST_PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_successful_login_forgets_earlier_failures(client, engineer):
    for _ in range(4):
        login(client, engineer.username, "wrong")
    assert login(client, engineer.username, TEST_PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, engineer.username, "wrong").status_code == 200


# --- sessions and the admin ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_session_ends_with_the_browser_and_after_eight_hours(client, engineer):
    assert login(client, engineer.username, TEST_PASSWORD).status_code == 302
    cookie = client.cookies["sessionid"]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # a browser-session cookie
    session = Session.objects.get()
    assert timedelta(hours=7, minutes=59) < session.expire_date - timezone.now() <= timedelta(hours=8)


@pytest.mark.django_db
def test_an_expired_session_is_logged_out(client, engineer):
    login(client, engineer.username, TEST_PASSWORD)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("peerlinks:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["engineer", "approver", "viewer", "outsider"])
def test_the_admin_is_closed_to_everyone_but_staff(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    for url in ("/admin/", "/admin/peerlinks/policy/", "/admin/auth/user/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_the_admin_opens_for_an_admin(client, admin):
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200


# --- cloud credentials -----------------------------------------------------------------------------

SECRET_AK = "QZXAKSECRETFORTEST01"
SECRET_SK = "QzxSkThatMustNeverLeaveTheEnvironment0123"


@pytest.fixture
def secret_cloud(simulator, sim_clock, monkeypatch, settings, transactional_db):
    """The shared simulator, also accepting a distinctive key pair, and the portal signing with that pair."""
    from peerlinks import cloud

    monkeypatch.setitem(simulator.sim.credentials, SECRET_AK, SECRET_SK)
    simulator.sim.set_config(transition_delay=0.2, delete_delay=0.2)
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_SDK_AK = SECRET_AK
    settings.CLOUD_SDK_SK = SECRET_SK
    settings.CLOUD_AUTH = "aksk"
    settings.CLOUD_REGIONS = ["cn-north-4"]
    settings.PENDING_RECHECK_INTERVAL = 0.02
    cloud.clear_caches()
    simulator.sim.add_gateway(name="gw-secret", region="cn-north-4", quota=5)
    simulator.sim.add_router(name="er-secret", region="cn-north-4")
    yield sim_clock
    cloud.clear_caches()


def _run_until_done(change, sim_clock) -> None:
    run_tasks_until(change, sim_clock=sim_clock)
    assert change.state == "done", (change.state, change.error_code, change.error_msg)


def _database_text() -> str:
    """Every stored value of every model, as text."""
    from django.apps import apps

    return "\n".join(
        repr(row) for model in apps.get_models() for row in model._default_manager.all().values_list()
    )


def test_cloud_credentials_never_reach_a_page_log_export_audit_row_or_the_database(
    secret_cloud, client, engineer, no_approvals, caplog
):
    from peerlinks.models import ChangeRequest, EnterpriseRouter, Gateway, PeerLink
    from peerlinks.services.sync import sync_region

    caplog.set_level("DEBUG")
    assert sync_region(region="cn-north-4").ok
    client.force_login(engineer)
    gateway = Gateway.objects.get(name="gw-secret")
    router = EnterpriseRouter.objects.get(name="er-secret")
    bodies: list[bytes] = []

    data = {
        "gateway": gateway.cloud_id,
        "peer_type": "ER",
        "peer_region": "cn-north-4",
        "peer": router.cloud_id,
        "name": "secret-check",
        "description": "made with the distinctive key pair",
    }
    response = client.post(reverse("peerlinks:link_create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    create = ChangeRequest.objects.get()
    _run_until_done(create, secret_cloud)
    link = PeerLink.objects.get(name="secret-check")
    assert link.status == "ACTIVE"  # the simulator accepted requests signed with the pair
    bodies.append(client.get(reverse("peerlinks:detail", args=[link.cloud_id])).content)

    response = client.post(
        reverse("peerlinks:link_edit", args=[link.cloud_id]), {"name": "secret-renamed", "description": "x"}
    )
    assert response.status_code == 302
    _run_until_done(ChangeRequest.objects.latest("pk"), secret_cloud)
    response = client.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "secret-renamed"}
    )
    assert response.status_code == 302
    _run_until_done(ChangeRequest.objects.latest("pk"), secret_cloud)

    for name, args in (
        ("peerlinks:home", []),
        ("peerlinks:link_list", []),
        ("peerlinks:link_export", []),
        ("peerlinks:gateway_list", []),
        ("peerlinks:gateway_detail", [gateway.cloud_id]),
        ("peerlinks:topology", []),
        ("peerlinks:change_list", []),
        ("peerlinks:audit_list", []),
        ("peerlinks:notice_list", []),
    ):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200, name
        bodies.append(response.getvalue())
    export = client.get(reverse("peerlinks:link_export"), {"show_gone": "on"})
    bodies.append(export.getvalue())
    assert b"secret-renamed" in bodies[-1]  # the CSV holds the deleted link
    for change in ChangeRequest.objects.all():
        bodies.append(client.get(change.get_absolute_url()).content)

    portal_logs = "\n".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if not record.name.startswith("dcsim")
    )
    assert "secret-check" in _database_text()  # the places searched do hold the lifecycle
    haystacks = {
        "pages": b"\n".join(bodies).decode(),
        "logs": portal_logs,
        "database (audit rows, change payloads, task results, ...)": _database_text(),
    }
    for where, text in haystacks.items():
        for secret in (SECRET_AK, SECRET_SK, "SDK-HMAC-SHA256", "Signature=", "X-Auth-Token"):
            assert secret not in text, f"{secret[:6]}… found in {where}"
