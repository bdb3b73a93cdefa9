"""The HTTP API: reads with the list pages' filters and cursor pagination, changes asked for and decided
through the same services (four eyes, payload-bound approvals, audit as the token's owner), Idempotency-Key
and problem details."""

import json
import uuid

import pytest

from peerlinks.models import AuditEvent, ChangeRequest, Comment, Drift, PeerLink
from tests.api_support import get, linkable, post, token_for
from tests.conftest import make_gateway, make_peer_link

PROBLEM = "application/problem+json"


# --- Reads and pagination -----------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_follow_the_lists_order_without_overlap_or_gap(client, viewer):
    secret = token_for(viewer, scope="read_only")
    gateway = make_gateway()
    for n in range(7):
        make_peer_link(gateway=gateway, name=f"link-{n % 3}", status="ACTIVE" if n % 2 else "ERROR")
    make_peer_link(gateway=gateway, name="gone-link", gone_at="2026-01-01T00:00:00Z")
    for sort in (None, "name", "-name", "status", "-created", "gateway"):
        query = {"limit": 3, **({"sort": sort} if sort else {})}
        seen = []
        response = get(client, "/api/v1/links", secret, **query)
        while True:
            assert response.status_code == 200, response.content
            body = response.json()
            seen += [item["id"] for item in body["items"]]
            if not body["next"]:
                break
            response = client.get(body["next"], HTTP_AUTHORIZATION=f"Bearer {secret}")
        page_order = [link.cloud_id for link in _filtered_like_the_page({"sort": sort} if sort else {})]
        assert seen == page_order, sort
        assert len(seen) == 7


def _filtered_like_the_page(data: dict) -> list[PeerLink]:
    from peerlinks.filters import PeerLinkFilter

    return list(PeerLinkFilter(data, queryset=PeerLink.objects.for_list().with_peer_name()).qs)


@pytest.mark.django_db
def test_a_listed_link_reads_as_the_link_itself_does(client, viewer):
    """The list answers its rows without ninja's per-attribute check; each reads exactly as the one link's
    own answer (validated through the same schema), every field, a gone link and labels included."""
    secret = token_for(viewer, scope="read_only")
    gateway = make_gateway()
    make_peer_link(gateway=gateway, name="plain")
    make_peer_link(gateway=gateway, name="gone", gone_at="2026-01-01T00:00:00.123456Z", labels=["a", "b"])
    listed = get(client, "/api/v1/links", secret, show_gone="true").json()["items"]
    assert len(listed) == 2
    for item in listed:
        assert item == get(client, f"/api/v1/links/{item['id']}", secret).json()
    assert {item["status"] for item in listed} == {"GONE", "ACTIVE"}


@pytest.mark.django_db
def test_links_are_filtered_and_searched_as_on_the_list_page(client, viewer):
    secret = token_for(viewer, scope="read_only")
    wanted = make_peer_link(name="finance-a", owner_team="finance", status="ERROR")
    make_peer_link(name="other", owner_team="ops")
    make_peer_link(name="finance-gone", owner_team="finance", gone_at="2026-01-01T00:00:00Z")
    ids = lambda **q: [item["id"] for item in get(client, "/api/v1/links", secret, **q).json()["items"]]  # noqa: E731
    assert ids(q="finance") == [wanted.cloud_id]
    assert ids(owner="FINANCE", status="ERROR") == [wanted.cloud_id]
    assert len(ids(owner="finance", show_gone="true")) == 2
    item = get(client, f"/api/v1/links/{wanted.cloud_id}", secret).json()
    assert item["account"] == "main" and item["gateway"]["id"] == wanted.gateway.cloud_id


@pytest.mark.django_db
def test_invalid_filters_and_cursors_are_problems_not_pages(client, viewer):
    secret = token_for(viewer, scope="read_only")
    unknown_gateway = get(client, "/api/v1/links", secret, gateway=str(uuid.uuid4()))
    assert unknown_gateway.status_code == 422
    assert unknown_gateway["Content-Type"] == PROBLEM
    assert unknown_gateway.json()["errors"][0]["loc"] == ["query", "gateway"]
    for cursor in ("nonsense", "W10", "WyJ4IiwgWzFdXQ"):
        bad = get(client, "/api/v1/links", secret, cursor=cursor)
        assert bad.status_code == 400 and bad.json()["type"].endswith("invalid-cursor")
    wrong_type = get(client, "/api/v1/links", secret, status="SOMETHING", limit=0)
    assert wrong_type.status_code == 422
    assert {tuple(error["loc"]) for error in wrong_type.json()["errors"]} == {
        ("query", "status"),
        ("query", "limit"),
    }


@pytest.mark.django_db
def test_a_cursor_of_one_order_is_refused_by_another(client, viewer):
    secret = token_for(viewer, scope="read_only")
    for _ in range(3):
        make_peer_link()
    following = get(client, "/api/v1/links", secret, limit=1).json()["next"]
    cursor = following.split("cursor=")[1]
    assert get(client, "/api/v1/links", secret, cursor=cursor, sort="-name").status_code == 400


@pytest.mark.django_db
def test_unknown_objects_and_paths_are_404_problems(client, viewer):
    secret = token_for(viewer, scope="read_only")
    for path in (f"/api/v1/links/{uuid.uuid4()}", "/api/v1/changes/999", "/api/v1/nowhere", "/api/v2/links"):
        response = get(client, path, secret)
        assert response.status_code == 404, path
        assert response["Content-Type"] == PROBLEM
        assert response.json()["title"] == "Not Found"


@pytest.mark.django_db
def test_every_list_names_each_items_account(client, viewer, engineer):
    secret = token_for(viewer, scope="read_only")
    link = make_peer_link()
    Drift.objects.create(peer_link=link, kind="created")
    post(client, "/api/v1/links", linkable(), token_for(engineer))
    for path in ("/api/v1/links", "/api/v1/gateways", "/api/v1/routers", "/api/v1/changes", "/api/v1/drift"):
        items = get(client, path, secret).json()["items"]
        assert items and all(item["account"] == "main" for item in items), path
    events = get(client, "/api/v1/audit-events", secret, action="change.submitted").json()["items"]
    assert [event["account"] for event in events] == ["main"]


# --- Asking for a change and deciding it -----------------------------------------------------------


@pytest.mark.django_db
def test_a_link_is_asked_for_and_approved_with_four_eyes_and_the_digest_seen(client, engineer, approver):
    mine, lead = token_for(engineer), token_for(approver)
    created = post(client, "/api/v1/links", linkable(), mine)
    assert created.status_code == 201, created.content
    change = created.json()
    assert created["Location"].endswith(f"/api/v1/changes/{change['id']}")
    assert change["state"] == "pending_approval" and change["requested_by"] == "engineer1"
    path = f"/api/v1/changes/{change['id']}"

    own = post(client, f"{path}/approve", {"payload_digest": change["payload_digest"]}, mine)
    assert own.status_code == 403 and own["Content-Type"] == PROBLEM

    edited = post(client, f"{path}/edit", {"name": "renamed-by-api", "description": ""}, mine)
    assert edited.status_code == 200, edited.content
    outdated = post(client, f"{path}/approve", {"payload_digest": change["payload_digest"]}, lead)
    assert outdated.status_code == 409 and outdated.json()["type"].endswith("change-outdated")

    seen = get(client, path, lead).json()
    assert "approve" in seen["actions"]
    approved = post(
        client, f"{path}/approve", {"payload_digest": seen["payload_digest"], "comment": "ok"}, lead
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["state"] == "approved"
    assert approved.json()["approvals"][0]["approver"] == "lead1"
    event = AuditEvent.objects.get(action="change.approval_added")
    assert event.actor == approver


@pytest.mark.django_db
def test_a_rejection_needs_a_comment_and_ends_the_request(client, engineer, approver):
    change = post(client, "/api/v1/links", linkable(), token_for(engineer)).json()
    lead = token_for(approver)
    path = f"/api/v1/changes/{change['id']}/reject"
    silent = post(client, path, {"payload_digest": change["payload_digest"], "comment": ""}, lead)
    assert silent.status_code == 422 and silent.json()["errors"][0]["loc"] == ["body", "body", "comment"]
    rejected = post(client, path, {"payload_digest": change["payload_digest"], "comment": "not now"}, lead)
    assert rejected.json()["state"] == "rejected"
    again = post(client, f"/api/v1/changes/{change['id']}/cancel", None, token_for(engineer))
    assert again.status_code == 409 and again["Content-Type"] == PROBLEM


@pytest.mark.django_db
def test_rename_delete_cancel_and_comment_go_through_the_services(client, engineer, viewer):
    mine = token_for(engineer)
    link = make_peer_link()
    unchanged = post(client, f"/api/v1/links/{link.cloud_id}/rename", {"name": link.name}, mine)
    assert unchanged.status_code == 422 and "Nothing to change" in unchanged.json()["detail"]
    renamed = post(client, f"/api/v1/links/{link.cloud_id}/rename", {"description": "new words"}, mine)
    assert renamed.status_code == 201, renamed.content
    assert renamed.json()["payload"]["name"] == link.name
    busy = post(client, f"/api/v1/links/{link.cloud_id}/delete", {"confirm_name": link.name}, mine)
    assert busy.status_code == 409  # the rename is still open
    number = renamed.json()["id"]
    said = post(client, f"/api/v1/changes/{number}/comments", {"body": "for the migration"}, mine)
    assert said.status_code == 201 and said.json()["author"] == "engineer1"
    assert (
        post(client, f"/api/v1/changes/{number}/comments", {"body": "hi"}, token_for(viewer)).status_code
        == 403
    )
    cancelled = post(client, f"/api/v1/changes/{number}/cancel", None, mine)
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["comments"][0]["body"] == "for the migration"
    unconfirmed = post(client, f"/api/v1/links/{link.cloud_id}/delete", {"confirm_name": "other"}, mine)
    assert unconfirmed.status_code == 422 and unconfirmed.json()["errors"][0]["loc"] == [
        "body",
        "confirm_name",
    ]
    deleted = post(client, f"/api/v1/links/{link.cloud_id}/delete", {"confirm_name": link.name}, mine)
    assert deleted.status_code == 201 and deleted.json()["kind"] == "delete"


@pytest.mark.django_db
def test_drift_is_acknowledged_once(client, engineer):
    drift = Drift.objects.create(peer_link=make_peer_link(), kind="created")
    mine = token_for(engineer)
    assert [d["id"] for d in get(client, "/api/v1/drift", mine).json()["items"]] == [drift.pk]
    first = post(client, f"/api/v1/drift/{drift.pk}/acknowledge", None, mine)
    assert first.status_code == 200 and first.json()["acknowledged_by"] == "engineer1"
    assert get(client, "/api/v1/drift", mine).json()["items"] == []
    assert len(get(client, "/api/v1/drift", mine, acknowledged="true").json()["items"]) == 1
    assert AuditEvent.objects.filter(action="drift.acknowledged").count() == 1


@pytest.mark.django_db
def test_a_body_that_breaks_the_rules_is_a_422_or_409_problem(client, engineer):
    mine = token_for(engineer)
    body = linkable()
    assert post(client, "/api/v1/links", {**body, "name": "bad name!"}, mine).status_code == 422
    assert post(client, "/api/v1/links", {**body, "gateway_id": str(uuid.uuid4())}, mine).status_code == 422
    refused = post(client, "/api/v1/links", {**body, "peer_id": str(uuid.uuid4())}, mine)
    assert refused.status_code == 409 and "Choose one of the listed peers" in refused.json()["detail"]
    broken = client.post(
        "/api/v1/links", "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {mine}"
    )
    assert broken.status_code in (400, 422) and broken["Content-Type"] == PROBLEM
    assert not ChangeRequest.objects.exists()


# --- Idempotency-Key ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_retry_with_the_same_key_gets_the_first_answer_and_creates_nothing(client, engineer):
    mine = token_for(engineer)
    body = linkable()
    first = post(client, "/api/v1/links", body, mine, key="create-1")
    again = post(client, "/api/v1/links", body, mine, key="create-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ChangeRequest.objects.count() == 1
    other = post(client, "/api/v1/links", {**body, "name": "another"}, mine, key="create-1")
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    assert ChangeRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_refusal_is_kept_for_its_key_too(client, engineer, approver):
    change = post(client, "/api/v1/links", linkable(), token_for(engineer)).json()
    lead = token_for(approver)
    path = f"/api/v1/changes/{change['id']}/approve"
    wrong = post(client, path, {"payload_digest": "0" * 64}, lead, key="approve-1")
    assert wrong.status_code == 409
    replayed = post(client, path, {"payload_digest": "0" * 64}, lead, key="approve-1")
    assert replayed.status_code == 409 and replayed.json() == wrong.json()
    approved = post(client, path, {"payload_digest": change["payload_digest"]}, lead, key="approve-2")
    assert approved.status_code == 200
    double = post(client, path, {"payload_digest": change["payload_digest"]}, lead, key="approve-2")
    assert double.json() == approved.json()
    assert change_approvals(change["id"]) == 1


def change_approvals(number: int) -> int:
    return ChangeRequest.objects.get(pk=number).approvals.count()


@pytest.mark.django_db
def test_keys_belong_to_one_person(client, engineer):
    from tests.conftest import _user

    other = _user("engineer2", "Engineer")
    body = linkable()
    post(client, "/api/v1/links", body, token_for(engineer), key="same-key")
    answer = post(
        client,
        f"/api/v1/changes/{ChangeRequest.objects.get().pk}/comments",
        {"body": "x"},
        token_for(other),
        key="same-key",
    )
    assert answer.status_code == 201
    assert Comment.objects.count() == 1


@pytest.mark.django_db
def test_an_idempotency_key_that_is_too_long_is_refused(client, engineer):
    for key in ("k" * 256, "two words", "naïve"):
        response = post(client, "/api/v1/links", linkable(), token_for(engineer), key=key)
        assert response.status_code == 400 and response["Content-Type"] == PROBLEM, key
    assert not ChangeRequest.objects.exists()


@pytest.mark.django_db
def test_an_old_key_is_forgotten_after_its_hours(client, engineer, settings):
    from datetime import timedelta

    from django.utils import timezone

    from peerlinks.models import IdempotencyKey

    mine = token_for(engineer)
    body = linkable()
    post(client, "/api/v1/links", body, mine, key="old")
    IdempotencyKey.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS + 1)
    )
    ChangeRequest.objects.update(state="cancelled")
    fresh = post(client, "/api/v1/links", body, mine, key="old")
    assert fresh.status_code == 201 and not fresh.has_header("Idempotent-Replayed")
    assert ChangeRequest.objects.count() == 2


# --- The schema and the docs ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_docs_load_only_this_sites_scripts_under_the_csp(client):
    import re

    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>", page)
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs in scripts]
    assert all(src is None or src.group(1).startswith("/static/") for src in sources)
    inline = [attrs for attrs in scripts if "src=" not in attrs]
    assert all('type="application/json"' in attrs for attrs in inline)  # data, never run
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no stylesheet or script from another host
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.mark.django_db
def test_the_schema_says_every_operation_answers_problem_details(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    operations = [op for methods in schema["paths"].values() for op in methods.values()]
    assert len(operations) >= 20
    for operation in operations:
        for status in ("401", "403", "404", "422", "429"):
            assert "application/problem+json" in operation["responses"][status]["content"]
    posts = [op for methods in schema["paths"].values() for m, op in methods.items() if m == "post"]
    assert all(any(p["name"] == "Idempotency-Key" for p in op["parameters"]) for op in posts)


@pytest.mark.django_db(transaction=True)
def test_two_retries_at_once_with_one_key_create_one_change_and_get_one_answer(engineer):
    from django.test import Client

    from tests.test_races import race

    mine = token_for(engineer)
    body = linkable()
    answers = race(
        *[lambda: post(Client(), "/api/v1/links", body, mine, key="same-moment") for _ in range(2)]
    )
    assert [answer.status_code for answer in answers] == [201, 201], answers
    assert answers[0].json() == answers[1].json()
    assert ChangeRequest.objects.count() == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/links", "/api/v1/changes", "/api/v1/drift", "/api/v1/audit-events"]
)
@pytest.mark.django_db
def test_a_longer_list_costs_no_more_queries(client, engineer, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    mine = token_for(engineer)

    def grow(count: int) -> None:
        for _ in range(count):
            link = make_peer_link()
            Drift.objects.create(peer_link=link, kind="created")
            post(client, f"/api/v1/links/{link.cloud_id}/rename", {"description": "more"}, mine)

    def queries() -> int:
        with CaptureQueriesContext(connection) as run:
            assert get(client, path, mine).status_code == 200
        return len(run.captured_queries)

    grow(2)
    few = queries()
    grow(8)
    assert queries() <= few


def test_a_cloud_refusal_is_a_502_with_the_clouds_code_message_and_request_id():
    from peerlinks import cloud
    from peerlinks.api.problems import for_exception

    refused = cloud.Conflict("The peer link is busy.", status=409, error_code="DC.1001", request_id="req-1")
    response = for_exception(refused)
    body = json.loads(response.content)
    assert response.status_code == 502 and response["Content-Type"] == PROBLEM
    assert body["cloud"] == {
        "status": 409,
        "code": "DC.1001",
        "message": "The peer link is busy.",
        "request_id": "req-1",
    }


@pytest.mark.django_db
def test_a_failed_change_is_retried_once_and_a_waiting_one_run_now_with_a_reason(client, engineer, approver):
    from django.utils import timezone

    link = make_peer_link()
    failed = ChangeRequest.objects.create(
        kind="update",
        state="failed",
        requested_by=engineer,
        gateway=link.gateway,
        peer_link=link,
        payload={"name": "again", "description": ""},
    )
    mine, lead = token_for(engineer), token_for(approver)
    retried = post(client, f"/api/v1/changes/{failed.pk}/retry", None, mine)
    assert retried.status_code == 201 and retried.json()["retry_of"] == failed.pk
    assert post(client, f"/api/v1/changes/{failed.pk}/retry", None, mine).status_code == 409

    waiting = ChangeRequest.objects.create(
        kind="delete",
        state="approved",
        requested_by=engineer,
        gateway=make_gateway(),
        payload={},
        not_before=timezone.now() + timezone.timedelta(hours=3),
    )
    path = f"/api/v1/changes/{waiting.pk}/run-now"
    assert post(client, path, {"reason": ""}, lead).status_code == 422
    assert post(client, path, {"reason": "outage"}, mine).status_code == 403  # not an approver
    ran = post(client, path, {"reason": "outage"}, lead)
    assert ran.status_code == 200 and ran.json()["not_before"] is None


@pytest.mark.django_db
def test_a_method_a_path_does_not_take_is_a_405_problem_naming_those_it_does(client, viewer):
    answer = client.put("/api/v1/links", HTTP_AUTHORIZATION=f"Bearer {token_for(viewer, scope='read_only')}")
    assert answer.status_code == 405 and answer["Content-Type"] == PROBLEM
    allowed = {method.strip() for method in answer["Allow"].split(",")}
    assert allowed == {"GET", "POST"} and answer["Allow"] in answer.json()["detail"]


@pytest.mark.django_db
def test_null_characters_and_ids_that_are_not_ids_are_refused_as_the_pages_refuse_them(
    client, engineer, approver
):
    mine = token_for(engineer)
    change = post(client, "/api/v1/links", linkable(), mine).json()
    reject = {"payload_digest": change["payload_digest"], "comment": "no\x00way"}
    refused = post(client, f"/api/v1/changes/{change['id']}/reject", reject, token_for(approver))
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"][-1] == "comment"
    assert get(client, "/api/v1/gateways", mine, region="cn\x00").status_code == 422
    assert get(client, "/api/v1/links", mine, q="a\x00b").status_code == 422
    assert get(client, "/api/v1/links/not-a-cloud-id", mine).status_code == 422
    assert ChangeRequest.objects.get().state == "pending_approval"
