import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import make_gateway, make_peer_link, make_project, make_router

pytestmark = pytest.mark.django_db


def test_gateway_list_requires_login(client):
    assert client.get("/gateways/").status_code == 302


def test_gateway_list_groups_present_gateways_by_region_with_quota(engineer_client, settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3"]
    make_gateway(name="gw-north", region="cn-north-4", available_peer_link_count=7)
    make_gateway(name="gw-full", region="cn-east-3", available_peer_link_count=0)
    make_gateway(name="gw-gone", region="cn-east-3", gone_at=timezone.now())
    response = engineer_client.get("/gateways/")
    assert response.status_code == 200
    assert "peerlinks/gateway_list.html" in [t.name for t in response.templates]
    body = response.content.decode()
    assert 'id="region-cn-north-4"' in body
    assert 'id="region-cn-east-3"' in body
    assert "gw-north" in body
    assert "gw-full" in body
    assert "gw-gone" not in body
    assert ">7<" in body


def test_gateway_list_shows_a_region_without_gateways_and_its_sync_error(engineer_client, settings):
    settings.CLOUD_REGIONS = ["ap-southeast-1"]
    make_project("ap-southeast-1", sync_error="connection refused", sync_failed_at=timezone.now())
    body = engineer_client.get("/gateways/").content.decode()
    assert "No global DC gateway in this region." in body
    assert "connection refused" in body


def test_gateway_list_query_count_does_not_grow_with_gateways(engineer_client, django_assert_num_queries):
    for _ in range(2):
        make_gateway()
    with CaptureQueriesContext(connection) as few:
        engineer_client.get("/gateways/")
    for _ in range(20):
        make_gateway(region="cn-east-3")
    with django_assert_num_queries(len(few)):
        engineer_client.get("/gateways/")


def test_gateway_detail_shows_its_present_links_quota_and_last_sync(engineer_client):
    gateway = make_gateway(name="gw-a", available_peer_link_count=4, links_synced_at=timezone.now())
    make_peer_link(gateway=gateway, name="link-here", status="PENDING_CREATE")
    make_peer_link(gateway=gateway, name="link-gone", gone_at=timezone.now())
    make_peer_link(name="link-elsewhere")
    response = engineer_client.get(f"/gateways/{gateway.cloud_id}/")
    assert response.status_code == 200
    assert "peerlinks/gateway_detail.html" in [t.name for t in response.templates]
    body = response.content.decode()
    assert "link-here" in body
    assert "link-gone" not in body
    assert "link-elsewhere" not in body
    assert "Quota left</dt><dd>4" in body
    assert "every 1000ms" in body and 'class="live-link"' in body  # the page's poll follows the badge


def test_gateway_without_quota_says_so_and_offers_no_new_link(engineer_client):
    gateway = make_gateway(available_peer_link_count=0)
    body = engineer_client.get(f"/gateways/{gateway.cloud_id}/").content.decode()
    assert "no new peer link can be added" in body
    assert "New peer link" not in body


def test_gateway_detail_rows_name_each_peer(engineer_client):
    gateway = make_gateway()
    router = make_router(name="core-er-1")
    make_peer_link(gateway=gateway, peer_type="ER", peer_gateway_id=router.cloud_id)
    body = engineer_client.get(f"/gateways/{gateway.cloud_id}/").content.decode()
    assert '<strong class="peer-name">core-er-1</strong>' in body


def test_gateway_detail_query_count_does_not_grow_with_links(engineer_client, django_assert_num_queries):
    gateway = make_gateway()
    router = make_router()
    for _ in range(3):
        make_peer_link(gateway=gateway, peer_type="ER", peer_gateway_id=router.cloud_id)
    with CaptureQueriesContext(connection) as few:
        engineer_client.get(f"/gateways/{gateway.cloud_id}/")
    for _ in range(30):
        make_peer_link(gateway=gateway, status="PENDING_UPDATE")
    with django_assert_num_queries(len(few)):
        engineer_client.get(f"/gateways/{gateway.cloud_id}/")


def test_unknown_gateway_is_404(engineer_client):
    assert engineer_client.get(f"/gateways/{uuid.uuid4()}/").status_code == 404
    assert engineer_client.get("/gateways/12345/").status_code == 404
