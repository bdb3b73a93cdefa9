"""Roles for one account in a real browser: a link between two accounts waits for an approver of each, who
each find it in their own queue; an engineer for one account is offered only its gateways."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _with_password(*users) -> None:
    for user in users:
        user.set_password(PASSWORD)
        user.save()


def test_a_cross_account_link_waits_for_an_approver_of_each_account(two_accounts, login_as):
    from peerlinks.models import ChangeRequest
    from peerlinks.services import changes

    world = two_accounts
    _with_password(world["a_approver"], world["b_approver"], world["b_engineer"])
    payload = {
        "name": "e2e-cross",
        "description": "",
        "peer_type": "ER",
        "peer_gateway_id": world["router_b"].cloud_id,
        "peer_region": "cn-north-4",
    }
    cross = changes.submit_change(
        user=world["a_engineer"], kind="create", gateway=world["gateway_a"], payload=payload
    )
    only_a = changes.submit_change(
        user=world["a_engineer"],
        kind="create",
        gateway=world["gateway_a"],
        payload={**payload, "name": "e2e-only-a", "peer_gateway_id": world["router_a"].cloud_id},
    )

    a_lead = login_as("a-approver")
    a_lead.goto("/approvals/")
    a_lead.get_by_role("link", name=f"#{cross.pk}", exact=True).click()
    expect(a_lead).to_have_url(re.compile(f"/changes/{cross.pk}/$"))
    a_lead.get_by_role("button", name="Approve").click()
    decision = a_lead.locator("#change-decision")
    expect(decision).to_contain_text("Needs an approver of team-b.")
    expect(decision).to_contain_text("Who can still approve: b-approver")
    expect(a_lead.locator("#change-state .badge")).to_have_text("Pending approval")

    b_lead = login_as("b-approver")
    b_lead.goto("/approvals/")
    expect(b_lead.get_by_role("link", name=f"#{only_a.pk}", exact=True)).to_have_count(0)
    b_lead.get_by_role("link", name=f"#{cross.pk}", exact=True).click()
    expect(b_lead.locator("#sides-needed")).to_have_text("Needs an approver of team-b.")
    b_lead.get_by_role("button", name="Approve").click()
    expect(b_lead.locator("#change-state .badge")).to_have_text("Approved")
    expect(b_lead.locator("#sides-needed")).to_have_count(0)
    cross.refresh_from_db()
    assert cross.state == ChangeRequest.State.APPROVED

    b_lead.goto(f"/changes/{only_a.pk}/")  # reading stays global; deciding does not
    expect(b_lead.get_by_role("button", name="Approve")).to_have_count(0)

    engineer = login_as("b-engineer")
    engineer.goto("/links/new/")
    options = engineer.locator("#id_gateway option")
    expect(options.filter(has_text="gw-b")).to_have_count(1)
    expect(options.filter(has_text="gw-a")).to_have_count(0)
