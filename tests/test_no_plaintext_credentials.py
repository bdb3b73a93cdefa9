"""No credential in plain text anywhere: an account added through the admin with distinctive keys and an IAM
password (and the first account's keys in the settings) is used for real against the simulator (regions
discovered, synced with AK/SK, then with an IAM token), and then none of those values is in the database
file, any page an admin can open, the logs, the exports, `dumpdata`, or Django's DEBUG error page."""

import io
import json
import logging
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from dcportal.logging import JsonFormatter
from dcsim import TEAM_B_DOMAIN, TEAM_B_IAM_USER
from peerlinks.models import AuditEvent, CloudAccount, Gateway
from peerlinks.services import accounts, sync

AK = "QZXACCOUNTAK00000042"
SK = "QzxAccountSecretKey4242424242424242424242"
IAM_PASSWORD = "QzxAccountIamPassword42"
ENV_AK = "QZXENVIRONMENTAK0042"
ENV_SK = "QzxEnvironmentSecretKey42424242424242424"
SECRETS = (AK, SK, IAM_PASSWORD, ENV_AK, ENV_SK)


def _found(text: str | bytes) -> list[str]:
    """The secrets (their first characters) in text."""
    if isinstance(text, bytes):
        return [secret[:8] + "…" for secret in SECRETS if secret.encode() in text]
    return [secret[:8] + "…" for secret in SECRETS if secret in text]


@pytest.fixture
def cloud_with_our_keys(simulator, settings, monkeypatch, transactional_db):
    """The simulator, taking our keys: the first account's pair (the settings) in its demo account, and
    team-b's AK/SK pair and IAM password, for the account the admin adds."""
    from peerlinks import cloud

    team_b = next(account for account in simulator.sim.accounts if account.name == TEAM_B_DOMAIN)
    monkeypatch.setitem(simulator.sim.credentials, ENV_AK, ENV_SK)
    monkeypatch.setitem(team_b.credentials, AK, SK)
    monkeypatch.setattr(team_b, "password", IAM_PASSWORD)
    simulator.sim.add_gateway(name="gw-first", region="cn-north-4")
    simulator.sim.add_gateway(name="gw-qzx", region="cn-north-4", account=TEAM_B_DOMAIN)
    simulator.sim.add_router(name="er-qzx", region="cn-north-4", account=TEAM_B_DOMAIN)
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_AUTH = "aksk"
    settings.CLOUD_SDK_AK, settings.CLOUD_SDK_SK = ENV_AK, ENV_SK
    settings.CLOUD_REGIONS = ["cn-north-4"]
    settings.CLOUD_PROJECT_IDS = {}
    cloud.clear_caches()
    yield simulator
    cloud.clear_caches()


@pytest.fixture
def used_account(cloud_with_our_keys, admin, client, caplog) -> CloudAccount:
    """The account as an admin makes it and the product uses it: added with AK/SK through the admin form,
    its regions discovered and ticked, synced; then switched to an IAM user, discovered and synced again."""
    caplog.set_level(logging.DEBUG)
    client.force_login(admin)
    add = client.post(
        reverse("admin:peerlinks_cloudaccount_add"),
        {"name": "qzx-team", "description": "", "auth": "aksk", "access_key": AK, "secret_key": SK},
    )
    assert add.status_code == 302, add.content.decode()[:3000]
    account = CloudAccount.objects.get(name="qzx-team")
    regions = reverse("admin:peerlinks_cloudaccount_regions", args=[account.pk])
    assert "cn-north-4" in client.get(regions).context["found"]  # IAM asked with the account's AK/SK
    assert client.post(regions, {"regions": ["cn-north-4"]}).status_code == 302
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)  # the sync it queued
    assert Gateway.objects.filter(name="gw-qzx", project__account=account).exists()
    assert Gateway.objects.filter(name="gw-first", project__account__from_environment=True).exists()

    change = reverse("admin:peerlinks_cloudaccount_change", args=[account.pk])
    token_mode = {
        "name": "qzx-team",
        "description": "now with an IAM user",
        "auth": "token",
        "iam_domain": TEAM_B_DOMAIN,
        "iam_user": TEAM_B_IAM_USER,
        "iam_password": IAM_PASSWORD,
    }
    assert client.post(change, token_mode).status_code == 302
    account.refresh_from_db()
    assert client.get(regions).context["found"]  # IAM asked with a token for the IAM user
    assert all(result.ok for result in sync.sync_all())
    return account


def _admin_pages(account: CloudAccount) -> list[str]:
    """The admin's pages about accounts and what they did: lists, forms, history, the audit log."""
    pages = [
        reverse("admin:index"),
        reverse("admin:app_list", args=["peerlinks"]),
        reverse("admin:peerlinks_cloudaccount_changelist"),
        reverse("admin:peerlinks_cloudaccount_add"),
        reverse("admin:peerlinks_auditevent_changelist"),
    ]
    for each in CloudAccount.objects.all():
        for name in ("change", "history", "regions"):
            pages.append(reverse(f"admin:peerlinks_cloudaccount_{name}", args=[each.pk]))
    for event in AuditEvent.objects.all():
        pages.append(reverse("admin:peerlinks_auditevent_change", args=[event.pk]))
    return pages


def _product_pages() -> list[str]:
    """Every page of the product that takes no argument, and each gateway's page."""
    [product] = [p for p in get_resolver().url_patterns if getattr(p, "namespace", "") == "peerlinks"]
    pages = [
        reverse(f"peerlinks:{pattern.name}")
        for pattern in product.url_patterns
        if isinstance(pattern, URLPattern) and pattern.name and not pattern.pattern.converters
    ]
    pages += [reverse("peerlinks:gateway_detail", args=[g.cloud_id]) for g in Gateway.objects.all()]
    return [*pages, reverse("peerlinks:search") + "?q=qzx", reverse("peerlinks:audit_list") + "?page=2"]


def _raw_database() -> str:
    """Every column of every table as the database holds it (no field decrypts on the way)."""
    tables = {model._meta.db_table for model in apps.get_models()} | set(
        connection.introspection.table_names()
    )
    rows = []
    with connection.cursor() as cursor:
        for table in sorted(tables):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def _database_files() -> dict[str, bytes]:
    """The SQLite database file and its journal, WAL and shared-memory files, byte for byte."""
    if connection.vendor != "sqlite":
        return {}
    name = Path(connection.settings_dict["NAME"])
    files = [name, *(name.with_name(name.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    return {str(path): path.read_bytes() for path in files if path.exists()}


def test_no_credential_is_in_the_database_pages_logs_or_exports(used_account, client, admin, caplog, capfd):
    assert used_account.secret_key == SK and used_account.iam_password == IAM_PASSWORD  # really stored
    found: dict[str, list[str]] = {}

    raw = _raw_database()
    assert "qzx-team" in raw and "gw-qzx" in raw  # the places searched do hold what happened
    found["database rows"] = _found(raw)
    files = _database_files()
    assert files or connection.vendor != "sqlite"
    for path, content in files.items():
        assert b"qzx-team" in content or not path.endswith("sqlite3"), path
        found[f"database file {path}"] = _found(content)

    client.force_login(admin)
    for path in [*_admin_pages(used_account), *_product_pages()]:
        response = client.get(path, follow=True)
        if response.status_code == 405:
            continue  # an action (POST only), not a page
        assert response.status_code == 200, path
        found[f"page {path}"] = _found(response.getvalue())

    export = client.get(reverse("peerlinks:link_export"), {"show_gone": "on"})
    assert b"gw-qzx" in export.getvalue() or b"gw-" in export.getvalue() or export.status_code == 200
    found["peer-link CSV"] = _found(export.getvalue())
    dumped = io.StringIO()
    call_command("dumpdata", "peerlinks", "auth", "admin", "django_tasks_database", stdout=dumped)
    assert "qzx-team" in dumped.getvalue()
    found["dumpdata"] = _found(dumped.getvalue())
    stored = json.loads(dumped.getvalue())
    assert any(row["model"] == "peerlinks.cloudaccount" and row["fields"]["secret_key"] for row in stored)

    records = [record for record in caplog.records if not record.name.startswith("dcsim")]
    assert any(record.name == "peerlinks.cloud" for record in records)  # the cloud calls were logged
    json_lines = JsonFormatter()
    found["log records"] = _found(
        "\n".join(f"{r.getMessage()} {r.__dict__} {json_lines.format(r)}" for r in records)
    )
    out, err = capfd.readouterr()
    found["log output (the console handler)"] = _found(out + err)

    assert not {where: secrets for where, secrets in found.items() if secrets}


def _technical_500(settings, monkeypatch, target: str, call) -> str:
    """Django's DEBUG error page for an error raised while an account is being worked on."""
    settings.DEBUG = True

    def fail(account: CloudAccount, **kwargs: object) -> None:
        config = account.cloud_config()  # noqa: F841 (a local the error page lists)
        secret_key, iam_password = account.secret_key, account.iam_password  # noqa: F841
        raise RuntimeError(f"failed while working on {account.name}")

    monkeypatch.setattr(accounts, target, fail)
    response = call()
    assert response.status_code == 500
    page = response.content.decode()
    assert "You’re seeing this error because you have <code>DEBUG = True</code>" in page
    assert "failed while working on qzx-team" in page
    return page


def test_the_debug_error_page_shows_no_credential_posted_stored_or_in_settings(
    used_account, admin, settings, monkeypatch
):
    debug_client = Client(raise_request_exception=False)
    debug_client.force_login(admin)
    change = reverse("admin:peerlinks_cloudaccount_change", args=[used_account.pk])
    regions = reverse("admin:peerlinks_cloudaccount_regions", args=[used_account.pk])
    posted = {
        "name": "qzx-team",
        "auth": "aksk",
        "access_key": AK,
        "secret_key": SK,
        "iam_password": IAM_PASSWORD,
        "iam_domain": TEAM_B_DOMAIN,
        "iam_user": TEAM_B_IAM_USER,
    }
    saving = _technical_500(settings, monkeypatch, "save_account", lambda: debug_client.post(change, posted))
    assert "secret_key" in saving and "access_key" in saving  # the fields are listed, their values hidden
    discovering = _technical_500(settings, monkeypatch, "discover_regions", lambda: debug_client.get(regions))
    assert "CLOUD_SDK_SK" in discovering
    assert _found(saving) == [] and _found(discovering) == []
