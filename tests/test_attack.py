"""Attacks on a running site: error pages with DEBUG on, cloud error text quoting the access key, login
lockout behind the TLS proxy, formulas in the CSV export, cached private pages, line breaks in mail."""

import os

import pytest
from django.test import Client

from peerlinks.checks import check_debug_against_the_cloud
from tests.test_security import run_manage

# --- error pages with DEBUG on ------------------------------------------------------------------------

AK = "QZXDEBUGPAGEAK000001"
SK = "QzxDebugPageSecretKey00000000000000000001"
IAM_PASSWORD = "QzxIamPasswordOnDebugPages1"
DB_PASSWORD = "QzxDatabasePasswordOnDebugPages1"
# runserver hands the process environment to every request as request.META: the debug page lists it.
ENVIRON = {
    "CLOUD_SDK_AK": AK,
    "CLOUD_SDK_SK": SK,
    "CLOUD_IAM_PASSWORD": IAM_PASSWORD,
    "DATABASE_URL": f"postgres://dcportal:{DB_PASSWORD}@db.internal:5432/dcportal",
}
FORM = "application/x-www-form-urlencoded"

# Four errors anyone can cause without logging in; with DEBUG on each one is Django's debug page.
ERROR_TRIGGERS = {
    "foreign Host header": lambda c: c.get("/login/", HTTP_HOST="attacker.example", **ENVIRON),
    "3 MB body": lambda c: c.post("/login/", b"username=" + b"x" * 3_000_000, content_type=FORM, **ENVIRON),
    "1,001 fields": lambda c: c.post(
        "/login/", "&".join(f"f{i}=1" for i in range(1001)), content_type=FORM, **ENVIRON
    ),
    "over-long query value": lambda c: c.get("/", {"q": "x" * 20_000}, **ENVIRON),
}


@pytest.fixture
def debug_site(settings):
    settings.DEBUG = True
    settings.CLOUD_SDK_AK, settings.CLOUD_SDK_SK = AK, SK
    settings.CLOUD_IAM_PASSWORD = IAM_PASSWORD
    return Client()


@pytest.mark.django_db
@pytest.mark.parametrize("trigger", ERROR_TRIGGERS, ids=list(ERROR_TRIGGERS))
def test_debug_error_pages_show_no_cloud_key_password_or_database_url(debug_site, trigger):
    response = ERROR_TRIGGERS[trigger](debug_site)
    page = response.content.decode()
    assert response.status_code == 400
    assert "You’re seeing this error because you have <code>DEBUG = True</code>" in page
    assert "CLOUD_SDK_AK" in page and "CLOUD_SDK_SK" in page  # the settings are listed, the values hidden
    for secret in (AK, SK, IAM_PASSWORD, DB_PASSWORD):
        assert secret not in page, f"{secret[:8]}… on the error page"


def _production_like_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DATABASE_URL="", **extra)
    return env


def test_debug_against_a_real_cloud_is_warned_about_at_start():
    env = _production_like_env(DEBUG="1", CLOUD_ENDPOINT="https://{service}.{region}.myhuaweicloud.com")
    result = run_manage("check", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "(peerlinks.W002) DEBUG is on and CLOUD_ENDPOINT" in result.stderr  # the system check
    assert "WARNING peerlinks [-] DEBUG is on and CLOUD_ENDPOINT" in result.stderr  # the log line at start


def test_debug_against_the_simulator_or_without_debug_is_no_warning(settings):
    settings.DEBUG = True
    for endpoint in ("http://127.0.0.1:8790", "http://localhost:8790", "http://[::1]:8790"):
        settings.CLOUD_ENDPOINT = endpoint
        assert check_debug_against_the_cloud() == [], endpoint
    settings.CLOUD_ENDPOINT = "https://{service}.{region}.myhuaweicloud.com"
    assert [w.id for w in check_debug_against_the_cloud()] == ["peerlinks.W002"]
    settings.DEBUG = False
    assert check_debug_against_the_cloud() == []
