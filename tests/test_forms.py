"""The change forms: choices offered, wire constraints, and rule breaks put on the right field."""

import pytest

from peerlinks.forms import ChangeFilterForm, PeerLinkCreateForm, PeerLinkDeleteForm, PeerLinkEditForm
from peerlinks.models import ChangeRequest
from tests.conftest import make_gateway, make_peer_link, make_project, make_router


@pytest.fixture
def regions(settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "ap-southeast-1"]


def valid_data(gateway, peer, **overrides):
    data = {
        "gateway": gateway.cloud_id,
        "peer_type": "GDGW" if hasattr(peer, "bgp_asn") else "ER",
        "peer_region": peer.region,
        "peer": peer.cloud_id,
        "name": "中文-name_1.x",
        "description": "",
    }
    data.update(overrides)
    return data


def test_create_form_accepts_a_link_to_another_gateway_and_builds_the_payload(db, regions):
    hk = make_project("ap-southeast-1", project_id="a" * 32)
    gateway = make_gateway()
    peer = make_gateway(project=hk, name="gw-hk")
    form = PeerLinkCreateForm(valid_data(gateway, peer))
    assert form.is_valid(), form.errors
    assert form.payload() == {
        "name": "中文-name_1.x",
        "description": "",
        "peer_type": "GDGW",
        "peer_gateway_id": peer.cloud_id,
        "peer_region": "ap-southeast-1",
        "peer_project_id": "a" * 32,
    }


def test_create_form_lists_peers_of_the_submitted_type_and_region_only(db, regions):
    gateway = make_gateway()
    north = make_router(name="er-north")
    south = make_router(region="ap-southeast-1", name="er-hk")
    form = PeerLinkCreateForm(
        initial={"gateway": gateway.cloud_id, "peer_type": "ER", "peer_region": "ap-southeast-1"}
    )
    offered = [value for value, _ in form.fields["peer"].choices]
    assert south.cloud_id in offered
    assert north.cloud_id not in offered


def test_create_form_refuses_a_peer_in_a_pending_state(db, regions):
    gateway = make_gateway()
    peer = make_router(state="pending")
    form = PeerLinkCreateForm(valid_data(gateway, peer))
    assert not form.is_valid()
    assert "state is pending" in form.errors["peer"][0]


def test_create_form_refuses_a_gateway_that_is_gone(db, regions):
    gone = make_gateway(gone_at="2025-01-01T00:00:00Z")
    form = PeerLinkCreateForm(valid_data(gone, make_router()))
    assert not form.is_valid()
    assert "gateway" in form.errors


def test_create_form_refuses_linking_a_gateway_to_itself(db, regions):
    gateway = make_gateway()
    form = PeerLinkCreateForm(valid_data(gateway, gateway))
    assert not form.is_valid()
    assert "the gateway itself" in form.errors["peer"][0]


def test_create_form_ignores_gone_links_when_looking_for_duplicates(db, regions):
    gateway = make_gateway()
    peer = make_router()
    make_peer_link(gateway=gateway, peer_gateway_id=peer.cloud_id, gone_at="2025-01-01T00:00:00Z")
    assert PeerLinkCreateForm(valid_data(gateway, peer)).is_valid()


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x" * 65, "名字!"])
def test_edit_form_refuses_names_the_api_refuses(db, name):
    form = PeerLinkEditForm({"name": name, "description": ""}, link=make_peer_link())
    assert not form.is_valid()
    assert "name" in form.errors


def test_edit_form_accepts_a_description_of_exactly_128_characters(db):
    form = PeerLinkEditForm({"name": "ok", "description": "d" * 128}, link=make_peer_link(name="ok"))
    assert form.is_valid(), form.errors


def test_delete_form_wants_the_exact_name(db):
    link = make_peer_link(name="Edge.1")
    assert not PeerLinkDeleteForm({"confirm_name": "edge.1"}, link=link).is_valid()
    assert not PeerLinkDeleteForm({"confirm_name": " Edge.1"}, link=link).is_valid()
    assert PeerLinkDeleteForm({"confirm_name": "Edge.1"}, link=link).is_valid()


def test_change_filter_form_with_a_bogus_state_filters_nothing(db, engineer):
    form = ChangeFilterForm({"state": "bogus"}, user=engineer)
    assert form.filter(ChangeRequest.objects.all(), user=engineer).query is not None
    assert not form.is_valid()


@pytest.mark.parametrize(
    ("plain", "django_widget", "value", "attrs"),
    [
        ("PlainTextInput", "TextInput", None, {"placeholder": "Name, ID", "type": "search"}),
        ("PlainTextInput", "TextInput", "a \"quoted\" <b>&'x'", {"required": True, "disabled": False}),
        ("PlainTextInput", "TextInput", "中文-name", {"aria-describedby": "x_help", "maxlength": 100}),
        ("PlainHiddenInput", "HiddenInput", "-updated", {}),
        ("PlainHiddenInput", "HiddenInput", "", {"id": "id_sort"}),
        ("PlainCheckboxInput", "CheckboxInput", True, {}),
        ("PlainCheckboxInput", "CheckboxInput", False, {"id": "id_show_gone"}),
        ("PlainCheckboxInput", "CheckboxInput", "on", {}),
    ],
)
def test_filter_inputs_drawn_in_python_are_djangos_to_the_character(plain, django_widget, value, attrs):
    from django import forms
    from django.utils.translation import gettext_lazy, override

    from peerlinks import filters

    attrs = {key: gettext_lazy(val) if key == "placeholder" else val for key, val in attrs.items()}
    for language in ("en", "zh-hans"):
        with override(language):
            ours = getattr(filters, plain)(attrs={"class": "x"}).render("q", value, attrs=attrs)
            theirs = getattr(forms, django_widget)(attrs={"class": "x"}).render("q", value, attrs=attrs)
            assert ours == theirs


def test_the_link_lists_filter_form_draws_as_with_djangos_widgets(viewer, rf):
    """Every field of the list's filter form, as the page shows it, with the values a person typed."""
    from peerlinks import filters

    request = rf.get("/links/")
    request.user = viewer
    data = {"q": '<script>"x"', "owner": "net&ops", "ticket": "CHG-1", "label": "prod", "show_gone": "on"}
    data["sort"] = "-updated"
    ours = filters.PeerLinkFilter(data, request=request).form
    theirs = filters.PeerLinkFilter(data, request=request).form
    for field in theirs.fields.values():
        if isinstance(field.widget, filters.PlainInput):
            django_class = next(
                c for c in type(field.widget).__mro__ if c.__module__ == "django.forms.widgets"
            )
            widget = django_class(attrs=field.widget.attrs)
            widget.is_required = field.widget.is_required
            widget.input_type = field.widget.input_type  # Django's Input takes a "type" out of its attrs
            field.widget = widget
    drawn = [name for name, field in ours.fields.items() if isinstance(field.widget, filters.PlainInput)]
    assert set(drawn) == {"q", "owner", "ticket", "label", "show_gone", "sort"}
    for name in ours.fields:
        assert str(ours[name]) == str(theirs[name]), name
