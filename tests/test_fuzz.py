"""Property-based tests (hypothesis): random input into every form and GET filter never gives a 5xx or an
unhandled exception, and the cloud client's models either parse a body or raise pydantic's ValidationError.
"""

import datetime
import json

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerlinks.cloud import models as wire
from tests.conftest import make_gateway, make_peer_link, make_router

# Few examples per property: this file runs in the normal suite and must stay quick.
FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What people (and forged requests) put in a field: text of any kind, numbers, long strings, NULs, ids.
text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=60, max_size=300),
    st.sampled_from(["", " ", "0", "-1", "true", "on", "ACTIVE", "ER", "GDGW", "\x00", "name\x00", "../../"]),
    st.integers().map(str),
    st.uuids().map(str),
)


def form_data(fields: list[str]) -> st.SearchStrategy[dict]:
    """Any subset of the form's fields with any values, plus now and then a field it does not know."""
    known = st.dictionaries(st.sampled_from(fields), text, max_size=len(fields))
    extra = st.dictionaries(st.text(min_size=1, max_size=10), text, max_size=2)
    return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})


def no_server_error(response) -> None:
    assert response.status_code < 500, response.content[:500]


@pytest.fixture
def world(db):
    """A gateway with room for links, an available router, and one link: real ids for the forms to hit."""
    gateway = make_gateway(available_peer_link_count=10)
    router = make_router()
    link = make_peer_link(gateway=gateway, peer_gateway_id=router.cloud_id, name="fuzz-link")
    return {"gateway": gateway, "router": router, "link": link}


def with_real_ids(world: dict) -> st.SearchStrategy[str]:
    ids = [world["gateway"].cloud_id, world["router"].cloud_id, world["link"].cloud_id, "cn-north-4"]
    return st.one_of(text, st.sampled_from(ids))


@FAST
@given(data=st.data())
def test_create_form_never_fails_on_any_input(engineer_client, world, no_approvals, data):
    fields = ["gateway", "peer_type", "peer_region", "peer", "name", "description"]
    post = data.draw(st.dictionaries(st.sampled_from(fields), with_real_ids(world)))
    htmx = data.draw(st.booleans())
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    no_server_error(engineer_client.post("/links/new/", post, **headers))
    no_server_error(engineer_client.get("/links/new/peers/", post, HTTP_HX_REQUEST="true"))
    no_server_error(engineer_client.get("/links/new/", post))


@FAST
@given(post=form_data(["name", "description"]), htmx=st.booleans())
def test_edit_form_never_fails_on_any_input(engineer_client, world, no_approvals, post, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    no_server_error(engineer_client.post(f"/links/{world['link'].cloud_id}/edit/", post, **headers))


@FAST
@given(post=form_data(["confirm_name"]), htmx=st.booleans())
def test_delete_form_never_fails_on_any_input(engineer_client, world, post, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    no_server_error(engineer_client.post(f"/links/{world['link'].cloud_id}/delete/", post, **headers))


@FAST
@given(post=form_data(["owner_team", "ticket_ref", "labels"]), htmx=st.booleans())
def test_local_fields_form_never_fails_on_any_input(engineer_client, world, post, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    no_server_error(engineer_client.post(f"/links/{world['link'].cloud_id}/local/", post, **headers))


LIST_FILTERS = [
    "q",
    "gateway",
    "status",
    "peer_type",
    "region",
    "show_gone",
    "owner",
    "ticket",
    "label",
    "sort",
    "page",
    "after",
    "before",
    "last",
]


@FAST
@given(data=st.data())
def test_list_filters_never_fail_on_any_input(engineer_client, world, data):
    query = data.draw(st.dictionaries(st.sampled_from(LIST_FILTERS), with_real_ids(world)))
    for url in ("/links/", "/links/export.csv", "/topology/", "/gateways/"):
        no_server_error(engineer_client.get(url, query))
        no_server_error(engineer_client.get(url, query, HTTP_HX_REQUEST="true"))


@FAST
@given(
    audit=form_data(["action", "actor", "object_type", "object_id", "at_after", "at_before", "page"]),
    changes=form_data(["state", "kind", "mine", "page"]),
    days=text,
)
def test_other_filters_never_fail_on_any_input(engineer_client, world, audit, changes, days):
    no_server_error(engineer_client.get("/audit/", audit))
    no_server_error(engineer_client.get("/changes/", changes))
    no_server_error(engineer_client.get("/lead/", {"days": days}))
    no_server_error(engineer_client.get("/lead/", {"days": days}, HTTP_HX_REQUEST="true"))
    no_server_error(engineer_client.get("/notices/", {"page": days}))
    no_server_error(engineer_client.post("/notices/read/", {"id": days}))


@FAST
@given(query=text, post=form_data(["owner_team", "ticket_ref", "labels"]))
def test_search_and_drift_actions_never_fail_on_any_input(engineer_client, world, query, post):
    from peerlinks.models import Drift

    drift = Drift.objects.get_or_create(peer_link=world["link"], kind=Drift.Kind.CREATED)[0]
    no_server_error(engineer_client.get("/search/", {"q": query}))
    no_server_error(engineer_client.post(f"/drift/{drift.pk}/adopt/", post))


@pytest.fixture
def pending_change(world, engineer):
    from peerlinks.services import changes
    from tests.conftest import set_policy

    set_policy(approvals_update=1)
    return changes.submit_change(
        user=engineer,
        kind="update",
        gateway=world["gateway"],
        payload={"name": "fuzz-renamed"},
        peer_link=world["link"],
    )


@FAST
@given(post=form_data(["body", "comment", "name", "description", "payload_digest"]), htmx=st.booleans())
def test_change_forms_never_fail_on_any_input(client, pending_change, engineer, approver, post, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    pk = pending_change.pk
    client.force_login(engineer)
    no_server_error(client.post(f"/changes/{pk}/comments/", post, **headers))
    no_server_error(client.post(f"/changes/{pk}/edit/", post, **headers))
    client.force_login(approver)
    no_server_error(client.post(f"/changes/{pk}/comments/", post, **headers))
    # Reject before approve: an approval would end the pending state the other forms need.
    no_server_error(client.post(f"/changes/{pk}/reject/", {**post, "comment": ""}, **headers))


# --- The cloud client's models ------------------------------------------------------------------------

MODELS = [
    wire.PeerLink,
    wire.PeerLinkList,
    wire.PeerLinkResult,
    wire.GlobalDcGateway,
    wire.GlobalDcGatewayList,
    wire.GlobalDcGatewayResult,
    wire.QuotasResult,
    wire.EnterpriseRouter,
    wire.ErAttachment,
    wire.ErrorBody,
    wire.Token,
    wire.Project,
    wire.PageInfo,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


def shaped_like(model: type[pydantic.BaseModel]) -> st.SearchStrategy[dict]:
    """Dicts that use the model's own field names (so parsing goes deep) with any JSON values."""
    names = list(model.model_fields)
    return st.dictionaries(st.sampled_from(names), json_values, max_size=len(names))


def parse_or_refusal(parse, value: object) -> pydantic.BaseModel | pydantic.ValidationError:
    """What parsing gave: the model, or the ValidationError it raised (any other exception propagates)."""
    try:
        return parse(value)
    except pydantic.ValidationError as refusal:
        return refusal


def assert_parsed_or_refused_clearly(model: type[pydantic.BaseModel], outcome: object) -> None:
    """A parsed body is the model and can be written out again; a refusal names the model and says where."""
    if isinstance(outcome, pydantic.ValidationError):
        assert outcome.title == model.__name__
        assert outcome.errors(), "a refusal without a single error"
        assert all("loc" in error and error["msg"] for error in outcome.errors())
    else:
        assert type(outcome) is model, type(outcome)
        assert isinstance(json.loads(outcome.model_dump_json()), dict)


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(MODELS), data=st.data())
def test_client_models_parse_or_raise_validation_error(model, data):
    value = data.draw(st.one_of(json_values, shaped_like(model)))
    from_python = parse_or_refusal(model.model_validate, value)
    assert_parsed_or_refused_clearly(model, from_python)
    assert_parsed_or_refused_clearly(model, parse_or_refusal(model.model_validate_json, json.dumps(value)))
    if not isinstance(value, dict):
        assert isinstance(from_python, pydantic.ValidationError), f"{model.__name__} took {value!r}"


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        return False
    return True


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(MODELS), body=st.binary(max_size=200))
def test_client_models_refuse_garbage_bytes_with_validation_error(model, body):
    outcome = parse_or_refusal(model.model_validate_json, body)
    assert_parsed_or_refused_clearly(model, outcome)
    if not _is_json(body):
        assert isinstance(outcome, pydantic.ValidationError), f"{model.__name__} took {body!r}"
        assert [error["type"] for error in outcome.errors()] == ["json_invalid"]


wire_times = st.datetimes(min_value=datetime.datetime(2000, 1, 1), timezones=st.just(datetime.UTC)).map(
    lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
)
peer_links = st.fixed_dictionaries(
    {
        "id": st.uuids().map(str),
        "name": st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True),
        "status": st.sampled_from([s.value for s in wire.PeerLinkStatus]),
        "peer_site": st.fixed_dictionaries(
            {"gateway_id": st.uuids().map(str)},
            optional={
                "link_id": st.none() | st.uuids().map(str),
                "region_id": st.sampled_from(["cn-north-4", "ap-southeast-1"]),
                "project_id": st.uuids().map(lambda u: u.hex),
                "type": st.sampled_from(["ER", "GDGW"]),
            },
        ),
    },
    optional={
        "description": st.none() | st.text(max_size=128),
        "reason": st.none() | st.text(max_size=60),
        "tenant_id": st.uuids().map(lambda u: u.hex),
        "created_time": wire_times,
        "updated_time": st.none() | wire_times,
        "global_dc_gateway_id": st.uuids().map(str),
        "bandwidth_info": st.fixed_dictionaries(
            {"bandwidth_size": st.integers(0, 10**6), "gcb_id": st.none() | st.uuids().map(str)}
        ),
        "create_owner": st.sampled_from(["dc", "cc"]),
        "instance_id": st.none() | st.text(max_size=36),
    },
)


@settings(max_examples=60, deadline=None)
@given(body=peer_links)
def test_valid_peer_links_round_trip(body):
    link = wire.PeerLink.model_validate(body)
    again = wire.PeerLink.model_validate_json(link.model_dump_json())
    assert again == link
    assert link.id == body["id"] and link.name == body["name"]
    assert str(link.status) == body["status"]
    # And as the list API wraps them.
    page = wire.PeerLinkList.model_validate({"peer_links": [body], "page_info": {"current_count": 1}})
    assert page.peer_links == [link]
