"""Wire models: the seed page's example parses and serialises back without loss; unknown values survive."""

import json
import logging
from datetime import UTC, datetime

from peerlinks import cloud
from peerlinks.cloud.models import format_wire_datetime, parse_wire_datetime


def wire(model: object) -> dict:
    """A parsed body dumped back: exactly the keys that were received, as JSON values."""
    return model.model_dump(mode="json", exclude_unset=True)


SEED_RESPONSE = """{
  "peer_link" : {
    "name" : "dgw-peer-link-94dc",
    "id" : "d6ea4641-9575-4675-ac4f-906884e37f28",
    "tenant_id" : "b197c48159d44a66b32c538c3f8da89a",
    "description" : null,
    "status" : "PENDING_CREATE",
    "reason" : null,
    "created_time" : "2024-12-12T00:16:40.000Z",
    "global_dc_gateway_id" : "335cb548-0ea0-4aff-80f5-502a2dab5325",
    "bandwidth_info" : {
      "bandwidth_size" : 0,
      "gcb_id" : null
    },
    "peer_site" : {
      "gateway_id" : "70e29908-12f8-4d5d-9adf-4da5465b91b2",
      "link_id" : null,
      "region_id" : "cn-southwest-242",
      "site_code" : "cn-southwest-242",
      "project_id" : "b197c48159d44a66b32c538c3f8da89a",
      "type" : "ER"
    },
    "instance_id" : null
  },
  "request_id" : "196ab00b7bbf03be9187606853d80cee"
}"""

SHOW_RESPONSE = {
    "peer_link": {
        "id": "66666666-7777-4888-9999-aaaaaaaaaaaa",
        "name": "pl-to-er-01",
        "tenant_id": "0123456789abcdef0123456789abcdef",
        "description": "test vector",
        "status": "ACTIVE",
        "reason": None,
        "created_time": "2025-01-01T00:00:05.000Z",
        "updated_time": "2025-01-01T00:00:35.796Z",
        "global_dc_gateway_id": "11111111-2222-4333-8444-555555555555",
        "bandwidth_info": {"bandwidth_size": 0, "gcb_id": None},
        "peer_site": {
            "gateway_id": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
            "link_id": "0f0e0d0c-0b0a-4909-8807-060504030201",
            "region_id": "cn-north-4",
            "site_code": "cn-north-4",
            "project_id": "0123456789abcdef0123456789abcdef",
            "type": "ER",
        },
        "create_owner": "dc",
        "instance_id": None,
    },
    "request_id": "d4b6270f377d1cfcb90edd12fc737b1f",
}

GATEWAY = {
    "id": "11111111-2222-4333-8444-555555555555",
    "tenant_id": "0123456789abcdef0123456789abcdef",
    "name": "gdgw-1",
    "description": "",
    "reason": None,
    "enterprise_project_id": "0",
    "global_center_network_id": None,
    "bgp_asn": 64512,
    "region_id": "cn-north-4",
    "location_name": "Beijing",
    "locales": {"en_us": "Beijing", "zh_cn": "北京"},
    "current_peer_link_count": 1,
    "available_peer_link_count": 2,
    "tags": [{"key": "env", "value": "prod"}],
    "admin_state_up": True,
    "status": "ACTIVE",
    "created_time": "2025-01-01T00:00:00.000Z",
    "updated_time": "2025-01-01T00:00:01.000Z",
    "address_family": "ipv4",
}


def test_seed_response_round_trips_with_nulls_key_set_and_key_order():
    original = json.loads(SEED_RESPONSE)
    result = cloud.PeerLinkResult.model_validate_json(SEED_RESPONSE)
    dumped = result.model_dump(mode="json", exclude_unset=True)
    assert dumped == original
    assert json.dumps(dumped) == json.dumps(original)
    assert result.peer_link.status == cloud.PeerLinkStatus.PENDING_CREATE
    assert result.peer_link.peer_site.type == cloud.PeerSiteType.ER
    assert result.peer_link.created_time == datetime(2024, 12, 12, 0, 16, 40, tzinfo=UTC)


def test_recovered_flag_is_never_serialised():
    result = cloud.PeerLinkResult.model_validate_json(SEED_RESPONSE)
    result.recovered = True
    assert "recovered" not in result.model_dump(mode="json")
    assert "recovered" not in result.model_dump_json()


def test_show_response_with_create_owner_and_updated_time_round_trips():
    result = cloud.PeerLinkResult.model_validate(SHOW_RESPONSE)
    assert wire(result) == SHOW_RESPONSE
    assert result.peer_link.create_owner == cloud.CreateOwner.DC


def test_unknown_status_is_kept_as_string_and_logged(caplog):
    body = json.loads(json.dumps(SHOW_RESPONSE))
    body["peer_link"]["status"] = "PENDING_DELETE"
    body["peer_link"]["peer_site"]["type"] = "VGW"
    with caplog.at_level(logging.WARNING, logger="peerlinks.cloud"):
        result = cloud.PeerLinkResult.model_validate(body)
    assert result.peer_link.status == "PENDING_DELETE"
    assert result.peer_link.peer_site.type == "VGW"
    assert wire(result) == body
    assert "PENDING_DELETE" in caplog.text and "VGW" in caplog.text


def test_unknown_keys_are_kept():
    body = json.loads(json.dumps(SHOW_RESPONSE))
    body["peer_link"]["brand_new_field"] = {"x": [1, None]}
    body["extra_envelope_key"] = None
    assert wire(cloud.PeerLinkResult.model_validate(body)) == body


def test_gateway_with_locales_and_tags_round_trips():
    body = {"global_dc_gateway": GATEWAY, "request_id": "ab" * 16}
    result = cloud.GlobalDcGatewayResult.model_validate(body)
    assert wire(result) == body
    assert result.global_dc_gateway.locales.zh_cn == "北京"
    assert result.global_dc_gateway.status == cloud.GlobalDcGatewayStatus.ACTIVE


def test_list_envelopes_with_and_without_page_info_round_trip():
    paged = {
        "peer_links": [SHOW_RESPONSE["peer_link"]],
        "page_info": {"next_marker": "66666666-7777-4888-9999-aaaaaaaaaaaa", "current_count": 1},
        "request_id": "cd" * 16,
    }
    assert wire(cloud.PeerLinkList.model_validate(paged)) == paged
    unpaged = {"global_dc_gateways": [GATEWAY], "request_id": "ef" * 16}
    assert wire(cloud.GlobalDcGatewayList.model_validate(unpaged)) == unpaged


def test_enterprise_router_and_attachment_round_trip():
    router = {
        "id": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
        "name": "er-1",
        "description": "",
        "state": "available",
        "tags": [],
        "charge_mode": "postPaid",
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
        "enterprise_project_id": "0",
        "project_id": "0123456789abcdef0123456789abcdef",
        "asn": 64513,
        "enable_default_propagation": True,
        "enable_default_association": True,
        "default_propagation_route_table_id": None,
        "default_association_route_table_id": None,
        "availability_zone_ids": ["cn-north-4a"],
        "auto_accept_shared_attachments": False,
    }
    model = cloud.EnterpriseRouter.model_validate(router)
    assert wire(model) == router
    assert model.state == cloud.EnterpriseRouterState.AVAILABLE
    attachment = {
        "id": "0f0e0d0c-0b0a-4909-8807-060504030201",
        "name": "gdgw-attachment",
        "state": "available",
        "project_id": "0123456789abcdef0123456789abcdef",
        "er_id": router["id"],
        "resource_id": "11111111-2222-4333-8444-555555555555",
        "resource_type": "gdgw",
        "resource_project_id": "0123456789abcdef0123456789abcdef",
        "associated": False,
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
    }
    assert wire(cloud.ErAttachment.model_validate(attachment)) == attachment


def test_datetimes_parse_with_or_without_z_and_millis_and_serialise_in_wire_form():
    expected = datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC)
    for text in (
        "2025-01-01T00:00:05.000Z",
        "2025-01-01T00:00:05Z",
        "2025-01-01T00:00:05",
        "2025-01-01T00:00:05.000",
    ):
        assert parse_wire_datetime(text) == expected
    assert parse_wire_datetime("2025-01-02T00:00:00.000000Z") == datetime(2025, 1, 2, tzinfo=UTC)
    assert (
        format_wire_datetime(datetime(2025, 1, 1, 0, 0, 35, 796000, tzinfo=UTC)) == "2025-01-01T00:00:35.796Z"
    )


def test_token_repr_never_shows_its_value():
    token = cloud.Token.model_validate(
        {"expires_at": "2025-01-02T00:00:00.000000Z", "project": {"name": "r"}}
    )
    token.value = "MIIsecret-token-value"
    assert "MIIsecret" not in repr(token)
    assert "MIIsecret" not in str(token)
    assert "MIIsecret" not in token.model_dump_json()
