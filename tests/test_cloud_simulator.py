"""The cloud client against the real simulator over loopback HTTP: lifecycles, paging, errors, recovery."""

import logging
import socket
import threading
import uuid

import pytest
import requests

import dcsim
from peerlinks import cloud
from peerlinks.cloud import iam, sending, tokens, transport

REGION = "cn-north-4"
PEER_REGION = "cn-east-3"


class Control:
    """The simulator's /_dcsim/ control routes, over plain HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _call(self, verb: str, path: str, body: dict) -> dict:
        response = requests.request(verb, f"{self.base_url}/_dcsim/{path}", json=body, timeout=5)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    def gateway(self, name: str = "gdgw-test", region: str = REGION, **extra: object) -> dict:
        return self._call("POST", "global-dc-gateways", {"name": name, "region": region, **extra})

    def router(self, name: str = "er-test", region: str = PEER_REGION, **extra: object) -> dict:
        return self._call("POST", "enterprise-routers", {"name": name, "region": region, **extra})

    def faults(self, **settings: object) -> dict:
        return self._call("PUT", "faults", settings)

    def next_fault(self, fault: str, **options: object) -> dict:
        return self._call("POST", "faults/next", {"fault": fault, **options})

    def config(self, **settings: object) -> dict:
        return self._call("PUT", "config", settings)


@pytest.fixture
def control(simulator) -> Control:
    iam.clear_caches()
    yield Control(simulator.base_url)
    iam.clear_caches()


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(sending, "sleep", recorded.append)
    return recorded


def config_for(handle, **overrides) -> cloud.CloudConfig:
    values = {
        "endpoint": handle.base_url,
        "ak": dcsim.DEMO_AK,
        "sk": dcsim.DEMO_SK,
        "connect_timeout": 1.0,
        "read_timeout": 3.0,
        "max_retries": 2,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        **overrides,
    }
    return cloud.CloudConfig(**values)


def token_config(handle, **overrides) -> cloud.CloudConfig:
    values = {
        "auth": "token",
        "ak": "",
        "sk": "",
        "iam_user": dcsim.DEMO_IAM_USER,
        "iam_password": dcsim.DEMO_IAM_PASSWORD,
        "iam_domain": dcsim.DEMO_DOMAIN,
        **overrides,
    }
    return config_for(handle, **values)


def create_to_router(config: cloud.CloudConfig, gateway: dict, router: dict, name: str = "pl-to-er-01"):
    return cloud.create_peer_link(
        region=REGION,
        gateway_id=gateway["id"],
        name=name,
        peer_gateway_id=router["id"],
        peer_region=PEER_REGION,
        peer_project_id=dcsim.project_id_for(PEER_REGION),
        config=config,
    )


def show_once_settled(sim_clock, config: cloud.CloudConfig, gateway_id: str, link_id: str) -> cloud.PeerLink:
    """Move the simulator's clock past its transition delay, then read the link: it must be ACTIVE."""
    sim_clock.settle()
    link = cloud.show_peer_link(
        region=REGION, gateway_id=gateway_id, peer_link_id=link_id, config=config
    ).peer_link
    assert link.status == cloud.PeerLinkStatus.ACTIVE, (link.status, link.reason)
    return link


def assert_gone_once_settled(sim_clock, config: cloud.CloudConfig, gateway_id: str, link_id: str) -> None:
    """Move the simulator's clock past its delete delay, then the link must be unknown to the cloud."""
    sim_clock.settle()
    with pytest.raises(cloud.NotFound):
        cloud.show_peer_link(region=REGION, gateway_id=gateway_id, peer_link_id=link_id, config=config)


def links_on(config: cloud.CloudConfig, gateway_id: str) -> list[cloud.PeerLink]:
    return list(cloud.list_peer_links(region=REGION, gateway_id=gateway_id, config=config))


def run_lifecycle(sim_clock, config: cloud.CloudConfig, gateway: dict, router: dict) -> None:
    created = create_to_router(config, gateway, router)
    link = created.peer_link
    assert link.status == cloud.PeerLinkStatus.PENDING_CREATE
    assert link.peer_site.type == cloud.PeerSiteType.ER
    assert link.description is None
    assert created.request_id and not created.recovered

    active = show_once_settled(sim_clock, config, gateway["id"], link.id)
    assert active.peer_site.link_id
    assert active.create_owner == cloud.CreateOwner.DC
    attachments = list(
        cloud.list_er_attachments(region=PEER_REGION, er_id=router["id"], resource_type="gdgw", config=config)
    )
    assert [a.id for a in attachments] == [active.peer_site.link_id]
    attachment = cloud.show_er_attachment(
        region=PEER_REGION, er_id=router["id"], attachment_id=active.peer_site.link_id, config=config
    )
    assert attachment.state == cloud.AttachmentState.AVAILABLE

    shown = cloud.show_peer_link(region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, config=config)
    assert shown.peer_link.id == link.id and shown.request_id

    updated = cloud.update_peer_link(
        region=REGION,
        gateway_id=gateway["id"],
        peer_link_id=link.id,
        name="pl-renamed",
        description="moved to the new router",
        config=config,
    )
    assert updated.peer_link.name == "pl-renamed"
    assert updated.peer_link.description == "moved to the new router"
    show_once_settled(sim_clock, config, gateway["id"], link.id)
    cleared = cloud.update_peer_link(
        region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, description="", config=config
    )
    assert cleared.peer_link.description == ""
    show_once_settled(sim_clock, config, gateway["id"], link.id)

    request_id = cloud.delete_peer_link(
        region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, config=config
    )
    assert request_id
    assert_gone_once_settled(sim_clock, config, gateway["id"], link.id)
    assert links_on(config, gateway["id"]) == []
    assert list(cloud.list_er_attachments(region=PEER_REGION, er_id=router["id"], config=config)) == []


def test_er_peer_link_lifecycle_create_activate_update_delete(simulator, control, sim_clock):
    run_lifecycle(sim_clock, config_for(simulator), control.gateway(), control.router())


def test_token_mode_runs_the_same_lifecycle(simulator, control, sim_clock):
    run_lifecycle(sim_clock, token_config(simulator), control.gateway(), control.router())


def test_gdgw_peer_link_lifecycle(simulator, control, sim_clock):
    config = config_for(simulator)
    here = control.gateway(name="gdgw-here")
    there = control.gateway(name="gdgw-there", region=PEER_REGION)
    link = cloud.create_peer_link(
        region=REGION,
        gateway_id=here["id"],
        name="gdgw-to-gdgw",
        description="cross-region",
        peer_gateway_id=there["id"],
        peer_region=PEER_REGION,
        peer_project_id=dcsim.project_id_for(PEER_REGION),
        config=config,
    ).peer_link
    assert link.peer_site.type == cloud.PeerSiteType.GDGW
    active = show_once_settled(sim_clock, config, here["id"], link.id)
    assert active.peer_site.link_id
    gateway = cloud.show_global_dc_gateway(region=REGION, gateway_id=here["id"], config=config)
    assert gateway.current_peer_link_count == 1
    cloud.delete_peer_link(region=REGION, gateway_id=here["id"], peer_link_id=link.id, config=config)
    assert_gone_once_settled(sim_clock, config, here["id"], link.id)


def test_seven_links_stream_in_pages_of_two(simulator, control):
    config = config_for(simulator, page_size=2)
    gateway = control.gateway(quota=10)
    router = control.router()
    created = {create_to_router(config, gateway, router, name=f"pl-{i}").peer_link.id for i in range(7)}
    pages = list(cloud.iter_peer_link_pages(region=REGION, gateway_id=gateway["id"], config=config))
    assert [len(page.items) for page in pages if page.items] == [2, 2, 2, 1]
    assert all(page.request_id for page in pages)
    assert len({page.request_id for page in pages}) == len(pages)
    assert {link.id for page in pages for link in page.items} == created
    assert {link.id for link in links_on(config, gateway["id"])} == created
    by_name = list(
        cloud.list_peer_links(region=REGION, gateway_id=gateway["id"], names=["pl-3"], config=config)
    )
    assert [link.name for link in by_name] == ["pl-3"]


def test_demo_seed_lists_gateways_and_routers(demo_simulator):
    iam.clear_caches()
    config = config_for(demo_simulator, page_size=1)
    gateways = list(cloud.list_global_dc_gateways(region=REGION, config=config))
    assert gateways
    assert all(isinstance(g, cloud.GlobalDcGateway) for g in gateways)
    routers = list(cloud.list_enterprise_routers(region=REGION, config=config))
    for router in routers:
        assert cloud.show_enterprise_router(region=REGION, er_id=router.id, config=config).id == router.id


def test_project_id_is_discovered_through_iam_once(simulator, control, caplog):
    config = config_for(simulator)
    gateway = control.gateway()
    with caplog.at_level(logging.INFO, logger="peerlinks.cloud"):
        assert cloud.get_project_id(region=REGION, config=config) == dcsim.project_id_for(REGION)
        for _ in range(3):
            links_on(config, gateway["id"])
    assert caplog.text.count("ListProjects GET /v3/projects") == 1
    assert caplog.text.count("ListPeerLinks GET") == 3


def test_fixed_project_ids_skip_iam(simulator, control, caplog):
    config = config_for(simulator, project_ids={REGION: dcsim.project_id_for(REGION)})
    gateway = control.gateway()
    with caplog.at_level(logging.INFO, logger="peerlinks.cloud"):
        links_on(config, gateway["id"])
    assert "ListProjects" not in caplog.text


def test_quota_exhausted_is_bad_request_with_the_simulator_detail(simulator, control):
    config = config_for(simulator)
    gateway = control.gateway(quota=1)
    router = control.router()
    create_to_router(config, gateway, router, name="first")
    with pytest.raises(cloud.BadRequest) as info:
        create_to_router(config, gateway, router, name="second")
    assert info.value.error_code == "DC.0001"
    assert "quota" in info.value.error_msg
    assert info.value.request_id
    assert len(links_on(config, gateway["id"])) == 1


def test_unknown_peer_target_is_bad_request_dc0002(simulator, control):
    config = config_for(simulator)
    gateway = control.gateway()
    with pytest.raises(cloud.BadRequest) as info:
        create_to_router(config, gateway, {"id": str(uuid.uuid4())})
    assert info.value.error_code == "DC.0002"


def test_malformed_body_is_dc0000_through_a_raw_call(simulator, control):
    config = config_for(simulator)
    gateway = control.gateway()
    project_id = cloud.get_project_id(region=REGION, config=config)
    with pytest.raises(cloud.BadRequest) as info:
        transport.request(
            "CreatePeerLink",
            "POST",
            config=config,
            service="dcaas",
            region=REGION,
            path=f"/v3/{project_id}/dcaas/global-dc-gateways/{gateway['id']}/peer-links",
            body={"not_a_peer_link": {}},
            project_id=project_id,
        )
    assert info.value.error_code == "DC.0000"


def test_wrong_secret_key_is_authentication_failed(simulator, control):
    config = config_for(simulator, sk="NotTheRightSecretKey0000000000000000000", max_retries=0)
    with pytest.raises(cloud.AuthenticationFailed) as info:
        cloud.get_project_id(region=REGION, config=config)
    assert info.value.status == 401
    assert info.value.error_code == "APIGW.0301"
    assert info.value.request_id
    assert not info.value.is_transient


def test_wrong_iam_password_is_authentication_failed(simulator, control):
    config = token_config(simulator, iam_password="wrong-password")
    with pytest.raises(cloud.AuthenticationFailed) as info:
        cloud.create_token(region=REGION, config=config)
    assert info.value.status == 401
    assert "wrong-password" not in str(info.value)


def test_missing_link_is_not_found(simulator, control):
    config = config_for(simulator)
    gateway = control.gateway()
    with pytest.raises(cloud.NotFound) as info:
        cloud.show_peer_link(
            region=REGION, gateway_id=gateway["id"], peer_link_id=str(uuid.uuid4()), config=config
        )
    assert info.value.error_code == "DC.0002"
    with pytest.raises(cloud.NotFound):
        cloud.show_global_dc_gateway(region=REGION, gateway_id=str(uuid.uuid4()), config=config)


def test_update_while_pending_is_conflict(simulator, control):
    control.config(transition_delay=30)
    config = config_for(simulator)
    gateway, router = control.gateway(), control.router()
    link = create_to_router(config, gateway, router).peer_link
    with pytest.raises(cloud.Conflict) as info:
        cloud.update_peer_link(
            region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, name="too-early", config=config
        )
    assert info.value.status == 409
    with pytest.raises(cloud.Conflict):
        cloud.delete_peer_link(region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, config=config)


def test_429_is_retried_after_the_retry_after_seconds(simulator, control, sleeps):
    config = config_for(simulator, retry_after_cap=60)
    gateway = control.gateway()
    control.faults(retry_after=2)
    control.next_fault("429", method="GET", path_contains="peer-links")
    assert links_on(config, gateway["id"]) == []
    assert sleeps == [2.0]


def test_429_retry_after_is_capped(simulator, control, sleeps):
    config = config_for(simulator, retry_after_cap=0.5)
    gateway = control.gateway()
    control.faults(retry_after=30)
    control.next_fault("429", method="GET", path_contains="peer-links")
    links_on(config, gateway["id"])
    assert sleeps == [0.5]


def test_500_and_503_are_retried_then_succeed(simulator, control, sleeps):
    config = config_for(simulator)
    gateway = control.gateway()
    control.next_fault("500", method="GET", path_contains="peer-links")
    control.next_fault("503", method="GET", path_contains="peer-links")
    assert links_on(config, gateway["id"]) == []
    assert len(sleeps) == 2


def test_retries_exhausted_raise_server_error(simulator, control, sleeps):
    config = config_for(simulator, max_retries=2)
    gateway = control.gateway()
    control.next_fault("503", count=3, method="GET", path_contains="peer-links")
    with pytest.raises(cloud.ServerError) as info:
        links_on(config, gateway["id"])
    assert info.value.status == 503
    assert info.value.is_transient
    assert len(sleeps) == 2


def test_dropped_connection_on_get_is_retried(simulator, control, sleeps):
    config = config_for(simulator)
    gateway = control.gateway()
    control.next_fault("drop", method="GET", path_contains="peer-links")
    assert links_on(config, gateway["id"]) == []
    assert len(sleeps) == 1


def test_dropped_delete_response_then_404_counts_as_deleted(simulator, control, sim_clock):
    config = config_for(simulator)
    control.config(delete_delay=0)
    gateway, router = control.gateway(), control.router()
    link = create_to_router(config, gateway, router).peer_link
    show_once_settled(sim_clock, config, gateway["id"], link.id)
    control.next_fault("drop_create_response", method="DELETE")
    control.next_fault("drop", method="DELETE")
    cloud.delete_peer_link(region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, config=config)
    assert_gone_once_settled(sim_clock, config, gateway["id"], link.id)


def test_unreachable_endpoint_is_cloud_unreachable(sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = cloud.CloudConfig(
        endpoint=f"http://127.0.0.1:{port}",
        ak="AK",
        sk="SK",
        project_ids={REGION: dcsim.project_id_for(REGION)},
        connect_timeout=0.5,
        max_retries=1,
        backoff_base=0.01,
    )
    with pytest.raises(cloud.CloudUnreachable) as info:
        cloud.show_global_dc_gateway(region=REGION, gateway_id=str(uuid.uuid4()), config=config)
    assert info.value.status is None
    assert info.value.is_transient
    assert f"127.0.0.1:{port}" in str(info.value)
    assert len(sleeps) == 1


def test_lost_create_response_returns_the_recovered_link_and_no_duplicate(simulator, control):
    config = config_for(simulator)
    gateway, router = control.gateway(), control.router()
    control.next_fault("drop_create_response", method="POST", path_contains="peer-links")
    result = create_to_router(config, gateway, router, name="pl-lost-reply")
    assert result.recovered
    assert result.peer_link.name == "pl-lost-reply"
    assert result.peer_link.peer_site.gateway_id == router["id"]
    assert [link.id for link in links_on(config, gateway["id"])] == [result.peer_link.id]


def test_create_read_timeout_is_resolved_by_lookup(simulator, control):
    config = config_for(simulator, read_timeout=0.3)
    gateway, router = control.gateway(), control.router()
    control.next_fault("timeout", method="POST", path_contains="peer-links", latency_ms=450)
    result = create_to_router(config, gateway, router, name="pl-slow")
    assert result.recovered
    assert [link.id for link in links_on(config, gateway["id"])] == [result.peer_link.id]


def test_create_500_before_processing_raises_and_creates_nothing(simulator, control, sleeps):
    config = config_for(simulator)
    gateway, router = control.gateway(), control.router()
    control.next_fault("500", method="POST", path_contains="peer-links")
    with pytest.raises(cloud.ServerError) as info:
        create_to_router(config, gateway, router)
    assert info.value.error_code == "DC.0003"
    # Had the client posted again, the (consumed) fault would not have stopped a second create.
    assert links_on(config, gateway["id"]) == []


def test_create_dropped_before_processing_raises_unreachable(simulator, control):
    config = config_for(simulator)
    gateway, router = control.gateway(), control.router()
    control.next_fault("drop", method="POST", path_contains="peer-links")
    with pytest.raises(cloud.CloudUnreachable):
        create_to_router(config, gateway, router)
    assert links_on(config, gateway["id"]) == []


def test_stale_token_is_refreshed_once(simulator, control):
    config = token_config(simulator)
    gateway = control.gateway()
    links_on(config, gateway["id"])
    stale = tokens.token_for(region=REGION, config=config).model_copy()
    stale.value = "not-a-valid-token"
    tokens._tokens[(config, REGION)] = stale
    assert links_on(config, gateway["id"]) == []
    assert tokens.token_for(region=REGION, config=config).value != "not-a-valid-token"


@pytest.mark.parametrize(
    "overrides",
    [
        {"gateway_id": "not-a-uuid"},
        {"gateway_id": None},
        {"region": ""},
        {"region": "CN North"},
        {"name": ""},
        {"name": "x" * 65},
        {"name": "has space"},
        {"name": "semi;colon"},
        {"description": "d" * 129},
        {"peer_gateway_id": "1234"},
        {"peer_project_id": "ABC"},
        {"peer_region": "../iam"},
    ],
)
def test_bad_input_is_a_typed_error_before_any_request(simulator, control, overrides, caplog):
    config = config_for(simulator)
    arguments = {
        "region": REGION,
        "gateway_id": str(uuid.uuid4()),
        "name": "ok-name",
        "peer_gateway_id": str(uuid.uuid4()),
        "peer_region": PEER_REGION,
        "peer_project_id": dcsim.project_id_for(PEER_REGION),
        "description": None,
        **overrides,
    }
    with caplog.at_level(logging.INFO, logger="peerlinks.cloud"), pytest.raises(cloud.InvalidRequest) as info:
        cloud.create_peer_link(config=config, **arguments)
    assert info.value.status is None
    assert caplog.text == ""


def test_other_operations_validate_their_ids_too(simulator):
    config = config_for(simulator)
    with pytest.raises(cloud.InvalidRequest):
        cloud.show_peer_link(region=REGION, gateway_id=str(uuid.uuid4()), peer_link_id="x", config=config)
    with pytest.raises(cloud.InvalidRequest):
        cloud.update_peer_link(region=REGION, gateway_id=str(uuid.uuid4()), peer_link_id=str(uuid.uuid4()))
    with pytest.raises(cloud.InvalidRequest):
        cloud.list_peer_links(
            region=REGION, gateway_id=str(uuid.uuid4()), names=list("abcdef"), config=config
        )
    with pytest.raises(cloud.InvalidRequest):
        cloud.show_enterprise_router(region=REGION, er_id="nope", config=config)
    assert (
        list(cloud.list_peer_links(region=REGION, gateway_id=str(uuid.uuid4()), ids=[], config=config)) == []
    )


def test_no_secret_reaches_the_logs_over_both_auth_modes(simulator, control, caplog, sleeps, sim_clock):
    gateway, router = control.gateway(quota=10), control.router()
    aksk, token = config_for(simulator), token_config(simulator)
    with caplog.at_level(logging.DEBUG):
        for config in (aksk, token):
            control.next_fault("503", method="GET")
            control.next_fault("drop_create_response", method="POST", path_contains="peer-links")
            link = create_to_router(config, gateway, router, name=f"pl-{config.auth}").peer_link
            with pytest.raises(cloud.Conflict):
                cloud.update_peer_link(
                    region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, name="x", config=config
                )
            show_once_settled(sim_clock, config, gateway["id"], link.id)
            cloud.delete_peer_link(
                region=REGION, gateway_id=gateway["id"], peer_link_id=link.id, config=config
            )
        token_values = [t.value for t in tokens._tokens.values()]
        with pytest.raises(cloud.AuthenticationFailed):
            cloud.get_project_id(
                region=PEER_REGION, config=config_for(simulator, sk="wrong-secret-value-123")
            )
    text = caplog.text
    assert "CreatePeerLink POST" in text
    secrets = [dcsim.DEMO_AK, dcsim.DEMO_SK, dcsim.DEMO_IAM_PASSWORD, "wrong-secret-value-123", *token_values]
    for secret in [*secrets, "Authorization", "X-Auth-Token", "X-Subject-Token", "Signature="]:
        assert secret not in text
    assert token_values


def test_concurrent_threads_share_one_token_and_one_project_lookup(simulator, control, caplog):
    config = token_config(simulator)
    gateway = control.gateway()
    errors: list[Exception] = []

    def work() -> None:
        try:
            for _ in range(3):
                links_on(config, gateway["id"])
        except Exception as exc:
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="peerlinks.cloud"):
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert caplog.text.count("KeystoneCreateUserTokenByPassword POST") == 1
    assert caplog.text.count("ListPeerLinks GET") == 24
