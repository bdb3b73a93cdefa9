"""The batch API: preview, one batch asked for (JSON rows or a CSV/YAML text), one approval bound to the
batch's digest, problem details for every refusal, Idempotency-Key, and token scopes."""

import pytest

from peerlinks.models import Approval, ChangeBatch, ChangeRequest
from tests.api_support import get, post, token_for
from tests.conftest import make_gateway, make_peer_link, make_router

PROBLEM = "application/problem+json"
State = ChangeRequest.State


@pytest.fixture
def place(db):
    make_gateway(name="gw-core", available_peer_link_count=2)
    for n in range(3):
        make_router(name=f"er-{n}")


def rows(*numbers: int) -> list[dict]:
    return [
        {"gateway": "gw-core", "peer": f"er-{n}", "name": f"to-er-{n}", "owner": "team-a"} for n in numbers
    ]


def test_preview_gives_verdicts_and_quota_and_asks_for_nothing(client, engineer, place):
    secret = token_for(engineer)
    answer = post(client, "/api/v1/batches/preview", {"rows": rows(0, 1, 2)}, secret)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["accepted"], body["refused"]) == (2, 1)
    assert body["rows"][2]["problem"] == "No peer-link quota left on gw-core for this row (2 links)."
    assert body["quotas"][0] | {"gateway_id": None} == {
        "gateway_id": None,
        "gateway": "gw-core",
        "used": 0,
        "quota": 2,
        "open_creates": 0,
        "this_upload": 2,
        "freed": 0,
        "after": 2,
    }
    assert not ChangeRequest.objects.exists()


def test_submit_refuses_while_a_row_is_refused_naming_it(client, engineer, place):
    secret = token_for(engineer)
    answer = post(client, "/api/v1/batches", {"rows": rows(0, 1, 2)}, secret)
    assert answer.status_code == 409 and answer["Content-Type"] == PROBLEM
    assert answer.json()["errors"] == [
        {"loc": ["body", "rows", 2], "msg": "No peer-link quota left on gw-core for this row (2 links)."}
    ]
    assert not ChangeBatch.objects.exists()


def test_a_csv_text_becomes_one_batch_approved_with_one_call(client, engineer, approver, place):
    text = "gateway,peer,name,owner,ticket\n" + "".join(
        f"gw-core,er-{n},to-er-{n},team-a,CHG-1\n" for n in (0, 1)
    )
    mine = token_for(engineer)
    answer = post(client, "/api/v1/batches", {"text": text}, mine, key="bulk-1")
    assert answer.status_code == 201, answer.content
    batch = answer.json()
    assert answer["Location"].endswith(f"/api/v1/batches/{batch['id']}")
    assert [row["payload"]["owner_team"] for row in batch["rows"]] == ["team-a", "team-a"]
    assert batch["states"] == {"pending_approval": 2}
    again = post(client, "/api/v1/batches", {"text": text}, mine, key="bulk-1")
    assert again["Idempotent-Replayed"] == "true" and ChangeBatch.objects.count() == 1

    own = post(
        client, f"/api/v1/batches/{batch['id']}/approve", {"batch_digest": batch["batch_digest"]}, mine
    )
    assert own.status_code == 403  # four eyes (and an engineer is no approver)
    lead = token_for(approver)
    seen = get(client, f"/api/v1/batches/{batch['id']}", lead).json()
    decided = post(
        client, f"/api/v1/batches/{batch['id']}/approve", {"batch_digest": seen["batch_digest"]}, lead
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["states"] == {"approved": 2}
    assert Approval.objects.filter(approver=approver).count() == 2


def test_a_decision_on_another_version_is_a_409_and_decides_nothing(client, engineer, approver, place):
    batch = post(client, "/api/v1/batches", {"rows": rows(0, 1)}, token_for(engineer)).json()
    stale = "0" * 64
    answer = post(
        client, f"/api/v1/batches/{batch['id']}/approve", {"batch_digest": stale}, token_for(approver)
    )
    assert answer.status_code == 409 and answer.json()["type"].endswith("change-outdated")
    assert not Approval.objects.exists()


def test_bad_input_is_a_422_problem(client, engineer, place):
    secret = token_for(engineer)
    both = post(client, "/api/v1/batches/preview", {"rows": rows(0), "text": "x"}, secret)
    assert both.status_code == 422 and both["Content-Type"] == PROBLEM
    unknown = post(client, "/api/v1/batches/preview", {"text": "gateway,colour\nx,y\n"}, secret)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "text"]
    assert "Unknown columns: colour" in unknown.json()["detail"]


def test_deletes_and_cancel_and_a_read_only_token(client, engineer, viewer, db):
    gateway = make_gateway(name="gw-del")
    links = [make_peer_link(gateway=gateway) for _ in range(2)]
    body = {"kind": "delete", "link_ids": [link.cloud_id for link in links]}
    assert post(client, "/api/v1/batches", body, token_for(engineer, scope="read_only")).status_code == 403
    assert post(client, "/api/v1/batches", body, token_for(viewer)).status_code == 403
    secret = token_for(engineer)
    batch = post(client, "/api/v1/batches", body, secret).json()
    assert [row["kind"] for row in batch["rows"]] == ["delete", "delete"]
    cancelled = post(client, f"/api/v1/batches/{batch['id']}/cancel", None, secret)
    assert cancelled.json()["states"] == {"cancelled": 2} and cancelled.json()["final"] is True
    assert get(client, "/api/v1/batches/999999", secret).status_code == 404
