"""The flows a network engineer goes through, in a real browser, against the simulator and a real worker."""

import codecs
import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import poll_until
from tests.e2e.conftest import TIMEOUT_MS, request_link

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_approvals(transactional_db) -> None:
    """These flows are about carrying changes out; approving them is in test_approvals_flow."""
    from tests.conftest import set_policy

    set_policy(approvals_create=0, approvals_update=0, approvals_delete=0, window_enabled=False)


def _mark_page(page: Page) -> None:
    """A flag that survives htmx swaps but not a reload or a navigation."""
    page.evaluate("window.__e2eSamePage = true")


def _same_page(page: Page) -> bool:
    return page.evaluate("window.__e2eSamePage === true")


def test_engineer_logs_in_through_the_form_and_sees_the_synced_gateway(logged_in, cloud):
    page = logged_in
    page.get_by_role("link", name="Gateways").click()
    expect(page.get_by_text("gdgw-e2e").first).to_be_visible()
    page.get_by_role("link", name="Topology").click()
    expect(page.locator(f'[data-node="{cloud["gateway_id"]}"]')).to_be_attached()


def test_a_link_to_an_enterprise_router_turns_active_without_a_reload(logged_in, cloud, worker):
    page = logged_in
    request_link(page, cloud, router="er-e2e-ok", name="e2e-to-er", description="made by the browser test")
    _mark_page(page)
    state = page.locator("#change-state")
    expect(state.get_by_text("Done", exact=True)).to_be_visible()
    expect(state.locator(".badge.status-active")).to_be_visible()
    assert _same_page(page), "the change page reloaded instead of updating in place"

    state.get_by_role("link", name="e2e-to-er").click()
    expect(page.get_by_role("heading", name=re.compile("e2e-to-er"))).to_be_visible()
    expect(page.locator(".badge.status-active").first).to_have_text("Active")


def test_a_link_that_ends_in_error_shows_the_clouds_reason(logged_in, cloud, worker):
    page = logged_in
    request_link(page, cloud, router="er-e2e-doomed", name="e2e-doomed")
    # The router breaks after the worker sent the create, while the link is still PENDING_CREATE: the
    # cloud ends the link in ERROR with a reason (a router already broken is refused before sending).
    sim = cloud["simulator"].sim
    poll_until(
        lambda: any(link.name == "e2e-doomed" for link in list(sim.store.peer_links.values())),
        what="the worker to send the create",
        timeout=TIMEOUT_MS / 1000,
        interval=0.1,
    )
    sim.set_router_state(cloud["routers"]["er-e2e-doomed"], "failed")
    _mark_page(page)
    state = page.locator("#change-state")
    expect(state.get_by_text("Failed", exact=True)).to_be_visible()
    expect(state).to_contain_text("is failed, expected available")
    assert _same_page(page)

    state.get_by_role("link", name="e2e-doomed").click()
    expect(page.locator("#error-reason")).to_contain_text("er-e2e-doomed")
    expect(page.locator("#error-reason")).to_contain_text("is failed, expected available")


def test_renaming_a_link_goes_through_a_change_and_shows_the_new_name(
    logged_in, cloud, worker, make_active_link
):
    page = logged_in
    link_id = make_active_link("e2e-old-name", "er-e2e-ok")
    page.goto(f"/links/{link_id}/")
    page.get_by_role("link", name="Rename / describe").click()
    page.get_by_label("Name", exact=True).fill("e2e-new-name")
    page.get_by_label("Description").fill("renamed in the browser")
    page.get_by_role("button", name="Request the change").click()
    expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
    expect(page.locator("#change-state").get_by_text("Done", exact=True)).to_be_visible()

    page.goto(f"/links/{link_id}/")
    expect(page.get_by_role("heading", name=re.compile("e2e-new-name"))).to_be_visible()
    expect(page.get_by_text("renamed in the browser").first).to_be_visible()


def test_deleting_a_link_needs_its_exact_name_typed(logged_in, cloud, worker, make_active_link):
    page = logged_in
    link_id = make_active_link("e2e-goner", "er-e2e-3")
    page.goto(f"/links/{link_id}/")
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("main")).to_contain_text("er-e2e-3")  # shows what it connects
    confirm = page.get_by_label("Type the link's name to confirm")
    confirm.fill("e2e-gone")  # a typo
    page.get_by_role("button", name=re.compile("Request deletion")).click()
    expect(page.locator("#delete-form")).to_contain_text("type e2e-goner exactly")
    expect(page).to_have_url(re.compile(f"/links/{link_id}/delete/$"))

    page.get_by_label("Type the link's name to confirm").fill("e2e-goner")
    page.get_by_role("button", name=re.compile("Request deletion")).click()
    expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
    change_id = re.search(r"/changes/(\d+)/$", page.url).group(1)
    expect(page.locator("#change-state").get_by_text("Done", exact=True)).to_be_visible()

    page.goto(f"/links/{link_id}/")  # kept for its history, read as gone, its delete in its timeline
    expect(page.locator("#link-status")).to_have_text(re.compile(r"^Gone"))
    expect(page.locator("#timeline-gone")).to_contain_text(f"change #{change_id}")
    expect(page.get_by_text("Edit local fields")).to_have_count(0)

    page.goto("/links/")
    expect(page.locator("#peerlink-table")).not_to_contain_text("e2e-goner")


def test_filtering_the_list_and_exporting_the_filtered_set_as_csv(logged_in, cloud, make_active_link):
    page = logged_in
    make_active_link("e2e-alpha", "er-e2e-ok", description="first")
    make_active_link("e2e-beta", "er-e2e-3", description="second")
    page.goto("/links/")
    table = page.locator("#peerlink-table")
    expect(table).to_contain_text("e2e-alpha")
    expect(table).to_contain_text("e2e-beta")

    page.get_by_label("Search").fill("beta")
    expect(table).not_to_contain_text("e2e-alpha")
    expect(table).to_contain_text("e2e-beta")
    expect(page).to_have_url(re.compile(r"q=beta"))

    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("CSV", re.IGNORECASE)).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    raw = download.path().read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # so Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["name"] for row in rows] == ["e2e-beta"]
    assert rows[0]["status"] == "ACTIVE"
    assert rows[0]["peer_gateway_id"] == cloud["routers"]["er-e2e-3"]
    assert rows[0]["peer_name"] == "er-e2e-3"
