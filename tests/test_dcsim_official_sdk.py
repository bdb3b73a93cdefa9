"""The official SDK against the simulator: the whole peer-link lifecycle, no error, no lost field."""

import json

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkdc.v3 import (
    CreateExternalPeerLinkRequestBody,
    CreateExternalPeerLinkRequestBodyPeerLink,
    CreateExternalPeerLinkRequestBodyPeerLinkPeerSite,
    CreatePeerLinkRequest,
    DcClient,
    DeletePeerLinkRequest,
    ListGlobalDcGatewaysRequest,
    ListPeerLinksRequest,
    ShowGlobalDcGatewayRequest,
    ShowPeerLinkRequest,
    ShowQuotasRequest,
    UpdateExternalPeerLinkRequestBody,
    UpdateExternalPeerLinkRequestBodyPeerLink,
    UpdatePeerLinkRequest,
)
from huaweicloudsdker.v3 import (
    AcceptAttachmentRequest,
    ErClient,
    ListAttachmentsRequest,
    ListEnterpriseRoutersRequest,
    RejectAttachmentRequest,
    ShowAttachmentRequest,
    ShowEnterpriseRouterRequest,
)

from dcsim import DEMO_AK, DEMO_DOMAIN, DEMO_SK, TEAM_B_AK, TEAM_B_DOMAIN, TEAM_B_SK, project_id_for
from dcsim.auth import sign_headers

REGION = "cn-north-4"
PROJECT = project_id_for(REGION)


def _config() -> HttpConfig:
    config = HttpConfig.get_default_config()
    config.timeout = (2, 5)
    return config


def _dc(sim, *, ak: str = DEMO_AK, sk: str = DEMO_SK, project_id: str | None = PROJECT) -> DcClient:
    credentials = BasicCredentials(ak, sk, project_id)
    return DcClient.new_builder().with_credentials(credentials).with_endpoints([sim.base_url]).build()


def _er(
    sim, region: str = REGION, *, ak: str = DEMO_AK, sk: str = DEMO_SK, account: str = DEMO_DOMAIN
) -> ErClient:
    credentials = BasicCredentials(ak, sk, project_id_for(region, account))
    return ErClient.new_builder().with_credentials(credentials).with_endpoints([sim.base_url]).build()


def _raw(sim, path: str, query: str = "", *, ak: str = DEMO_AK, sk: str = DEMO_SK) -> dict:
    host = sim.base_url.removeprefix("http://")
    headers = sign_headers(method="GET", host=host, path=path, query=query, access_key=ak, secret_key=sk)
    url = sim.base_url + path + (f"?{query}" if query else "")
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def _normalise(value: object) -> object:
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


def assert_nothing_lost(sdk_model: object, raw: dict) -> None:
    """Every attribute the SDK model declares was sent by the simulator and parsed to the same value."""
    parsed = _normalise(sdk_model.to_dict())
    for key in sdk_model.openapi_types:
        assert key in raw, f"{type(sdk_model).__name__}.{key} missing from the simulator's JSON"
        nested = getattr(sdk_model, key)
        if hasattr(nested, "openapi_types") and isinstance(raw[key], dict):
            assert_nothing_lost(nested, raw[key])
        elif isinstance(nested, list) and nested and hasattr(nested[0], "openapi_types"):
            for model, item in zip(nested, raw[key], strict=True):
                assert_nothing_lost(model, item)
        else:
            assert parsed[key] == raw[key], (
                f"{type(sdk_model).__name__}.{key}: {parsed[key]!r} != {raw[key]!r}"
            )


@pytest.fixture
def estate(simulator):
    """One ACTIVE gateway with room for links, and an available ER in the same region."""
    gateway = simulator.sim.add_gateway(name="gdgw-sdk", region=REGION, quota=5)
    router = simulator.sim.add_router(name="er-sdk", region=REGION)
    return simulator, gateway, router


def test_sdk_runs_the_whole_peer_link_lifecycle_without_losing_a_field(estate, sim_clock) -> None:
    simulator, gateway, router = estate
    dc, er = _dc(simulator), _er(simulator)
    base = f"/v3/{PROJECT}/dcaas/global-dc-gateways"

    listed = dc.list_global_dc_gateways(ListGlobalDcGatewaysRequest())
    assert [g.id for g in listed.global_dc_gateways] == [gateway["id"]]
    assert_nothing_lost(listed.global_dc_gateways[0], _raw(simulator, base)["global_dc_gateways"][0])
    shown = dc.show_global_dc_gateway(ShowGlobalDcGatewayRequest(global_dc_gateway_id=gateway["id"]))
    assert_nothing_lost(
        shown.global_dc_gateway, _raw(simulator, f"{base}/{gateway['id']}")["global_dc_gateway"]
    )

    site = CreateExternalPeerLinkRequestBodyPeerLinkPeerSite(
        gateway_id=router["id"], project_id=PROJECT, region_id=REGION
    )
    created = dc.create_peer_link(
        CreatePeerLinkRequest(
            global_dc_gateway_id=gateway["id"],
            body=CreateExternalPeerLinkRequestBody(
                peer_link=CreateExternalPeerLinkRequestBodyPeerLink(name="pl-sdk", peer_site=site)
            ),
        )
    )
    link_id = created.peer_link.id
    assert created.peer_link.status == "PENDING_CREATE"
    assert created.peer_link.peer_site.type == "ER"
    assert len(created.request_id) == 32

    link_path = f"{base}/{gateway['id']}/peer-links/{link_id}"
    request = ShowPeerLinkRequest(global_dc_gateway_id=gateway["id"], peer_link_id=link_id)
    sim_clock.settle()
    active = dc.show_peer_link(request)
    assert active.peer_link.status == "ACTIVE"
    assert active.peer_link.create_owner == "dc"
    assert active.peer_link.peer_site.link_id
    assert_nothing_lost(active.peer_link, _raw(simulator, link_path)["peer_link"])

    for name in ("pl-sdk-b", "pl-sdk-c"):
        simulator.sim.store.create_peer_link(
            PROJECT,
            gateway["id"],
            name=name,
            description=None,
            peer_gateway_id=router["id"],
            peer_project_id=PROJECT,
            peer_region_id=REGION,
        )
    seen, marker = [], None
    while True:
        page = dc.list_peer_links(
            ListPeerLinksRequest(global_dc_gateway_id=gateway["id"], limit=2, marker=marker, sort_key="name")
        )
        seen += [link.name for link in page.peer_links]
        marker = page.page_info.next_marker
        if not marker:
            break
    assert seen == ["pl-sdk", "pl-sdk-b", "pl-sdk-c"]
    filtered = dc.list_peer_links(
        ListPeerLinksRequest(
            global_dc_gateway_id=gateway["id"], name=["pl-sdk-b", "pl-sdk"], fields=["id", "name"]
        )
    )
    assert sorted(link.name for link in filtered.peer_links) == ["pl-sdk", "pl-sdk-b"]
    assert filtered.peer_links[0].status is None
    full_list = dc.list_peer_links(ListPeerLinksRequest(global_dc_gateway_id=gateway["id"], id=[link_id]))
    raw_list = _raw(simulator, f"{base}/{gateway['id']}/peer-links", f"id={link_id}")
    assert_nothing_lost(full_list.peer_links[0], raw_list["peer_links"][0])

    updated = dc.update_peer_link(
        UpdatePeerLinkRequest(
            global_dc_gateway_id=gateway["id"],
            peer_link_id=link_id,
            body=UpdateExternalPeerLinkRequestBody(
                peer_link=UpdateExternalPeerLinkRequestBodyPeerLink(
                    name="pl-sdk-renamed", description="now described"
                )
            ),
        )
    )
    assert updated.peer_link.name == "pl-sdk-renamed"
    assert updated.peer_link.updated_time
    sim_clock.settle()
    settled = dc.show_peer_link(request)
    assert settled.peer_link.status == "ACTIVE"
    assert settled.peer_link.description == "now described"

    routers = er.list_enterprise_routers(ListEnterpriseRoutersRequest())
    raw_routers = _raw(simulator, f"/v3/{PROJECT}/enterprise-router/instances")
    assert_nothing_lost(routers.instances[0], raw_routers["instances"][0])
    shown_router = er.show_enterprise_router(ShowEnterpriseRouterRequest(er_id=router["id"]))
    assert shown_router.instance.state == "available"
    attachments = er.list_attachments(ListAttachmentsRequest(er_id=router["id"], resource_type=["gdgw"]))
    attachment = next(a for a in attachments.attachments if a.id == active.peer_link.peer_site.link_id)
    assert (attachment.resource_type, attachment.state, attachment.resource_id) == (
        "gdgw",
        "available",
        gateway["id"],
    )
    raw_attachments = _raw(simulator, f"/v3/{PROJECT}/enterprise-router/{router['id']}/attachments")
    assert_nothing_lost(
        attachment, next(a for a in raw_attachments["attachments"] if a["id"] == attachment.id)
    )
    shown_attachment = er.show_attachment(
        ShowAttachmentRequest(er_id=router["id"], attachment_id=attachment.id)
    )
    assert shown_attachment.attachment.resource_id == gateway["id"]

    deleted = dc.delete_peer_link(
        DeletePeerLinkRequest(global_dc_gateway_id=gateway["id"], peer_link_id=link_id)
    )
    assert deleted.status_code == 204
    sim_clock.settle()
    with pytest.raises(ClientRequestException) as gone:
        dc.show_peer_link(request)
    assert (gone.value.status_code, gone.value.error_code) == (404, "DC.0002")
    remaining = er.list_attachments(ListAttachmentsRequest(er_id=router["id"]))
    assert attachment.id not in [a.id for a in remaining.attachments]


def test_sdk_discovers_the_project_through_iam(estate, monkeypatch) -> None:
    simulator, gateway, _ = estate
    region = Region(REGION, simulator.base_url)
    credentials = BasicCredentials(DEMO_AK, DEMO_SK).with_iam_endpoint(simulator.base_url)
    BasicCredentials._CACHE.clear()
    client = DcClient.new_builder().with_credentials(credentials).with_region(region).build()
    assert credentials.project_id == PROJECT
    listed = client.list_global_dc_gateways(ListGlobalDcGatewaysRequest())
    assert [g.id for g in listed.global_dc_gateways] == [gateway["id"]]


def test_sdk_show_quotas_gets_201_without_request_id(estate) -> None:
    simulator, _, _ = estate
    quotas = _dc(simulator).show_quotas(ShowQuotasRequest(type=["peerLinkPerGdgw"]))
    assert [(item.type, item.quota) for item in quotas.quotas.resources] == [("peerLinkPerGdgw", 3)]


@pytest.mark.parametrize(
    ("ak", "sk", "message"),
    [
        (DEMO_AK, "wrong-secret", "verify aksk signature fail"),
        ("UNKNOWNAK00000000000", DEMO_SK, "err:ak not exist"),
    ],
)
def test_sdk_sees_401_with_code_message_and_request_id(simulator, ak: str, sk: str, message: str) -> None:
    with pytest.raises(ClientRequestException) as caught:
        _dc(simulator, ak=ak, sk=sk).list_global_dc_gateways(ListGlobalDcGatewaysRequest())
    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301")
    assert message in caught.value.error_msg
    assert len(caught.value.request_id) == 32


def test_sdk_with_a_skewed_clock_is_refused(simulator, sim_clock) -> None:
    sim_clock.advance(20 * 60)
    with pytest.raises(ClientRequestException) as caught:
        _dc(simulator).list_global_dc_gateways(ListGlobalDcGatewaysRequest())
    assert caught.value.status_code == 401
    assert "signature expired" in caught.value.error_msg


def test_sdk_parses_validation_and_not_found_errors(estate) -> None:
    simulator, gateway, _ = estate
    dc = _dc(simulator)
    site = CreateExternalPeerLinkRequestBodyPeerLinkPeerSite(
        gateway_id="00000000-0000-4000-8000-000000000000", project_id=PROJECT, region_id=REGION
    )
    body = CreateExternalPeerLinkRequestBody(
        peer_link=CreateExternalPeerLinkRequestBodyPeerLink(name="x" * 65, peer_site=site)
    )
    with pytest.raises(ClientRequestException) as caught:
        dc.create_peer_link(CreatePeerLinkRequest(global_dc_gateway_id=gateway["id"], body=body))
    assert (caught.value.status_code, caught.value.error_code) == (400, "DC.0001")
    body.peer_link.name = "pl-ok"
    with pytest.raises(ClientRequestException) as caught:
        dc.create_peer_link(CreatePeerLinkRequest(global_dc_gateway_id=gateway["id"], body=body))
    assert (caught.value.status_code, caught.value.error_code) == (400, "DC.0002")
    with pytest.raises(ClientRequestException) as caught:
        dc.show_peer_link(ShowPeerLinkRequest(global_dc_gateway_id=gateway["id"], peer_link_id="not-a-uuid"))
    assert (caught.value.status_code, caught.value.error_code) == (400, "DC.0001")


def test_sdk_sees_injected_500_as_server_error_with_request_id(estate) -> None:
    simulator, _, _ = estate
    simulator.sim.queue_fault("500")
    with pytest.raises(ServerResponseException) as caught:
        _dc(simulator).list_global_dc_gateways(ListGlobalDcGatewaysRequest())
    assert (caught.value.status_code, caught.value.error_code) == (500, "DC.0003")
    assert len(caught.value.request_id) == 32


def test_sdk_create_answers_429_with_the_gateway_code(estate) -> None:
    simulator, gateway, router = estate
    simulator.sim.queue_fault("429", method="POST")
    site = CreateExternalPeerLinkRequestBodyPeerLinkPeerSite(
        gateway_id=router["id"], project_id=PROJECT, region_id=REGION
    )
    body = CreateExternalPeerLinkRequestBody(
        peer_link=CreateExternalPeerLinkRequestBodyPeerLink(name="a", peer_site=site)
    )
    with pytest.raises(ClientRequestException) as caught:
        _dc(simulator).create_peer_link(CreatePeerLinkRequest(global_dc_gateway_id=gateway["id"], body=body))
    assert (caught.value.status_code, caught.value.error_code) == (429, "APIGW.0308")
    assert json.loads(json.dumps(simulator.sim.state()))["peer_links"] == 0


def test_sdk_lists_accepts_and_rejects_attachments_to_a_shared_router(simulator, sim_clock) -> None:
    """Two peer links from the demo account to team-b's router: team-b accepts one and rejects the other."""
    gateway = simulator.sim.add_gateway(name="gdgw-sdk", region=REGION, quota=5)
    router = simulator.sim.add_router(name="er-team-b", region=REGION, account=TEAM_B_DOMAIN)
    b_project = project_id_for(REGION, TEAM_B_DOMAIN)
    dc = _dc(simulator)
    site = CreateExternalPeerLinkRequestBodyPeerLinkPeerSite(
        gateway_id=router["id"], project_id=b_project, region_id=REGION
    )
    links = [
        dc.create_peer_link(
            CreatePeerLinkRequest(
                global_dc_gateway_id=gateway["id"],
                body=CreateExternalPeerLinkRequestBody(
                    peer_link=CreateExternalPeerLinkRequestBodyPeerLink(name=name, peer_site=site)
                ),
            )
        ).peer_link
        for name in ("pl-accepted", "pl-rejected")
    ]
    sim_clock.settle()

    team_b = _er(simulator, ak=TEAM_B_AK, sk=TEAM_B_SK, account=TEAM_B_DOMAIN)
    waiting = team_b.list_attachments(
        ListAttachmentsRequest(er_id=router["id"], state=["pending_acceptance"])
    )
    assert len(waiting.attachments) == 2
    raw = _raw(
        simulator, f"/v3/{b_project}/enterprise-router/{router['id']}/attachments", ak=TEAM_B_AK, sk=TEAM_B_SK
    )
    for model, item in zip(waiting.attachments, raw["attachments"], strict=True):
        assert_nothing_lost(model, item)
    by_link = {a.description.removeprefix("Created for peer link "): a.id for a in waiting.attachments}
    accepted_id, rejected_id = by_link[links[0].id], by_link[links[1].id]

    # The demo account cannot decide on team-b's router.
    with pytest.raises(ClientRequestException) as refused:
        _er(simulator).accept_attachment(
            AcceptAttachmentRequest(er_id=router["id"], attachment_id=accepted_id)
        )
    assert (refused.value.status_code, refused.value.error_code) == (404, "ER.0002")

    accepted = team_b.accept_attachment(
        AcceptAttachmentRequest(er_id=router["id"], attachment_id=accepted_id)
    )
    assert (accepted.attachment.id, accepted.attachment.state) == (accepted_id, "available")
    assert accepted.attachment.resource_project_id == PROJECT and accepted.request_id
    assert accepted.status_code == 202
    rejected = team_b.reject_attachment(
        RejectAttachmentRequest(er_id=router["id"], attachment_id=rejected_id)
    )
    assert (rejected.attachment.id, rejected.attachment.state) == (rejected_id, "rejected")
    assert rejected.status_code == 200
    with pytest.raises(ClientRequestException) as twice:
        team_b.accept_attachment(AcceptAttachmentRequest(er_id=router["id"], attachment_id=rejected_id))
    assert (twice.value.status_code, twice.value.error_code) == (409, "ER.0003")

    statuses = [
        dc.show_peer_link(
            ShowPeerLinkRequest(global_dc_gateway_id=gateway["id"], peer_link_id=link.id)
        ).peer_link
        for link in links
    ]
    assert [link.status for link in statuses] == ["ACTIVE", "ERROR"]
    assert "rejected the attachment" in statuses[1].reason
