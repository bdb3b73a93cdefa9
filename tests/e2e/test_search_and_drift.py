"""The search box in the top bar, and acting on drift (adopt, revert) from the dashboard, in a browser."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/i10-search-{}.png"


def test_the_top_bar_search_finds_a_link_and_a_router_and_opens_the_link(logged_in, cloud, make_active_link):
    page = logged_in
    make_active_link("e2e-findme", "er-e2e-ok")
    page.goto("/links/")
    box = page.locator("#search-box")
    box.get_by_label("Find anything").fill("E2E-FINDME")
    box.get_by_label("Find anything").press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=E2E-FINDME"))
    expect(page.locator("#search-summary")).to_contain_text("Peer links (1)")
    expect(box.get_by_label("Find anything")).to_have_value("E2E-FINDME")
    page.screenshot(path=SHOTS.format("results"), full_page=True)

    # a router by part of its name: it leads to its links
    box.get_by_label("Find anything").fill("er-e2e-o")
    box.get_by_role("button", name="Find").click()
    routers = page.locator("#results-routers")
    expect(routers).to_contain_text("er-e2e-ok")
    routers.get_by_role("link", name="er-e2e-ok").click()
    expect(page.locator("#peerlink-table")).to_contain_text("e2e-findme")

    page.goto("/search/?q=nothing-like-it")
    expect(page.locator("#search-summary")).to_have_text(re.compile("Nothing matches"))
    page.goto("/search/?q=findme")
    page.locator("#results-links").get_by_role("link", name="e2e-findme").click()
    expect(page.get_by_role("heading", name=re.compile("e2e-findme"))).to_be_visible()

    page.goto("/search/?q=e2e")
    _no_sideways_scroll_at_360(page, "results")


def _no_sideways_scroll_at_360(page, name: str) -> None:
    """At 360 px wide the page does not scroll sideways (a screenshot is kept); then back to desktop."""
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=SHOTS.format(f"{name}-360"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 720})
    assert width <= 360, f"the {name} page scrolls sideways at 360 px ({width} px wide)"


def test_drift_is_adopted_and_reverted_from_the_dashboard(logged_in, cloud, make_active_link):
    page = logged_in
    make_active_link("e2e-adopt-me", "er-e2e-ok")
    make_active_link("e2e-revert-me", "er-e2e-3")
    page.goto("/")
    drift = page.locator("#drift")
    expect(drift).to_contain_text("e2e-adopt-me")
    page.screenshot(path=SHOTS.format("drift"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    drift.screenshot(path=SHOTS.format("drift-360"))
    page.set_viewport_size({"width": 1280, "height": 720})

    row = drift.locator("tr", has_text="e2e-adopt-me")
    row.get_by_role("link", name="Adopt", exact=True).click()
    expect(page.get_by_role("heading", name="Adopt e2e-adopt-me")).to_be_visible()
    expect(page.get_by_label("Owner team")).to_have_attribute("required", "")
    page.screenshot(path=SHOTS.format("adopt"), full_page=True)
    _no_sideways_scroll_at_360(page, "adopt")
    page.get_by_label("Owner team").fill("e2e-netops")
    page.get_by_label("Ticket reference").fill("CHG-7")
    page.get_by_role("button", name="Adopt the link").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".messages")).to_contain_text("e2e-adopt-me adopted")
    expect(drift).not_to_contain_text("e2e-adopt-me")

    row = drift.locator("tr", has_text="e2e-revert-me")
    row.get_by_role("link", name="Revert", exact=True).click()
    expect(page.get_by_text("Ask to delete e2e-revert-me")).to_be_visible()
    _no_sideways_scroll_at_360(page, "revert")
    page.get_by_role("button", name="Request the change").click()
    expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
    expect(page.locator("#reverts-drift")).to_contain_text("created outside dcportal")
    expect(page.locator("#change-state")).to_contain_text("Pending approval")

    # the owner is a column and a filter of the list, typed or clicked, kept in the URL
    page.goto("/links/")
    table = page.locator("#peerlink-table")
    expect(table).to_contain_text("e2e-revert-me")
    page.locator("#peerlink-filters").get_by_label("Owner team").fill("E2E-NETOPS")
    expect(table).not_to_contain_text("e2e-revert-me")
    expect(table).to_contain_text("e2e-adopt-me")
    expect(page).to_have_url(re.compile(r"owner=E2E-NETOPS"))
    page.goto("/links/")
    table.get_by_role("link", name="e2e-netops").click()
    expect(page).to_have_url(re.compile(r"/links/\?owner=e2e-netops$"))
    expect(table).not_to_contain_text("e2e-revert-me")
    page.screenshot(path=SHOTS.format("list"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=SHOTS.format("list-360"), full_page=True)


def test_search_and_revert_work_without_javascript(
    browser, live_server, cloud, make_active_link, engineer_login
):
    from tests.e2e.conftest import PASSWORD

    make_active_link("e2e-nojs", "er-e2e-ok")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        page.get_by_label("Username").fill(engineer_login)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.locator("#search-box").get_by_label("Find anything").fill("nojs")
        page.locator("#search-box").get_by_role("button", name="Find").click()
        expect(page.locator("#results-links")).to_contain_text("e2e-nojs")

        page.goto("/")
        page.locator("#drift tr", has_text="e2e-nojs").get_by_role("link", name="Revert", exact=True).click()
        page.get_by_role("button", name="Request the change").click()
        expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
        expect(page.locator("#reverts-drift")).to_be_visible()
    finally:
        context.close()
