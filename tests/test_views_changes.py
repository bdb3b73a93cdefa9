"""The change pages: create, rename/describe and delete forms, change request list, detail and cancel."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from peerlinks.models import AuditEvent, ChangeRequest, Gateway
from peerlinks.services import changes
from tests.conftest import (
    followed_panel,
    live_version,
    make_gateway,
    make_peer_link,
    make_project,
    make_router,
    set_policy,
)

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def setting_regions(settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3"]
    return settings


@pytest.fixture
def world(db, setting_regions):
    """A gateway with quota, one without, an available ER, a failed ER, and a second gateway as peer."""
    project = make_project("cn-north-4", project_id="0" * 31 + "1")
    return {
        "gateway": make_gateway(project=project, name="gw-main", available_peer_link_count=2),
        "full": make_gateway(project=project, name="gw-full", available_peer_link_count=0),
        "down": make_gateway(project=project, name="gw-down", status="DOWN"),
        "router": make_router(project=project, name="er-good"),
        "broken": make_router(project=project, name="er-broken", state="failed"),
    }


def create_data(world: dict, **overrides: str) -> dict:
    data = {
        "gateway": world["gateway"].cloud_id,
        "peer_type": "ER",
        "peer_region": "cn-north-4",
        "peer": world["router"].cloud_id,
        "name": "link-to-er",
        "description": "core to er",
    }
    data.update(overrides)
    return data


# --- create ----------------------------------------------------------------------------------------


def test_create_page_requires_login(client, world):
    response = client.get(reverse("peerlinks:link_create"))
    assert response.status_code == 302
    assert "/login" in response["Location"] or "login" in response["Location"]


def test_create_page_disables_gateways_without_quota_or_not_active(engineer_client, world):
    response = engineer_client.get(reverse("peerlinks:link_create"))
    assert response.status_code == 200
    assert "peerlinks/peerlink_form.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert f'value="{world["full"].cloud_id}" disabled' in html
    assert "no peer-link quota left" in html
    assert f'value="{world["down"].cloud_id}" disabled' in html
    assert "status is DOWN" in html
    assert f'value="{world["gateway"].cloud_id}">' in html
    assert "2 left" in html


def test_create_page_lists_routers_of_the_default_region_with_states(engineer_client, world):
    html = engineer_client.get(reverse("peerlinks:link_create")).content.decode()
    assert "er-good (available)" in html
    assert f'value="{world["broken"].cloud_id}" disabled' in html
    assert "state is failed" in html
    assert "Load peers" in html  # the no-JavaScript way to refresh the peer list


def test_peer_options_fragment_marks_self_and_already_linked_peers(engineer_client, world):
    make_peer_link(gateway=world["gateway"], peer_type="GDGW", peer_gateway_id=world["full"].cloud_id)
    query = {"gateway": world["gateway"].cloud_id, "peer_type": "GDGW", "peer_region": "cn-north-4"}
    response = engineer_client.get(reverse("peerlinks:peer_options"), query, **HTMX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "peerlinks/_peer_options.html"
    html = response.content.decode()
    assert "<html" not in html
    assert f'value="{world["gateway"].cloud_id}" disabled' in html
    assert "the gateway itself" in html
    assert f'value="{world["full"].cloud_id}" disabled' in html
    assert "already linked from this gateway" in html
    assert f'value="{world["down"].cloud_id}" disabled' in html


def test_peer_options_without_htmx_leads_to_the_create_form(engineer_client, world):
    query = {"gateway": world["gateway"].cloud_id, "peer_type": "ER", "peer_region": "cn-east-3"}
    response = engineer_client.get(reverse("peerlinks:peer_options"), query)
    assert response.status_code == 302
    response = engineer_client.get(response["Location"])
    assert response.status_code == 200
    assert "No enterprise routers known in cn-east-3" in response.content.decode()


def test_load_peers_posts_back_the_form_with_the_peers_and_asks_for_nothing(engineer_client, world):
    data = {**create_data(world, peer_region="cn-east-3", peer=""), "load_peers": "1"}
    response = engineer_client.post(reverse("peerlinks:link_create"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No enterprise routers known in cn-east-3" in html
    assert "field-error" not in html
    assert 'value="link-to-er"' in html  # what was typed is kept
    assert not ChangeRequest.objects.exists()


def test_create_submits_a_change_request_and_goes_to_its_page(engineer_client, engineer, world):
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world))
    change = ChangeRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change.get_absolute_url()
    assert change.kind == "create"
    assert change.requested_by == engineer
    assert change.state == ChangeRequest.State.PENDING_APPROVAL  # the default policy: one approval
    assert change.approvals_required == 1
    assert change.payload == {
        "name": "link-to-er",
        "description": "core to er",
        "peer_type": "ER",
        "peer_gateway_id": world["router"].cloud_id,
        "peer_region": "cn-north-4",
        "peer_project_id": "0" * 31 + "1",
    }
    assert AuditEvent.objects.filter(change_request=change, action="change.submitted").exists()


def test_change_pages_name_the_peer_with_its_id_beside_it(engineer_client, world):
    engineer_client.post(reverse("peerlinks:link_create"), create_data(world))
    create = ChangeRequest.objects.get()
    link = make_peer_link(name="old", peer_type="ER", peer_gateway_id=world["router"].cloud_id)
    engineer_client.post(reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "old"})
    delete = ChangeRequest.objects.get(kind="delete")
    for change in (create, delete):
        body = engineer_client.get(change.get_absolute_url()).content.decode()
        named = re.findall(r'class="peer-name">([^<]*)</strong> <code class="peer-id[^>]*>([^<]*)<', body)
        assert named and set(named) == {("er-good", world["router"].cloud_id)}, change.kind


def test_a_change_page_names_the_peers_project_only_when_it_knows_it(engineer_client, world):
    engineer_client.post(reverse("peerlinks:link_create"), create_data(world))
    change = ChangeRequest.objects.get()
    body = engineer_client.get(change.get_absolute_url()).content.decode()
    assert f"(project <code>{'0' * 31 + '1'}</code>)" in body
    change.payload = {key: value for key, value in change.payload.items() if key != "peer_project_id"}
    change.save()
    body = engineer_client.get(change.get_absolute_url()).content.decode()
    assert "(project" not in body  # not "(project )"


def test_create_with_htmx_redirects_the_browser(engineer_client, world):
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == ChangeRequest.objects.get().get_absolute_url()


@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        ("peer", {"peer": str(uuid.uuid4())}, "not one of the available choices"),
        ("gateway", {"gateway": str(uuid.uuid4())}, "not one of the available choices"),
        ("peer_type", {"peer_type": "VPC"}, "not one of the available choices"),
        ("peer_region", {"peer_region": "mars-1"}, "not one of the available choices"),
        ("name", {"name": "bad name!"}, "Use 1 to 64"),
        ("name", {"name": "x" * 65}, "at most 64 characters"),
        ("description", {"description": "d" * 129}, "at most 128 characters"),
        ("gateway", {"gateway": "'; drop table --"}, "not one of the available choices"),
    ],
)
def test_create_with_bad_input_shows_a_field_error(engineer_client, world, field, overrides, message):
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world, **overrides))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert ChangeRequest.objects.count() == 0


def test_create_with_bad_input_over_htmx_rerenders_the_form_with_200(engineer_client, world):
    response = engineer_client.post(
        reverse("peerlinks:link_create"), create_data(world, name="no spaces allowed"), **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("{#") is False
    assert 'id="create-form"' in html
    assert "<html" not in html
    assert "field-error" in html


def test_create_to_an_unavailable_router_is_refused(engineer_client, world):
    response = engineer_client.post(
        reverse("peerlinks:link_create"), create_data(world, peer=world["broken"].cloud_id)
    )
    assert response.status_code == 400
    assert "state is failed" in response.context["form"].errors["peer"][0]


def test_create_with_a_router_of_another_region_is_a_field_error(engineer_client, world):
    other = make_router(region="cn-east-3", name="er-east")
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world, peer=other.cloud_id))
    assert response.status_code == 400
    assert "peer" in response.context["form"].errors


def test_create_with_a_gateway_id_as_router_is_a_field_error(engineer_client, world):
    data = create_data(world, peer=world["full"].cloud_id)  # a gateway, submitted as an ER
    response = engineer_client.post(reverse("peerlinks:link_create"), data)
    assert response.status_code == 400
    assert "peer" in response.context["form"].errors


def test_create_from_a_gateway_without_quota_is_refused(engineer_client, world):
    response = engineer_client.post(
        reverse("peerlinks:link_create"), create_data(world, gateway=world["full"].cloud_id)
    )
    assert response.status_code == 400
    assert "no peer-link quota left" in response.context["form"].errors["gateway"][0]


def test_create_of_a_second_link_to_the_same_peer_is_refused(engineer_client, world):
    make_peer_link(gateway=world["gateway"], peer_gateway_id=world["router"].cloud_id)
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world))
    assert response.status_code == 400
    assert "already linked" in response.context["form"].errors["peer"][0]


def test_create_while_a_create_to_the_same_peer_is_open_is_refused(engineer_client, world):
    assert engineer_client.post(reverse("peerlinks:link_create"), create_data(world)).status_code == 302
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world, name="again"))
    assert response.status_code == 400
    assert "is open" in response.context["form"].errors["peer"][0]


def test_open_creates_count_against_the_quota_left(engineer_client, world):
    second = make_router(project=world["router"].project, name="er-two")
    third = make_router(project=world["router"].project, name="er-three")
    for i, router in enumerate([world["router"], second]):
        data = create_data(world, peer=router.cloud_id, name=f"l{i}")
        assert engineer_client.post(reverse("peerlinks:link_create"), data).status_code == 302
    response = engineer_client.post(reverse("peerlinks:link_create"), create_data(world, peer=third.cloud_id))
    assert response.status_code == 400
    assert "no peer-link quota left" in response.context["form"].errors["gateway"][0]


def test_an_empty_post_is_a_bad_request(engineer_client, world):
    link = make_peer_link()
    assert engineer_client.post(reverse("peerlinks:link_create")).status_code == 400
    assert engineer_client.post(reverse("peerlinks:link_delete", args=[link.cloud_id])).status_code == 400
    assert engineer_client.post(reverse("peerlinks:link_edit", args=[link.cloud_id])).status_code == 400


def test_create_rejects_put_and_other_methods(engineer_client, world):
    assert engineer_client.put(reverse("peerlinks:link_create")).status_code == 405


# --- edit and delete -------------------------------------------------------------------------------


def test_edit_form_is_prefilled(engineer_client, db):
    link = make_peer_link(name="old-name", description="old text")
    response = engineer_client.get(reverse("peerlinks:link_edit", args=[link.cloud_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="old-name"' in html
    assert "old text" in html


def test_edit_submits_an_update_request(engineer_client, db):
    link = make_peer_link(name="old-name")
    response = engineer_client.post(
        reverse("peerlinks:link_edit", args=[link.cloud_id]), {"name": "new-name", "description": "now"}
    )
    change = ChangeRequest.objects.get()
    assert response.status_code == 302
    assert change.kind == "update"
    assert change.peer_link == link
    assert change.payload["name"] == "new-name"
    assert change.payload["before"]["name"] == "old-name"


def test_edit_with_nothing_changed_is_a_form_error(engineer_client, db):
    link = make_peer_link(name="same", description="")
    response = engineer_client.post(
        reverse("peerlinks:link_edit", args=[link.cloud_id]), {"name": "same", "description": ""}, **HTMX
    )
    assert response.status_code == 200
    assert "Nothing to change" in response.content.decode()
    assert ChangeRequest.objects.count() == 0


def test_edit_with_an_invalid_name_is_a_field_error(engineer_client, db):
    link = make_peer_link()
    response = engineer_client.post(
        reverse("peerlinks:link_edit", args=[link.cloud_id]), {"name": "a/b", "description": ""}
    )
    assert response.status_code == 400
    assert "name" in response.context["form"].errors


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"create_owner": "cc"}, 403, "Cloud Connect"),
        ({"status": "PENDING_CREATE"}, 409, "wait until its status is final"),
        ({"gone_at": "2025-01-01T00:00:00Z"}, 409, "no longer exists"),
    ],
)
def test_links_that_cannot_be_changed_are_refused(engineer_client, db, overrides, status, message):
    link = make_peer_link(**overrides)
    for url in (
        reverse("peerlinks:link_edit", args=[link.cloud_id]),
        reverse("peerlinks:link_delete", args=[link.cloud_id]),
    ):
        assert engineer_client.get(url).status_code == status
        response = engineer_client.post(url, {"name": "x", "description": "", "confirm_name": link.name})
        assert response.status_code == status
        assert message in response.content.decode()
    assert ChangeRequest.objects.count() == 0


def test_a_link_with_an_open_change_cannot_get_another(engineer_client, engineer, db):
    link = make_peer_link()
    changes.submit_change(
        user=engineer, kind="update", gateway=link.gateway, payload={"name": "n2"}, peer_link=link
    )
    response = engineer_client.get(reverse("peerlinks:link_delete", args=[link.cloud_id]))
    assert response.status_code == 409
    assert "still open" in response.content.decode()


def test_unknown_links_are_404(engineer_client, db):
    missing = uuid.uuid4()
    assert engineer_client.get(reverse("peerlinks:link_edit", args=[missing])).status_code == 404
    assert engineer_client.post(reverse("peerlinks:link_delete", args=[missing])).status_code == 404
    assert engineer_client.get("/links/not-a-uuid/edit/").status_code == 404


def test_delete_page_shows_what_the_link_connects(engineer_client, db):
    router = make_router(name="er-far")
    link = make_peer_link(name="to-far", peer_gateway_id=router.cloud_id, reason="")
    response = engineer_client.get(reverse("peerlinks:link_delete", args=[link.cloud_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert link.gateway.name in html
    assert "er-far" in html
    assert "Enterprise router" in html
    assert "cn-north-4" in html
    assert "ACTIVE" in html


def test_delete_with_the_wrong_name_is_a_form_error(engineer_client, db):
    link = make_peer_link(name="exact-name")
    url = reverse("peerlinks:link_delete", args=[link.cloud_id])
    response = engineer_client.post(url, {"confirm_name": "Exact-Name"})
    assert response.status_code == 400
    assert "not the name of this link" in response.content.decode()
    response = engineer_client.post(url, {"confirm_name": "exact-name "}, **HTMX)
    assert response.status_code == 200
    assert "not the name of this link" in response.content.decode()
    assert ChangeRequest.objects.count() == 0


def test_delete_with_the_exact_name_submits_a_delete_request(engineer_client, db):
    link = make_peer_link(name="exact-name")
    response = engineer_client.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "exact-name"}, **HTMX
    )
    change = ChangeRequest.objects.get()
    assert response["HX-Redirect"] == change.get_absolute_url()
    assert change.kind == "delete"
    assert change.payload["link_name"] == "exact-name"


# --- change requests ------------------------------------------------------------------------------


@pytest.fixture
def some_changes(engineer, approver, db):
    """The engineer's rename, approved at submission (a policy where renames need no approval), and the
    approver's delete, waiting for one."""
    set_policy(approvals_update=0, approvals_delete=1)
    link = make_peer_link(name="mine-link")
    other = make_peer_link(name="their-link")
    mine = changes.submit_change(
        user=engineer, kind="update", gateway=link.gateway, payload={"name": "renamed"}, peer_link=link
    )
    theirs = changes.submit_change(
        user=approver, kind="delete", gateway=other.gateway, payload={}, peer_link=other
    )
    return mine, theirs


def test_change_list_shows_every_request(engineer_client, some_changes):
    response = engineer_client.get(reverse("peerlinks:change_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "mine-link" in html
    assert "their-link" in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"mine": "on"}, "mine-link", "their-link"),
        ({"kind": "delete"}, "their-link", "mine-link"),
        ({"state": "approved", "kind": "update"}, "mine-link", "their-link"),
    ],
)
def test_change_list_filters(engineer_client, some_changes, query, shown, hidden):
    response = engineer_client.get(reverse("peerlinks:change_list"), query, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="change-rows"' in html
    assert "<html" not in html
    assert shown in html
    assert hidden not in html


def test_change_list_with_a_bad_filter_shows_everything(engineer_client, some_changes):
    response = engineer_client.get(reverse("peerlinks:change_list"), {"state": "bogus", "page": "x"})
    assert response.status_code == 200
    html = response.content.decode()
    # The bad filter is ignored, not an error: every request is listed, on the first page.
    for change in some_changes:
        assert f'href="{change.get_absolute_url()}"' in html
    assert "mine-link" in html and "their-link" in html
    assert "No change requests match" not in html
    assert [change.pk for change in response.context["page"].object_list] == sorted(
        (change.pk for change in some_changes), reverse=True
    )
    assert response.context["page"].number == 1
    state = re.search(r'<select name="state".*?</select>', html, flags=re.S).group(0)
    assert "selected" not in state  # the filter shows "Any state", as the list does


def test_change_list_query_count_does_not_grow_with_rows(
    engineer_client, engineer, django_assert_max_num_queries, db
):
    for _ in range(12):
        link = make_peer_link()
        changes.submit_change(user=engineer, kind="delete", gateway=link.gateway, payload={}, peer_link=link)
    # the 7th: the role's permissions; the 8th: the regions' sync state, for the cloud banner; the 9th:
    # the user's saved language and time zone; the 10th: the user's roles for one account; the 11th: the
    # accounts whose regions the banner looks at; the 12th: whether there are several accounts (the list
    # then names each request's account)
    with django_assert_max_num_queries(12):
        engineer_client.get(reverse("peerlinks:change_list"))


def _followed(client, change: ChangeRequest) -> tuple[str, dict[str, str]]:
    """The change's page, and what its one poll then asks `/live/` (the change's panel and version)."""
    page = client.get(change.get_absolute_url()).content.decode()
    return page, {"change": followed_panel(page, "change"), "fast": "1", "v": live_version(page)}


def test_an_open_change_is_followed_by_the_pages_one_poll(engineer_client, some_changes):
    mine, _ = some_changes
    page, live = _followed(engineer_client, mine)
    assert "renamed" in page and "change.submitted" in page
    assert live["change"].startswith(f"{mine.pk}:")
    assert 'hx-get="/live/?fast=1"' in page and 'hx-trigger="every 1000ms"' in page  # one poll, fast
    assert page.count("hx-trigger=") == 1  # the state panel does not poll itself
    assert engineer_client.get("/live/", live, **HTMX).status_code == 204  # nothing moved
    # An htmx request for the page (a boosted link, a restore) gets the page: it has no fragment of its own.
    assert "<!doctype html>" in engineer_client.get(mine.get_absolute_url(), **HTMX).content.decode()


def test_a_create_is_followed_until_its_gateways_quota_changes_what_the_page_warns_of(
    engineer_client, engineer, world
):
    def create(name: str) -> ChangeRequest:
        router = make_router(project=world["gateway"].project, name=f"er-{name}")
        payload = {"name": name, "peer_type": "ER", "peer_gateway_id": router.cloud_id}
        payload["peer_region"] = "cn-north-4"
        return changes.submit_change(user=engineer, kind="create", gateway=world["gateway"], payload=payload)

    first = create("first-new")
    create("second-new")  # the page shows what the quota makes of both
    page, live = _followed(engineer_client, first)
    assert "0 of 2" in page and "other open create" not in page
    assert engineer_client.get("/live/", live, **HTMX).status_code == 204  # the page's version, read anew
    Gateway.objects.filter(pk=world["gateway"].pk).update(available_peer_link_count=1)  # as a sync says
    body = engineer_client.get("/live/", live, **HTMX).content.decode()
    assert 'id="change-quota"' in body and "With the 1 other open create request on this gateway" in body


def test_the_poll_brings_a_changes_panels_once_final_and_follows_it_no_more(engineer_client, some_changes):
    mine, _ = some_changes
    page, live = _followed(engineer_client, mine)
    ChangeRequest.objects.filter(pk=mine.pk).update(
        state="failed", error_code="DC.0001", error_msg="peer link quota exceeded"
    )
    answer = engineer_client.get("/live/", live, **HTMX)
    body = answer.content.decode()
    assert answer.status_code == 200
    assert '<section id="change-state" class="change-state" hx-swap-oob="true">' in body
    assert "DC.0001" in body and "peer link quota exceeded" in body and "updates live" not in body
    assert 'id="change-decision" class="card change-decision" hx-swap-oob="true"' in body  # no decision
    assert '<h2 id="change-preview-title" hx-swap-oob="true">The link as asked for</h2>' in body
    assert followed_panel(body, "change") == ""  # final: the state panel no longer asks to be followed
    assert 'hx-get="/live/"' in body and 'hx-trigger="every 2000ms"' in body  # the poll slows down

    page = engineer_client.get(mine.get_absolute_url()).content.decode()  # a reload shows the same
    assert "DC.0001" in page and followed_panel(page, "change") == ""
    assert 'hx-get="/live/"' in page and 'hx-trigger="every 2000ms"' in page


def test_a_creates_status_line_says_what_came_of_it_once_final(engineer_client, engineer, world):
    """While open, a create's preview says the status its link will have; cancelled, it says the link was
    not made, in the poll's answer and on a reload; done, it names the link made."""
    router = make_router(project=world["gateway"].project, name="er-asked")
    payload = {"name": "asked-for", "peer_type": "ER", "peer_gateway_id": router.cloud_id}
    create = changes.submit_change(
        user=engineer,
        kind="create",
        gateway=world["gateway"],
        payload={**payload, "peer_region": "cn-north-4"},
    )
    page, live = _followed(engineer_client, create)
    assert (
        '<dd id="change-preview-status">PENDING_CREATE, then ACTIVE once the cloud has made it</dd>' in page
    )

    changes.cancel_change(change_id=create.pk, user=engineer)
    body = engineer_client.get("/live/", live, **HTMX).content.decode()
    assert '<dd id="change-preview-status" hx-swap-oob="true">Not made (cancelled)</dd>' in body
    page = engineer_client.get(create.get_absolute_url()).content.decode()
    assert '<dd id="change-preview-status">Not made (cancelled)</dd>' in page and "then ACTIVE" not in page
    assert "not created yet" not in page and "none yet" not in page  # the state panel says so too
    assert '<span class="hint">not created</span>' in page and '<span class="hint">none</span>' in page

    made = make_peer_link(name="asked-for", gateway=world["gateway"])
    ChangeRequest.objects.filter(pk=create.pk).update(state="done", peer_link=made)
    page = engineer_client.get(create.get_absolute_url()).content.decode()
    assert (
        f'<dd id="change-preview-status">Made: <a href="{made.get_absolute_url()}">asked-for</a></dd>' in page
    )


def test_the_poll_sends_a_changes_panels_again_only_when_what_they_show_changed(
    engineer_client, engineer, some_changes
):
    mine, _ = some_changes
    _, live = _followed(engineer_client, mine)
    changes.cancel_change(change_id=mine.pk, user=engineer)  # an audit event, a state
    body = engineer_client.get("/live/", live, **HTMX).content.decode()
    assert "change.cancelled" in body and followed_panel(body, "change") == ""
    _, live = _followed(engineer_client, some_changes[1])
    ChangeRequest.objects.filter(pk=some_changes[1].pk).update(error_msg="a passing problem")
    body = engineer_client.get("/live/", live, **HTMX).content.decode()
    assert followed_panel(body, "change") not in ("", live["change"])
    live["change"] = followed_panel(body, "change")
    assert engineer_client.get("/live/", live, **HTMX).status_code == 204


def test_the_poll_ignores_a_change_the_person_may_not_read_and_a_malformed_one(
    engineer_client, some_changes, outsider, client
):
    mine, _ = some_changes
    client.force_login(outsider)  # no role: reads nothing
    answer = client.get("/live/", {"change": f"{mine.pk}:old"}, **HTMX).content.decode()
    assert "change-state" not in answer and 'hx-get="/live/"' in answer
    for shown in ("x:y", f"{mine.pk}", "9" * 40 + ":old", "999999:old"):
        body = engineer_client.get("/live/", {"change": shown}, **HTMX).content.decode()
        assert "change-state" not in body and 'hx-get="/live/"' in body, shown


def test_the_poll_reads_a_followed_change_in_one_query(engineer_client, some_changes):
    mine, theirs = some_changes

    def queries(**shown: str) -> int:
        with CaptureQueriesContext(connection) as done:
            engineer_client.get("/live/", {**shown, "fast": "1"}, **HTMX)
        return len(done.captured_queries)

    _, live = _followed(engineer_client, mine)
    none = queries()
    assert queries(change=live["change"]) == none + 1
    # Changed: the change as its page reads it (with its peer's name), its decisions and its audit trail
    # too; a pending change's outlook reads who may approve it (permissions.holders, one query).
    assert queries(change=f"{mine.pk}:old") == none + 4
    assert queries(change=f"{theirs.pk}:old") == none + 5


def test_unknown_change_is_404(engineer_client, db):
    assert engineer_client.get(reverse("peerlinks:change_detail", args=[999999])).status_code == 404
    assert engineer_client.post(reverse("peerlinks:change_cancel", args=[999999])).status_code == 404


def test_requester_can_cancel_an_approved_request(engineer_client, some_changes):
    mine, _ = some_changes
    response = engineer_client.post(reverse("peerlinks:change_cancel", args=[mine.pk]))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.state == "cancelled"
    assert AuditEvent.objects.filter(change_request=mine, action="change.cancelled").exists()


def test_cancel_over_htmx_returns_the_state_panel(engineer_client, some_changes):
    mine, _ = some_changes
    response = engineer_client.post(reverse("peerlinks:change_cancel", args=[mine.pk]), **HTMX)
    assert response.status_code == 200
    assert "Cancelled" in response.content.decode()


def test_others_cannot_cancel_my_request(engineer_client, some_changes):
    _, theirs = some_changes
    response = engineer_client.post(reverse("peerlinks:change_cancel", args=[theirs.pk]))
    assert response.status_code == 403
    assert "Only the person who asked" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.state == "pending_approval"
    page = engineer_client.get(theirs.get_absolute_url()).content.decode()
    assert "Cancel this request" not in page


def test_an_executing_request_cannot_be_cancelled(engineer_client, some_changes):
    mine, _ = some_changes
    ChangeRequest.objects.filter(pk=mine.pk).update(state="executing")
    response = engineer_client.post(reverse("peerlinks:change_cancel", args=[mine.pk]))
    assert response.status_code == 409
    assert "can no longer be cancelled" in response.content.decode()


def test_cancel_needs_post(engineer_client, some_changes):
    mine, _ = some_changes
    assert engineer_client.get(reverse("peerlinks:change_cancel", args=[mine.pk])).status_code == 405


def test_change_pages_render_for_every_kind(engineer_client, engineer, world):
    data = create_data(world)
    del data["description"]
    engineer_client.post(reverse("peerlinks:link_create"), data)
    link = make_peer_link(name="to-rename", description="old")
    changes.submit_change(
        user=engineer, kind="update", gateway=link.gateway, payload={"name": "n"}, peer_link=link
    )
    gone = make_peer_link(name="to-delete")
    changes.submit_change(user=engineer, kind="delete", gateway=gone.gateway, payload={}, peer_link=gone)
    assert engineer_client.get(reverse("peerlinks:change_list")).status_code == 200
    for change in ChangeRequest.objects.all():
        response = engineer_client.get(change.get_absolute_url())
        assert response.status_code == 200, change.kind
    update = ChangeRequest.objects.get(kind="update")
    assert update.payload["description"] == "old"  # left out: kept, and shown as unchanged


@pytest.mark.parametrize("param", ["gateway", "peer_type", "peer_region"])
def test_a_nul_byte_in_a_create_choice_is_ignored_not_a_server_error(engineer_client, world, param):
    # PostgreSQL refuses NUL in text parameters; the choices must not be queried with it.
    response = engineer_client.get(reverse("peerlinks:link_create"), {param: "x\x00y"})
    assert response.status_code == 200
    response = engineer_client.post(reverse("peerlinks:link_create"), {param: "x\x00y", "name": "n"})
    assert response.status_code == 400
