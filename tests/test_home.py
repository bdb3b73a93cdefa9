import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer(client):
    user = get_user_model().objects.create_user("eng", password="pw-for-tests-only")
    client.force_login(user)
    return user


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_dashboard_lists_the_demo_gateways_per_region(client, engineer, demo_simulator, settings):
    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    for region in settings.CLOUD_REGIONS:
        assert f'id="region-{region}"' in body
    assert "Could not reach the cloud" not in body
    assert body.count("<tr>") >= 1 + 4  # header row plus the demo gateways


def test_dashboard_shows_a_message_not_an_error_page_when_the_cloud_is_down(client, engineer, settings):
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.CLOUD_REGIONS = ["cn-north-4"]
    settings.CLOUD_PROJECT_IDS = {"cn-north-4": "0123456789abcdef0123456789abcdef"}
    settings.CLOUD_MAX_RETRIES = 0
    response = client.get("/")
    assert response.status_code == 200
    assert "Could not reach the cloud for cn-north-4" in response.content.decode()
