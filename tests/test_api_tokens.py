"""Personal API tokens: the page that makes (shown once), lists and revokes them, and what a token may do:
never more than its owner holds now, read-only tokens never write, revoked and expired ones open nothing."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from peerlinks.models import ApiToken, AuditEvent, ChangeRequest, CloudAccount, CloudProject
from tests.api_support import get, linkable, post, token_for
from tests.conftest import _user, make_gateway, make_router


@pytest.mark.django_db
def test_a_token_is_shown_once_and_kept_only_as_its_hash(client, engineer):
    client.force_login(engineer)
    response = client.post(
        "/account/api-tokens/", {"name": "ci pipeline", "scope": "read_write", "days": "30"}
    )
    assert response.status_code == 200
    secret = response.context["new"].secret
    assert secret in response.content.decode()
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str([getattr(token, f.attname) for f in ApiToken._meta.fields])
    assert token.prefix == secret[:12] and token.scope == "read_write"
    again = client.get("/account/api-tokens/")
    assert secret not in again.content.decode() and token.prefix in again.content.decode()
    assert "no-store" in again["Cache-Control"]
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor == engineer and secret not in str(event.after)


@pytest.mark.django_db
def test_the_account_menu_links_to_ones_tokens(client, viewer):
    client.force_login(viewer)
    assert 'href="/account/api-tokens/"' in client.get("/").content.decode()


@pytest.mark.django_db
def test_a_revoked_token_stops_working_at_once_and_is_audited(client, engineer):
    secret = token_for(engineer)
    assert get(client, "/api/v1/links", secret).status_code == 200
    client.force_login(engineer)
    token = ApiToken.objects.get()
    response = client.post(f"/account/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    client.logout()
    answer = get(client, "/api/v1/links", secret)
    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.filter(action="api_token.revoked", actor=engineer).count() == 1


@pytest.mark.django_db
def test_nobody_revokes_someone_elses_token(client, engineer, viewer):
    token_for(engineer)
    client.force_login(viewer)
    assert client.post(f"/account/api-tokens/{ApiToken.objects.get().pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


@pytest.mark.django_db
def test_a_bad_form_answers_400_with_the_errors(client, engineer):
    client.force_login(engineer)
    response = client.post("/account/api-tokens/", {"name": "", "scope": "admin", "days": "5"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_using_a_token_stamps_its_last_use(client, viewer):
    secret = token_for(viewer, scope="read_only")
    get(client, "/api/v1/links", secret)
    assert ApiToken.objects.get().last_used_at is not None


# --- The permission matrix ----------------------------------------------------------------------

READ = ("GET", "/api/v1/links")
SUBMIT = ("POST", "/api/v1/links")


@pytest.mark.parametrize(
    "role, scope, call, status",
    [
        ("Viewer", "read_only", READ, 200),
        ("Viewer", "read_write", READ, 200),
        ("Viewer", "read_write", SUBMIT, 403),
        ("Engineer", "read_only", SUBMIT, 403),
        ("Engineer", "read_write", SUBMIT, 201),
        ("Approver", "read_only", READ, 200),
        ("Approver", "read_write", SUBMIT, 201),
        (None, "read_write", READ, 403),
        (None, "read_write", SUBMIT, 403),
    ],
)
@pytest.mark.django_db
def test_a_token_does_what_its_owners_role_and_its_scope_allow(client, role, scope, call, status):
    user = _user("someone", *([role] if role else []))
    secret = token_for(user, scope=scope)
    method, path = call
    response = get(client, path, secret) if method == "GET" else post(client, path, linkable(), secret)
    assert response.status_code == status, response.content
    if status >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == status


@pytest.mark.django_db
def test_a_token_follows_its_owners_role_as_it_is_now(client, engineer):
    from peerlinks.permissions import ensure_role

    secret = token_for(engineer)
    engineer.groups.set([ensure_role("Viewer")])
    assert post(client, "/api/v1/links", linkable(), secret).status_code == 403
    engineer.is_active = False
    engineer.save()
    assert get(client, "/api/v1/links", secret).status_code == 401


@pytest.mark.django_db
def test_expired_revoked_and_made_up_tokens_open_nothing(client, engineer):
    expired = token_for(engineer)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = token_for(engineer)
    ApiToken.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).update(
        revoked_at=timezone.now()
    )
    for secret in (expired, revoked, "dcp_made-up", "not-even-a-token"):
        response = get(client, "/api/v1/links", secret)
        assert response.status_code == 401, secret
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert get(client, "/api/v1/links").status_code == 401  # nothing at all


@pytest.mark.django_db
def test_a_role_for_one_account_acts_in_that_account_only(client):
    from peerlinks.models import AccountRole

    in_main = linkable()
    team_b = CloudAccount.objects.create(name="team-b", regions=["cn-north-4"])
    project_b = CloudProject.objects.create(account=team_b, region="cn-north-4", project_id="b" * 32)
    user = _user("team-b-engineer")
    AccountRole.objects.create(user=user, account=team_b, role="Engineer")
    secret = token_for(user)
    elsewhere = post(client, "/api/v1/links", in_main, secret)
    assert elsewhere.status_code == 403, elsewhere.content
    gateway = make_gateway(project=project_b)
    router = make_router(project=project_b)
    body = {
        "gateway_id": gateway.cloud_id,
        "peer_type": "ER",
        "peer_id": router.cloud_id,
        "peer_region": "cn-north-4",
        "name": "team-b-link",
    }
    mine = post(client, "/api/v1/links", body, secret)
    assert mine.status_code == 201, mine.content
    assert mine.json()["account"] == "team-b"
    assert ChangeRequest.objects.get().requested_by == user


@pytest.mark.django_db
def test_past_the_rate_limit_a_token_gets_429_with_retry_after(client, viewer, settings):
    settings.API_RATE_LIMIT = 3
    secret = token_for(viewer, scope="read_only")
    statuses = [get(client, "/api/v1/gateways", secret).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = get(client, "/api/v1/gateways", secret)
    assert limited["Content-Type"] == "application/problem+json"
    assert 1 <= int(limited["Retry-After"]) <= 60
    other = token_for(viewer, scope="read_only")
    assert get(client, "/api/v1/gateways", other).status_code == 200  # the limit is per token


@pytest.mark.django_db
def test_the_browser_session_works_and_needs_csrf_to_write(engineer):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(engineer)
    assert browser.get("/api/v1/links").status_code == 200
    refused = post(browser, "/api/v1/links", linkable())
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("csrf-failed")
    browser.get("/account/api-tokens/")
    csrf = browser.cookies["csrftoken"].value
    import json

    allowed = browser.post(
        "/api/v1/links", json.dumps(linkable()), content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert allowed.status_code == 201, allowed.content


@pytest.mark.django_db
def test_answers_to_a_token_stay_out_of_every_cache(client, viewer):
    response = get(client, "/api/v1/links", token_for(viewer, scope="read_only"))
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_error_reports_never_show_the_authorization_header(rf):
    from dcportal.error_reports import CredentialsHiddenFilter

    request = rf.get("/api/v1/links", HTTP_AUTHORIZATION="Bearer dcp_secret-value")
    meta = CredentialsHiddenFilter().get_safe_request_meta(request)
    assert "dcp_secret-value" not in str(meta["HTTP_AUTHORIZATION"])


@pytest.mark.django_db
def test_a_token_sent_under_another_scheme_is_refused_and_never_logged(client, viewer, settings, caplog):
    settings.DEBUG = True
    secret = token_for(viewer, scope="read_only")
    with caplog.at_level("DEBUG"):
        response = client.get("/api/v1/links", HTTP_AUTHORIZATION=f"Token {secret}")
    assert response.status_code == 401
    assert secret not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("limited", [True, False])
def test_with_reading_limited_to_own_accounts_a_token_reads_only_its_owners_accounts(
    client, settings, two_accounts, limited
):
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = limited
    secret = token_for(two_accounts["b_engineer"], scope="read_only")
    names = {item["name"] for item in get(client, "/api/v1/links", secret).json()["items"]}
    first_link = two_accounts["link_a"].cloud_id
    first_gateway = two_accounts["gateway_a"].cloud_id
    if limited:
        assert names == {"link-b"}
        assert get(client, f"/api/v1/links/{first_link}", secret).status_code == 404
        assert get(client, f"/api/v1/gateways/{first_gateway}", secret).status_code == 404
        gateways = get(client, "/api/v1/gateways", secret).json()["items"]
        assert {gateway["name"] for gateway in gateways} == {"gw-b"}
    else:
        assert names == {"link-a", "link-b"}
        assert get(client, f"/api/v1/links/{first_link}", secret).status_code == 200


@pytest.mark.django_db
def test_lists_filter_by_account_name_and_an_unknown_account_is_a_422(client, two_accounts):
    secret = token_for(two_accounts["a_approver"], scope="read_only")
    links = get(client, "/api/v1/links?account=team-b", secret).json()["items"]
    assert {link["name"] for link in links} == {"link-b"}
    for path in ("/api/v1/links", "/api/v1/changes", "/api/v1/audit-events"):
        answer = get(client, f"{path}?account=no-such-account", secret)
        assert answer.status_code == 422, path
        assert answer["Content-Type"] == "application/problem+json"
