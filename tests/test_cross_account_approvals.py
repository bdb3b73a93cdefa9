"""A link between two accounts: each account's approver must approve (unless the policy says either will
do), and who may approve, who is told, the queue, the count and the change page all follow one rule."""

import pytest
import requests
from django.urls import reverse

from peerlinks.models import AccountRole, AuditEvent, ChangeRequest, Notice, Policy
from peerlinks.permissions import APPROVE, holders
from peerlinks.services import approvals, changes, lifecycle, notifications
from peerlinks.services.dashboard import nav_counts
from peerlinks.services.lifecycle import ChangeForbidden, save_policy
from tests.conftest import _user, make_router, set_policy


def _create(world: dict, *, gateway: str = "gateway_a", peer: str = "router_b", name: str = "x-link"):
    """A create request from the first account's engineer (or team-b's, for a team-b gateway)."""
    by = world["a_engineer"] if gateway == "gateway_a" else world["b_engineer"]
    payload = {
        "name": name,
        "description": "",
        "peer_type": "ER",
        "peer_gateway_id": world[peer].cloud_id,
        "peer_region": "cn-north-4",
    }
    return changes.submit_change(user=by, kind="create", gateway=world[gateway], payload=payload)


def _approve(change: ChangeRequest, user) -> ChangeRequest:
    approvals.approve_change(change_id=change.pk, user=user, payload_digest=change.payload_digest)
    change.refresh_from_db()
    return change


def test_a_link_to_a_router_of_another_account_is_a_cross_account_change(two_accounts):
    change = _create(two_accounts)
    assert change.peer_account == two_accounts["team_b"]
    assert change.accounts == [two_accounts["first"], two_accounts["team_b"]]


def test_a_cross_account_change_needs_an_approver_of_each_account(two_accounts):
    change = _create(two_accounts)
    change = _approve(change, two_accounts["a_approver"])
    assert change.state == ChangeRequest.State.PENDING_APPROVAL
    outlook = approvals.approval_outlook(change)
    assert outlook.sides_missing == [two_accounts["team_b"]]
    assert outlook.sides_needed == "Needs an approver of team-b."
    assert [u.username for u in outlook.can_still_approve] == ["b-approver"]
    assert not outlook.stuck
    event = AuditEvent.objects.filter(action="change.approval_added").get()
    assert event.after["needs_approver_of"] == ["team-b"]
    change = _approve(change, two_accounts["b_approver"])
    assert change.state == ChangeRequest.State.APPROVED


def test_an_approver_of_the_peers_account_may_approve_first(two_accounts):
    change = _approve(_create(two_accounts), two_accounts["b_approver"])
    assert approvals.approval_outlook(change).sides_missing == [two_accounts["first"]]
    assert _approve(change, two_accounts["a_approver"]).state == ChangeRequest.State.APPROVED


def test_an_approver_for_every_account_is_an_approver_of_each(two_accounts):
    lead = _user("global-lead", "Approver")
    assert _approve(_create(two_accounts), lead).state == ChangeRequest.State.APPROVED


def test_the_policy_may_accept_any_approver_of_either_account(two_accounts, admin):
    policy = Policy.current()
    policy.cross_account_approval = Policy.CrossAccount.EITHER
    save_policy(policy, user=admin)
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.before == {"cross_account_approval": "each"}
    assert event.after == {"cross_account_approval": "either"}
    change = _approve(_create(two_accounts), two_accounts["b_approver"])
    assert change.state == ChangeRequest.State.APPROVED


def test_an_approver_of_neither_account_may_not_approve(two_accounts):
    from peerlinks.models import CloudAccount

    third = CloudAccount.objects.create(name="team-c", regions=["cn-north-4"])
    stranger = _user("c-approver")
    AccountRole.objects.create(user=stranger, account=third, role="Approver")
    change = _create(two_accounts)
    with pytest.raises(ChangeForbidden, match="You are not an approver for account main, team-b."):
        _approve(change, stranger)
    assert not change.approvals.exists()


def test_a_side_without_any_approver_left_makes_the_change_stuck(two_accounts):
    AccountRole.objects.filter(user=two_accounts["b_approver"]).delete()
    change = _approve(_create(two_accounts), two_accounts["a_approver"])
    outlook = approvals.approval_outlook(change)
    assert outlook.stuck
    assert outlook.sides_nobody_can == [two_accounts["team_b"]]
    assert "it needs an approver of team-b and nobody else is one" in outlook.warning


def test_the_change_page_says_which_account_still_needs_its_approver(client, two_accounts):
    change = _approve(_create(two_accounts), two_accounts["a_approver"])
    client.force_login(two_accounts["b_approver"])
    html = client.get(change.get_absolute_url()).content.decode()
    assert "Needs an approver of team-b." in html
    assert reverse("peerlinks:change_approve", args=[change.pk]) in html
    response = client.post(
        reverse("peerlinks:change_approve", args=[change.pk]), {"payload_digest": change.payload_digest}
    )
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.state == ChangeRequest.State.APPROVED
    assert "Needs an approver of" not in client.get(change.get_absolute_url()).content.decode()


def test_the_queue_and_its_count_list_the_changes_in_the_approvers_accounts(client, two_accounts):
    cross = _create(two_accounts, name="cross")
    only_a = _create(two_accounts, peer="router_a", name="only-a")
    only_b = _create(two_accounts, gateway="gateway_b", name="only-b")
    client.force_login(two_accounts["b_approver"])
    html = client.get(reverse("peerlinks:approval_queue")).content.decode()
    assert cross.get_absolute_url() in html and only_b.get_absolute_url() in html
    assert only_a.get_absolute_url() not in html
    assert "Needs an approver of main, team-b." in html
    assert nav_counts(two_accounts["b_approver"]).approvals_waiting == 2
    assert nav_counts(two_accounts["a_approver"]).approvals_waiting == 2
    assert nav_counts(_user("global-lead", "Approver")).approvals_waiting == 3
    assert nav_counts(two_accounts["b_engineer"]).approvals_waiting == 0


def test_approvers_of_either_account_are_told_of_a_cross_account_change(two_accounts):
    only_b = _create(two_accounts, gateway="gateway_b", name="only-b")
    notifications.notify_submitted(change=only_b)
    assert list(Notice.objects.values_list("user__username", flat=True)) == ["b-approver"]
    Notice.objects.all().delete()
    notifications.notify_submitted(change=_create(two_accounts))
    told = sorted(Notice.objects.values_list("user__username", flat=True))
    assert told == ["a-approver", "b-approver"]


def test_the_queue_filter_and_the_rule_agree(two_accounts):
    """may_approve_filter is may_approve as a query: for every approver and change, the same answer."""
    _user("global-lead", "Approver")
    made = [
        _create(two_accounts, name="cross"),
        _create(two_accounts, peer="router_a", name="only-a"),
        _create(two_accounts, gateway="gateway_b", name="only-b"),
    ]
    AccountRole.objects.create(
        user=two_accounts["a_engineer"], account=two_accounts["first"], role="Approver"
    )
    for approver in holders(APPROVE):
        by_query = set(
            ChangeRequest.objects.filter(lifecycle.may_approve_filter(approver)).values_list("pk", flat=True)
        )
        assert by_query == {c.pk for c in made if lifecycle.may_approve(approver, c)}, approver


def test_the_policy_option_is_edited_in_the_admin(client, admin):
    client.force_login(admin)
    page = client.get(reverse("admin:peerlinks_policy_change", args=[Policy.current().pk]))
    assert 'name="cross_account_approval"' in page.content.decode()
    set_policy(cross_account_approval="either")
    assert Policy.current().cross_account_approval == "either"


def test_the_account_rules_read_in_chinese(client, two_accounts):
    change = _approve(_create(two_accounts), two_accounts["a_approver"])
    client.force_login(two_accounts["b_engineer"])
    html = client.get(change.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "还需要 team-b 的审批人批准。" in html
    url = reverse("peerlinks:link_local", args=[two_accounts["link_a"].cloud_id])
    refused = client.post(url, {"owner_team": "x"}, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert f"你不是账号 {two_accounts['first'].name} 的工程师。" in refused
    assert "除适用于所有账号的角色外" in refused and "<strong>team-b</strong>: 工程师" in refused


def test_a_link_to_team_bs_router_synced_from_the_simulator_needs_both_accounts_approvers(
    demo_simulator, settings, transactional_db
):
    """Against the simulator's two accounts: the first account's gateway to team-b's shared router."""
    import dcsim
    from peerlinks import cloud
    from peerlinks.models import CloudAccount, EnterpriseRouter, Gateway
    from peerlinks.services.sync import sync_region
    from tests.conftest import account_role

    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    settings.CLOUD_REGIONS = ["cn-north-4"]
    cloud.clear_caches()
    set_policy(approvals_create=1)
    first = CloudAccount.objects.environment()
    team_b = CloudAccount.objects.create(
        name="team-b", access_key=dcsim.TEAM_B_AK, secret_key=dcsim.TEAM_B_SK, regions=["cn-north-4"]
    )
    # A gateway with quota left in the demo account (the seed's Beijing gateway has none).
    new = {"name": "gdgw-beijing-spare", "region": "cn-north-4", "quota": 3}
    requests.post(
        f"{demo_simulator.base_url}/_dcsim/global-dc-gateways", json=new, timeout=5
    ).raise_for_status()
    assert sync_region(region="cn-north-4").ok
    assert sync_region(region="cn-north-4", account=team_b).ok
    router = EnterpriseRouter.objects.get(name="er-team-b-shared")
    assert router.account == team_b
    engineer = account_role(_user("demo-engineer"), "Engineer", first)
    gateway = Gateway.objects.get(name="gdgw-beijing-spare")
    payload = {
        "name": "to-team-b",
        "description": "",
        "peer_type": "ER",
        "peer_gateway_id": router.cloud_id,
        "peer_region": "cn-north-4",
    }
    change = changes.submit_change(user=engineer, kind="create", gateway=gateway, payload=payload)
    assert change.accounts == [first, team_b]
    with pytest.raises(ChangeForbidden, match="You are not an engineer for account team-b."):
        other_gateway = Gateway.objects.get(name="gdgw-team-b-edge")
        changes.submit_change(user=engineer, kind="create", gateway=other_gateway, payload=payload)
    change = _approve(change, account_role(_user("demo-lead"), "Approver", first))
    assert change.state == ChangeRequest.State.PENDING_APPROVAL
    change = _approve(change, account_role(_user("team-b-lead"), "Approver", team_b))
    assert change.state == ChangeRequest.State.APPROVED
    cloud.clear_caches()


def test_the_queue_costs_the_same_queries_however_many_changes_it_weighs(
    client, two_accounts, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(two_accounts["b_approver"])
    url = reverse("peerlinks:approval_queue")
    _approve(_create(two_accounts, name="first"), two_accounts["a_approver"])
    client.get(url)  # warm: the session, the roles
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for number in range(2):  # links from team-b's gateway to more routers of the first account
        two_accounts[f"router_{number}"] = make_router(project=two_accounts["router_a"].project)
        _create(two_accounts, gateway="gateway_b", peer=f"router_{number}", name=f"more-{number}")
    with django_assert_num_queries(len(few)):
        html = client.get(url).content.decode()
    assert html.count("Needs an approver of") == 3
