"""Several accounts in the simulator over real HTTP: each sees only its own resources, and an attachment to
another account's router waits for that account to accept or reject it."""

import pytest
import requests

from dcsim import (
    TEAM_B_AK,
    TEAM_B_DOMAIN,
    TEAM_B_IAM_PASSWORD,
    TEAM_B_IAM_USER,
    TEAM_B_SK,
    project_id_for,
)
from dcsim.seed import demo_id
from tests.test_dcsim_api import GDGWS, MISSING, PROJECT, REGION, call

B_PROJECT = project_id_for(REGION, TEAM_B_DOMAIN)
B_GDGWS = f"/v3/{B_PROJECT}/dcaas/global-dc-gateways"
B_ROUTERS = f"/v3/{B_PROJECT}/enterprise-router"
B_KEYS = {"access_key": TEAM_B_AK, "secret_key": TEAM_B_SK}


def as_b(sim, method: str, path: str, **kwargs: object) -> requests.Response:
    return call(sim, method, path, **B_KEYS, **kwargs)


@pytest.fixture
def two_accounts(simulator, sim_clock):
    """A gateway in each account, and a team-b router in the same region, on a clock the test controls."""
    sim = simulator.sim
    a_gateway = sim.add_gateway(name="gdgw-a", region=REGION)
    b_gateway = sim.add_gateway(name="gdgw-b", region=REGION, account=TEAM_B_DOMAIN)
    b_router = sim.add_router(name="er-b", region=REGION, account=TEAM_B_DOMAIN)
    return simulator, a_gateway["id"], b_gateway["id"], b_router["id"]


def link_to_b_router(simulator, gateway_id: str, router_id: str) -> dict:
    site = {"gateway_id": router_id, "project_id": B_PROJECT, "region_id": REGION}
    body = {"peer_link": {"name": "pl-to-b", "peer_site": site}}
    response = call(simulator, "POST", f"{GDGWS}/{gateway_id}/peer-links", body=body)
    assert response.status_code == 201, response.text
    return response.json()["peer_link"]


def test_each_account_sees_and_changes_only_its_own_resources(two_accounts) -> None:
    simulator, a_gateway, b_gateway, b_router = two_accounts
    listed = as_b(simulator, "GET", B_GDGWS).json()["global_dc_gateways"]
    assert [(g["id"], g["tenant_id"]) for g in listed] == [(b_gateway, B_PROJECT)]
    assert [g["id"] for g in call(simulator, "GET", GDGWS).json()["global_dc_gateways"]] == [a_gateway]

    # Another account's ID answers exactly as an unknown one does.
    for gateway_id in (a_gateway, MISSING):
        for method in ("GET", "DELETE"):
            response = as_b(simulator, method, f"{B_GDGWS}/{gateway_id}")
            assert (response.status_code, response.json()["error_code"]) == (404, "DC.0002")
    unknown = call(simulator, "GET", f"/v3/{PROJECT}/enterprise-router/instances/{MISSING}").json()
    theirs = call(simulator, "GET", f"/v3/{PROJECT}/enterprise-router/instances/{b_router}")
    assert theirs.status_code == 404
    assert theirs.json()["error_code"] == unknown["error_code"] == "ER.0002"
    assert call(simulator, "GET", f"/v3/{PROJECT}/enterprise-router/instances").json()["instances"] == []

    # Another account's project in the path is refused outright.
    response = as_b(simulator, "GET", GDGWS)
    assert (response.status_code, response.json()["error_code"]) == (403, "APIGW.0302")
    assert call(simulator, "GET", f"{B_GDGWS}/{b_gateway}").status_code == 403
    assert simulator.sim.state()["global_dc_gateways"] == 2


def test_team_b_gets_its_own_token_and_project_list(two_accounts) -> None:
    simulator, _, b_gateway, _ = two_accounts
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": TEAM_B_IAM_USER,
                    "password": TEAM_B_IAM_PASSWORD,
                    "domain": {"name": TEAM_B_DOMAIN},
                }
            },
        },
        "scope": {"project": {"name": REGION}},
    }
    reply = requests.post(f"{simulator.base_url}/v3/auth/tokens", json={"auth": auth}, timeout=5)
    assert reply.status_code == 201, reply.text
    assert reply.json()["token"]["project"]["id"] == B_PROJECT
    assert reply.json()["token"]["user"]["domain"]["name"] == TEAM_B_DOMAIN
    token = {"X-Auth-Token": reply.headers["X-Subject-Token"]}
    listed = call(simulator, "GET", B_GDGWS, headers=token, signed=False).json()["global_dc_gateways"]
    assert [g["id"] for g in listed] == [b_gateway]
    issued = {"X-Auth-Token": simulator.sim.issue_token(REGION, account=TEAM_B_DOMAIN)}
    assert call(simulator, "GET", B_GDGWS, headers=issued, signed=False).status_code == 200
    assert call(simulator, "GET", GDGWS, headers=token, signed=False).status_code == 403

    b_projects = as_b(simulator, "GET", "/v3/projects", query=f"name={REGION}").json()["projects"]
    a_projects = call(simulator, "GET", "/v3/projects", query=f"name={REGION}").json()["projects"]
    assert [p["id"] for p in b_projects] == [B_PROJECT]
    assert [p["id"] for p in a_projects] == [PROJECT]

    # team-b's password does not open the demo account.
    auth["identity"]["password"]["user"]["domain"] = {"name": "dcsim-demo"}
    assert (
        requests.post(f"{simulator.base_url}/v3/auth/tokens", json={"auth": auth}, timeout=5).status_code
        == 401
    )


def test_shared_router_attachment_waits_and_the_router_owner_accepts_it(two_accounts, sim_clock) -> None:
    simulator, a_gateway, _, b_router = two_accounts
    link = link_to_b_router(simulator, a_gateway, b_router)
    sim_clock.settle()
    shown = call(simulator, "GET", f"{GDGWS}/{a_gateway}/peer-links/{link['id']}").json()["peer_link"]
    assert shown["status"] == "PENDING_CREATE"

    waiting = as_b(
        simulator, "GET", f"{B_ROUTERS}/{b_router}/attachments", query="state=pending_acceptance"
    ).json()["attachments"]
    assert len(waiting) == 1
    attachment = waiting[0]
    assert (attachment["resource_type"], attachment["resource_id"]) == ("gdgw", a_gateway)
    assert (attachment["resource_project_id"], attachment["project_id"]) == (PROJECT, B_PROJECT)
    accept = f"{B_ROUTERS}/{b_router}/attachments/{attachment['id']}/accept"

    # The asking account cannot accept its own attachment: not through its project, nor through team-b's.
    own = call(
        simulator, "POST", f"/v3/{PROJECT}/enterprise-router/{b_router}/attachments/{attachment['id']}/accept"
    )
    assert (own.status_code, own.json()["error_code"]) == (404, "ER.0002")
    assert call(simulator, "POST", accept).status_code == 403

    accepted = as_b(simulator, "POST", accept)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["attachment"]["state"] == "available"
    shown = call(simulator, "GET", f"{GDGWS}/{a_gateway}/peer-links/{link['id']}").json()["peer_link"]
    assert (shown["status"], shown["peer_site"]["link_id"]) == ("ACTIVE", attachment["id"])

    again = as_b(simulator, "POST", accept)
    assert (again.status_code, again.json()["error_code"]) == (409, "ER.0003")
    reject = as_b(simulator, "POST", accept.replace("/accept", "/reject"))
    assert reject.status_code == 409


def test_rejected_attachment_puts_the_peer_link_in_error_with_a_reason(two_accounts, sim_clock) -> None:
    simulator, a_gateway, _, b_router = two_accounts
    link = link_to_b_router(simulator, a_gateway, b_router)
    sim_clock.settle()
    attachment = as_b(simulator, "GET", f"{B_ROUTERS}/{b_router}/attachments").json()["attachments"][0]
    rejected = as_b(simulator, "POST", f"{B_ROUTERS}/{b_router}/attachments/{attachment['id']}/reject")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["attachment"]["state"] == "rejected"
    shown = call(simulator, "GET", f"{GDGWS}/{a_gateway}/peer-links/{link['id']}").json()["peer_link"]
    assert shown["status"] == "ERROR"
    assert "rejected the attachment" in shown["reason"] and "er-b" in shown["reason"]
    missing = as_b(simulator, "POST", f"{B_ROUTERS}/{b_router}/attachments/{MISSING}/reject")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "ER.0002")


def test_a_link_waiting_for_acceptance_can_be_withdrawn(two_accounts, sim_clock) -> None:
    simulator, a_gateway, _, b_router = two_accounts
    link = link_to_b_router(simulator, a_gateway, b_router)
    sim_clock.settle()
    deleted = call(simulator, "DELETE", f"{GDGWS}/{a_gateway}/peer-links/{link['id']}")
    assert deleted.status_code == 204, deleted.text
    sim_clock.settle()
    assert call(simulator, "GET", f"{GDGWS}/{a_gateway}/peer-links/{link['id']}").status_code == 404
    assert as_b(simulator, "GET", f"{B_ROUTERS}/{b_router}/attachments").json()["attachments"] == []


def test_a_router_that_auto_accepts_shared_attachments_needs_no_decision(two_accounts, sim_clock) -> None:
    simulator, a_gateway, _, b_router = two_accounts
    patched = simulator.sim.patch_router(b_router, auto_accept_shared_attachments=True)
    assert patched["auto_accept_shared_attachments"] is True
    shown = as_b(simulator, "GET", f"{B_ROUTERS}/instances/{b_router}").json()["instance"]
    assert shown["auto_accept_shared_attachments"] is True
    link = link_to_b_router(simulator, a_gateway, b_router)
    sim_clock.settle()
    shown = call(simulator, "GET", f"{GDGWS}/{a_gateway}/peer-links/{link['id']}").json()["peer_link"]
    assert shown["status"] == "ACTIVE"
    states = [
        a["state"]
        for a in as_b(simulator, "GET", f"{B_ROUTERS}/{b_router}/attachments").json()["attachments"]
    ]
    assert states == ["available"]


def test_control_api_adds_routers_to_a_named_account_only(simulator) -> None:
    url = f"{simulator.base_url}/_dcsim/enterprise-routers"
    created = requests.post(url, json={"name": "er-b2", "account": TEAM_B_DOMAIN}, timeout=5)
    assert created.status_code == 201 and created.json()["project_id"] == B_PROJECT
    unknown = requests.post(url, json={"name": "er-x", "account": "nobody"}, timeout=5)
    assert unknown.status_code == 400 and "account must be one of" in unknown.json()["error_msg"]


def test_demo_seed_gives_team_b_a_gateway_and_a_router_of_its_own(demo_simulator) -> None:
    gateways = as_b(demo_simulator, "GET", B_GDGWS).json()["global_dc_gateways"]
    assert [g["name"] for g in gateways] == ["gdgw-team-b-edge"]
    routers = as_b(demo_simulator, "GET", f"{B_ROUTERS}/instances").json()["instances"]
    assert [r["id"] for r in routers] == [demo_id("er:team-b-shared")]
    names = [
        r["name"]
        for r in call(demo_simulator, "GET", f"/v3/{PROJECT}/enterprise-router/instances").json()["instances"]
    ]
    assert "er-team-b-shared" not in names
