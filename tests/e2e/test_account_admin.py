"""An admin adds a second cloud account in a real browser: from the top bar's Admin link to the account's
form, its regions discovered through the simulator's IAM, ticked, and its gateway on the Gateways page once
the worker has synced it; the keys typed are never in a page again."""

import pytest
from playwright.sync_api import expect

from dcsim import TEAM_B_AK, TEAM_B_DOMAIN, TEAM_B_SK
from tests.e2e.conftest import REGION, person

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_an_account_ticks_its_region_and_sees_its_gateway(login_as, cloud, worker):
    cloud["simulator"].sim.add_gateway(name="gdgw-e2e-team-b", region=REGION, account=TEAM_B_DOMAIN)
    page = login_as(person("e2e-admin", "Admin", is_staff=True))

    page.locator(".whoami").click()  # the account menu holds the Admin link
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("link", name="Cloud accounts").click()
    page.get_by_role("link", name="Add cloud account").click()
    page.get_by_role("textbox", name="Name:", exact=True).fill("team-b")
    page.get_by_label("Access key ID (AK)").fill(TEAM_B_AK)
    page.get_by_label("Secret access key (SK)").fill(TEAM_B_SK)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", name="Regions of team-b")).to_be_visible()
    expect(page.get_by_text("The account team-b was added.")).to_be_visible()
    page.get_by_label(REGION, exact=True).check()
    page.get_by_role("button", name="Save regions").click()
    expect(page.get_by_text("Regions saved.")).to_be_visible()
    expect(page.get_by_text("•••• set").first).to_be_visible()
    assert page.get_by_label("Secret access key (SK)").input_value() == ""
    html = page.content()
    assert TEAM_B_SK not in html and TEAM_B_AK not in html

    page.goto("/gateways/")
    for _ in range(30):  # the worker runs the sync the save queued
        if page.get_by_text("gdgw-e2e-team-b").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.get_by_text("gdgw-e2e-team-b").first).to_be_visible()
