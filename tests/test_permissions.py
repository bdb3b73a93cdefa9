"""Who may do what: every role (and no role, and nobody logged in) against every page and POST endpoint."""

import pytest
from django.urls import reverse

from peerlinks.models import ChangeRequest
from tests.conftest import _user, make_gateway, make_peer_link, make_router, set_policy

ROLES = ("anonymous", "outsider", "viewer", "engineer", "approver", "admin")
READERS = {"viewer", "engineer", "approver", "admin"}
SUBMITTERS = {"engineer", "approver", "admin"}
APPROVERS = {"approver", "admin"}


@pytest.fixture
def actor(request, db):
    """The user of this row of the matrix (None for anonymous)."""
    role = request.param
    if role == "anonymous":
        return None
    return {
        "outsider": lambda: _user("m-outsider"),
        "viewer": lambda: _user("m-viewer", "Viewer"),
        "engineer": lambda: _user("m-engineer", "Engineer"),
        "approver": lambda: _user("m-approver", "Approver"),
        "admin": lambda: _user("m-admin", "Admin", is_staff=True, is_superuser=True),
    }[role]()


@pytest.fixture
def world(db, settings):
    settings.CLOUD_REGIONS = ["cn-north-4"]
    set_policy(approvals_create=1, approvals_update=1, approvals_delete=1)
    gateway = make_gateway(name="gw-matrix")
    router = make_router(name="er-matrix")
    link = make_peer_link(gateway=gateway, name="link-matrix")
    requester = _user("m-requester", "Engineer")
    return {"gateway": gateway, "router": router, "link": link, "requester": requester}


def _change(world: dict, *, by, state: str = ChangeRequest.State.PENDING_APPROVAL) -> ChangeRequest:
    payload = {"name": "renamed", "description": "", "link_name": "link-matrix", "before": {}}
    return ChangeRequest.objects.create(
        kind="update",
        requested_by=by,
        gateway=world["gateway"],
        peer_link=world["link"],
        payload=payload,
        state=state,
        approvals_required=1,
    )


def _create_data(world: dict) -> dict:
    return {
        "gateway": world["gateway"].cloud_id,
        "peer_type": "ER",
        "peer_region": "cn-north-4",
        "peer": world["router"].cloud_id,
        "name": "matrix-new",
    }


def _request(client, actor, world, action: str):
    """Do one action as the actor; returns the response."""
    if actor is not None:
        client.force_login(actor)
    link = world["link"]
    own_or_requester = actor or world["requester"]
    match action:
        case "view_home":
            return client.get(reverse("peerlinks:home"))
        case "view_links":
            return client.get(reverse("peerlinks:link_list"))
        case "view_link":
            return client.get(link.get_absolute_url())
        case "view_gateways":
            return client.get(reverse("peerlinks:gateway_list"))
        case "view_changes":
            return client.get(reverse("peerlinks:change_list"))
        case "view_change":
            return client.get(_change(world, by=world["requester"]).get_absolute_url())
        case "view_topology":
            return client.get(reverse("peerlinks:topology"))
        case "view_audit":
            return client.get(reverse("peerlinks:audit_list"))
        case "export":
            return client.get(reverse("peerlinks:link_export"))
        case "submit_page":
            return client.get(reverse("peerlinks:link_create"))
        case "submit":
            return client.post(reverse("peerlinks:link_create"), _create_data(world))
        case "local_fields":
            url = reverse("peerlinks:link_local", args=[link.cloud_id])
            return client.post(url, {"owner_team": "net", "ticket_ref": "", "labels": ""})
        case "refresh":
            return client.post(reverse("peerlinks:refresh"))
        case "cancel":
            change = _change(world, by=own_or_requester)
            return client.post(reverse("peerlinks:change_cancel", args=[change.pk]))
        case "edit":
            change = _change(world, by=own_or_requester)
            url = reverse("peerlinks:change_edit", args=[change.pk])
            return client.post(url, {"name": "renamed-again", "description": ""})
        case "comment":
            change = _change(world, by=world["requester"])
            return client.post(reverse("peerlinks:change_comment", args=[change.pk]), {"body": "looks fine"})
        case "queue":
            return client.get(reverse("peerlinks:approval_queue"))
        case "approve":
            change = _change(world, by=world["requester"])
            post = {"payload_digest": change.payload_digest}
            return client.post(reverse("peerlinks:change_approve", args=[change.pk]), post)
        case "reject":
            change = _change(world, by=world["requester"])
            post = {"comment": "no", "payload_digest": change.payload_digest}
            return client.post(reverse("peerlinks:change_reject", args=[change.pk]), post)
        case "retry":
            change = _change(world, by=world["requester"], state=ChangeRequest.State.FAILED)
            return client.post(reverse("peerlinks:change_retry", args=[change.pk]))
        case "admin":
            return client.get(reverse("admin:index"))
    raise AssertionError(action)


# action → (roles allowed, status when allowed)
MATRIX = {
    "view_home": (READERS, 200),
    "view_links": (READERS, 200),
    "view_link": (READERS, 200),
    "view_gateways": (READERS, 200),
    "view_changes": (READERS, 200),
    "view_change": (READERS, 200),
    "view_topology": (READERS, 200),
    "view_audit": (READERS, 200),
    "export": (READERS, 200),
    "submit_page": (SUBMITTERS, 200),
    "submit": (SUBMITTERS, 302),
    "local_fields": (SUBMITTERS, 302),
    "refresh": (SUBMITTERS, 302),
    "cancel": (SUBMITTERS, 302),
    "edit": (SUBMITTERS, 302),
    "comment": (SUBMITTERS, 302),
    "queue": (APPROVERS, 200),
    "approve": (APPROVERS, 302),
    "reject": (APPROVERS, 302),
    "retry": (SUBMITTERS, 302),
    "admin": ({"admin"}, 200),
}


@pytest.mark.parametrize("actor", ROLES, indirect=True)
@pytest.mark.parametrize("action", list(MATRIX))
def test_permission_matrix(client, actor, world, action, request):
    allowed, ok_status = MATRIX[action]
    role = request.node.callspec.params["actor"]
    response = _request(client, actor, world, action)
    if role in allowed:
        assert response.status_code == ok_status, response.content[:300]
        if ok_status == 302:
            assert "login" not in response["Location"]
    elif action == "admin":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    elif role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403


def test_a_user_without_a_role_is_told_to_ask_an_admin(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("peerlinks:home"))
    assert response.status_code == 403
    assert "403.html" in [t.name for t in response.templates]
    assert "Ask an admin to give you the role you need" in response.content.decode()


def test_a_viewer_sees_no_links_to_actions_they_cannot_use(client, viewer, db):
    client.force_login(viewer)
    html = client.get(reverse("peerlinks:link_list")).content.decode()
    assert reverse("peerlinks:approval_queue") not in html
    assert reverse("peerlinks:link_create") not in html
