"""Attacks on a running site: error pages with DEBUG on, cloud error text quoting the access key, login
lockout behind the TLS proxy, formulas in the CSV export, cached private pages, line breaks in mail."""

import csv
import email
import io
import json
import os
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from peerlinks import cloud
from peerlinks.checks import check_debug_against_the_cloud
from peerlinks.models import ChangeRequest, CloudProject
from peerlinks.services import notifications
from peerlinks.services.sync import sync_region
from tests.conftest import TEST_PASSWORD, _user, make_gateway, make_peer_link
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


def test_debug_with_an_endpoint_override_to_a_real_cloud_is_warned_about(settings):
    settings.DEBUG = True
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:8790"
    settings.CLOUD_ENDPOINTS = {"dcaas": "http://127.0.0.1:8791", "iam": "https://iam.myhuaweicloud.eu"}
    [warning] = check_debug_against_the_cloud()
    assert warning.id == "peerlinks.W002"
    assert "CLOUD_ENDPOINTS iam (https://iam.myhuaweicloud.eu) is not the local simulator" in warning.msg


# --- cloud error text quoting the access key --------------------------------------------------------

UNKNOWN_AK = "QZXUNKNOWNAK00000001"


@pytest.fixture
def unknown_key_cloud(simulator, settings, transactional_db):
    """The portal signing with an access key the cloud (the simulator) does not know."""
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_AUTH = "aksk"
    settings.CLOUD_SDK_AK = UNKNOWN_AK
    settings.CLOUD_SDK_SK = "QzxSkOfAnAkTheCloudDoesNotKnow0000000000"
    settings.CLOUD_REGIONS = ["cn-north-4"]
    settings.CLOUD_PROJECT_IDS = {}
    cloud.clear_caches()
    yield simulator
    cloud.clear_caches()


def test_the_simulator_quotes_an_unknown_access_key_as_huaweis_gateway_does(simulator):
    from dcsim.auth import sign_headers

    headers = sign_headers(
        method="GET",
        host=urlsplit(simulator.base_url).netloc,
        path="/v3/projects",
        query="name=cn-north-4",
        access_key=UNKNOWN_AK,
        secret_key="whatever",
    )
    response = requests.get(f"{simulator.base_url}/v3/projects?name=cn-north-4", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error_code"] == "APIGW.0301"
    assert response.json()["error_msg"] == (
        f"Incorrect IAM authentication information: Get secretKey failed,ak:{UNKNOWN_AK},err:ak not exist"
    )


def test_a_sync_with_an_unknown_access_key_never_shows_stores_or_logs_the_key(
    unknown_key_cloud, client, viewer, caplog
):
    caplog.set_level("DEBUG")
    result = sync_region(region="cn-north-4")
    assert not result.ok
    sync_error = CloudProject.objects.get(region="cn-north-4").sync_error
    client.force_login(viewer)
    page = client.get(reverse("peerlinks:home")).content.decode()
    logs = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    for where, text in {"sync_error": sync_error, "dashboard": page, "logs": logs}.items():
        assert "Get secretKey failed,ak:***,err:ak not exist" in text, where  # the cloud's reason is kept
        assert UNKNOWN_AK not in text, f"the access key in the {where}"


@pytest.mark.parametrize(
    "error_msg",
    [
        f"Signature of ak={UNKNOWN_AK} refused",
        f"Access={UNKNOWN_AK}, SignedHeaders=host;x-sdk-date",
        '{"access_key_id": "QZXSOMEOTHERKEY00001"} is frozen',
        f"the key {UNKNOWN_AK} is disabled",
    ],
)
def test_cloud_errors_never_carry_an_access_key(error_msg):
    body = json.dumps({"error_code": "APIGW.0302", "error_msg": error_msg})
    error = cloud.errors.error_from_response(
        operation="ListPeerLinks", status=403, body=body, header_request_id=None, secrets=(UNKNOWN_AK,)
    )
    for text in (error.error_msg, str(error), repr(error)):
        assert UNKNOWN_AK not in text and "QZXSOMEOTHERKEY" not in text
        assert "***" in text


# --- login lockout behind the TLS proxy --------------------------------------------------------------

PROXY = "10.0.0.2"  # every request reaches dcportal from the proxy
CLIENT_A, CLIENT_B = "203.0.113.10", "198.51.100.20"


def login_through_proxy(client: Client, username: str, password: str, forwarded_for: str):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.mark.django_db
def test_behind_one_proxy_a_client_failing_does_not_lock_another_client_out(settings, engineer):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(6):
        login_through_proxy(Client(), engineer.username, "wrong", forwarded_for=CLIENT_A)
    assert login_through_proxy(Client(), engineer.username, TEST_PASSWORD, CLIENT_A).status_code == 429
    assert login_through_proxy(Client(), engineer.username, TEST_PASSWORD, CLIENT_B).status_code == 302


@pytest.mark.django_db
def test_a_spoofed_leftmost_forwarded_for_does_not_let_a_client_out_of_its_lockout(settings, engineer):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(5):
        login_through_proxy(Client(), engineer.username, "wrong", forwarded_for=CLIENT_A)
    # The client writes B's address in X-Forwarded-For; the proxy appends the address it really saw.
    spoofed = f"{CLIENT_B}, {CLIENT_A}"
    assert login_through_proxy(Client(), engineer.username, TEST_PASSWORD, spoofed).status_code == 429
    assert login_through_proxy(Client(), engineer.username, TEST_PASSWORD, CLIENT_B).status_code == 302


@pytest.mark.django_db
def test_without_a_trusted_proxy_forwarded_for_is_ignored(settings, engineer):
    settings.TRUSTED_PROXY_COUNT = 0
    for attempt in range(5):  # a new made-up address each time does not help
        login_through_proxy(Client(), engineer.username, "wrong", forwarded_for=f"192.0.2.{attempt}")
    assert login_through_proxy(Client(), engineer.username, TEST_PASSWORD, CLIENT_B).status_code == 429


# --- the CSV export ---------------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.django_db
def test_the_export_has_no_formula_where_any_spreadsheet_starts_a_cell(engineer_client):
    make_peer_link(
        name="pl-csv",
        description='fine;=HYPERLINK("http://evil.example","open")',
        reason='down; "+cmd|/c calc"',
        labels=["ok", "@SUM(1+1)", "-2+3", "\tx"],
        ticket_ref="CHG-1;\r=1+1",
    )
    text = b"".join(engineer_client.get(reverse("peerlinks:link_export")).streaming_content).decode()
    # A comma reader (the file's own dialect) and a semicolon one (Excel with German settings).
    for delimiter in (",", ";"):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            for cell in row:
                assert not cell.lstrip(' "').startswith(FORMULA_START), (delimiter, cell)
    [row] = csv.DictReader(io.StringIO(text, newline=""))
    assert row["description"] == 'fine;\'=HYPERLINK("http://evil.example","open")'
    assert row["labels"] == "ok;'@SUM(1+1);'-2+3;'\tx"


# --- caching of private pages -------------------------------------------------------------------------

HTMX = {"HTTP_HX_REQUEST": "true"}


def cache_directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.mark.django_db
def test_logged_in_pages_fragments_and_exports_are_never_cached(engineer_client):
    make_peer_link(name="pl-cache")
    for name, extra in (
        ("peerlinks:home", {}),
        ("peerlinks:link_list", {}),
        ("peerlinks:link_list", HTMX),
        ("peerlinks:link_export", {}),
        ("peerlinks:change_list", {}),
    ):
        response = engineer_client.get(reverse(name), **extra)
        assert response.status_code == 200, name
        assert {"private", "no-store"} <= cache_directives(response), (name, response.get("Cache-Control"))


@pytest.mark.django_db
def test_health_checks_and_static_files_keep_their_own_caching(engineer_client):
    health = engineer_client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    static = engineer_client.get("/static/css/dcportal.css")
    assert static.status_code == 200
    assert not {"private", "no-store"} & cache_directives(static), static.get("Cache-Control")


# --- line breaks in mail ------------------------------------------------------------------------------

INJECTED = "\r\nBcc: evil@example.net\r\n"


@pytest.mark.django_db
def test_line_breaks_from_the_cloud_cannot_add_headers_or_lines_to_a_mail(smtp_inbox):
    requester = _user("alice", "Engineer", email="alice@example.net")
    change = ChangeRequest.objects.create(
        kind="delete",
        requested_by=requester,
        gateway=make_gateway(name=f"gw-mail{INJECTED}"),
        payload={"link_name": f"pl-mail{INJECTED}"},
        approvals_required=0,
        state="failed",
        error_code=f"DC.0003{INJECTED}",
        error_msg="boom\r\n\r\nAll good: nothing failed, ignore this mail.\nBcc: evil@example.net",
    )
    notifications.notify_finished(change=change)
    [(_, recipients, content)] = smtp_inbox.messages
    assert recipients == ["alice@example.net"]
    message = email.message_from_string(content)
    assert message["Bcc"] is None
    assert "Bcc: evil@example.net" in " ".join(message["Subject"].split())  # as text in the subject
    lines = message.get_payload(decode=True).decode().splitlines()
    assert not [line for line in lines if line.startswith(("Bcc:", "All good"))], lines
    assert "Reason:     boom All good: nothing failed, ignore this mail. Bcc: evil@example.net" in lines
    assert "Link:      pl-mail Bcc: evil@example.net" in lines
    assert "Gateway:   gw-mail Bcc: evil@example.net (cn-north-4)" in lines
