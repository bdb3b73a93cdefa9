from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from peerlinks.models import AuditEvent
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def event(**values: object) -> AuditEvent:
    values.setdefault("action", "peer_link.updated")
    values.setdefault("object_type", "peer_link")
    return AuditEvent.objects.create(**values)


def actions(response) -> list[str]:
    return [e.action for e in response.context["page"].object_list]


def test_audit_log_requires_login(client):
    assert client.get("/audit/").status_code == 302


def test_audit_log_lists_newest_first_with_before_and_after(engineer_client):
    now = timezone.now()
    event(action="older", at=now - timedelta(hours=1))
    event(action="newer", at=now, before={"name": "old-name", "x": 1}, after={"name": "new-name", "x": 1})
    response = engineer_client.get("/audit/")
    assert response.status_code == 200
    assert "peerlinks/audit_list.html" in [t.name for t in response.templates]
    assert actions(response) == ["newer", "older"]
    body = response.content.decode()
    assert "<del>old-name</del>" in body
    assert "<ins>new-name</ins>" in body
    assert response.context["page"].object_list[0].changes == [("name", "old-name", "new-name")]


def test_audit_log_filters_by_action_actor_object_and_dates(engineer_client, engineer):
    now = timezone.now()
    link = make_peer_link()
    event(action="change.submitted", object_type="change_request", object_id="7", actor_name="alice")
    event(action="peer_link.updated", object_id=link.cloud_id, actor_name="bob")
    event(action="peer_link.updated", object_id="other", actor_name="bob", at=now - timedelta(days=10))
    assert actions(engineer_client.get("/audit/?action=change.submitted")) == ["change.submitted"]
    assert len(actions(engineer_client.get("/audit/?actor=BOB"))) == 2
    assert actions(engineer_client.get("/audit/?object_type=change_request")) == ["change.submitted"]
    assert len(actions(engineer_client.get(f"/audit/?object_id={link.cloud_id}"))) == 1
    since = (now - timedelta(days=1)).date().isoformat()
    assert len(actions(engineer_client.get(f"/audit/?at_after={since}"))) == 2
    until = (now - timedelta(days=5)).date().isoformat()
    assert len(actions(engineer_client.get(f"/audit/?at_before={until}"))) == 1


def test_audit_log_ignores_forged_filters_with_a_message(engineer_client):
    event()
    response = engineer_client.get("/audit/?action=nope&object_type=x&at_after=yesterday&page=zz")
    assert response.status_code == 200
    assert len(actions(response)) == 1
    assert "Some filters were ignored" in response.content.decode()


def test_audit_log_paginates_by_fifty(engineer_client):
    AuditEvent.objects.bulk_create([AuditEvent(action=f"a{i}", object_type="t") for i in range(75)])
    assert len(actions(engineer_client.get("/audit/"))) == 50
    assert len(actions(engineer_client.get("/audit/?page=2"))) == 25
    assert len(actions(engineer_client.get("/audit/?page=99"))) == 25


def test_audit_log_over_htmx_returns_only_the_table(engineer_client):
    event()
    response = engineer_client.get("/audit/?action=peer_link.updated", **HX)
    assert response.status_code == 200
    assert response.templates[0].name == "peerlinks/_audit_table.html"
    assert "<html" not in response.content.decode()


def test_audit_log_links_to_what_the_event_touched(engineer_client):
    link = make_peer_link()
    event(object_id=link.cloud_id, object_repr=link.name)
    event(object_type="peer_link", object_id="not-a-uuid", object_repr="odd")
    body = engineer_client.get("/audit/").content.decode()
    assert f'href="/links/{link.cloud_id}/"' in body
    assert "odd" in body


def test_audit_log_query_count_does_not_grow_with_events(engineer_client, django_assert_num_queries):
    AuditEvent.objects.bulk_create([AuditEvent(action="a", object_type="t") for _ in range(3)])
    with CaptureQueriesContext(connection) as few:
        engineer_client.get("/audit/")
    AuditEvent.objects.bulk_create([AuditEvent(action="b", object_type="u") for _ in range(60)])
    with django_assert_num_queries(len(few)):
        engineer_client.get("/audit/")


def test_audit_log_shows_whole_request_ids_each_a_link_filtering_by_it(engineer_client):
    rid = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    event(action="mine", cloud_request_id=rid)
    event(action="other", cloud_request_id="ffffffffffffffffffffffffffffffff")
    event(action="none")
    body = engineer_client.get("/audit/").content.decode()
    assert f'<code class="small">{rid}</code>' in body
    assert f'href="/audit/?request_id={rid}"' in body
    assert f'data-copy="{rid}"' in body
    assert actions(engineer_client.get(f"/audit/?request_id={rid}")) == ["mine"]
    assert 'name="request_id"' in body


def test_audit_log_request_id_filter_refuses_an_overlong_id_with_a_message(engineer_client):
    event(action="kept")
    response = engineer_client.get("/audit/?request_id=" + "x" * 65)
    assert response.status_code == 200
    assert "Some filters were ignored" in response.content.decode()
