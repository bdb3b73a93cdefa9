"""Single sign-on without a browser: what IdP groups make a person, password login switched off, the
round trip's first step (PKCE) and the IdP logout address, and the client secret kept out of error pages.
The whole login through a real identity provider is tests/e2e/test_sso.py."""

import socket
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.checks import run_checks
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from peerlinks.authentication import IdentityProviderBackend
from peerlinks.models import AuditEvent
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

IDP = "https://idp.corp.example"
CLIENT_SECRET = "oidc-client-secret-never-shown-8f2c"


@pytest.fixture
def sso(settings):
    settings.OIDC_RP_CLIENT_ID = "dcportal"
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{IDP}/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{IDP}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{IDP}/me"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{IDP}/jwks"
    settings.OIDC_OP_LOGOUT_ENDPOINT = f"{IDP}/session/end"
    settings.OIDC_ROLE_GROUPS = {
        "net-viewers": "Viewer",
        "net-engineers": "Engineer",
        "net-approvers": "Approver",
        "net-admins": "Admin",
    }
    return settings


def _login(claims: dict):
    """What a login through the IdP does with its claims: find or create the person, then update them."""
    backend = IdentityProviderBackend()
    users = backend.filter_users_by_claims(claims)
    return backend.update_user(users[0], claims) if users else backend.create_user(claims)


def _roles(user) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def test_idp_groups_give_their_roles_and_a_removed_group_is_taken_away_at_the_next_login(sso):
    claims = {"sub": "s-1", "preferred_username": "maria", "email": "maria@corp.example", "name": "Maria"}
    maria = _login({**claims, "groups": ["net-approvers", "net-engineers", "unrelated"]})
    assert (maria.username, maria.email, maria.first_name) == ("maria", "maria@corp.example", "Maria")
    assert _roles(maria) == ["Approver", "Engineer"]
    assert not maria.has_usable_password() and not maria.is_staff
    assert maria.has_perm("peerlinks.approve_change")

    maria = _login({**claims, "groups": ["net-viewers"]})
    assert _roles(maria) == ["Viewer"]
    maria = type(maria).objects.get(pk=maria.pk)  # permissions as the next request sees them
    assert not maria.has_perm("peerlinks.approve_change")
    assert maria.has_perm("peerlinks.view_peerlink")

    events = AuditEvent.objects.filter(action="user.roles_from_idp", object_id=str(maria.pk)).order_by("pk")
    assert [(e.before, e.after) for e in events] == [
        ({"roles": [], "account_roles": []}, {"roles": ["Approver", "Engineer"], "account_roles": []}),
        (
            {"roles": ["Approver", "Engineer"], "account_roles": []},
            {"roles": ["Viewer"], "account_roles": []},
        ),
    ]
    assert events[0].actor_name == "single sign-on"
    _login({**claims, "groups": ["net-viewers"]})
    assert AuditEvent.objects.filter(action="user.roles_from_idp").count() == 2  # nothing changed: no event


def test_the_idp_admin_group_opens_the_django_admin_and_losing_it_closes_it(sso):
    other = Group.objects.create(name="on-call")
    claims = {"sub": "s-2", "preferred_username": "root-ops", "groups": ["net-admins"]}
    ops = _login(claims)
    ops.groups.add(other)
    assert ops.is_staff and _roles(ops) == ["Admin", "on-call"]

    ops = _login({**claims, "groups": "net-viewers"})  # one group as a string is still a group
    assert not ops.is_staff and not ops.is_superuser
    assert _roles(ops) == ["Viewer", "on-call"]  # groups that are not roles are left alone


def test_a_person_with_no_mapped_group_logs_in_with_no_role_and_is_refused_pages(sso, client):
    nobody = _login({"sub": "s-3", "preferred_username": "nobody", "groups": ["marketing"]})
    assert _roles(nobody) == []
    client.force_login(nobody)
    assert client.get("/links/").status_code == 403


def test_a_role_mapping_naming_no_role_is_a_startup_error(settings):
    settings.OIDC_ROLE_GROUPS = {"net-admins": "Superuser"}
    errors = [message for message in run_checks() if message.id == "dcportal.E010"]
    assert len(errors) == 1 and "'Superuser'" in errors[0].msg
    settings.OIDC_ROLE_GROUPS = ["Admin"]
    assert [m.id for m in run_checks() if m.id == "dcportal.E010"] == ["dcportal.E010"]


def test_the_login_page_offers_single_sign_on_first_then_the_password(sso, client):
    html = client.get("/login/?next=/approvals/").content.decode()
    assert 'href="/oidc/authenticate/?next=/approvals/"' in html
    assert html.index("Log in with single sign-on") < html.index('name="password"')
    sso.OIDC_PROVIDER_NAME = "Corp SSO"
    assert "Log in with Corp SSO" in client.get("/login/").content.decode()


def test_without_an_idp_the_login_page_has_only_the_password_and_no_sso_address(client):
    html = client.get("/login/").content.decode()
    assert "single sign-on" not in html and 'name="password"' in html
    assert client.get("/oidc/authenticate/").status_code == 404


def test_a_failed_round_trip_says_so_on_the_login_page(sso, client):
    html = client.get("/login/?sso=failed").content.decode()
    assert "Single sign-on did not complete" in html


def test_with_local_login_off_no_password_logs_in_on_the_login_page_or_the_admins(sso, client, admin):
    sso.LOCAL_LOGIN = False
    page = client.get("/login/")
    assert 'name="password"' not in page.content.decode()
    assert "Log in with single sign-on" in page.content.decode()

    response = client.post("/login/", {"username": admin.username, "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "Password login is switched off" in response.content.decode()
    response = client.post("/admin/login/", {"username": admin.username, "password": TEST_PASSWORD})
    assert response.status_code == 200  # the admin's login form again, with its error
    assert client.get("/").status_code == 302  # nobody logged in

    sso.LOCAL_LOGIN = True  # the break-glass admin
    response = client.post("/login/", {"username": admin.username, "password": TEST_PASSWORD})
    assert response.status_code == 302 and client.get("/").status_code == 200


def test_sso_login_starts_the_code_flow_with_a_pkce_challenge_and_no_secret_in_the_address(sso, client):
    response = client.get("/oidc/authenticate/?next=/approvals/")
    assert response.status_code == 302
    address = urlsplit(response["Location"])
    query = parse_qs(address.query)
    assert f"{address.scheme}://{address.netloc}{address.path}" == f"{IDP}/auth"
    assert query["response_type"] == ["code"] and query["client_id"] == ["dcportal"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]
    assert CLIENT_SECRET not in response["Location"]


def test_logout_after_sso_ends_the_idp_session_and_after_a_password_only_dcportals(sso, client, engineer):
    client.force_login(engineer)
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"

    client.force_login(engineer)
    session = client.session
    session["oidc_id_token"] = "the.id.token"
    session.save()
    response = client.post("/logout/")
    address = urlsplit(response["Location"])
    query = parse_qs(address.query)
    assert f"{address.scheme}://{address.netloc}{address.path}" == f"{IDP}/session/end"
    assert query["id_token_hint"] == ["the.id.token"]
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/"]
    assert client.get("/").status_code == 302  # logged out of dcportal too


def test_the_debug_error_page_never_shows_the_idp_client_secret(sso):
    sso.DEBUG = True
    request = RequestFactory().get("/")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert "OIDC_RP_CLIENT_SECRET" in html
    assert CLIENT_SECRET not in html


def test_an_idp_that_does_not_answer_the_code_exchange_sends_back_to_the_login_page_not_a_500(sso, client):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        sso.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{closed.getsockname()[1]}/token"  # nothing listens
    state = parse_qs(urlsplit(client.get("/oidc/authenticate/")["Location"]).query)["state"][0]
    response = client.get(f"/oidc/callback/?code=some-code&state={state}")
    assert response.status_code == 302 and response["Location"] == "/login/?sso=failed"
    assert client.get("/").status_code == 302  # not logged in


def test_a_callback_with_a_state_this_browser_never_sent_is_refused_not_a_500(sso, client):
    client.get("/oidc/authenticate/")
    assert client.get("/oidc/callback/?code=some-code&state=forged").status_code == 400


def test_an_idp_identity_never_takes_over_a_local_account_of_the_same_name(sso, admin):
    from django.core.exceptions import SuspiciousOperation

    with pytest.raises(SuspiciousOperation):
        _login({"sub": "s-4", "preferred_username": admin.username, "groups": ["net-viewers"]})  # refused
    admin.refresh_from_db()
    assert admin.is_superuser and _roles(admin) == ["Admin"]  # the break-glass admin is untouched

    admin.set_unusable_password()  # moved to single sign-on by an admin
    admin.save()
    claims = {"sub": "s-4", "preferred_username": admin.username, "groups": ["net-viewers"]}
    assert _roles(_login(claims)) == ["Viewer"]


def test_the_site_refuses_to_start_with_password_login_off_and_no_idp_or_a_role_map_that_is_not_json():
    from tests.test_settings import run_check

    result = run_check(LOCAL_LOGIN="off")
    assert result.returncode != 0 and "nobody could log in" in result.stderr
    result = run_check(OIDC_ROLE_GROUPS="net-admins=Admin")
    assert result.returncode != 0 and "OIDC_ROLE_GROUPS must be JSON" in result.stderr
    idp = {"OIDC_CLIENT_ID": "dcportal", "OIDC_AUTHORIZATION_ENDPOINT": f"{IDP}/auth"}
    assert run_check(LOCAL_LOGIN="off", **idp).returncode == 0


# --- Roles for one account, from IdP groups named dcportal-<role>-<account> --------------------------


@pytest.fixture
def team_b(db):
    from peerlinks.models import CloudAccount

    return CloudAccount.objects.create(name="team-b", regions=["cn-north-4"])


def _account_roles(user) -> list[tuple[str, str, bool]]:
    from peerlinks.models import AccountRole

    rows = AccountRole.objects.filter(user=user).order_by("account__name", "role")
    return [(row.role, row.account.name, row.from_idp) for row in rows]


def test_idp_groups_per_account_give_roles_for_that_account_only_and_follow_the_idp(sso, team_b):
    from peerlinks.models import CloudAccount

    first = CloudAccount.objects.environment()
    claims = {"sub": "s-acc", "preferred_username": "lena"}
    lena = _login({**claims, "groups": ["dcportal-approver-team-b", f"dcportal-engineer-{first.name}"]})
    assert _roles(lena) == []  # no role for every account
    assert _account_roles(lena) == [("Engineer", first.name, True), ("Approver", "team-b", True)]
    assert lena.has_perm("peerlinks.approve_change", team_b)
    assert not lena.has_perm("peerlinks.approve_change", first)

    lena = _login({**claims, "groups": ["dcportal-viewer-team-b"]})
    assert _account_roles(lena) == [("Viewer", "team-b", True)]
    lena = type(lena).objects.get(pk=lena.pk)
    assert not lena.has_perm("peerlinks.approve_change", team_b)

    events = AuditEvent.objects.filter(action="user.roles_from_idp", object_id=str(lena.pk)).order_by("pk")
    assert [(e.before["account_roles"], e.after["account_roles"]) for e in events] == [
        ([], ["Approver@team-b", f"Engineer@{first.name}"]),
        (["Approver@team-b", f"Engineer@{first.name}"], ["Viewer@team-b"]),
    ]
    _login({**claims, "groups": ["dcportal-viewer-team-b"]})
    assert events.count() == 2  # nothing changed: no event


def test_a_role_for_one_account_an_admin_gave_is_left_alone_by_sso(sso, team_b):
    from django.contrib.auth import get_user_model

    from peerlinks.models import AccountRole

    omar = get_user_model().objects.create_user("omar")
    omar.set_unusable_password()
    omar.save()
    AccountRole.objects.create(user=omar, account=team_b, role="Engineer")
    claims = {"sub": "s-omar", "preferred_username": "omar"}
    omar = _login({**claims, "groups": ["dcportal-engineer-team-b", "dcportal-viewer-team-b"]})
    assert _account_roles(omar) == [("Engineer", "team-b", False), ("Viewer", "team-b", True)]
    omar = _login({**claims, "groups": []})
    assert _account_roles(omar) == [("Engineer", "team-b", False)]


def test_a_group_naming_an_unknown_account_or_role_gives_nothing(sso, team_b, caplog):
    import logging

    claims = {"sub": "s-x", "preferred_username": "xavi"}
    with caplog.at_level(logging.INFO, logger="peerlinks.services.sso"):
        xavi = _login(
            {**claims, "groups": ["dcportal-approver-team-z", "dcportal-owner-team-b", "dcportal-x"]}
        )
    assert _account_roles(xavi) == [] and _roles(xavi) == []
    assert "dcportal-approver-team-z names no known cloud account" in caplog.text


def test_the_account_group_prefix_is_a_setting(sso, team_b):
    sso.OIDC_ACCOUNT_GROUP_PREFIX = "corp-net-"
    claims = {"sub": "s-p", "preferred_username": "pia"}
    pia = _login({**claims, "groups": ["corp-net-engineer-team-b", "dcportal-approver-team-b"]})
    assert _account_roles(pia) == [("Engineer", "team-b", True)]


def test_with_local_login_switched_off_a_password_session_ends_at_its_next_request(sso, client, admin):
    response = client.post("/login/", {"username": admin.username, "password": TEST_PASSWORD})
    assert response.status_code == 302  # logged in with a password while LOCAL_LOGIN is on
    assert client.get("/").status_code == 200
    sso.LOCAL_LOGIN = False
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # it stays ended


def test_with_local_login_switched_off_a_session_opened_through_the_idp_goes_on(sso, client, engineer):
    from peerlinks.authentication import IDP_BACKEND

    sso.LOCAL_LOGIN = False
    client.force_login(engineer, backend=IDP_BACKEND)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200
