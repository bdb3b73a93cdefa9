"""The cloud as a person sees it: failures in plain words, the banner on every page while the cloud does not
answer, the regions dcportal does not manage, and every page's one poll (`/live/`)."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import CloudProject, Drift
from peerlinks.presentation.text import describe_cloud_error, describe_problem
from peerlinks.services.sync import sync_all
from tests.conftest import make_peer_link, make_project

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NO_BANNER = '<div id="cloud-banner" role="status"></div>'
REGIONS = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
PAGES = ["/", "/links/", "/gateways/", "/topology/", "/changes/", "/audit/", "/notices/", "/links/new/"]


@pytest.fixture
def demo(demo_simulator, settings):
    settings.CLOUD_ENDPOINT = demo_simulator.base_url
    settings.CLOUD_REGIONS = REGIONS
    settings.CLOUD_MAX_RETRIES = 0
    cloud.clear_caches()
    return demo_simulator


def _banner(body: str) -> str:
    return re.search(r'<div id="cloud-banner".*?</div>(?=\s*<main id="main">)', body, re.S).group(0)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (cloud.CloudUnreachable("cannot reach 127.0.0.1:9: [Errno 111]"), "cannot reach Huawei Cloud"),
        (cloud.CloudTimeout("read timed out"), "Huawei Cloud did not answer in time."),
        (cloud.AuthenticationFailed("ak not exist", status=401), "does not accept dcportal's credentials"),
        (cloud.Forbidden("no", status=403), "check its IAM permissions"),
        (cloud.Throttled("slow down", status=429), "limiting how often"),
        (cloud.ServerError("boom", status=503), "answered with a server error"),
        (cloud.BadRequest("The peer does not exist.", status=400), "refused the request: The peer does not"),
    ],
)
def test_a_cloud_error_reads_as_one_plain_sentence_without_the_technical_text(error, words):
    sentence = describe_cloud_error(error)
    assert words in sentence
    for technical in ("Errno", "HTTP", "failed:", "request id", "ak not exist"):
        assert technical not in sentence


def test_an_unreachable_cloud_puts_a_banner_in_plain_words_on_every_page_until_it_answers(
    demo, engineer_client, settings
):
    sync_all()
    for path in PAGES:
        assert _banner(engineer_client.get(path).content.decode()) == NO_BANNER

    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"  # nothing listens on the discard port
    sync_all()
    for path in PAGES:
        body = engineer_client.get(path).content.decode()
        banner = _banner(body)
        assert '<div id="cloud-banner" role="status"><div class="cloud-banner">' in banner, path
        assert "dcportal cannot reach Huawei Cloud (no connection to its API).</strong>" in banner
        assert "cn-north-4, cn-east-3, ap-southeast-1" in banner
        assert "What you see is the cached state from" in banner
        assert "changes you ask for wait and run when the cloud answers again" in banner
        before_detail, detail = banner.split("<details>")
        assert "Errno" not in before_detail and "Errno" in detail  # the technical text behind a disclosure
    dashboard = engineer_client.get("/").content.decode()
    assert "unknown" not in _banner(dashboard)

    settings.CLOUD_ENDPOINT = demo.base_url
    sync_all()
    assert _banner(engineer_client.get("/links/").content.decode()) == NO_BANNER


def test_a_failing_region_keeps_the_time_its_syncs_began_to_fail_and_words_for_why(demo, settings):
    sync_all(regions=["cn-north-4"])
    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"
    sync_all(regions=["cn-north-4"])
    first = CloudProject.objects.get(region="cn-north-4")
    sync_all(regions=["cn-north-4"])
    again = CloudProject.objects.get(region="cn-north-4")
    assert again.sync_failed_at == first.sync_failed_at
    assert describe_problem(again.sync_problem) == (
        "dcportal cannot reach Huawei Cloud (no connection to its API)."
    )
    assert "failed: cannot reach 127.0.0.1:9" in again.sync_error


def test_the_dashboard_names_the_regions_with_gateways_that_dcportal_does_not_manage(
    demo, engineer_client, settings
):
    settings.CLOUD_REGIONS = ["cn-north-4"]
    sync_all()
    body = engineer_client.get("/").content.decode()
    section = re.search(r'<section class="card notice" id="unmanaged-regions">.*?</section>', body, re.S)
    assert section is not None
    unmanaged = {p.region: p.unmanaged_gateways for p in CloudProject.objects.exclude(region="cn-north-4")}
    for region in ("cn-east-3", "ap-southeast-1"):  # the demo's other regions with gateways
        assert unmanaged[region] > 0
        assert f"<li><strong>{region}</strong>: {unmanaged[region]} global DC gateway" in section.group(0)
        assert f'id="sync-{region}"' not in body  # not listed as if it were synced
    empty = sorted(region for region, n in unmanaged.items() if n == 0)
    assert empty
    assert f"{len(empty)} other regions of the account hold no global DC gateway" in section.group(0)
    assert "CLOUD_REGIONS=cn-north-4,ap-southeast-1" in section.group(0)

    settings.CLOUD_REGIONS = sorted(region for region, n in unmanaged.items() if n) + ["cn-north-4"]
    assert 'id="unmanaged-regions"' not in engineer_client.get("/").content.decode()


def _version(body: str) -> str:
    return re.search(r'class="live-version" name="v" value="(\w+)"', body).group(1)


def test_the_live_poll_answers_204_until_what_the_page_shows_changes(engineer_client, approver):
    make_project("cn-north-4", synced_at=timezone.now())
    version = _version(engineer_client.get("/").content.decode())
    live = reverse("peerlinks:live")
    assert engineer_client.get(f"{live}?page=dashboard&v={version}", **HX).status_code == 204

    drift = Drift.objects.create(peer_link=make_peer_link(name="outside"), kind="created", detail={})
    response = engineer_client.get(f"{live}?page=dashboard&v={version}", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="drift-{drift.pk}"' in body
    assert '<section class="card" id="drift" hx-swap-oob="innerHTML">' in body
    assert '<span class="stat-value" id="stat-drift">1</span>' in body
    assert _version(body) != version
    assert engineer_client.get(f"{live}?page=dashboard&v={_version(body)}", **HX).status_code == 204
    # Elsewhere only the navigation and the banner: the same drift is no change there.
    other = _version(engineer_client.get("/links/").content.decode())
    assert engineer_client.get(f"{live}?v={other}", **HX).status_code == 204


def test_the_live_answer_sends_each_part_once(engineer_client):
    make_project("cn-north-4", synced_at=timezone.now())
    version = _version(engineer_client.get("/").content.decode())
    Drift.objects.create(peer_link=make_peer_link(name="outside"), kind="created", detail={})
    live = reverse("peerlinks:live")
    body = engineer_client.get(f"{live}?page=dashboard&v={version}", **HX).content.decode()
    ids = re.findall(r'id="([\w-]+)"[^>]*hx-swap-oob=', body)
    assert "sync-control" in ids
    assert sorted(ids) == sorted(set(ids))


def test_live_needs_a_login(client):
    assert client.get(reverse("peerlinks:live")).status_code == 302


def test_acknowledging_drift_lowers_the_count_in_place_and_without_javascript(engineer_client):
    drifts = [
        Drift.objects.create(peer_link=make_peer_link(name=f"outside-{i}"), kind="created", detail={})
        for i in range(2)
    ]
    url = reverse("peerlinks:drift_acknowledge", args=[drifts[0].pk])
    body = engineer_client.post(url, **HX).content.decode()
    assert f'<tr id="drift-{drifts[0].pk}" class="acknowledged">' in body
    assert '<span class="count" id="drift-count" hx-swap-oob="true">1</span>' in body
    assert '<span class="stat-value" id="stat-drift">1</span>' in body
    assert 'class="live-version" name="v"' in body

    response = engineer_client.post(reverse("peerlinks:drift_acknowledge", args=[drifts[1].pk]), follow=True)
    page = response.content.decode()
    assert '<span class="count" id="drift-count">0</span>' in page
    assert '<span class="stat-value" id="stat-drift">0</span>' in page


@pytest.mark.django_db(transaction=True)  # the queued sync runs when the view's work commits, as live
def test_refresh_without_javascript_lands_on_a_page_showing_the_synced_data(demo, engineer_client, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    assert 'id="sync-cn-north-4"' in engineer_client.get("/").content.decode()
    assert CloudProject.objects.filter(synced_at__isnull=False).count() == 0
    response = engineer_client.post("/refresh/", {"next": "/gateways/"}, follow=True)
    body = response.content.decode()
    assert response.redirect_chain == [("/gateways/", 302)]
    assert "Synced with Huawei Cloud just now: this page shows its answer." in body
    assert CloudProject.objects.filter(region__in=REGIONS, synced_at__isnull=False).count() == 3
    assert "No gateway in the cache yet" not in body
