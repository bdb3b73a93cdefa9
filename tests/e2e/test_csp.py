"""The Content Security Policy in a real browser: every page works without a single violation."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import make_gateway, make_peer_link, make_router
from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lead_login(transactional_db) -> str:
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user = get_user_model().objects.create_user("e2e-lead", password=PASSWORD)
    user.groups.set([ensure_role("Engineer"), ensure_role("Approver")])
    return user.username


def test_pages_show_no_csp_violation_and_htmx_still_works(page, lead_login):
    router = make_router(name="er-csp")
    gateway = make_gateway(name="gw-csp")
    link = make_peer_link(name="csp-link", peer_gateway_id=router.cloud_id, gateway=gateway)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
            else None
        ),
    )

    page.goto("/login/")
    page.get_by_label("Username").fill(lead_login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(lead_login, exact=True)).to_be_visible()
    for path in (
        "/",
        "/links/",
        f"/links/{link.cloud_id}/",
        "/links/new/",
        "/gateways/",
        f"/gateways/{link.gateway.cloud_id}/",
        "/topology/",
        "/changes/",
        "/approvals/",
        "/lead/",
        "/notices/",
        "/audit/",
    ):
        response = page.goto(path)  # returns once the page and its script and style have loaded
        assert response.status == 200, path
        assert page.evaluate("typeof htmx") == "object", path

    # htmx's own indicator style is allowed by its hash, so it is in the page.
    assert page.evaluate("[...document.querySelectorAll('style')].some(s => s.textContent.includes('htmx'))")
    # Stylesheet rules apply (no inline style needed): the topology legend is a flex row.
    page.goto("/topology/")
    assert page.evaluate("getComputedStyle(document.querySelector('.topo-legend')).display") == "flex"
    # An htmx request (the filter on the list) goes through with the CSRF header and swaps the table.
    page.goto("/links/")
    page.get_by_label("Search").fill("csp-link")
    # Not "networkidle": every page polls /live/, so the network is never idle for long.
    expect(page).to_have_url(re.compile(r"[?&]q=csp-link"))
    expect(page.locator("#peerlink-table").get_by_text("csp-link")).to_be_visible()
    assert violations == []
