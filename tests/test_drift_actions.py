"""Acting on drift from the dashboard: adopting a link made outside dcportal, reverting an outside change."""

import pytest
from django.utils import timezone

from peerlinks.models import AuditEvent, ChangeRequest, Drift
from peerlinks.services import drift as drift_actions
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db


def _drift(kind="created", detail=None, **link_fields):
    link = make_peer_link(**link_fields)
    return Drift.objects.create(peer_link=link, kind=kind, detail=detail or {"name": link.name})


def test_the_dashboard_offers_adopt_and_revert_to_engineers_only(engineer_client, client, viewer):
    created = _drift("created", name="made-outside")
    deleted = _drift("deleted", name="gone-outside", gone_at=timezone.now())
    body = engineer_client.get("/").content.decode()
    assert f"/drift/{created.pk}/adopt/" in body
    assert f"/drift/{created.pk}/revert/" in body
    assert f"/drift/{deleted.pk}/adopt/" not in body
    assert f"/drift/{deleted.pk}/revert/" not in body  # a link deleted outside is not re-created
    client.force_login(viewer)
    body = client.get("/").content.decode()
    assert "/adopt/" not in body and "/revert/" not in body
    assert client.get(f"/drift/{created.pk}/adopt/").status_code == 403
    assert client.post(f"/drift/{created.pk}/revert/").status_code == 403
    assert not ChangeRequest.objects.exists()


def test_adopting_sets_owner_and_ticket_audited_and_resolves_the_drift(engineer_client, engineer):
    drift = _drift("created", name="made-outside", labels=["keep"])
    page = engineer_client.get(f"/drift/{drift.pk}/adopt/")
    assert page.status_code == 200
    assert "Adopt made-outside" in page.content.decode()
    response = engineer_client.post(
        f"/drift/{drift.pk}/adopt/",
        {"owner_team": "net-core", "ticket_ref": "CHG-42", "labels": "keep, prod"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    drift.refresh_from_db()
    link = drift.peer_link
    link.refresh_from_db()
    assert (link.owner_team, link.ticket_ref, link.labels) == ("net-core", "CHG-42", ["keep", "prod"])
    assert drift.acknowledged_by == engineer
    actions = list(AuditEvent.objects.filter(object_id=link.cloud_id).values_list("action", flat=True))
    assert sorted(actions) == ["drift.adopted", "peer_link.local_fields"]
    assert f"/drift/{drift.pk}/adopt/" not in engineer_client.get("/").content.decode()


def test_adopting_needs_an_owner_and_a_ticket(engineer_client):
    drift = _drift("created")
    response = engineer_client.post(f"/drift/{drift.pk}/adopt/", {"owner_team": "", "ticket_ref": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    drift.refresh_from_db()
    assert drift.acknowledged_at is None
    assert not AuditEvent.objects.exists()


def test_only_an_open_created_drift_can_be_adopted(engineer_client):
    changed = _drift("changed", detail={"name": {"before": "a", "after": "b"}})
    response = engineer_client.post(f"/drift/{changed.pk}/adopt/", {"owner_team": "x", "ticket_ref": "y"})
    assert response.status_code == 409
    assert "Only a link created outside dcportal that still exists" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_reverting_a_link_created_outside_asks_to_delete_it_through_approval(engineer_client, engineer):
    drift = _drift("created", name="made-outside")
    page = engineer_client.get(f"/drift/{drift.pk}/revert/")
    assert "Ask to delete made-outside" in page.content.decode()
    response = engineer_client.post(f"/drift/{drift.pk}/revert/")
    change = ChangeRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change.get_absolute_url()
    assert (change.kind, change.state) == ("delete", "pending_approval")
    assert change.peer_link_id == drift.peer_link_id
    assert change.reverts_drift == drift
    assert change.approvals_required == 1
    drift.refresh_from_db()
    assert drift.acknowledged_by == engineer
    submitted = AuditEvent.objects.get(action="change.submitted")
    assert submitted.after["reverts_drift"] == drift.pk
    assert AuditEvent.objects.get(action="drift.revert_requested").after["change_request"] == change.pk
    body = engineer_client.get(change.get_absolute_url()).content.decode()
    assert "Undoes a change made outside dcportal: created outside dcportal" in body


def test_reverting_a_rename_outside_asks_to_rename_it_back(engineer_client):
    drift = _drift(
        "changed",
        name="new-name",
        description="same",
        detail={"name": {"before": "old-name", "after": "new-name"}},
    )
    assert drift_actions.revert_plan(drift).summary == "Ask to rename new-name back to old-name"
    engineer_client.post(f"/drift/{drift.pk}/revert/")
    change = ChangeRequest.objects.get()
    assert change.kind == "update"
    assert (change.payload["name"], change.payload["description"]) == ("old-name", "same")


def test_a_link_changed_again_since_has_no_revert(engineer_client):
    drift = _drift("changed", name="third-name", detail={"name": {"before": "old", "after": "new-name"}})
    assert drift_actions.revert_plan(drift) is None
    response = engineer_client.post(f"/drift/{drift.pk}/revert/")
    assert response.status_code == 409
    assert "Nothing to undo here" in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_a_revert_the_link_cannot_take_now_is_refused_with_the_reason_and_nothing_done(engineer_client):
    drift = _drift("created", name="busy", status="PENDING_UPDATE")
    response = engineer_client.post(f"/drift/{drift.pk}/revert/")
    assert response.status_code == 409
    assert "wait until its status is final" in response.content.decode()
    assert not ChangeRequest.objects.exists()
    drift.refresh_from_db()
    assert drift.acknowledged_at is None


def test_a_cloud_connect_link_has_no_revert(engineer_client):
    drift = _drift("created", create_owner="cc")
    assert drift_actions.revert_plan(drift) is None
    assert drift_actions.can_adopt(drift)


def test_a_drift_already_dealt_with_is_neither_adopted_nor_reverted(engineer):
    drift = _drift("created", name="seen-already")
    drift.acknowledged_at = timezone.now()
    drift.save()
    with pytest.raises(drift_actions.ChangeRefused):
        drift_actions.adopt_drift(drift_id=drift.pk, user=engineer, owner_team="x", ticket_ref="y", labels=[])
    with pytest.raises(drift_actions.ChangeRefused):
        drift_actions.revert_drift(drift_id=drift.pk, user=engineer)
    drift.peer_link.refresh_from_db()
    assert drift.peer_link.owner_team == ""
    assert not ChangeRequest.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_link_page_offers_adopt_and_revert_for_its_open_drift(engineer_client, client, viewer):
    drift = _drift("created", name="made-outside")
    body = engineer_client.get(drift.peer_link.get_absolute_url()).content.decode()
    assert f"/drift/{drift.pk}/adopt/" in body
    assert f"/drift/{drift.pk}/revert/" in body
    client.force_login(viewer)
    body = client.get(drift.peer_link.get_absolute_url()).content.decode()
    assert "/adopt/" not in body and "/revert/" not in body
