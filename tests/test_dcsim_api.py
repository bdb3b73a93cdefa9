"""The simulator's DC, ER and IAM routes over real HTTP: shapes, lifecycle, validation, paging and auth."""

import json

import pytest
import requests

from dcsim import DEMO_AK, DEMO_DOMAIN, DEMO_IAM_PASSWORD, DEMO_IAM_USER, DEMO_SK, project_id_for
from dcsim.auth import sign_headers

REGION = "cn-north-4"
PROJECT = project_id_for(REGION)
GDGWS = f"/v3/{PROJECT}/dcaas/global-dc-gateways"
MISSING = "00000000-0000-4000-8000-000000000000"


def call(
    sim,
    method: str,
    path: str,
    *,
    body: object = None,
    query: str = "",
    headers: dict | None = None,
    signed: bool = True,
    access_key: str = DEMO_AK,
    secret_key: str = DEMO_SK,
) -> requests.Response:
    """One request to the simulator, AK/SK-signed with the demo pair unless told otherwise."""
    data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    all_headers = dict(headers or {})
    if signed:
        host = sim.base_url.removeprefix("http://")
        all_headers = sign_headers(
            method=method,
            host=host,
            path=path,
            query=query,
            body=data,
            access_key=access_key,
            secret_key=secret_key,
            headers=headers,
        )
    url = sim.base_url + path + (f"?{query}" if query else "")
    return requests.request(method, url, data=data, headers=all_headers, timeout=5)


def peer_link_body(router_id: str, name: str = "pl-a", **extra: object) -> dict:
    site = {"gateway_id": router_id, "project_id": PROJECT, "region_id": REGION}
    return {"peer_link": {"name": name, "peer_site": site, **extra}}


@pytest.fixture
def estate(simulator, sim_clock):
    """An ACTIVE gateway (quota 3) and an available ER in cn-north-4, on a clock the test controls."""
    gateway = simulator.sim.add_gateway(name="gdgw-a", region=REGION)
    router = simulator.sim.add_router(name="er-a", region=REGION)
    return simulator, gateway["id"], router["id"]


def create_link(simulator, gateway_id: str, router_id: str, name: str = "pl-a") -> dict:
    response = call(
        simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=peer_link_body(router_id, name)
    )
    assert response.status_code == 201, response.text
    return response.json()["peer_link"]


def show_link(simulator, gateway_id: str, link_id: str) -> requests.Response:
    return call(simulator, "GET", f"{GDGWS}/{gateway_id}/peer-links/{link_id}")


def test_create_answers_pending_with_explicit_nulls_and_no_owner_or_update_time(estate) -> None:
    simulator, gateway_id, router_id = estate
    response = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=peer_link_body(router_id))
    body = response.json()
    link = body["peer_link"]
    assert response.status_code == 201
    assert response.headers["X-Request-Id"] == body["request_id"]
    assert link["status"] == "PENDING_CREATE"
    assert link["description"] is None and link["reason"] is None and link["instance_id"] is None
    assert link["bandwidth_info"] == {"bandwidth_size": 0, "gcb_id": None}
    assert link["peer_site"] == {
        "gateway_id": router_id,
        "link_id": None,
        "region_id": REGION,
        "site_code": REGION,
        "project_id": PROJECT,
        "type": "ER",
    }
    assert link["tenant_id"] == PROJECT
    assert "create_owner" not in link and "updated_time" not in link
    assert link["created_time"].endswith("Z") and len(link["created_time"]) == len("2025-01-01T00:00:05.000Z")


def test_link_turns_active_after_the_delay_with_an_er_attachment(estate, sim_clock) -> None:
    simulator, gateway_id, router_id = estate
    link = create_link(simulator, gateway_id, router_id)
    pending = show_link(simulator, gateway_id, link["id"]).json()["peer_link"]
    assert pending["status"] == "PENDING_CREATE" and pending["create_owner"] is None
    sim_clock.advance(1)
    active = show_link(simulator, gateway_id, link["id"]).json()["peer_link"]
    assert active["status"] == "ACTIVE" and active["create_owner"] == "dc" and active["updated_time"]
    attachments = call(simulator, "GET", f"/v3/{PROJECT}/enterprise-router/{router_id}/attachments").json()
    [attachment] = attachments["attachments"]
    assert attachment["id"] == active["peer_site"]["link_id"]
    assert (attachment["resource_type"], attachment["resource_id"], attachment["state"]) == (
        "gdgw",
        gateway_id,
        "available",
    )
    assert "previous_marker" not in attachments["page_info"]


def test_link_to_an_unavailable_er_ends_in_error_naming_the_er(estate, sim_clock) -> None:
    simulator, gateway_id, router_id = estate
    link = create_link(simulator, gateway_id, router_id)
    simulator.sim.set_router_state(router_id, "failed")
    sim_clock.advance(1)
    failed = show_link(simulator, gateway_id, link["id"]).json()["peer_link"]
    assert failed["status"] == "ERROR"
    assert "er-a" in failed["reason"] and "failed" in failed["reason"]
    assert failed["peer_site"]["link_id"] is None


def test_link_between_gateways_gets_a_link_id_and_needs_an_active_peer(estate, sim_clock) -> None:
    simulator, gateway_id, _ = estate
    peer = simulator.sim.add_gateway(name="gdgw-peer", region="cn-east-3")
    down = simulator.sim.add_gateway(name="gdgw-down", region="cn-east-3", status="DOWN")
    links = []
    for target in (peer, down):
        site = {
            "gateway_id": target["id"],
            "project_id": project_id_for("cn-east-3"),
            "region_id": "cn-east-3",
        }
        body = {"peer_link": {"name": f"pl-{target['name']}", "peer_site": site}}
        response = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=body)
        assert response.json()["peer_link"]["peer_site"]["type"] == "GDGW"
        links.append(response.json()["peer_link"]["id"])
    sim_clock.advance(1)
    to_peer, to_down = (show_link(simulator, gateway_id, i).json()["peer_link"] for i in links)
    assert to_peer["status"] == "ACTIVE" and len(to_peer["peer_site"]["link_id"]) == 36
    assert to_down["status"] == "ERROR" and "DOWN" in to_down["reason"]


def test_update_passes_through_pending_update_and_omits_instance_id(estate, sim_clock) -> None:
    simulator, gateway_id, router_id = estate
    link = create_link(simulator, gateway_id, router_id)
    path = f"{GDGWS}/{gateway_id}/peer-links/{link['id']}"
    busy = call(simulator, "PUT", path, body={"peer_link": {"name": "pl-b"}})
    assert (busy.status_code, busy.json()["error_code"], busy.json()["error_msg"]) == (
        409,
        "DC.0001",
        "resource is busy",
    )
    sim_clock.advance(1)
    response = call(simulator, "PUT", path, body={"peer_link": {"name": "pl-b", "description": ""}})
    updated = response.json()["peer_link"]
    assert response.status_code == 200
    assert (updated["name"], updated["description"], updated["status"]) == ("pl-b", "", "PENDING_UPDATE")
    assert "instance_id" not in updated and updated["updated_time"]
    sim_clock.advance(1)
    assert show_link(simulator, gateway_id, link["id"]).json()["peer_link"]["status"] == "ACTIVE"


def test_delete_keeps_the_link_visible_then_404_and_frees_quota(estate, sim_clock) -> None:
    simulator, gateway_id, router_id = estate
    link = create_link(simulator, gateway_id, router_id)
    path = f"{GDGWS}/{gateway_id}/peer-links/{link['id']}"
    assert call(simulator, "DELETE", path).status_code == 409
    sim_clock.advance(1)
    response = call(simulator, "DELETE", path)
    assert (response.status_code, response.content) == (204, b"")
    assert "X-Request-Id" in response.headers
    assert show_link(simulator, gateway_id, link["id"]).json()["peer_link"]["status"] == "ACTIVE"
    gateway = call(simulator, "GET", f"{GDGWS}/{gateway_id}").json()["global_dc_gateway"]
    assert (gateway["current_peer_link_count"], gateway["available_peer_link_count"]) == (1, 2)
    sim_clock.advance(1)
    gone = show_link(simulator, gateway_id, link["id"])
    assert (gone.status_code, gone.json()["error_code"]) == (404, "DC.0002")
    gateway = call(simulator, "GET", f"{GDGWS}/{gateway_id}").json()["global_dc_gateway"]
    assert (gateway["current_peer_link_count"], gateway["available_peer_link_count"]) == (0, 3)
    assert simulator.sim.state()["attachments"] == 0


def test_quota_is_enforced_but_duplicate_targets_and_names_are_not(estate) -> None:
    simulator, gateway_id, router_id = estate
    for _ in range(3):
        create_link(simulator, gateway_id, router_id, name="pl-same")
    response = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=peer_link_body(router_id))
    assert (response.status_code, response.json()["error_code"], response.json()["error_msg"]) == (
        400,
        "DC.0001",
        "peer link quota exceeded",
    )
    gateway = call(simulator, "GET", f"{GDGWS}/{gateway_id}").json()["global_dc_gateway"]
    assert (gateway["current_peer_link_count"], gateway["available_peer_link_count"]) == (3, 0)


def test_missing_gateway_is_404_but_missing_peer_target_is_400(estate) -> None:
    simulator, gateway_id, router_id = estate
    no_gateway = call(simulator, "POST", f"{GDGWS}/{MISSING}/peer-links", body=peer_link_body(router_id))
    assert (no_gateway.status_code, no_gateway.json()["error_code"]) == (404, "DC.0002")
    no_target = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=peer_link_body(MISSING))
    assert (no_target.status_code, no_target.json()["error_code"]) == (400, "DC.0002")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "DC.0000"),
        (b"[]", "DC.0000"),
        ({"name": "pl-a"}, "DC.0000"),
        ({"peer_link": "pl-a"}, "DC.0000"),
        ({"peer_link": {"name": 5, "peer_site": {}}}, "DC.0001"),
        ({"peer_link": {"name": "x" * 65}}, "DC.0001"),
        ({"peer_link": {"name": "bad name!"}}, "DC.0001"),
        ({"peer_link": {"name": "pl-a"}}, "DC.0001"),
        ({"peer_link": {"name": "pl-a", "description": "d" * 129, "peer_site": {}}}, "DC.0001"),
        (
            {"peer_link": {"name": "pl-a", "peer_site": {"gateway_id": "nope", "project_id": PROJECT}}},
            "DC.0001",
        ),
    ],
)
def test_bad_create_bodies_are_refused_with_the_documented_codes(estate, body: object, code: str) -> None:
    simulator, gateway_id, _ = estate
    response = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=body)
    assert (response.status_code, response.json()["error_code"]) == (400, code)
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_unknown_keys_are_ignored_and_charset_is_accepted(estate) -> None:
    simulator, gateway_id, router_id = estate
    body = peer_link_body(router_id, description="ok", colour="blue")
    body["extra"] = True
    headers = {"Content-Type": "application/json;charset=utf-8"}
    response = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=body, headers=headers)
    assert response.status_code == 201
    assert "colour" not in response.json()["peer_link"]


def test_chinese_names_are_valid(estate) -> None:
    simulator, gateway_id, router_id = estate
    assert create_link(simulator, gateway_id, router_id, name="北京-连接_1.0")["name"] == "北京-连接_1.0"


def test_bad_path_ids_are_400_not_404(estate) -> None:
    simulator, gateway_id, _ = estate
    assert call(simulator, "GET", f"{GDGWS}/not-a-uuid").json()["error_code"] == "DC.0001"
    response = call(simulator, "GET", "/v3/nothex/dcaas/global-dc-gateways")
    assert (response.status_code, response.json()["error_code"]) == (400, "DC.0001")


def test_unknown_route_or_method_is_apigw_0101(simulator) -> None:
    for method, path in (("GET", "/v3/nothing"), ("PATCH", GDGWS), ("GET", "/")):
        response = call(simulator, method, path)
        assert (response.status_code, response.json()["error_code"]) == (404, "APIGW.0101")
        assert len(response.headers["X-Request-Id"]) == 32


def test_unsigned_request_needs_a_token(simulator) -> None:
    response = call(simulator, "GET", GDGWS, signed=False)
    assert (response.status_code, response.json()["error_code"]) == (401, "APIGW.0301")
    assert response.json()["error_msg"].endswith("x-auth-token not found")


def test_project_outside_the_account_is_forbidden(simulator) -> None:
    response = call(simulator, "GET", f"/v3/{'ab' * 16}/dcaas/global-dc-gateways")
    assert (response.status_code, response.json()["error_code"]) == (403, "APIGW.0302")


def test_x_project_id_must_match_the_path(simulator) -> None:
    headers = {"X-Project-Id": project_id_for("cn-east-3")}
    assert call(simulator, "GET", GDGWS, headers=headers).status_code == 403
    assert call(simulator, "GET", GDGWS, headers={"X-Project-Id": PROJECT}).status_code == 200


def _token(simulator, scope: dict) -> requests.Response:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": DEMO_IAM_USER,
                        "password": DEMO_IAM_PASSWORD,
                        "domain": {"name": DEMO_DOMAIN},
                    }
                },
            },
            "scope": {"project": scope},
        }
    }
    headers = {"Content-Type": "application/json;charset=utf8"}
    return requests.post(f"{simulator.base_url}/v3/auth/tokens", json=body, headers=headers, timeout=5)


def test_password_token_works_on_dc_routes_of_its_project_only(simulator) -> None:
    response = _token(simulator, {"name": REGION})
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    assert response.json()["token"]["project"]["id"] == PROJECT
    ok = requests.get(simulator.base_url + GDGWS, headers={"X-Auth-Token": token}, timeout=5)
    assert ok.status_code == 200 and ok.json()["global_dc_gateways"] == []
    other = f"/v3/{project_id_for('cn-east-3')}/dcaas/global-dc-gateways"
    assert (
        requests.get(simulator.base_url + other, headers={"X-Auth-Token": token}, timeout=5).status_code
        == 403
    )
    by_id = _token(simulator, {"id": project_id_for("cn-east-3")})
    assert by_id.status_code == 201


def test_wrong_password_and_bad_tokens_are_refused(simulator) -> None:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": DEMO_IAM_USER, "password": "no", "domain": {"name": DEMO_DOMAIN}}
                },
            },
            "scope": {"project": {"name": REGION}},
        }
    }
    assert requests.post(f"{simulator.base_url}/v3/auth/tokens", json=body, timeout=5).status_code == 401
    for token, message in (
        ("garbage", "decrypt token fail"),
        (simulator.sim.issue_token(lifetime=-1), "token expires"),
    ):
        response = requests.get(simulator.base_url + GDGWS, headers={"X-Auth-Token": token}, timeout=5)
        assert response.status_code == 401 and message in response.json()["error_msg"]


def test_projects_lookup_by_region_name_has_the_keystone_shape(simulator) -> None:
    response = call(simulator, "GET", "/v3/projects", query="name=ap-southeast-1")
    [project] = response.json()["projects"]
    assert project["id"] == project_id_for("ap-southeast-1") and project["name"] == "ap-southeast-1"
    assert {"domain_id", "enabled", "description", "parent_id", "is_domain", "links"} <= set(project)
    everything = call(simulator, "GET", "/v3/projects").json()["projects"]
    assert len(everything) == 35


def test_paging_with_limit_marker_sort_and_filters(estate) -> None:
    simulator, gateway_id, router_id = estate
    simulator.sim.patch_gateway(gateway_id, quota=10)
    ids = {create_link(simulator, gateway_id, router_id, name=f"pl-{n}")["id"]: f"pl-{n}" for n in range(5)}
    path = f"{GDGWS}/{gateway_id}/peer-links"
    names, marker = [], None
    while True:
        query = "limit=2&sort_key=name&sort_dir=desc" + (f"&marker={marker}" if marker else "")
        page = call(simulator, "GET", path, query=query).json()
        names += [link["name"] for link in page["peer_links"]]
        assert page["page_info"]["current_count"] == len(page["peer_links"])
        marker = page["page_info"].get("next_marker")
        if not marker:
            break
    assert names == ["pl-4", "pl-3", "pl-2", "pl-1", "pl-0"]
    two_ids = ",".join(list(ids)[:2])
    assert len(call(simulator, "GET", path, query=f"id={two_ids}").json()["peer_links"]) == 2
    by_name = call(simulator, "GET", path, query="name=pl-1&name=pl-3&fields=name&fields=id").json()
    assert sorted(link["name"] for link in by_name["peer_links"]) == ["pl-1", "pl-3"]
    assert set(by_name["peer_links"][0]) == {"id", "name"}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=2001",
        "limit=x",
        "marker=" + MISSING,
        "name=a&name=b&name=c&name=d&name=e&name=f",
        "sort_key=colour",
    ],
)
def test_bad_list_queries_are_dc_0001(estate, query: str) -> None:
    simulator, gateway_id, _ = estate
    response = call(simulator, "GET", f"{GDGWS}/{gateway_id}/peer-links", query=query)
    assert (response.status_code, response.json()["error_code"]) == (400, "DC.0001")


def test_gateway_crud_and_status_filter(simulator, sim_clock) -> None:
    response = call(
        simulator, "POST", GDGWS, body={"global_dc_gateway": {"name": "gdgw-new", "bgp_asn": "64512"}}
    )
    created = response.json()["global_dc_gateway"]
    assert response.status_code == 201 and created["status"] == "DOWN" and created["region_id"] is None
    assert created["current_peer_link_count"] is None and "updated_time" not in created
    assert call(simulator, "GET", GDGWS, query="status=ACTIVE").json()["global_dc_gateways"] == []
    sim_clock.advance(5)
    active = call(simulator, "GET", GDGWS, query="status=ACTIVE,DOWN").json()["global_dc_gateways"]
    assert [(g["status"], g["region_id"]) for g in active] == [("ACTIVE", REGION)]
    renamed = call(
        simulator, "PUT", f"{GDGWS}/{created['id']}", body={"global_dc_gateway": {"name": "gdgw-x"}}
    )
    assert renamed.json()["global_dc_gateway"]["name"] == "gdgw-x"
    assert call(simulator, "DELETE", f"{GDGWS}/{created['id']}").status_code == 204
    assert call(simulator, "GET", f"{GDGWS}/{created['id']}").status_code == 404


def test_quotas_answer_201_without_request_id(simulator) -> None:
    response = call(simulator, "GET", f"/v3/{PROJECT}/dcaas/quotas", query="type=peerLinkPerGdgw")
    assert response.status_code == 201
    assert response.json() == {
        "quotas": {"resources": [{"type": "peerLinkPerGdgw", "quota": 3, "used": 0, "unit": "count"}]}
    }
    assert "X-Request-Id" in response.headers


def test_er_lists_filter_by_state_without_previous_marker(simulator) -> None:
    simulator.sim.add_router(name="er-ok", region=REGION)
    simulator.sim.add_router(name="er-bad", region=REGION, state="failed")
    response = call(simulator, "GET", f"/v3/{PROJECT}/enterprise-router/instances", query="state=failed")
    body = response.json()
    assert [router["name"] for router in body["instances"]] == ["er-bad"]
    assert body["page_info"] == {"current_count": 1} and len(body["request_id"]) == 32
    missing = call(simulator, "GET", f"/v3/{PROJECT}/enterprise-router/instances/{MISSING}")
    assert missing.status_code == 404


def test_huge_body_is_413_and_long_uri_is_414(estate) -> None:
    simulator, gateway_id, _ = estate
    huge = b"{" + b" " * (12 * 1024 * 1024 + 10) + b"}"
    response = requests.post(f"{simulator.base_url}{GDGWS}/{gateway_id}/peer-links", data=huge, timeout=10)
    assert (response.status_code, response.json()["error_code"]) == (413, "APIGW.0201")
    long_query = "name=" + "a" * (33 * 1024)
    response = requests.get(f"{simulator.base_url}{GDGWS}?{long_query}", timeout=5)
    assert (response.status_code, response.json()["error_code"]) == (414, "APIGW.0201")


def test_unexpected_exception_is_a_json_500(simulator, monkeypatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(simulator.sim.store, "list_gateways", explode)
    response = call(simulator, "GET", GDGWS)
    assert (response.status_code, response.json()["error_code"]) == (500, "DC.0003")
    assert "boom" not in response.text
