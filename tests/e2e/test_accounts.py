"""Several cloud accounts as a person sees them: the link list filtered by account in the browser."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_link_list_filters_by_account_and_the_export_keeps_it(
    live_server, carry_two_accounts, logged_in: Page
):
    page = logged_in
    page.goto("/links/")
    rows = page.locator("#peerlink-rows tr")
    expect(rows).to_have_count(2)
    page.locator("#peerlink-filters select[name=account]").select_option("team-b")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("pl-teamb")
    expect(rows.first).to_contain_text("team-b")
    expect(page).to_have_url(re.compile(r"/links/\?.*account=team-b"))
    export = page.get_by_role("link", name="Export CSV")
    expect(export).to_have_attribute("href", re.compile(r"^/links/export\.csv\?.*account=team-b"))
    # the account in a row filters the list by it too
    page.goto("/links/")
    page.locator("#peerlink-rows").get_by_role("link", name="first-account").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("pl-first")
