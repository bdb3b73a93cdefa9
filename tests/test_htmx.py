"""One rule for every view that answers htmx: the fragment only for an htmx request that is neither boosted
nor a history restore; the whole page otherwise; and a Vary header that keeps the two apart in caches."""

import pytest
from django.urls import reverse

from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db

# Every page whose URL htmx pushes or swaps, with the fragment it answers.
PAGES = [
    ("peerlinks:link_list", "peerlinks/peerlink_list.html", "peerlinks/_peerlink_table.html"),
    ("peerlinks:change_list", "peerlinks/change_list.html", "peerlinks/_change_rows.html"),
    ("peerlinks:audit_list", "peerlinks/audit_list.html", "peerlinks/_audit_table.html"),
    ("peerlinks:lead", "peerlinks/lead.html", "peerlinks/_lead_period.html"),
    ("peerlinks:topology", "peerlinks/topology.html", "peerlinks/_topology_map.html"),
    ("peerlinks:notice_list", "peerlinks/notice_list.html", "peerlinks/_notice_list.html"),
]
KINDS = {
    "plain": {},
    "htmx": {"HX-Request": "true"},
    "boosted": {"HX-Request": "true", "HX-Boosted": "true"},
    "history restore": {"HX-Request": "true", "HX-History-Restore-Request": "true"},
}


@pytest.fixture
def lead_client(client, approver):
    make_peer_link(name="a-link")
    client.force_login(approver)
    return client


@pytest.mark.parametrize(("name", "page", "fragment"), PAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_only_a_plain_htmx_request_gets_the_fragment(lead_client, name, page, fragment, kind):
    response = lead_client.get(reverse(name), headers=KINDS[kind])
    assert response.status_code == 200
    rendered = [t.name for t in response.templates]
    body = response.content.decode()
    if kind == "htmx":
        assert fragment in rendered and page not in rendered
        assert "<html" not in body
    else:
        assert page in rendered
        assert body.lstrip().lower().startswith("<!doctype html>")
    vary = {value.strip() for value in response["Vary"].split(",")}
    assert {"HX-Request", "HX-Boosted", "HX-History-Restore-Request"} <= vary
