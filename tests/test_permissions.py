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


# --- Roles held for one account only ---------------------------------------------------------------
# An engineer for team-b only and an approver for team-b only act on team-b's objects (their own account)
# and on the first account's (another account's): every write there is refused (403, or a form error),
# never a 200 or redirect that changed something, never a 500.


def _account_change(
    world: dict, side: str, *, by, state: str = ChangeRequest.State.PENDING_APPROVAL, **extra
):
    link = world[f"link_{side}"]
    payload = {"name": "renamed", "description": "", "link_name": link.name, "before": {}}
    return ChangeRequest.objects.create(
        kind="update",
        requested_by=by,
        gateway=world[f"gateway_{side}"],
        peer_link=link,
        payload=payload,
        state=state,
        approvals_required=1,
        **extra,
    )


def _account_request(client, world: dict, actor, action: str, side: str):
    """Do `action` as `actor` on the objects of account `side` ("a": the first account, "b": team-b)."""
    from django.utils import timezone

    from peerlinks.models import Drift

    client.force_login(actor)
    link, gateway, router = world[f"link_{side}"], world[f"gateway_{side}"], world[f"router_{side}"]
    requester = world[f"{side}_engineer"]
    match action:
        case "submit":
            data = {
                "gateway": gateway.cloud_id,
                "peer_type": "ER",
                "peer_region": "cn-north-4",
                "peer": router.cloud_id,
                "name": "acct-new",
            }
            return client.post(reverse("peerlinks:link_create"), data)
        case "local_fields":
            url = reverse("peerlinks:link_local", args=[link.cloud_id])
            return client.post(url, {"owner_team": "net", "ticket_ref": "", "labels": ""})
        case "link_edit":
            url = reverse("peerlinks:link_edit", args=[link.cloud_id])
            return client.post(url, {"name": "renamed-here", "description": ""})
        case "link_delete":
            url = reverse("peerlinks:link_delete", args=[link.cloud_id])
            return client.post(url, {"confirm_name": link.name})
        case "cancel":  # their own request, in an account where they are (no longer) an engineer
            change = _account_change(world, side, by=actor)
            return client.post(reverse("peerlinks:change_cancel", args=[change.pk]))
        case "edit":
            change = _account_change(world, side, by=actor)
            url = reverse("peerlinks:change_edit", args=[change.pk])
            return client.post(url, {"name": "renamed-again", "description": ""})
        case "comment":
            change = _account_change(world, side, by=requester)
            return client.post(reverse("peerlinks:change_comment", args=[change.pk]), {"body": "fine"})
        case "retry":
            change = _account_change(world, side, by=requester, state=ChangeRequest.State.FAILED)
            return client.post(reverse("peerlinks:change_retry", args=[change.pk]))
        case "approve" | "reject":
            change = _account_change(world, side, by=requester)
            post = {"payload_digest": change.payload_digest, "comment": "no"}
            return client.post(reverse(f"peerlinks:change_{action}", args=[change.pk]), post)
        case "run_now":
            later = timezone.now() + timezone.timedelta(hours=5)
            change = _account_change(
                world, side, by=requester, state=ChangeRequest.State.APPROVED, not_before=later
            )
            return client.post(reverse("peerlinks:change_run_now", args=[change.pk]), {"reason": "outage"})
        case "drift_acknowledge" | "drift_adopt" | "drift_revert":
            drift = Drift.objects.create(peer_link=link, kind="created", detail={})
            url = reverse(f"peerlinks:{action}", args=[drift.pk])
            return client.post(url, {"owner_team": "net", "ticket_ref": "T-1", "labels": ""})
    raise AssertionError(action)


# action → the one-account person doing it
ACCOUNT_ACTIONS = {
    "submit": "b_engineer",
    "local_fields": "b_engineer",
    "link_edit": "b_engineer",
    "link_delete": "b_engineer",
    "cancel": "b_engineer",
    "edit": "b_engineer",
    "comment": "b_engineer",
    "retry": "b_engineer",
    "drift_acknowledge": "b_engineer",
    "drift_adopt": "b_engineer",
    "drift_revert": "b_engineer",
    "approve": "b_approver",
    "reject": "b_approver",
    "run_now": "b_approver",
}


@pytest.mark.parametrize("action", list(ACCOUNT_ACTIONS))
def test_a_role_for_one_account_acts_there(client, two_accounts, action):
    from peerlinks.models import AuditEvent

    actor = two_accounts[ACCOUNT_ACTIONS[action]]
    events = AuditEvent.objects.count()
    response = _account_request(client, two_accounts, actor, action, "b")
    assert response.status_code == 302, response.content[:500]
    assert "login" not in response["Location"]
    assert AuditEvent.objects.count() > events


@pytest.mark.parametrize("action", list(ACCOUNT_ACTIONS))
def test_a_role_for_one_account_is_refused_on_another_accounts_objects(client, two_accounts, action):
    from peerlinks.models import AuditEvent

    actor = two_accounts[ACCOUNT_ACTIONS[action]]
    events, changes = AuditEvent.objects.count(), ChangeRequest.objects.count()
    response = _account_request(client, two_accounts, actor, action, "a")
    assert response.status_code in (400, 403), (response.status_code, response.content[:500])
    # Nothing was written but what the test set up (the change or drift to act on).
    made = ChangeRequest.objects.count() - changes
    assert made <= 1
    assert AuditEvent.objects.count() == events
    if response.status_code == 403:
        assert f"for account {two_accounts['first'].name}." in response.content.decode()


@pytest.mark.parametrize("htmx", [False, True])
def test_an_approver_for_one_account_is_told_which_account_they_lack(client, two_accounts, htmx):
    change = _account_change(two_accounts, "a", by=two_accounts["a_engineer"])
    client.force_login(two_accounts["b_approver"])
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    url = reverse("peerlinks:change_approve", args=[change.pk])
    response = client.post(url, {"payload_digest": change.payload_digest}, **headers)
    assert response.status_code == (200 if htmx else 403)  # htmx: the panel, saying why
    first = two_accounts["first"].name
    assert f"You are not an approver for account {first}." in response.content.decode()
    change.refresh_from_db()
    assert change.state == ChangeRequest.State.PENDING_APPROVAL


def test_the_change_page_offers_a_one_account_approver_buttons_only_in_their_account(client, two_accounts):
    theirs = _account_change(two_accounts, "b", by=two_accounts["b_engineer"])
    other = _account_change(two_accounts, "a", by=two_accounts["a_engineer"])
    client.force_login(two_accounts["b_approver"])
    assert (
        reverse("peerlinks:change_approve", args=[theirs.pk])
        in client.get(theirs.get_absolute_url()).content.decode()
    )
    assert (
        reverse("peerlinks:change_approve", args=[other.pk])
        not in client.get(other.get_absolute_url()).content.decode()
    )


def test_the_create_form_offers_only_gateways_where_the_person_is_an_engineer(client, two_accounts):
    client.force_login(two_accounts["b_engineer"])
    html = client.get(reverse("peerlinks:link_create")).content.decode()
    assert two_accounts["gateway_b"].cloud_id in html
    assert two_accounts["gateway_a"].cloud_id not in html
    # Peers may be in any account.
    url = reverse("peerlinks:peer_options")
    query = {"gateway": two_accounts["gateway_b"].cloud_id, "peer_type": "ER", "peer_region": "cn-north-4"}
    options = client.get(url, query, HTTP_HX_REQUEST="true").content.decode()
    assert two_accounts["router_a"].cloud_id in options and two_accounts["router_b"].cloud_id in options


def test_link_and_drift_actions_are_shown_only_in_the_persons_accounts(client, two_accounts):
    client.force_login(two_accounts["b_engineer"])
    own = client.get(two_accounts["link_b"].get_absolute_url()).content.decode()
    other = client.get(two_accounts["link_a"].get_absolute_url()).content.decode()
    assert reverse("peerlinks:link_edit", args=[two_accounts["link_b"].cloud_id]) in own
    assert reverse("peerlinks:link_local", args=[two_accounts["link_b"].cloud_id]) in own
    assert reverse("peerlinks:link_edit", args=[two_accounts["link_a"].cloud_id]) not in other
    assert reverse("peerlinks:link_local", args=[two_accounts["link_a"].cloud_id]) not in other
