"""Change requests executed for real: the simulator as the cloud, the database task backend as the queue.

Queued tasks run in-process through `db_worker --batch`, in a loop, until the request is final; between
rounds the simulator's clock moves past its delays, so links settle without the test waiting for them.
"""

from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks import cloud
from peerlinks.models import AuditEvent, ChangeRequest, CloudProject, EnterpriseRouter, Gateway, PeerLink
from peerlinks.services import changes, execution
from peerlinks.services.sync import sync_region
from tests.conftest import followed_panel, live_version, run_tasks_until
from tests.test_webhooks import Event, _check_signature, _subscribe, receiver  # noqa: F401 (a fixture)

# These tests are about carrying changes out: the policy approves every change at submission.
pytestmark = pytest.mark.usefixtures("no_approvals")

REGION = "cn-north-4"
OTHER_REGION = "cn-east-3"


class Cloud:
    """The simulator as the test sees it: its control routes and what the portal's client reads."""

    def __init__(self, base_url: str, clock) -> None:
        self.base = base_url
        self.clock = clock

    def control(self, verb: str, path: str, **body: object) -> dict:
        response = requests.request(verb, f"{self.base}/_dcsim/{path}", json=body, timeout=5)
        assert response.status_code < 300, response.text
        return response.json()

    def links(self, gateway: Gateway) -> list:
        return list(cloud.list_peer_links(region=gateway.region, gateway_id=gateway.cloud_id))

    def run_worker(self, change: ChangeRequest, *, until=None) -> ChangeRequest:
        """Run queued tasks until the change is final (or `until(change)` holds); the simulator's clock
        moves past its delays between rounds."""
        return run_tasks_until(change, sim_clock=self.clock, until=until)


@pytest.fixture
def sim(simulator, sim_clock, settings, transactional_db):
    """An empty simulator with one gateway (quota 3) and two routers in cn-north-4, synced into the cache."""
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION, OTHER_REGION]
    settings.PENDING_RECHECK_INTERVAL = 0.02
    settings.CLOUD_MAX_RETRIES = 1
    cloud.clear_caches()
    handle = Cloud(simulator.base_url, sim_clock)
    handle.control("PUT", "config", transition_delay=0.3, delete_delay=0.3)
    handle.control("POST", "global-dc-gateways", name="gw-core", region=REGION, quota=3)
    handle.control("POST", "enterprise-routers", name="er-prod", region=REGION)
    handle.control("POST", "enterprise-routers", name="er-dev", region=REGION)
    handle.control("POST", "enterprise-routers", name="er-east", region=OTHER_REGION)
    handle.control("POST", "global-dc-gateways", name="gw-east", region=OTHER_REGION)
    for region in (REGION, OTHER_REGION):
        assert sync_region(region=region).ok
    yield handle
    cloud.clear_caches()


@pytest.fixture
def gateway(sim) -> Gateway:
    return Gateway.objects.get(name="gw-core")


def router(name: str) -> EnterpriseRouter:
    return EnterpriseRouter.objects.get(name=name)


def submit_create(user, gateway: Gateway, peer: EnterpriseRouter, name: str = "to-er") -> ChangeRequest:
    payload = {
        "name": name,
        "description": "made by a test",
        "peer_type": "ER",
        "peer_gateway_id": peer.cloud_id,
        "peer_region": peer.region,
    }
    return changes.submit_change(user=user, kind="create", gateway=gateway, payload=payload)


def actions(change: ChangeRequest) -> list[str]:
    return list(change.audit_events.order_by("at", "id").values_list("action", flat=True))


def test_create_to_an_available_router_ends_done_with_the_link_active(sim, gateway, engineer):
    change = sim.run_worker(submit_create(engineer, gateway, router("er-prod")))
    assert change.state == ChangeRequest.State.DONE
    assert change.error_code == ""
    link = change.peer_link
    assert link.status == "ACTIVE"
    assert link.link_id  # the ER attachment made on activation
    assert [(s.from_status, s.to_status) for s in link.status_changes.all()] == [
        ("", "PENDING_CREATE"),
        ("PENDING_CREATE", "ACTIVE"),
    ]
    assert change.cloud_request_ids
    assert actions(change) == [
        "change.submitted",
        "change.approved",
        "peer_link.created",
        "change.done",
    ]
    created = change.audit_events.get(action="peer_link.created")
    assert created.cloud_request_id == change.cloud_request_ids[0]
    assert created.actor == engineer
    assert len(sim.links(gateway)) == 1


def test_create_to_another_gateway_ends_done(sim, gateway, engineer):
    peer = Gateway.objects.get(name="gw-east")
    payload = {
        "name": "gw-to-gw",
        "peer_type": "GDGW",
        "peer_gateway_id": peer.cloud_id,
        "peer_region": OTHER_REGION,
    }
    change = changes.submit_change(user=engineer, kind="create", gateway=gateway, payload=payload)
    change = sim.run_worker(change)
    assert change.state == ChangeRequest.State.DONE, change.error_msg
    assert change.peer_link.peer_type == "GDGW"
    assert change.peer_link.status == "ACTIVE"


def test_create_to_a_router_that_fails_meanwhile_ends_failed_with_the_reason(sim, gateway, engineer):
    sim.control("PUT", "config", transition_delay=60)  # settles only when the test moves the clock
    er = router("er-prod")
    change = sim.run_worker(submit_create(engineer, gateway, er), until=lambda c: c.peer_link_id is not None)
    assert change.state == ChangeRequest.State.EXECUTING
    sim.control("PATCH", f"enterprise-routers/{er.cloud_id}", state="failed")
    change = sim.run_worker(change)
    assert change.state == ChangeRequest.State.FAILED
    assert change.error_code == execution.LINK_ERROR
    assert "is failed, expected available" in change.error_msg
    assert change.peer_link.status == "ERROR"
    assert "is failed" in change.peer_link.reason


def test_create_is_not_sent_when_the_router_is_no_longer_available(sim, gateway, engineer):
    er = router("er-prod")
    change = submit_create(engineer, gateway, er)
    sim.control("PATCH", f"enterprise-routers/{er.cloud_id}", state="failed")
    change = sim.run_worker(change)
    assert change.state == ChangeRequest.State.FAILED
    assert change.error_code == execution.PRECHECK_FAILED
    assert "nothing was sent" in change.error_msg
    assert sim.links(gateway) == []


def test_create_is_not_sent_when_the_cloud_has_no_quota_left(sim, gateway, engineer):
    sim.control("PATCH", f"global-dc-gateways/{gateway.cloud_id}", quota=0)
    change = sim.run_worker(submit_create(engineer, gateway, router("er-prod")))
    assert change.state == ChangeRequest.State.FAILED
    assert "no peer-link quota left in the cloud" in change.error_msg
    assert sim.links(gateway) == []


def test_a_permanent_cloud_refusal_ends_failed_with_the_clouds_code_and_message(sim, gateway, engineer):
    # The cached project of the peer's region is stale: the cloud answers 400 DC.0002.
    CloudProject.objects.filter(region=OTHER_REGION).update(project_id="f" * 32)
    change = sim.run_worker(submit_create(engineer, gateway, router("er-east")))
    assert change.state == ChangeRequest.State.FAILED
    assert change.attempts == 1
    assert change.error_code == "DC.0002"
    assert change.error_msg.startswith("Huawei Cloud refused the request: ")
    assert "does not exist" in change.error_msg
    assert "HTTP 400" not in change.error_msg
    assert "HTTP 400 DC.0002" in change.error_detail
    assert sim.links(gateway) == []


def test_a_dropped_create_response_still_makes_exactly_one_link(sim, gateway, engineer):
    sim.control("POST", "faults/next", fault="drop_create_response", method="POST")
    change = sim.run_worker(submit_create(engineer, gateway, router("er-prod")))
    assert change.state == ChangeRequest.State.DONE
    assert len(sim.links(gateway)) == 1
    assert change.peer_link.cloud_id == sim.links(gateway)[0].id
    assert PeerLink.objects.filter(gateway=gateway).count() == 1


def test_transient_errors_are_retried_until_the_create_goes_through(sim, gateway, engineer):
    sim.control("POST", "faults/next", fault="503", method="POST", count=2)
    change = sim.run_worker(submit_create(engineer, gateway, router("er-prod")))
    assert change.state == ChangeRequest.State.DONE
    assert change.attempts == 3
    assert actions(change).count("change.retry_scheduled") == 2
    assert len(sim.links(gateway)) == 1


def test_transient_errors_end_failed_once_attempts_run_out(sim, gateway, engineer, settings):
    settings.CHANGE_MAX_ATTEMPTS = 2
    sim.control("POST", "faults/next", fault="503", method="POST", count=5)
    change = sim.run_worker(submit_create(engineer, gateway, router("er-prod")))
    assert change.state == ChangeRequest.State.FAILED
    assert change.attempts == 2
    assert "Gave up after 2 attempts" in change.error_msg
    assert sim.links(gateway) == []


def test_rename_ends_done_and_updates_the_cache_with_before_and_after(sim, gateway, engineer):
    link = sim.run_worker(submit_create(engineer, gateway, router("er-prod"), name="old-name")).peer_link
    change = changes.submit_change(
        user=engineer,
        kind="update",
        gateway=gateway,
        payload={"name": "new-name", "description": "renamed"},
        peer_link=link,
    )
    change = sim.run_worker(change)
    assert change.state == ChangeRequest.State.DONE
    link.refresh_from_db()
    assert (link.name, link.description, link.status) == ("new-name", "renamed", "ACTIVE")
    event = change.audit_events.get(action="peer_link.updated")
    assert event.before == {"name": "old-name", "description": "made by a test"}
    assert event.after == {"name": "new-name", "description": "renamed"}
    assert event.cloud_request_id
    assert [cloud_link.name for cloud_link in sim.links(gateway)] == ["new-name"]


def test_delete_ends_done_and_the_link_is_gone(sim, gateway, engineer):
    link = sim.run_worker(submit_create(engineer, gateway, router("er-prod"))).peer_link
    change = sim.run_worker(
        changes.submit_change(user=engineer, kind="delete", gateway=gateway, payload={}, peer_link=link)
    )
    assert change.state == ChangeRequest.State.DONE
    link.refresh_from_db()
    assert link.gone_at is not None
    assert sim.links(gateway) == []
    assert "peer_link.delete_sent" in actions(change)


def test_a_change_whose_worker_died_after_creating_resumes_without_a_second_link(sim, gateway, engineer):
    er = router("er-prod")
    change = submit_create(engineer, gateway, er, name="half-done")
    # The worker claimed it, sent the create, and died before recording anything.
    DBTaskResult.objects.all().delete()
    cloud.create_peer_link(
        region=REGION,
        gateway_id=gateway.cloud_id,
        name="half-done",
        peer_gateway_id=er.cloud_id,
        peer_region=REGION,
        peer_project_id=change.payload["peer_project_id"],
    )
    long_ago = timezone.now() - timedelta(hours=1)
    ChangeRequest.objects.filter(pk=change.pk).update(
        state=ChangeRequest.State.EXECUTING, attempts=1, started_at=long_ago, updated_at=long_ago
    )
    assert execution.resume_stalled_changes() == 1
    change = sim.run_worker(change)
    assert change.state == ChangeRequest.State.DONE, change.error_msg
    assert change.attempts == 2
    assert len(sim.links(gateway)) == 1
    assert change.peer_link.status == "ACTIVE"
    assert "change.resumed" in actions(change)


def test_a_stalled_change_whose_task_waits_in_the_queue_gets_no_second_task(sim, gateway, engineer):
    # A queue backlog older than the lease (a busy or stopped worker): the change's task is still there.
    change = submit_create(engineer, gateway, router("er-prod"))
    long_ago = timezone.now() - timedelta(hours=1)
    ChangeRequest.objects.filter(pk=change.pk).update(updated_at=long_ago)
    tasks = DBTaskResult.objects.filter(task_path="peerlinks.tasks.execute_change_task", status="READY")
    assert tasks.count() == 1
    # Every upkeep round of every scheduler: nothing more is queued while that task waits.
    for _ in range(3):
        assert execution.resume_stalled_changes() == 0
    assert tasks.count() == 1
    # The task gone (lost with a queue that was wiped): the change is queued again, once.
    tasks.delete()
    assert execution.resume_stalled_changes() == 1
    assert execution.resume_stalled_changes() == 0
    assert sim.run_worker(change).state == ChangeRequest.State.DONE


def test_a_fresh_executing_change_is_not_resumed(sim, gateway, engineer):
    change = submit_create(engineer, gateway, router("er-prod"))
    ChangeRequest.objects.filter(pk=change.pk).update(state=ChangeRequest.State.EXECUTING)
    assert execution.resume_stalled_changes() == 0


def test_a_cancelled_change_is_never_executed(sim, gateway, engineer):
    change = submit_create(engineer, gateway, router("er-prod"))
    changes.cancel_change(change_id=change.pk, user=engineer)
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    change.refresh_from_db()
    assert change.state == ChangeRequest.State.CANCELLED
    assert change.attempts == 0
    assert sim.links(gateway) == []


def test_asking_again_for_a_link_that_ended_in_error_says_to_delete_it_first(sim, gateway, engineer):
    link = sim.run_worker(submit_create(engineer, gateway, router("er-prod"), name="broken")).peer_link
    PeerLink.objects.filter(pk=link.pk).update(status=PeerLink.Status.ERROR)
    with pytest.raises(changes.ChangeRefused, match="ended in ERROR: ask to delete broken first"):
        submit_create(engineer, gateway, router("er-prod"), name="again")


def test_submit_refuses_a_peer_the_gateway_already_links_to(sim, gateway, engineer):
    sim.run_worker(submit_create(engineer, gateway, router("er-prod")))
    with pytest.raises(changes.ChangeRefused, match="already linked"):
        submit_create(engineer, gateway, router("er-prod"), name="second")
    assert AuditEvent.objects.filter(action="change.submitted").count() == 1


def test_a_link_asked_for_in_the_browser_turns_active_and_its_page_follows_it_no_more(
    sim, gateway, client, engineer
):
    client.force_login(engineer)
    er = router("er-dev")
    data = {
        "gateway": gateway.cloud_id,
        "peer_type": "ER",
        "peer_region": REGION,
        "peer": er.cloud_id,
        "name": "from-browser",
        "description": "",
    }
    response = client.post(reverse("peerlinks:link_create"), data, HTTP_HX_REQUEST="true")
    change = ChangeRequest.objects.get()
    assert response["HX-Redirect"] == change.get_absolute_url()
    page = client.get(change.get_absolute_url()).content.decode()
    shown = {"change": followed_panel(page, "change"), "fast": "1", "v": live_version(page)}
    assert shown["change"] and 'hx-trigger="every 1000ms"' in page  # followed by the page's one poll
    sim.run_worker(change)
    polled = client.get("/live/", shown, HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    html = polled.content.decode()
    assert "Done" in html
    assert "ACTIVE" in html
    assert followed_panel(html, "change") == "" and 'hx-trigger="every 2000ms"' in html


def test_subscribers_hear_of_the_status_the_executor_saw(sim, gateway, engineer, receiver):  # noqa: F811
    """A link our change made turns ACTIVE while the worker follows it (no sync in between): a
    subscription to status changes hears of it, as it would of one a sync saw."""
    _subscribe(f"{receiver.url}/hook", events=[Event.LINK_STATUS])
    change = sim.run_worker(submit_create(engineer, gateway, router("er-prod"), name="followed"))
    assert change.state == ChangeRequest.State.DONE
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    [event] = [request["json"] for request in receiver.requests]
    assert event["type"] == "link.status_changed"
    link = event["link"]
    assert (link["name"], link["from_status"], link["status"]) == ("followed", "PENDING_CREATE", "ACTIVE")
    assert _check_signature(receiver.requests[0])
