"""Fault injection, the /_dcsim/ control routes, the demo seed and the command-line entry point."""

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from dcsim import DEMO_AK, DEMO_SK, project_id_for
from dcsim.auth import sign_headers

REGION = "cn-north-4"
PROJECT = project_id_for(REGION)
GDGWS = f"/v3/{PROJECT}/dcaas/global-dc-gateways"


def call(sim, method: str, path: str, *, body: object = None, timeout: float = 5) -> requests.Response:
    """One demo-signed API request."""
    data = b"" if body is None else json.dumps(body).encode()
    host = sim.base_url.removeprefix("http://")
    headers = sign_headers(
        method=method, host=host, path=path, body=data, access_key=DEMO_AK, secret_key=DEMO_SK
    )
    return requests.request(method, sim.base_url + path, data=data, headers=headers, timeout=timeout)


def control(sim, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/_dcsim/{path}", json=body, timeout=5)


@pytest.fixture
def estate(simulator):
    gateway = simulator.sim.add_gateway(name="gdgw-a", region=REGION)
    router = simulator.sim.add_router(name="er-a", region=REGION)
    body = {
        "peer_link": {
            "name": "pl-a",
            "peer_site": {"gateway_id": router["id"], "project_id": PROJECT, "region_id": REGION},
        }
    }
    return simulator, f"{GDGWS}/{gateway['id']}/peer-links", body


def test_dropped_connection_is_a_connection_error_and_the_next_call_works(simulator) -> None:
    control(simulator, "POST", "faults/next", {"fault": "drop"})
    with pytest.raises(requests.ConnectionError):
        call(simulator, "GET", GDGWS)
    assert call(simulator, "GET", GDGWS).status_code == 200


def test_dropped_create_response_still_commits_the_link(estate) -> None:
    simulator, links, body = estate
    simulator.sim.queue_fault("drop_create_response", method="POST", path_contains="peer-links")
    with pytest.raises(requests.ConnectionError):
        call(simulator, "POST", links, body=body)
    listed = call(simulator, "GET", links).json()["peer_links"]
    assert [link["name"] for link in listed] == ["pl-a"]


@pytest.mark.parametrize(("fault", "status", "code"), [("500", 500, "DC.0003"), ("503", 503, "APIGW.0202")])
def test_one_shot_server_errors_hit_only_the_next_request(
    simulator, fault: str, status: int, code: str
) -> None:
    simulator.sim.queue_fault(fault)
    response = call(simulator, "GET", GDGWS)
    assert (response.status_code, response.json()["error_code"]) == (status, code)
    assert response.json()["request_id"] == response.headers["X-Request-Id"]
    assert call(simulator, "GET", GDGWS).status_code == 200


def test_throttle_answers_429_with_retry_after(simulator) -> None:
    simulator.sim.set_faults(retry_after=7)
    simulator.sim.queue_fault("429")
    response = call(simulator, "GET", GDGWS)
    assert (response.status_code, response.json()["error_code"]) == (429, "APIGW.0308")
    assert response.headers["Retry-After"] == "7"


def test_timeout_fault_outlasts_a_short_read_timeout(simulator) -> None:
    simulator.sim.queue_fault("timeout", latency_ms=600)
    with pytest.raises(requests.ReadTimeout):
        call(simulator, "GET", GDGWS, timeout=0.2)


def test_latency_fault_delays_but_answers(simulator) -> None:
    simulator.sim.queue_fault("latency", latency_ms=200)
    started = time.monotonic()
    assert call(simulator, "GET", GDGWS).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_one_shot_faults_wait_for_a_matching_method_and_path(estate) -> None:
    simulator, links, body = estate
    simulator.sim.queue_fault("500", method="POST", path_contains="peer-links", count=2)
    assert call(simulator, "GET", links).status_code == 200
    assert call(simulator, "POST", links, body=body).status_code == 500
    assert call(simulator, "POST", links, body=body).status_code == 500
    assert call(simulator, "POST", links, body=body).status_code == 201


def test_rates_of_one_always_fire(simulator) -> None:
    simulator.sim.set_faults(error_rate=1.0, seed=4)
    assert {call(simulator, "GET", GDGWS).status_code for _ in range(6)} <= {500, 503}
    simulator.sim.set_faults(error_rate=0.0, throttle_rate=1.0)
    assert call(simulator, "GET", GDGWS).status_code == 429
    simulator.sim.set_faults(throttle_rate=0.0, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        call(simulator, "GET", GDGWS)
    simulator.sim.clear_faults()
    assert call(simulator, "GET", GDGWS).status_code == 200


def test_same_fault_seed_gives_the_same_sequence(simulator) -> None:
    def run() -> list[int]:
        simulator.sim.set_faults(error_rate=0.5, seed=42)
        return [call(simulator, "GET", GDGWS).status_code for _ in range(8)]

    assert run() == run()


def test_error_on_activate_rate_ends_links_in_error(estate) -> None:
    simulator, links, body = estate
    simulator.sim.set_faults(error_on_activate_rate=1.0)
    simulator.sim.set_config(transition_delay=0)
    link_id = call(simulator, "POST", links, body=body).json()["peer_link"]["id"]
    shown = call(simulator, "GET", f"{links}/{link_id}").json()["peer_link"]
    assert shown["status"] == "ERROR" and "fault injection" in shown["reason"]


def test_control_routes_manage_faults_config_and_state(simulator) -> None:
    assert (
        control(simulator, "PUT", "faults", {"latency_ms": 5, "throttle_rate": 0.0}).json()["latency_ms"] == 5
    )
    assert control(simulator, "PUT", "faults", {"retry_after": 3}).json()["latency_ms"] == 5
    assert control(simulator, "PUT", "faults", {"bogus": 1}).status_code == 400
    assert control(simulator, "POST", "faults/next", {"fault": "503", "count": 2}).status_code == 201
    assert len(control(simulator, "GET", "faults").json()["queued"]) == 2
    cleared = control(simulator, "DELETE", "faults").json()
    assert cleared["latency_ms"] == 0 and cleared["queued"] == []
    config = control(simulator, "PUT", "config", {"peer_link_quota": 4, "delete_delay": 1}).json()
    assert config == {"transition_delay": 0.2, "delete_delay": 1.0, "peer_link_quota": 4}
    gateway = control(
        simulator, "POST", "global-dc-gateways", {"name": "gdgw-c", "region": "cn-east-3"}
    ).json()
    assert gateway["available_peer_link_count"] == 4 and gateway["tenant_id"] == project_id_for("cn-east-3")
    router = control(simulator, "POST", "enterprise-routers", {"name": "er-c", "region": "cn-east-3"}).json()
    assert control(simulator, "PATCH", f"enterprise-routers/{router['id']}", {"state": "failed"}).json()[
        "state"
    ] == ("failed")
    state = control(simulator, "GET", "state").json()
    assert (state["global_dc_gateways"], state["enterprise_routers"]) == (1, 1)
    control(simulator, "POST", "reset", {"seed": "empty"})
    assert control(simulator, "GET", "config").json()["peer_link_quota"] == 3
    assert control(simulator, "GET", "state").json()["global_dc_gateways"] == 0


def test_forcing_a_link_simulates_a_change_outside_the_portal(estate) -> None:
    simulator, links, body = estate
    link_id = call(simulator, "POST", links, body=body).json()["peer_link"]["id"]
    forced = control(simulator, "PATCH", f"peer-links/{link_id}", {"status": "ERROR", "reason": "cable cut"})
    assert forced.status_code == 200
    shown = call(simulator, "GET", f"{links}/{link_id}").json()["peer_link"]
    assert (shown["status"], shown["reason"]) == ("ERROR", "cable cut")
    assert control(simulator, "PATCH", f"peer-links/{link_id}", {"status": "DELETING"}).status_code == 400


def test_demo_seed_has_regions_gateways_and_mixed_statuses(demo_simulator) -> None:
    regions = ("cn-north-4", "cn-east-3", "ap-southeast-1")
    gateways, links = [], []
    for region in regions:
        path = f"/v3/{project_id_for(region)}/dcaas/global-dc-gateways"
        found = call(demo_simulator, "GET", path).json()["global_dc_gateways"]
        assert found, region
        gateways += found
        for gateway in found:
            links += call(demo_simulator, "GET", f"{path}/{gateway['id']}/peer-links").json()["peer_links"]
        routers = call(
            demo_simulator, "GET", f"/v3/{project_id_for(region)}/enterprise-router/instances"
        ).json()
        assert routers["instances"], region
    assert len(gateways) >= 4
    assert [g for g in gateways if g["available_peer_link_count"] == 0 and g["current_peer_link_count"] > 0]
    assert {"ACTIVE", "PENDING_CREATE", "ERROR"} <= {link["status"] for link in links}
    assert any(link["peer_site"]["type"] == "GDGW" for link in links)
    cloud_connect = [link for link in links if link["create_owner"] == "cc"]
    assert cloud_connect and cloud_connect[0]["instance_id"] and cloud_connect[0]["bandwidth_info"]["gcb_id"]
    assert all(link["peer_site"]["link_id"] for link in links if link["status"] == "ACTIVE")


def test_demo_seed_is_the_same_every_time(demo_simulator) -> None:
    first = call(demo_simulator, "GET", GDGWS).json()["global_dc_gateways"]
    demo_simulator.reset(seed="demo")
    assert call(demo_simulator, "GET", GDGWS).json()["global_dc_gateways"] == first


def test_command_line_serves_until_interrupted(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    env.pop("CLOUD_SDK_SK", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "dcsim", "--port", "0", "--seed", "demo", "--quiet"],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the simulator printed nothing in 30 s"
        line = process.stdout.readline()
        assert DEMO_AK in line
        url = line.split()[2]
        assert requests.get(f"{url}/_dcsim/state", timeout=5).json()["global_dc_gateways"] >= 4
    finally:
        process.send_signal(signal.SIGINT)
        try:
            # Seconds, not one: it took over 5 s once in CI with both cores busy with other tests.
            returncode = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
            raise
    assert returncode == 0
