"""A peer link across two managed accounts in a real browser: an engineer of the first account asks for a
link to team-b's router, an approver of each account approves, the worker makes it, the attachment waits
for team-b, and team-b's approver accepts it on the link's page: the link turns ACTIVE.

Four browser contexts are four people; one live server, one worker, one simulator holding both accounts.
"""

import io
import re

import pytest
from playwright.sync_api import Page, expect

import dcsim
from tests.e2e.conftest import PASSWORD, REGION, request_link

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/xacct-e2e"


@pytest.fixture
def two_accounts(simulator, settings, transactional_db) -> dict:
    """The first account (the CLOUD_* settings) with a gateway, team-b with a router the first account may
    peer with (its attachments wait for team-b), both synced; a create needs two approvals."""
    from django.core.management import call_command

    from peerlinks.models import CloudAccount
    from tests.conftest import set_policy

    sim = simulator.sim
    sim.set_config(transition_delay=0.5)
    gateway = sim.add_gateway(name="gdgw-e2e", region=REGION, quota=10)
    router = sim.add_router(name="er-team-b-shared", region=REGION, account=dcsim.TEAM_B_DOMAIN)
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.PENDING_RECHECK_INTERVAL = 0.25
    team_b = CloudAccount.objects.create(
        name="team-b", access_key=dcsim.TEAM_B_AK, secret_key=dcsim.TEAM_B_SK, regions=[REGION]
    )
    call_command("sync_peerlinks", stdout=io.StringIO())
    set_policy(approvals_create=2, window_enabled=False)
    return {
        "simulator": simulator,
        "gateway_id": gateway["id"],
        "routers": {"er-team-b-shared": router["id"]},
        "first": CloudAccount.objects.environment(),
        "team_b": team_b,
    }


@pytest.fixture
def cloud(two_accounts) -> dict:
    """The conftest's worker runs on this world."""
    return two_accounts


def person(username: str, account, role: str) -> str:
    """A user holding `role` for one account only; their username."""
    from django.contrib.auth import get_user_model

    from peerlinks.models import AccountRole

    user = get_user_model().objects.create_user(username, password=PASSWORD)
    AccountRole.objects.create(user=user, account=account, role=role)
    return username


def approve(page: Page, change_id: int, *, received: str) -> None:
    """An approver opens the change, sees both accounts, and approves; `received` is the count after."""
    page.goto(f"/changes/{change_id}/")
    expect(page.locator("#both-sides")).to_contain_text("Account team-b")
    page.get_by_role("button", name="Approve").click()
    decision = page.locator("#change-decision")
    expect(decision).to_contain_text(received)
    expect(decision).to_contain_text(f"Approved by {page.locator('.whoami').inner_text()}")


def test_a_link_to_another_accounts_router_is_approved_by_both_and_accepted_by_team_b(
    two_accounts, worker, login_as
):
    first, team_b = two_accounts["first"], two_accounts["team_b"]
    engineer = login_as(person("e2e-eng", first, "Engineer"))
    lead_a = login_as(person("e2e-lead-a", first, "Approver"))
    lead_b = login_as(person("e2e-lead-b", team_b, "Approver"))

    change_id = request_link(engineer, two_accounts, router="er-team-b-shared", name="e2e-cross")
    sides = engineer.locator("#both-sides")
    expect(sides.locator("#side-gateway")).to_contain_text(f"Account {first.name}")
    expect(sides.locator("#side-gateway")).to_contain_text("gdgw-e2e")
    expect(sides.locator("#side-peer")).to_contain_text("Account team-b")
    expect(sides.locator("#side-peer")).to_contain_text("er-team-b-shared")
    expect(engineer.locator("#change-preview")).to_contain_text("account team-b")
    engineer.screenshot(path=f"{SHOTS}-1-change.png", full_page=True)

    approve(lead_a, change_id, received="1 of 2 approvals received")
    approve(lead_b, change_id, received="2 of 2 approvals received")

    # The worker makes the link; the change is done once the attachment waits for team-b.
    expect(engineer.locator("#change-state .badge").first).to_have_text("Done")
    engineer.reload()
    engineer.locator("#side-gateway a").first.click()
    expect(engineer).to_have_url(re.compile(r"/links/[0-9a-f-]{36}/$"))
    link_url = engineer.url
    waiting = engineer.locator("#waiting-acceptance")
    expect(waiting).to_contain_text("Waiting for team-b to accept the attachment.")
    expect(engineer.locator("#side-peer-attachment")).to_contain_text("pending_acceptance")
    expect(waiting.get_by_role("button", name="Accept attachment")).to_have_count(0)
    engineer.screenshot(path=f"{SHOTS}-2-link-waiting.png", full_page=True)

    # team-b's approver finds it on the approvals page and accepts it on the link's page.
    lead_b.goto("/approvals/")
    row = lead_b.locator("#waiting-attachments tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("er-team-b-shared")
    lead_b.screenshot(path=f"{SHOTS}-3-approvals.png", full_page=True)
    row.get_by_role("link", name="e2e-cross").click()
    expect(lead_b).to_have_url(link_url)
    lead_b.locator("#waiting-acceptance").get_by_role("button", name="Accept attachment").click()
    expect(lead_b.locator(".messages")).to_contain_text("Accepted the attachment to router er-team-b-shared.")
    expect(lead_b.locator("#link-status")).to_have_text("ACTIVE")
    expect(lead_b.locator("#waiting-acceptance")).to_have_count(0)
    expect(lead_b.locator("#side-peer-attachment")).to_contain_text("available")
    lead_b.screenshot(path=f"{SHOTS}-4-accepted.png", full_page=True)

    # The engineer's page turns ACTIVE by its own polling.
    expect(engineer.locator(".page-head .badge").first).to_have_text("Active")

    # The first account's approver saw nothing to decide.
    lead_a.goto(link_url)
    expect(lead_a.get_by_role("button", name="Accept attachment")).to_have_count(0)
