"""A link from the first account to team-b's router, against the demo simulator over HTTP: the attachment
waits for team-b, is noted and announced, and only team-b's approvers accept or reject it."""

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

import dcsim
from peerlinks import cloud
from peerlinks.models import (
    AccountRole,
    AuditEvent,
    ChangeRequest,
    CloudAccount,
    EnterpriseRouter,
    Gateway,
    Notice,
    PeerLink,
    SharedAttachment,
)
from peerlinks.permissions import ensure_role
from peerlinks.services import attachments, changes, links, sync
from tests.conftest import TEST_PASSWORD, run_tasks_until

REGION = "cn-north-4"


@pytest.fixture
def team_b(demo_simulator, settings, transactional_db, no_approvals) -> CloudAccount:
    """The demo account (the CLOUD_* settings) and team-b, both synced from the demo simulator."""
    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.CLOUD_MAX_RETRIES = 0
    settings.PENDING_RECHECK_INTERVAL = 0.02
    cloud.clear_caches()
    requests.put(f"{demo_simulator.base_url}/_dcsim/config", json={"transition_delay": 0}, timeout=5)
    demo_simulator.sim.add_gateway(name="gdgw-beijing-edge", region=REGION)
    account = CloudAccount.objects.create(
        name="team-b", access_key=dcsim.TEAM_B_AK, secret_key=dcsim.TEAM_B_SK, regions=[REGION]
    )
    sync.sync_all()
    return account


def person(username: str, *, account: CloudAccount | None = None, role: str = "Approver"):
    """A user holding `role` for one account only (or, without an account, for every account)."""
    user = get_user_model().objects.create_user(
        username, password=TEST_PASSWORD, email=f"{username}@example.com"
    )
    if account is None:
        user.groups.set([ensure_role(role)])
    else:
        AccountRole.objects.create(user=user, account=account, role=role)
    return user


def link_to_team_b(engineer) -> ChangeRequest:
    """Ask for and carry out a link from a first-account gateway to team-b's shared router."""
    change = changes.submit_change(
        user=engineer,
        kind="create",
        gateway=Gateway.objects.get(name="gdgw-beijing-edge"),
        payload={
            "name": "pl-to-team-b",
            "peer_type": "ER",
            "peer_gateway_id": EnterpriseRouter.objects.get(name="er-team-b-shared").cloud_id,
            "peer_region": REGION,
        },
    )
    return run_tasks_until(change)


@pytest.fixture
def waiting(team_b, engineer) -> SharedAttachment:
    change = link_to_team_b(engineer)
    assert change.state == ChangeRequest.State.DONE, change.error_msg
    return SharedAttachment.objects.get()


def test_the_link_is_made_and_its_attachment_waits_for_team_b(team_b, engineer, waiting):
    change = ChangeRequest.objects.get()
    assert change.peer_account == team_b
    link = change.peer_link
    assert link.status == PeerLink.Status.PENDING_CREATE
    assert links.link_sides(link=link).waiting == waiting
    assert waiting.account == team_b and waiting.router.name == "er-team-b-shared"
    assert waiting.creating_change() == change


def test_team_b_approvers_hear_that_an_attachment_waits(team_b, engineer):
    b_approver = person("b-lead", account=team_b)
    everywhere = person("lead-all")
    first_only = person("a-lead", account=CloudAccount.objects.environment())
    link_to_team_b(engineer)
    told = set(Notice.objects.filter(kind="attachment_waiting").values_list("user__username", flat=True))
    assert told == {b_approver.username, everywhere.username}
    assert first_only.username not in told


def test_the_sync_notes_a_waiting_attachment_once_and_when_it_is_decided_elsewhere(team_b, engineer, waiting):
    sync.sync_all()
    assert SharedAttachment.objects.get().is_waiting
    assert (
        Notice.objects.filter(kind="attachment_waiting").count()
        == Notice.objects.filter(kind="attachment_waiting").values("user").distinct().count()
    )
    # team-b accepts it outside dcportal: the next sync sees it no longer waits.
    cloud.accept_er_attachment(
        region=REGION,
        er_id=waiting.router.cloud_id,
        attachment_id=waiting.cloud_id,
        config=team_b.cloud_config(),
    )
    sync.sync_all()
    waiting.refresh_from_db()
    assert waiting.state == "available" and waiting.decided_at is not None and not waiting.is_waiting
    assert PeerLink.objects.get(name="pl-to-team-b").status == PeerLink.Status.ACTIVE


def test_team_b_approver_accepts_and_the_link_turns_active_at_once(team_b, engineer, waiting):
    b_approver = person("b-lead", account=team_b)
    decision = attachments.accept_attachment(attachment_id=waiting.pk, user=b_approver)
    assert decision.attachment.state == "available"
    assert decision.link.status == PeerLink.Status.ACTIVE
    event = AuditEvent.objects.get(action="attachment.accepted")
    assert (event.actor, event.account, event.object_id) == (b_approver, team_b, waiting.cloud_id)
    assert event.cloud_request_id
    run_tasks_until(
        ChangeRequest.objects.get(), until=lambda c: Notice.objects.filter(user=engineer).exists()
    )
    notice = Notice.objects.get(user=engineer, kind="attachment_accepted")
    assert "b-lead accepted the attachment to router er-team-b-shared for team-b" in notice.message


def test_team_b_approver_rejects_and_the_link_ends_in_error(team_b, engineer, waiting):
    b_approver = person("b-lead", account=team_b)
    decision = attachments.reject_attachment(attachment_id=waiting.pk, user=b_approver)
    assert decision.attachment.state == "rejected"
    assert decision.link.status == PeerLink.Status.ERROR
    assert "rejected the attachment" in decision.link.reason
    event = AuditEvent.objects.get(action="attachment.rejected")
    assert (event.actor, event.account) == (b_approver, team_b)


@pytest.mark.parametrize("who", ["first-account approver", "team-b engineer", "the engineer"])
def test_nobody_but_an_approver_of_team_b_may_decide(team_b, engineer, waiting, who):
    user = {
        "first-account approver": lambda: person("a-lead", account=CloudAccount.objects.environment()),
        "team-b engineer": lambda: person("b-eng", account=team_b, role="Engineer"),
        "the engineer": lambda: engineer,
    }[who]()
    with pytest.raises(PermissionDenied):
        attachments.accept_attachment(attachment_id=waiting.pk, user=user)
    assert not attachments.can_decide(user=user, attachment=waiting)
    waiting.refresh_from_db()
    assert waiting.is_waiting
    assert not AuditEvent.objects.filter(action__startswith="attachment.").exists()


def test_a_second_decision_says_the_attachment_no_longer_waits(team_b, engineer, waiting):
    b_approver = person("b-lead", account=team_b)
    attachments.accept_attachment(attachment_id=waiting.pk, user=b_approver)
    with pytest.raises(attachments.AttachmentNotWaiting) as info:
        attachments.reject_attachment(attachment_id=waiting.pk, user=b_approver)
    assert "available" in str(info.value)
    assert AuditEvent.objects.filter(action__startswith="attachment.").count() == 1


def test_an_attachment_decided_in_the_cloud_meanwhile_is_noted_not_sent_again(team_b, engineer, waiting):
    cloud.reject_er_attachment(
        region=REGION,
        er_id=waiting.router.cloud_id,
        attachment_id=waiting.cloud_id,
        config=team_b.cloud_config(),
    )
    b_approver = person("b-lead", account=team_b)
    with pytest.raises(attachments.AttachmentNotWaiting):
        attachments.accept_attachment(attachment_id=waiting.pk, user=b_approver)
    waiting.refresh_from_db()
    assert waiting.state == "rejected" and not waiting.is_waiting


def test_the_waiting_list_holds_only_the_accounts_where_the_user_approves(team_b, engineer, waiting):
    assert attachments.waiting_for_user(user=person("b-lead", account=team_b)) == [waiting]
    assert attachments.waiting_for_user(user=person("lead-all")) == [waiting]
    assert (
        attachments.waiting_for_user(user=person("a-lead", account=CloudAccount.objects.environment())) == []
    )


def test_the_sync_notes_an_attachment_asked_for_outside_dcportal(team_b):
    """A link made elsewhere to team-b's router: the sync keeps its waiting attachment (no request of ours
    made it, so nobody is told by notice), and the approvals page's list holds it."""
    router = EnterpriseRouter.objects.get(name="er-team-b-shared")
    gateway = Gateway.objects.get(name="gdgw-beijing-edge")
    cloud.create_peer_link(
        region=REGION,
        gateway_id=gateway.cloud_id,
        name="pl-made-elsewhere",
        peer_gateway_id=router.cloud_id,
        peer_region=REGION,
        peer_project_id=router.project.project_id,
    )
    sync.sync_all()
    noted = SharedAttachment.objects.get()
    assert noted.is_waiting and noted.resource_id == gateway.cloud_id and noted.router == router
    assert noted.creating_change() is None
    assert links.link_sides(link=PeerLink.objects.get(name="pl-made-elsewhere")).waiting == noted
    assert attachments.waiting_for_user(user=person("b-lead", account=team_b)) == [noted]


def test_a_router_whose_attachments_cannot_be_listed_leaves_the_rest_of_the_sync_alone(
    team_b, engineer, waiting, demo_simulator
):
    requests.post(
        f"{demo_simulator.base_url}/_dcsim/faults/next",
        json={"fault": "500", "method": "GET", "path_contains": "/attachments"},
        timeout=5,
    )
    results = sync.sync_all()
    assert all(result.ok for result in results)
    waiting.refresh_from_db()
    assert waiting.is_waiting and waiting.gone_at is None
