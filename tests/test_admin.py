"""The Django admin never rewrites what the cloud owns on a cached link: the next sync would blame the cloud
for it ("changed outside dcportal"). Local fields are edited there as on the link page, and audited."""

import pytest
from django.urls import reverse

from peerlinks.models import AuditEvent, PeerLink
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def link() -> PeerLink:
    return make_peer_link(name="pl-cached", status="ACTIVE")


def _change_url(link: PeerLink) -> str:
    return reverse("admin:peerlinks_peerlink_change", args=[link.pk])


def test_the_cloud_fields_of_a_cached_link_are_shown_but_not_editable(client, admin, link):
    client.force_login(admin)
    page = client.get(_change_url(link)).content.decode()
    for local in ("owner_team", "ticket_ref", "labels"):
        assert f'name="{local}"' in page
    for owned in ("name", "status", "reason", "peer_gateway_id", "create_owner", "synced_at", "gone_at"):
        assert f'name="{owned}"' not in page
    assert "pl-cached" in page and "ACTIVE" in page  # shown, read-only


def test_a_posted_cloud_field_is_ignored_and_a_local_edit_is_audited(client, admin, link):
    client.force_login(admin)
    cloud_owned = (link.name, link.status, link.create_owner)
    answer = client.post(
        _change_url(link),
        {
            "owner_team": "netops",
            "ticket_ref": "CHG-42",
            "labels": '["core"]',
            "status": "ERROR",
            "name": "renamed-by-hand",
            "create_owner": "someone",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    link.refresh_from_db()
    assert (link.name, link.status, link.create_owner) == cloud_owned
    assert (link.owner_team, link.ticket_ref, link.labels) == ("netops", "CHG-42", ["core"])
    event = AuditEvent.objects.get(action="peer_link.local_fields")
    assert event.actor == admin and event.object_id == link.cloud_id
    assert event.after == {"owner_team": "netops", "ticket_ref": "CHG-42", "labels": ["core"]}


def test_cached_links_cannot_be_added_or_deleted_in_the_admin(client, admin, link):
    client.force_login(admin)
    assert client.get(reverse("admin:peerlinks_peerlink_add")).status_code == 403
    assert (
        client.post(reverse("admin:peerlinks_peerlink_delete", args=[link.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert PeerLink.objects.filter(pk=link.pk).exists()
