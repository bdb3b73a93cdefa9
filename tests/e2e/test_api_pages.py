"""The HTTP API's pages in a real browser: the interactive docs draw the schema under the CSP (ninja's own
files, no CDN, no violation) and try an operation with the session; a person makes and revokes a token."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def engineer_login(transactional_db) -> str:
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user = get_user_model().objects.create_user("e2e-api", password=PASSWORD)
    user.groups.set([ensure_role("Engineer")])
    return user.username


def _log_in(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(username, exact=True)).to_be_visible()


def test_the_docs_draw_the_schema_under_the_csp_and_call_the_api(page, engineer_login, live_server):
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    _log_in(page, engineer_login)
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("dcportal")
    operation = page.locator("#operations-links-list_links")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table .response .response-col_status")).to_contain_text("200")
    assert violations == []
    assert all(url.startswith(live_server.url) for url in requested), requested


def test_a_person_makes_a_token_sees_it_once_and_revokes_it(page, engineer_login):
    _log_in(page, engineer_login)
    page.locator("#account summary").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("Scope").select_option("read_only")
    page.get_by_role("button", name="Make the token").click()
    secret = page.locator("#new-token-secret").inner_text()
    assert re.fullmatch(r"dcp_[\w-]{40,}", secret)
    answer = page.request.get("/api/v1/links", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status == 200
    page.goto("/account/api-tokens/")  # the secret is in no session or cache: only that one answer had it
    expect(page.locator("#new-token-secret")).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#api-tokens")).to_contain_text("revoked")
    refused = page.request.get("/api/v1/links", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
