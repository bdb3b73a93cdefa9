"""Admins manage cloud accounts in the Django admin: credentials are write-only (a stored one is kept when
left empty, cleared only on purpose), what each authentication needs is checked, every save is audited
without a credential's value, the first account is the CLOUD_* settings', and the regions to manage are
ticked among those the account's IAM projects name, asked of the real simulator with the account's keys."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from dcsim import TEAM_B_AK, TEAM_B_DOMAIN, TEAM_B_IAM_PASSWORD, TEAM_B_IAM_USER, TEAM_B_SK
from peerlinks.models import AuditEvent, CloudAccount, Gateway
from tests.conftest import _user

pytestmark = pytest.mark.django_db

ADD = reverse("admin:peerlinks_cloudaccount_add")


def _change(account: CloudAccount) -> str:
    return reverse("admin:peerlinks_cloudaccount_change", args=[account.pk])


def _regions(account: CloudAccount) -> str:
    return reverse("admin:peerlinks_cloudaccount_regions", args=[account.pk])


def _form(**fields: str) -> dict:
    return {"name": "team-b", "description": "", "auth": "aksk", "endpoints": "", **fields}


def _raw(column: str, account: CloudAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM peerlinks_cloudaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def team_b(admin) -> CloudAccount:
    from peerlinks.services.accounts import save_account

    account = CloudAccount(name="team-b", access_key=TEAM_B_AK, secret_key=TEAM_B_SK)
    return save_account(account, user=admin)


def test_an_admin_adds_an_account_and_goes_on_to_its_regions(client, admin):
    client.force_login(admin)
    answer = client.post(ADD, _form(access_key=TEAM_B_AK, secret_key=TEAM_B_SK, description="Team B"))
    account = CloudAccount.objects.get(name="team-b")
    assert answer.status_code == 302 and answer.url == _regions(account)
    assert (account.access_key, account.secret_key, account.description) == (TEAM_B_AK, TEAM_B_SK, "Team B")
    assert TEAM_B_SK not in _raw("secret_key", account) and TEAM_B_AK not in _raw("access_key", account)
    event = AuditEvent.objects.get(action="account.added")
    assert event.actor == admin and event.account == account and event.object_repr == "team-b"
    assert event.after["access_key"] == "set" and event.after["secret_key"] == "set"
    assert event.after["name"] == "team-b" and event.after["auth"] == "aksk"
    assert TEAM_B_SK not in str(event.after) and TEAM_B_AK not in str(event.after)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"access_key": TEAM_B_AK}, ["secret_key"]),
        ({}, ["access_key", "secret_key"]),
        ({"auth": "token", "iam_domain": TEAM_B_DOMAIN}, ["iam_user", "iam_password"]),
    ],
)
def test_each_authentication_needs_its_credentials(client, admin, fields, missing):
    client.force_login(admin)
    answer = client.post(ADD, _form(**fields))
    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert sorted(errors) == sorted(missing)
    assert not CloudAccount.objects.filter(name="team-b").exists()
    assert TEAM_B_AK not in answer.content.decode()  # not even what was just typed


@pytest.mark.parametrize(
    "endpoints",
    ["nonsense", "dcaas=ftp://example.net", "compute=https://example.net", "iam@NOT A REGION=https://x"],
)
def test_a_bad_endpoint_override_is_a_form_error(client, admin, endpoints):
    client.force_login(admin)
    answer = client.post(ADD, _form(access_key=TEAM_B_AK, secret_key=TEAM_B_SK, endpoints=endpoints))
    assert answer.status_code == 200
    assert list(answer.context["adminform"].form.errors) == ["endpoints"]


def test_endpoint_overrides_one_per_line_are_stored_as_the_setting_takes_them(client, admin):
    client.force_login(admin)
    lines = "iam=https://iam.example.net\r\ndcaas@eu-west-101=https://dcaas.{region}.example.eu"
    client.post(ADD, _form(access_key=TEAM_B_AK, secret_key=TEAM_B_SK, endpoints=lines))
    account = CloudAccount.objects.get(name="team-b")
    assert account.endpoints == {
        "iam": "https://iam.example.net",
        "dcaas@eu-west-101": "https://dcaas.{region}.example.eu",
    }
    assert account.cloud_config().base_url("iam", "cn-north-4") == "https://iam.example.net"
    page = client.get(_change(account)).content.decode()
    assert "iam=https://iam.example.net" in page  # drawn back for editing, as typed


def test_stored_credentials_are_never_drawn_back_and_kept_when_left_empty(client, admin, team_b):
    client.force_login(admin)
    page = client.get(_change(team_b)).content.decode()
    assert TEAM_B_SK not in page and TEAM_B_AK not in page
    assert "•••• set" in page
    assert 'name="clear_secret_key"' in page and 'name="clear_iam_password"' not in page  # none stored

    answer = client.post(_change(team_b), _form(description="renamed team"))
    assert answer.status_code == 302
    team_b.refresh_from_db()
    assert (team_b.access_key, team_b.secret_key, team_b.description) == (
        TEAM_B_AK,
        TEAM_B_SK,
        "renamed team",
    )
    event = AuditEvent.objects.get(action="account.changed")
    assert event.before == {"description": ""} and event.after == {"description": "renamed team"}


def test_a_credential_is_replaced_or_cleared_and_only_named_in_the_audit(client, admin, team_b):
    client.force_login(admin)
    answer = client.post(
        _change(team_b),
        _form(
            auth="token",
            clear_access_key="on",
            clear_secret_key="on",
            iam_domain=TEAM_B_DOMAIN,
            iam_user=TEAM_B_IAM_USER,
            iam_password=TEAM_B_IAM_PASSWORD,
        ),
    )
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    team_b.refresh_from_db()
    assert (team_b.access_key, team_b.secret_key, team_b.iam_password) == ("", "", TEAM_B_IAM_PASSWORD)
    event = AuditEvent.objects.get(action="account.changed")
    assert event.after["access_key"] == "cleared" and event.after["secret_key"] == "cleared"
    assert event.after["iam_password"] == "set" and event.after["auth"] == "token"
    assert TEAM_B_IAM_PASSWORD not in str(event.after) + str(event.before)

    client.post(
        _change(team_b),
        _form(auth="token", iam_domain=TEAM_B_DOMAIN, iam_user=TEAM_B_IAM_USER, iam_password="another-one"),
    )
    team_b.refresh_from_db()
    assert team_b.iam_password == "another-one"
    assert AuditEvent.objects.filter(action="account.changed").latest("pk").after == {
        "iam_password": "changed"
    }


def test_clearing_a_credential_that_the_authentication_needs_is_refused(client, admin, team_b):
    client.force_login(admin)
    answer = client.post(_change(team_b), _form(clear_secret_key="on"))
    assert answer.status_code == 200
    assert list(answer.context["adminform"].form.errors) == ["secret_key"]
    team_b.refresh_from_db()
    assert team_b.secret_key == TEAM_B_SK


def test_the_first_account_is_read_only_but_its_description(client, admin, settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "ap-southeast-1"]
    first = CloudAccount.objects.environment()
    client.force_login(admin)
    page = client.get(_change(first)).content.decode()
    assert "From the CLOUD_* settings" in page and "cn-north-4, ap-southeast-1" in page
    assert settings.CLOUD_SDK_SK not in page and settings.CLOUD_SDK_AK not in page
    for editable_elsewhere in ("name", "auth", "access_key", "secret_key", "endpoints"):
        assert f'name="{editable_elsewhere}"' not in page
    answer = client.post(
        _change(first), {"description": "the platform team", "name": "hijacked", "auth": "token"}
    )
    assert answer.status_code == 302
    first.refresh_from_db()
    assert (first.name, first.auth, first.description) == (
        settings.CLOUD_ACCOUNT_NAME,
        "aksk",
        "the platform team",
    )
    assert AuditEvent.objects.get(action="account.changed").after == {"description": "the platform team"}


def test_accounts_are_never_deleted_in_the_admin(client, admin, team_b):
    client.force_login(admin)
    answer = client.post(reverse("admin:peerlinks_cloudaccount_delete", args=[team_b.pk]), {"post": "yes"})
    assert answer.status_code == 403
    assert CloudAccount.objects.filter(pk=team_b.pk).exists()


def test_only_admins_manage_accounts(client, team_b):
    engineer_staff = _user("staff-engineer", "Engineer", is_staff=True)
    for who in (_user("approver-b", "Approver"), engineer_staff):
        client.force_login(who)
        for url in (reverse("admin:peerlinks_cloudaccount_changelist"), _change(team_b), _regions(team_b)):
            answer = client.get(url)
            assert answer.status_code in (302, 403), url
        assert client.post(_regions(team_b), {"regions": ["cn-north-4"]}).status_code in (302, 403)
    team_b.refresh_from_db()
    assert team_b.regions == []


def test_the_list_shows_each_account_with_its_regions(client, admin, team_b, settings):
    settings.CLOUD_REGIONS = ["cn-north-4"]
    CloudAccount.objects.environment()
    client.force_login(admin)
    page = client.get(reverse("admin:peerlinks_cloudaccount_changelist")).content.decode()
    assert "team-b" in page and settings.CLOUD_ACCOUNT_NAME in page and "cn-north-4" in page
    assert TEAM_B_SK not in page and TEAM_B_AK not in page


# --- Regions, through the account's IAM projects (the real simulator) ---------------------------------


def test_regions_are_discovered_with_the_accounts_own_keys(client, admin, team_b, simulator, settings):
    settings.CLOUD_ENDPOINT = simulator.base_url
    client.force_login(admin)
    answer = client.get(_regions(team_b))
    assert answer.status_code == 200
    assert "cn-north-4" in answer.context["found"] and "ap-southeast-1" in answer.context["found"]
    page = answer.content.decode()
    assert 'value="cn-north-4"' in page and TEAM_B_SK not in page


@pytest.mark.django_db(transaction=True)
def test_ticking_regions_saves_them_audits_and_syncs_the_new_ones(
    client, admin, team_b, demo_simulator, settings
):
    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    settings.CLOUD_REGIONS = []  # the first account syncs nothing here: only team-b's region is looked at
    client.force_login(admin)
    answer = client.post(_regions(team_b), {"regions": ["cn-north-4"]}, follow=True)
    assert answer.redirect_chain[-1][0] == _change(team_b)
    assert "A sync is queued" in answer.content.decode()
    team_b.refresh_from_db()
    assert team_b.regions == ["cn-north-4"]
    event = AuditEvent.objects.get(action="account.changed")
    assert (event.before, event.after) == ({"regions": []}, {"regions": ["cn-north-4"]})

    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    edge = Gateway.objects.get(name="gdgw-team-b-edge")
    assert edge.account == team_b  # synced with team-b's own keys, into team-b
    assert not Gateway.objects.filter(project__account__from_environment=True).exists()


def test_wrong_keys_are_said_in_plain_words_and_never_shown(client, admin, simulator, settings):
    from peerlinks.services.accounts import save_account

    settings.CLOUD_ENDPOINT = simulator.base_url
    wrong = save_account(
        CloudAccount(name="wrong-keys", access_key=TEAM_B_AK, secret_key="Not-The-Right-Secret-123"),
        user=admin,
    )
    client.force_login(admin)
    answer = client.get(_regions(wrong))
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "does not accept dcportal&#x27;s credentials" in page
    assert "Not-The-Right-Secret-123" not in page


def test_an_unreachable_iam_is_said_in_plain_words(client, admin, team_b, settings):
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"
    settings.CLOUD_MAX_RETRIES = 0
    client.force_login(admin)
    answer = client.get(_regions(team_b))
    assert answer.status_code == 200
    assert "cannot reach Huawei Cloud" in answer.content.decode()


def test_iam_is_asked_in_the_first_managed_region_or_a_region_an_override_names(team_b):
    from peerlinks.services.accounts import DEFAULT_IAM_REGION, iam_region

    assert iam_region(team_b) == DEFAULT_IAM_REGION
    team_b.endpoints = {"iam@eu-west-101": "https://iam.eu-west-101.myhuaweicloud.eu"}
    assert iam_region(team_b) == "eu-west-101"
    team_b.regions = ["ap-southeast-1"]
    assert iam_region(team_b) == "ap-southeast-1"


def test_a_bad_region_to_ask_or_to_tick_is_a_form_error(client, admin, team_b):
    client.force_login(admin)
    answer = client.get(_regions(team_b), {"region": "../etc"})
    assert answer.status_code == 200 and answer.context["ask"].errors
    answer = client.post(_regions(team_b), {"regions": ["NOT A REGION"]})
    assert answer.status_code == 200 and answer.context["form"].errors
    team_b.refresh_from_db()
    assert team_b.regions == []


def test_the_first_accounts_regions_stay_the_setting(client, admin, simulator, settings):
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = ["cn-north-4"]
    first = CloudAccount.objects.environment()
    client.force_login(admin)
    page = client.get(_regions(first)).content.decode()
    assert "CLOUD_REGIONS" in page and "Save regions" not in page
    client.post(_regions(first), {"regions": ["ap-southeast-1"]})
    first.refresh_from_db()
    assert first.managed_regions == ["cn-north-4"] and first.regions == []


def test_the_admin_role_manages_accounts_without_being_a_superuser(client, team_b):
    client.force_login(_user("ops-admin", "Admin", is_staff=True))
    assert client.get(reverse("admin:peerlinks_cloudaccount_changelist")).status_code == 200
    assert client.get(_change(team_b)).status_code == 200
    assert client.get(ADD).status_code == 200


def test_rotating_the_encryption_keys_re_encrypts_an_accounts_credentials(admin, settings):
    import io

    from cryptography.fernet import Fernet

    from peerlinks.services.accounts import save_account

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    account = save_account(
        CloudAccount(name="team-b", access_key=TEAM_B_AK, secret_key=TEAM_B_SK), user=admin
    )
    stored = _raw("secret_key", account)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "peerlinks.CloudAccount: 2 re-encrypted" in out.getvalue()  # the AK and the SK
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key removed
    account = CloudAccount.objects.get(pk=account.pk)
    assert (account.access_key, account.secret_key) == (TEAM_B_AK, TEAM_B_SK)
    assert _raw("secret_key", account) != stored
