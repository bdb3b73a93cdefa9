"""Single sign-on in a browser, through a real OpenID Connect provider's own pages (tests/oidc_provider)."""

import re

import pytest
from playwright.sync_api import expect

from dcportal.settings import form_action_with_idp
from tests.e2e.test_accessibility import _serious
from tests.oidc_provider import CLIENT_SECRET, identity_provider

pytestmark = pytest.mark.e2e

PEOPLE = {
    "alice": {"email": "alice@corp.example", "name": "Alice Approver", "groups": ["net-approvers", "staff"]},
    "victor": {"email": "victor@corp.example", "name": "Victor Viewer", "groups": ["net-readers"]},
    "bea": {"email": "bea@corp.example", "name": "Bea Engineer", "groups": ["dcportal-engineer-team-b"]},
}


@pytest.fixture(scope="module")
def idp(live_server):
    with identity_provider(site_url=live_server.url, users=PEOPLE) as provider:
        yield provider


@pytest.fixture
def sso(idp, settings, transactional_db):
    for name, value in idp.settings().items():
        setattr(settings, name, value)
    settings.OIDC_ROLE_GROUPS = {"net-approvers": "Approver", "net-readers": "Viewer"}
    policy = settings.CONTENT_SECURITY_POLICY
    directives = {**policy["DIRECTIVES"], "form-action": form_action_with_idp(idp.issuer)}
    settings.CONTENT_SECURITY_POLICY = {**policy, "DIRECTIVES": directives}
    return idp


def _log_in_at_idp(page, login: str) -> None:
    page.get_by_role("link", name="Log in with single sign-on").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/interaction/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def test_sso_login_gives_the_idp_groups_role_and_logout_ends_the_idp_session(page, sso, live_server, caplog):
    from django.contrib.auth import get_user_model

    caplog.set_level("DEBUG")

    page.goto("/approvals/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/approvals/$"))
    page.screenshot(path="/tmp/i11-sso-login.png")
    assert _serious(page) == []  # the login page with its SSO button passes axe's WCAG 2.1 AA checks
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path="/tmp/i11-sso-login-phone.png")
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in_at_idp(page, "alice")
    # Back on the page asked for, as an approver: the approvals queue.
    expect(page).to_have_url(f"{live_server.url}/approvals/")
    assert CLIENT_SECRET not in page.content()
    expect(page.locator("h1")).to_have_text("Waiting for your decision")
    expect(page.locator(".whoami")).to_have_text("alice")
    alice = get_user_model().objects.get(username="alice")
    assert [group.name for group in alice.groups.all()] == ["Approver"]
    assert alice.email == "alice@corp.example" and not alice.has_usable_password()
    # An approver is not an admin: the approval policy is not theirs to edit.
    page.goto("/admin/peerlinks/approvalpolicy/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))

    # Logging out goes through the IdP, which ends its session and sends the browser back to log in.
    page.goto("/")
    page.locator("#account summary").click()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")

    # The IdP asks who is logging in again (its session ended): a viewer now, refused the create form.
    _log_in_at_idp(page, "victor")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(".whoami")).to_have_text("victor")
    response = page.goto("/links/new/")
    assert response.status == 403
    page.screenshot(path="/tmp/i11-sso-403.png")
    assert CLIENT_SECRET not in caplog.text  # the code exchange sent it; no log line shows it


def test_an_idp_group_for_one_account_gives_that_role_and_the_session_holds_with_passwords_off(
    page, sso, settings, live_server
):
    from django.contrib.auth import get_user_model

    from peerlinks.models import AccountRole, CloudAccount

    team_b = CloudAccount.objects.create(name="team-b", regions=["cn-north-4"])
    settings.LOCAL_LOGIN = False
    page.goto("/")
    _log_in_at_idp(page, "bea")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(".whoami")).to_have_text("bea")
    bea = get_user_model().objects.get(username="bea")
    assert list(AccountRole.objects.filter(user=bea).values_list("account", "role", "from_idp")) == [
        (team_b.pk, "Engineer", True)
    ]
    assert list(bea.groups.all()) == []
    # An engineer for team-b: the create form is theirs; the session opened through the IdP holds while
    # password sessions end.
    assert page.goto("/links/new/").status == 200
    assert page.goto("/changes/").status == 200
    expect(page.locator(".whoami")).to_have_text("bea")
