"""Object-level access: other people's objects, nonexistent and malformed ids, forged choices.

Every URL that takes an id answers 403 or 404 (never 200 on something not yours where ownership matters,
never 500), and a forged form value is a form error, never a change request.
"""

import uuid

import pytest
from django.urls import reverse

from peerlinks.models import ChangeRequest, Drift, Notice
from peerlinks.services import changes
from tests.conftest import _user, make_gateway, make_peer_link, make_project, make_router, set_policy

HTMX = {"HTTP_HX_REQUEST": "true"}
MISSING_UUID = "00000000-0000-4000-8000-00000000abcd"
HUGE = 2**63 + 5  # past a 64-bit key: a lookup, not an overflow error


@pytest.fixture
def world(db, settings, engineer, approver):
    """Another engineer's pending create request, a link with drift, a notice for the other engineer."""
    settings.CLOUD_REGIONS = ["cn-north-4"]
    set_policy(approvals_create=1, approvals_update=1, approvals_delete=1)
    project = make_project("cn-north-4", project_id="0" * 31 + "7")
    gateway = make_gateway(project=project, name="gw-idor", available_peer_link_count=3)
    router = make_router(project=project, name="er-idor")
    other = _user("engineer2", "Engineer")
    payload = {
        "name": "theirs",
        "description": "",
        "peer_type": "ER",
        "peer_gateway_id": router.cloud_id,
        "peer_region": "cn-north-4",
    }
    change = changes.submit_change(user=other, kind="create", gateway=gateway, payload=payload)
    link = make_peer_link(gateway=gateway, name="shared-link")
    drift = Drift.objects.create(peer_link=link, kind="changed", detail={})
    notice = Notice.objects.create(user=other, message="for engineer2 only")
    return {
        "other": other,
        "change": change,
        "link": link,
        "drift": drift,
        "notice": notice,
        "gateway": gateway,
        "router": router,
    }


def id_urls(world: dict) -> list[tuple[str, str]]:
    """(method, url) for every URL that takes an id, with the world's real ids."""
    pk = world["change"].pk
    link = world["link"].cloud_id
    return [
        ("get", reverse("peerlinks:gateway_detail", args=[world["gateway"].cloud_id])),
        ("get", reverse("peerlinks:detail", args=[link])),
        ("get", reverse("peerlinks:link_status", args=[link])),
        ("post", reverse("peerlinks:link_local", args=[link])),
        ("get", reverse("peerlinks:link_edit", args=[link])),
        ("get", reverse("peerlinks:link_delete", args=[link])),
        ("post", reverse("peerlinks:drift_acknowledge", args=[world["drift"].pk])),
        ("get", reverse("peerlinks:change_detail", args=[pk])),
        ("post", reverse("peerlinks:change_cancel", args=[pk])),
        ("get", reverse("peerlinks:change_edit", args=[pk])),
        ("post", reverse("peerlinks:change_approve", args=[pk])),
        ("post", reverse("peerlinks:change_reject", args=[pk])),
        ("post", reverse("peerlinks:change_retry", args=[pk])),
        ("post", reverse("peerlinks:change_comment", args=[pk])),
    ]


def replace_id(url: str, world: dict, new: str) -> str:
    for real in (str(world["change"].pk), str(world["drift"].pk), world["link"].cloud_id):
        url = url.replace(f"/{real}/", f"/{new}/")
    return url.replace(f"/{world['gateway'].cloud_id}/", f"/{new}/")


# --- nonexistent and malformed ids ------------------------------------------------------------


@pytest.mark.parametrize("missing", [MISSING_UUID, "999999", str(HUGE)])
def test_ids_that_do_not_exist_are_404(client, admin, world, missing):
    client.force_login(admin)
    for method, url in id_urls(world):
        target = replace_id(url, world, missing)
        if target == url:
            continue  # a uuid where an int goes (or the reverse): the URL does not match, see below
        response = getattr(client, method)(target, {"id": missing, "body": "x"})
        assert response.status_code == 404, f"{method.upper()} {target}: {response.status_code}"


@pytest.mark.parametrize(
    "malformed", ["abc", "-1", "1.5", "%00", "1;DROP", "..", "0x10", "00000000-0000-0000-0000-00000000000g"]
)
def test_malformed_ids_are_404_never_500(client, admin, world, malformed):
    client.force_login(admin)
    for method, url in id_urls(world):
        target = replace_id(url, world, malformed)
        response = getattr(client, method)(target)
        assert response.status_code == 404, f"{method.upper()} {target}: {response.status_code}"


@pytest.mark.parametrize("forged", ["abc", "-3", "1e3", str(HUGE), "", " 1"])
def test_a_forged_notice_id_is_refused_without_marking_anything(client, engineer, world, forged):
    mine = Notice.objects.create(user=engineer, message="mine")
    client.force_login(engineer)
    response = client.post(reverse("peerlinks:notice_mark_read"), {"id": forged})
    if forged == "":
        assert response.status_code in (200, 302)  # no id: "mark all of mine read"
        mine.refresh_from_db()
        assert mine.read_at is not None
    else:
        assert response.status_code in (400, 404), response.status_code
    world["notice"].refresh_from_db()
    assert world["notice"].read_at is None


# --- other people's objects -------------------------------------------------------------------


def test_an_engineer_cannot_cancel_someone_elses_request(client, engineer, world):
    client.force_login(engineer)
    response = client.post(reverse("peerlinks:change_cancel", args=[world["change"].pk]))
    assert response.status_code == 403
    world["change"].refresh_from_db()
    assert world["change"].state == ChangeRequest.State.PENDING_APPROVAL


def test_an_engineer_cannot_cancel_someone_elses_request_over_htmx_either(client, engineer, world):
    client.force_login(engineer)
    response = client.post(reverse("peerlinks:change_cancel", args=[world["change"].pk]), **HTMX)
    assert response.status_code in (200, 403)  # htmx 2 swaps only 2xx: the refusal shows in the panel
    world["change"].refresh_from_db()
    assert world["change"].state == ChangeRequest.State.PENDING_APPROVAL
    if response.status_code == 200:
        assert "Cancelled" not in response.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_engineer_cannot_edit_someone_elses_request(client, engineer, world, method):
    client.force_login(engineer)
    url = reverse("peerlinks:change_edit", args=[world["change"].pk])
    response = getattr(client, method)(url, {"name": "hijacked", "description": "mine now"})
    assert response.status_code == 403
    world["change"].refresh_from_db()
    assert world["change"].payload["name"] == "theirs"


def test_the_requester_may_edit_and_cancel_their_own_request(client, world):
    client.force_login(world["other"])
    assert client.get(reverse("peerlinks:change_edit", args=[world["change"].pk])).status_code == 200
    response = client.post(reverse("peerlinks:change_cancel", args=[world["change"].pk]))
    assert response.status_code == 302
    world["change"].refresh_from_db()
    assert world["change"].state == ChangeRequest.State.CANCELLED


def test_someone_elses_notice_is_a_404_and_stays_unread(client, engineer, world):
    client.force_login(engineer)
    for data in ({"id": world["notice"].pk},):
        assert client.post(reverse("peerlinks:notice_mark_read"), data).status_code == 404
        assert client.post(reverse("peerlinks:notice_mark_read"), data, **HTMX).status_code == 404
    url = reverse("peerlinks:notice_mark_read") + f"?id={world['notice'].pk}"
    assert client.post(url).status_code == 404
    world["notice"].refresh_from_db()
    assert world["notice"].read_at is None


def test_marking_all_read_touches_only_ones_own_notices(client, engineer, world):
    client.force_login(engineer)
    client.post(reverse("peerlinks:notice_mark_read"))
    world["notice"].refresh_from_db()
    assert world["notice"].read_at is None


def test_the_notice_list_shows_only_ones_own(client, engineer, world):
    Notice.objects.create(user=engineer, message="for engineer1")
    client.force_login(engineer)
    html = client.get(reverse("peerlinks:notice_list")).content.decode()
    assert "for engineer1" in html
    assert "for engineer2 only" not in html


def test_an_approver_cannot_approve_their_own_request(client, approver, world):
    own = _user("lead-who-asks", "Engineer", "Approver")
    router = make_router(project=world["gateway"].project, name="er-lead")
    payload = {**world["change"].payload, "name": "lead-own", "peer_gateway_id": router.cloud_id}
    change = changes.submit_change(user=own, kind="create", gateway=world["gateway"], payload=payload)
    client.force_login(own)
    response = client.post(reverse("peerlinks:change_approve", args=[change.pk]))
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.state == ChangeRequest.State.PENDING_APPROVAL


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_read_only_people_change_nothing_through_any_id_url(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))
    for method, url in id_urls(world):
        if method != "post":
            continue
        response = client.post(url, {"body": "x", "owner_team": "pwned"})
        assert response.status_code == 403, f"{persona} POST {url}: {response.status_code}"
    world["change"].refresh_from_db()
    world["drift"].refresh_from_db()
    world["link"].refresh_from_db()
    assert world["change"].state == ChangeRequest.State.PENDING_APPROVAL
    assert world["change"].comments.count() == 0
    assert world["drift"].acknowledged_at is None
    assert world["link"].owner_team != "pwned"


def test_an_outsider_sees_no_object_behind_any_id(client, outsider, world):
    client.force_login(outsider)
    for method, url in id_urls(world):
        if method == "get":
            assert client.get(url).status_code in (403, 404), url


# --- forged choices --------------------------------------------------------------------------------


def create_data(world: dict, **overrides: str) -> dict:
    data = {
        "gateway": world["gateway"].cloud_id,
        "peer_type": "ER",
        "peer_region": "cn-north-4",
        "peer": world["router"].cloud_id,
        "name": "forged",
        "description": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "forged",
    [
        {"gateway": MISSING_UUID},
        {"gateway": "not-a-uuid"},
        {"gateway": "' OR 1=1 --"},
        {"peer": MISSING_UUID},
        {"peer": "x" * 5000},
        {"peer_type": "ROOT"},
        {"peer_region": "eu-nowhere-9"},
        {"peer_region": "cn-east-3"},  # a real region, but not one dcportal manages here
        {"name": "<script>alert(1)</script>"},
    ],
    ids=lambda forged: next(iter(forged)),
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_forged_choice_in_the_create_form_is_a_form_error_never_a_request(
    client, engineer, world, forged, htmx
):
    client.force_login(engineer)
    before = ChangeRequest.objects.count()
    response = client.post(
        reverse("peerlinks:link_create"), create_data(world, **forged), **(HTMX if htmx else {})
    )
    assert response.status_code in (200, 400, 409), response.status_code
    assert ChangeRequest.objects.count() == before
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_a_link_to_another_gateways_own_link_cannot_be_forged_as_a_peer(client, engineer, world):
    """The gateway itself as its own peer is refused."""
    client.force_login(engineer)
    data = create_data(world, peer_type="GDGW", peer=world["gateway"].cloud_id)
    before = ChangeRequest.objects.count()
    response = client.post(reverse("peerlinks:link_create"), data)
    assert response.status_code in (200, 400, 409)
    assert ChangeRequest.objects.count() == before


@pytest.mark.parametrize(
    "query",
    [
        {"state": "bogus", "kind": "evil", "mine": "maybe"},
        {"page": "-1"},
        {"page": "999999"},
        {"page": "abc"},
    ],
)
def test_forged_filters_on_the_change_list_never_500(client, engineer, world, query):
    client.force_login(engineer)
    assert client.get(reverse("peerlinks:change_list"), query).status_code in (200, 400, 404)


@pytest.mark.parametrize(
    "query",
    [
        {"status": "PWNED"},
        {"gateway": "not-a-uuid"},
        {"gateway": MISSING_UUID},
        {"region": "../../etc"},
        {"sort": "password"},
        {"sort": "-gateway__project__project_id"},
        {"page": "abc"},
        {"q": "\x00"},
    ],
)
@pytest.mark.parametrize("url", ["peerlinks:link_list", "peerlinks:link_export", "peerlinks:topology"])
def test_forged_filters_on_link_pages_never_500(client, admin, world, url, query):
    client.force_login(admin)
    assert client.get(reverse(url), query).status_code in (200, 400, 404)


def test_a_forged_owner_field_on_local_fields_changes_only_local_fields(client, engineer, world):
    client.force_login(engineer)
    link = world["link"]
    data = {
        "owner_team": "netops",
        "ticket_ref": "",
        "labels": "",
        "name": "renamed",
        "cloud_id": MISSING_UUID,
    }
    client.post(reverse("peerlinks:link_local", args=[link.cloud_id]), data)
    link.refresh_from_db()
    assert link.name == "shared-link"
    assert str(link.cloud_id) != MISSING_UUID
    assert not ChangeRequest.objects.filter(peer_link=link).exists()


def test_an_unknown_uuid_in_the_url_is_not_confused_with_a_real_link(client, admin, world):
    client.force_login(admin)
    assert client.get(reverse("peerlinks:detail", args=[uuid.uuid4()])).status_code == 404


# --- another account's objects --------------------------------------------------------------------


def _account_objects(world: dict, side: str) -> dict:
    """Account `side`'s pending create, failed rename, approved change waiting for the window, and drift."""
    from django.utils import timezone

    requester = world[f"{side}_engineer"]
    payload = {
        "name": f"req-{side}",
        "description": "",
        "peer_type": "ER",
        "peer_gateway_id": world[f"router_{side}"].cloud_id,
        "peer_region": "cn-north-4",
    }
    pending = changes.submit_change(
        user=requester, kind="create", gateway=world[f"gateway_{side}"], payload=payload
    )
    rename = {"name": "renamed", "description": "", "link_name": "x", "before": {}}
    common = {
        "requested_by": requester,
        "gateway": world[f"gateway_{side}"],
        "peer_link": world[f"link_{side}"],
    }
    failed = ChangeRequest.objects.create(kind="update", payload=rename, state="failed", **common)
    waiting = ChangeRequest.objects.create(
        kind="update",
        payload=rename,
        state="approved",
        not_before=timezone.now() + timezone.timedelta(hours=3),
        **common,
    )
    drift = Drift.objects.create(peer_link=world[f"link_{side}"], kind="created", detail={})
    return {
        "pending": pending,
        "failed": failed,
        "waiting": waiting,
        "drift": drift,
        "link": world[f"link_{side}"],
    }


def account_writes(objects: dict) -> list[tuple[str, str, dict]]:
    """(method, url, data) for every write on one account's objects."""
    pending, link, drift = objects["pending"], objects["link"].cloud_id, objects["drift"].pk
    digest = {"payload_digest": pending.payload_digest, "comment": "no"}
    return [
        ("post", reverse("peerlinks:link_local", args=[link]), {"owner_team": "pwned"}),
        ("post", reverse("peerlinks:link_edit", args=[link]), {"name": "pwned", "description": ""}),
        ("post", reverse("peerlinks:link_delete", args=[link]), {"confirm_name": objects["link"].name}),
        ("get", reverse("peerlinks:link_edit", args=[link]), {}),
        ("get", reverse("peerlinks:link_delete", args=[link]), {}),
        ("post", reverse("peerlinks:drift_acknowledge", args=[drift]), {}),
        ("post", reverse("peerlinks:drift_adopt", args=[drift]), {"owner_team": "pwned", "ticket_ref": "T"}),
        ("get", reverse("peerlinks:drift_adopt", args=[drift]), {}),
        ("post", reverse("peerlinks:drift_revert", args=[drift]), {}),
        ("get", reverse("peerlinks:drift_revert", args=[drift]), {}),
        ("post", reverse("peerlinks:change_approve", args=[pending.pk]), digest),
        ("post", reverse("peerlinks:change_reject", args=[pending.pk]), digest),
        ("post", reverse("peerlinks:change_comment", args=[pending.pk]), {"body": "pwned"}),
        ("post", reverse("peerlinks:change_retry", args=[objects["failed"].pk]), {}),
        ("post", reverse("peerlinks:change_run_now", args=[objects["waiting"].pk]), {"reason": "pwned"}),
    ]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("persona", ["b_engineer", "b_approver"])
def test_a_role_for_one_account_writes_nothing_on_another_accounts_objects(
    client, two_accounts, persona, htmx
):
    from peerlinks.models import AuditEvent, Comment, PeerLink

    objects = _account_objects(two_accounts, "a")
    actor = two_accounts[persona]
    client.force_login(actor)
    events, requests = AuditEvent.objects.count(), ChangeRequest.objects.count()
    for method, url, data in account_writes(objects):
        response = getattr(client, method)(url, data, **(HTMX if htmx else {}))
        assert response.status_code != 500
        if htmx and response.status_code == 200:  # a panel saying why (htmx 2 swaps only 2xx)
            assert "You are not" in response.content.decode() or "Only " in response.content.decode(), url
        else:
            assert response.status_code in (400, 403), (
                f"{persona} {method.upper()} {url}: {response.status_code}"
            )
    assert AuditEvent.objects.count() == events
    assert ChangeRequest.objects.count() == requests
    assert not Comment.objects.exists()
    assert not PeerLink.objects.filter(owner_team="pwned").exists()
    objects["pending"].refresh_from_db()
    objects["drift"].refresh_from_db()
    assert objects["pending"].state == ChangeRequest.State.PENDING_APPROVAL
    assert objects["drift"].acknowledged_at is None


def test_the_same_writes_on_their_own_account_go_through(client, two_accounts):
    objects = _account_objects(two_accounts, "b")
    client.force_login(two_accounts["b_approver"])
    approve = reverse("peerlinks:change_approve", args=[objects["pending"].pk])
    assert client.post(approve, {"payload_digest": objects["pending"].payload_digest}).status_code == 302
    client.force_login(two_accounts["b_engineer"])
    local = reverse("peerlinks:link_local", args=[objects["link"].cloud_id])
    assert client.post(local, {"owner_team": "mine"}).status_code == 302
    assert client.post(reverse("peerlinks:drift_acknowledge", args=[objects["drift"].pk])).status_code == 302
    objects["pending"].refresh_from_db()
    objects["link"].refresh_from_db()
    assert objects["pending"].state != ChangeRequest.State.PENDING_APPROVAL
    assert objects["link"].owner_team == "mine"


def test_a_forged_gateway_of_another_account_in_the_create_form_makes_no_request(client, two_accounts):
    client.force_login(two_accounts["b_engineer"])
    before = ChangeRequest.objects.count()
    data = {
        "gateway": two_accounts["gateway_a"].cloud_id,
        "peer_type": "ER",
        "peer_region": "cn-north-4",
        "peer": two_accounts["router_b"].cloud_id,
        "name": "forged",
    }
    for headers in ({}, HTMX):
        response = client.post(reverse("peerlinks:link_create"), data, **headers)
        assert response.status_code in (200, 400, 403)
    assert ChangeRequest.objects.count() == before
