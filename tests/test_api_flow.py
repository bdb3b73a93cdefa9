"""The README's HTTP API example, for real: a script asks for a link, an approver approves the version they
saw, the worker carries it out against the simulator, and the script sees the link ACTIVE."""

import pytest
import requests

from peerlinks import cloud
from peerlinks.models import ChangeRequest
from peerlinks.services.sync import sync_region
from tests.api_support import get, post, token_for
from tests.conftest import run_tasks_until

REGION = "cn-north-4"


@pytest.fixture
def synced(simulator, sim_clock, settings, transactional_db):
    """An empty simulator with a gateway and a router in cn-north-4, synced into the cache."""
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.CLOUD_MAX_RETRIES = 1
    cloud.clear_caches()
    control = f"{simulator.base_url}/_dcsim"
    requests.put(f"{control}/config", json={"transition_delay": 0.3, "delete_delay": 0.3}, timeout=5)
    for kind, name in (("global-dc-gateways", "gw-core"), ("enterprise-routers", "er-prod")):
        body = {"name": name, "region": REGION, **({"quota": 3} if kind == "global-dc-gateways" else {})}
        assert requests.post(f"{control}/{kind}", json=body, timeout=5).status_code < 300
    assert sync_region(region=REGION).ok
    yield sim_clock
    cloud.clear_caches()


def test_a_script_gets_a_link_through_approval_to_active(client, synced, engineer, approver):
    script, lead = token_for(engineer), token_for(approver)
    gateway = get(client, "/api/v1/gateways", script, region=REGION).json()["items"][0]
    router = get(client, "/api/v1/routers", script, region=REGION).json()["items"][0]
    body = {
        "gateway_id": gateway["id"],
        "peer_type": "ER",
        "peer_id": router["id"],
        "peer_region": REGION,
        "name": "to-er-prod",
        "description": "asked for by the pipeline",
    }
    asked = post(client, "/api/v1/links", body, script, key="pipeline-run-42")
    assert asked.status_code == 201, asked.content
    change = asked.json()
    seen = get(client, f"/api/v1/changes/{change['id']}", lead).json()
    approved = post(
        client, f"/api/v1/changes/{change['id']}/approve", {"payload_digest": seen["payload_digest"]}, lead
    )
    assert approved.json()["state"] == "approved"

    run_tasks_until(ChangeRequest.objects.get(pk=change["id"]), sim_clock=synced)

    done = get(client, f"/api/v1/changes/{change['id']}", script).json()
    assert done["state"] == "done", done["error_msg"]
    link = get(client, f"/api/v1/links/{done['link_id']}", script).json()
    assert link["status"] == "ACTIVE" and link["name"] == "to-er-prod"
    trail = get(client, "/api/v1/audit-events", script, object_id=str(change["id"])).json()["items"]
    assert {event["actor"] for event in trail if event["action"].startswith("change.")} >= {
        "engineer1",
        "lead1",
    }
