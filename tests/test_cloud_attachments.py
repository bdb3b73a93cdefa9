"""Accepting and rejecting another account's attachment with the cloud client, against the real simulator:
the router's account decides, a lost reply is resolved by looking at the attachment, never by asking again."""

import pytest

import dcsim
from peerlinks import cloud
from peerlinks.cloud import iam
from tests.test_cloud_simulator import Control, config_for

REGION = "cn-north-4"
B_PROJECT = dcsim.project_id_for(REGION, dcsim.TEAM_B_DOMAIN)


@pytest.fixture
def control(simulator) -> Control:
    iam.clear_caches()
    yield Control(simulator.base_url)
    iam.clear_caches()


def team_b(handle, **overrides) -> cloud.CloudConfig:
    return config_for(handle, ak=dcsim.TEAM_B_AK, sk=dcsim.TEAM_B_SK, **overrides)


@pytest.fixture
def waiting(simulator, control, sim_clock) -> tuple[str, str, tuple[str, str]]:
    """A demo-account link to a team-b router, waiting for team-b to accept: (router, attachment, link)."""
    sim = simulator.sim
    gateway = sim.add_gateway(name="gdgw-a", region=REGION)
    router = sim.add_router(name="er-b", region=REGION, account=dcsim.TEAM_B_DOMAIN)
    created = cloud.create_peer_link(
        region=REGION,
        gateway_id=gateway["id"],
        name="pl-to-b",
        peer_gateway_id=router["id"],
        peer_region=REGION,
        peer_project_id=B_PROJECT,
        config=config_for(simulator),
    )
    sim_clock.settle()
    link = cloud.show_peer_link(
        region=REGION,
        gateway_id=gateway["id"],
        peer_link_id=created.peer_link.id,
        config=config_for(simulator),
    ).peer_link
    assert link.status == cloud.PeerLinkStatus.PENDING_CREATE
    return router["id"], link.peer_site.link_id, (gateway["id"], link.id)


def attachment_state(simulator, router_id: str, attachment_id: str) -> str:
    return cloud.show_er_attachment(
        region=REGION, er_id=router_id, attachment_id=attachment_id, config=team_b(simulator)
    ).state


def link_status(simulator, link: tuple[str, str]) -> str:
    return cloud.show_peer_link(
        region=REGION, gateway_id=link[0], peer_link_id=link[1], config=config_for(simulator)
    ).peer_link.status


def test_router_account_lists_the_waiting_attachment_and_accepts_it(simulator, waiting):
    router_id, attachment_id, link = waiting
    listed = list(
        cloud.list_er_attachments(
            region=REGION, er_id=router_id, state="pending_acceptance", config=team_b(simulator)
        )
    )
    assert [a.id for a in listed] == [attachment_id]
    result = cloud.accept_er_attachment(
        region=REGION, er_id=router_id, attachment_id=attachment_id, config=team_b(simulator)
    )
    assert (result.attachment.id, result.attachment.state) == (attachment_id, "available")
    assert result.request_id and not result.recovered
    assert link_status(simulator, link) == cloud.PeerLinkStatus.ACTIVE


def test_router_account_rejects_the_attachment_and_the_link_ends_in_error(simulator, waiting):
    router_id, attachment_id, link = waiting
    result = cloud.reject_er_attachment(
        region=REGION, er_id=router_id, attachment_id=attachment_id, config=team_b(simulator)
    )
    assert result.attachment.state == "rejected"
    assert link_status(simulator, link) == cloud.PeerLinkStatus.ERROR


def test_deciding_an_attachment_no_longer_waiting_is_a_conflict(simulator, waiting):
    router_id, attachment_id, _link = waiting
    config = team_b(simulator)
    cloud.accept_er_attachment(region=REGION, er_id=router_id, attachment_id=attachment_id, config=config)
    with pytest.raises(cloud.Conflict) as info:
        cloud.reject_er_attachment(region=REGION, er_id=router_id, attachment_id=attachment_id, config=config)
    assert info.value.error_code == "ER.0003"
    assert attachment_state(simulator, router_id, attachment_id) == "available"


def test_the_gateway_account_cannot_decide_for_the_router_account(simulator, waiting):
    router_id, attachment_id, _link = waiting
    with pytest.raises(cloud.NotFound):
        cloud.accept_er_attachment(
            region=REGION, er_id=router_id, attachment_id=attachment_id, config=config_for(simulator)
        )
    assert attachment_state(simulator, router_id, attachment_id) == "pending_acceptance"


def test_accept_that_timed_out_is_resolved_by_looking(simulator, control, waiting):
    router_id, attachment_id, link = waiting
    control.next_fault("timeout", method="POST", path_contains="/accept", latency_ms=450)
    result = cloud.accept_er_attachment(
        region=REGION,
        er_id=router_id,
        attachment_id=attachment_id,
        config=team_b(simulator, read_timeout=0.3),
    )
    assert result.recovered and result.attachment.state == "available"
    assert link_status(simulator, link) == cloud.PeerLinkStatus.ACTIVE


def test_reject_that_failed_before_it_ran_raises_and_is_not_repeated(simulator, control, waiting):
    router_id, attachment_id, _link = waiting
    control.next_fault("500", method="POST", path_contains="/reject")
    with pytest.raises(cloud.ServerError):
        cloud.reject_er_attachment(
            region=REGION, er_id=router_id, attachment_id=attachment_id, config=team_b(simulator)
        )
    # Had the client posted again, the (consumed) fault would not have stopped a second reject.
    assert attachment_state(simulator, router_id, attachment_id) == "pending_acceptance"


def test_accept_dropped_before_it_ran_raises_unreachable(simulator, control, waiting):
    router_id, attachment_id, _link = waiting
    control.next_fault("drop", method="POST", path_contains="/accept")
    with pytest.raises(cloud.CloudUnreachable):
        cloud.accept_er_attachment(
            region=REGION, er_id=router_id, attachment_id=attachment_id, config=team_b(simulator)
        )
    assert attachment_state(simulator, router_id, attachment_id) == "pending_acceptance"


def test_ids_are_checked_before_anything_is_sent(simulator):
    with pytest.raises(cloud.InvalidRequest):
        cloud.accept_er_attachment(
            region=REGION, er_id="not-a-uuid", attachment_id="x", config=team_b(simulator)
        )
