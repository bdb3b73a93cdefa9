import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from peerlinks.models import ChangeRequest, StatusChange
from peerlinks.presentation.charts import format_duration, provisioning_chart
from peerlinks.services import lead
from tests.conftest import make_gateway, make_peer_link, make_project

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lead_client(client, approver):
    approver.groups.add(Group.objects.get(name="Approver"))
    client.force_login(approver)
    return client


def provisioned(requester, *, seconds, active_at=None, gateway=None, cloud_seconds=None):
    """A create request whose link was first seen ACTIVE `seconds` after submission, at `active_at`
    (and `cloud_seconds` after its execution started, when given)."""
    active_at = active_at or timezone.now() - timedelta(hours=1)
    link = make_peer_link(gateway=gateway or make_gateway(), status="ACTIVE")
    change = ChangeRequest.objects.create(
        kind="create",
        state="done",
        requested_by=requester,
        gateway=link.gateway,
        peer_link=link,
        payload={"name": link.name},
        created_at=active_at - timedelta(seconds=seconds),
        finished_at=active_at,
        started_at=None if cloud_seconds is None else active_at - timedelta(seconds=cloud_seconds),
    )
    StatusChange.objects.create(peer_link=link, to_status="PENDING_CREATE", observed_at=change.created_at)
    StatusChange.objects.create(
        peer_link=link, from_status="PENDING_CREATE", to_status="ACTIVE", observed_at=active_at
    )
    return change


# --- percentile math -------------------------------------------------------------------------


def test_percentiles_interpolate_linearly_between_closest_ranks():
    durations = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert lead.percentile(durations, 50) == pytest.approx(55.0)
    assert lead.percentile(durations, 95) == pytest.approx(95.5)
    assert lead.percentile(list(reversed(durations)), 95) == pytest.approx(95.5)
    assert lead.percentile([42], 95) == 42
    assert lead.percentile([10, 20], 50) == 15
    with pytest.raises(ValueError):
        lead.percentile([], 50)


def test_durations_read_in_the_unit_a_person_reads_best():
    assert format_duration(55) == "55 s"
    assert format_duration(95.5) == "95.5 s"
    assert format_duration(270) == "4.5 min"
    assert format_duration(2 * 3600) == "2 h"
    assert format_duration(None) == "–"


def test_provisioning_time_runs_from_submission_to_first_active(engineer):
    for seconds in range(10, 101, 10):
        provisioned(engineer, seconds=seconds)
    stats = lead.build_period_stats(user=engineer, days=7)
    assert stats.provisioning.samples == 10
    assert stats.provisioning.p50 == pytest.approx(55.0)
    assert stats.provisioning.p95 == pytest.approx(95.5)


def test_provisioning_time_counts_the_first_active_only_and_ignores_other_kinds(engineer):
    change = provisioned(engineer, seconds=30)
    StatusChange.objects.create(
        peer_link=change.peer_link, to_status="ACTIVE", observed_at=timezone.now() - timedelta(minutes=5)
    )
    link = make_peer_link()
    ChangeRequest.objects.create(
        kind="update", state="done", requested_by=engineer, gateway=link.gateway, peer_link=link
    )
    StatusChange.objects.create(peer_link=link, to_status="ACTIVE")
    ChangeRequest.objects.create(
        kind="create", state="executing", requested_by=engineer, gateway=link.gateway, payload={"name": "x"}
    )
    stats = lead.build_period_stats(user=engineer, days=7)
    assert stats.provisioning.samples == 1
    assert stats.provisioning.p50 == pytest.approx(30.0)


def test_provisioning_time_covers_only_the_chosen_period(engineer):
    now = timezone.now()
    provisioned(engineer, seconds=60, active_at=now - timedelta(days=2))
    provisioned(engineer, seconds=600, active_at=now - timedelta(days=20))
    provisioned(engineer, seconds=6000, active_at=now - timedelta(days=60))
    assert lead.build_period_stats(user=engineer, days=7, now=now).provisioning.samples == 1
    assert lead.build_period_stats(user=engineer, days=30, now=now).provisioning.samples == 2
    assert lead.build_period_stats(user=engineer, days=90, now=now).provisioning.samples == 3


def test_provisioning_times_are_grouped_per_day_for_the_chart(engineer):
    now = timezone.now()
    today = now - timedelta(minutes=1)
    for seconds in (10, 20, 30):
        provisioned(engineer, seconds=seconds, active_at=today)
    provisioned(engineer, seconds=100, active_at=today - timedelta(days=3))
    stats = lead.build_period_stats(user=engineer, days=7, now=now)
    daily = stats.provisioning.daily
    assert [(point.day, point.count, point.p50) for point in daily] == [
        (timezone.localdate(today - timedelta(days=3)), 1, 100),
        (timezone.localdate(today), 3, 20),
    ]
    chart = provisioning_chart(stats.provisioning)
    p50 = next(serie for serie in chart.series if serie.name == "p50")
    assert len(p50.markers) == 2
    # The later day sits further right; the faster day (20 s) higher up (smaller y) than the slow one.
    (x1, y1, _), (x2, y2, _) = p50.markers
    assert chart.left < x1 < x2 < chart.right
    assert y2 > y1
    # The axis reaches at least the slowest p95 and is labelled in readable units.
    assert chart.y_ticks[0][1] == "0 s"
    assert chart.y_ticks[-1][1] in ("100 s", "2 min")
    assert len(chart.x_ticks) == 7


def test_an_unknown_period_is_refused_by_the_service():
    with pytest.raises(ValueError):
        lead.build_period_stats(days=14, user=None)


# --- the page --------------------------------------------------------------------------------


def test_lead_view_needs_login_and_the_view_permission(client, outsider):
    response = client.get("/lead/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.get("/lead/").status_code == 403


def test_lead_view_is_open_to_viewers_without_the_approvals_queue_link(client, viewer, engineer):
    viewer.groups.add(Group.objects.get(name="Viewer"))
    ChangeRequest.objects.create(
        kind="create", requested_by=engineer, gateway=make_gateway(), payload={"name": "x"}
    )
    client.force_login(viewer)
    response = client.get("/lead/")
    assert response.status_code == 200
    assert 'href="/approvals/"' not in response.content.decode().split("</header>")[1]


def test_lead_view_lists_pending_approvals_oldest_first_with_their_age(lead_client, engineer):
    gateway = make_gateway(name="gw-east")
    now = timezone.now()
    for name, hours in [("pl-new", 1), ("pl-old", 50), ("pl-mid", 5)]:
        ChangeRequest.objects.create(
            kind="create",
            requested_by=engineer,
            gateway=gateway,
            payload={"name": name},
            created_at=now - timedelta(hours=hours),
            approvals_required=1,
        )
    ChangeRequest.objects.create(
        kind="create", state="done", requested_by=engineer, gateway=gateway, payload={"name": "pl-done"}
    )
    response = lead_client.get("/lead/")
    assert response.status_code == 200
    assert "peerlinks/lead.html" in [t.name for t in response.templates]
    pending = response.context["lead"].pending
    assert [change.payload["name"] for change in pending] == ["pl-old", "pl-mid", "pl-new"]
    assert pending[0].age >= timedelta(hours=50)
    body = response.content.decode()
    assert "2\xa0days, 2\xa0hours" in body
    assert 'href="/approvals/"' in body.split("</header>")[1]
    assert "pl-done" not in body


def test_lead_view_counts_links_by_status_per_gateway_and_region(lead_client):
    north = make_gateway(name="gw-north", region="cn-north-4")
    east = make_gateway(name="gw-east", region="cn-east-3")
    make_gateway(name="gw-empty", region="cn-east-3")
    for gateway, status in [(north, "ACTIVE"), (north, "ACTIVE"), (north, "ERROR"), (east, "PENDING_CREATE")]:
        make_peer_link(gateway=gateway, status=status)
    make_peer_link(gateway=north, status="ACTIVE", gone_at=timezone.now())
    matrix = lead_client.get("/lead/").context["lead"].matrix
    by_gateway = {row.label: dict(row.cells) for row in matrix.gateways}
    assert by_gateway["gw-north"] == {"PENDING_CREATE": 0, "PENDING_UPDATE": 0, "ACTIVE": 2, "ERROR": 1}
    assert by_gateway["gw-empty"]["ACTIVE"] == 0
    by_region = {row.label: row for row in matrix.regions}
    assert by_region["cn-east-3"].total == 1
    assert by_region["cn-north-4"].total == 3
    assert matrix.totals.total == 4


def test_lead_view_matrix_links_to_the_filtered_link_list(lead_client):
    gateway = make_gateway(name="gw-north", region="cn-north-4")
    make_peer_link(gateway=gateway, status="ERROR")
    body = lead_client.get("/lead/").content.decode()
    assert f'href="/links/?gateway={gateway.cloud_id}&amp;status=ERROR"' in body
    assert 'href="/links/?region=cn-north-4&amp;status=ERROR"' in body


def test_lead_view_lists_links_in_error_with_their_reason(lead_client):
    make_peer_link(name="broken-link", status="ERROR", reason="BGP session down")
    make_peer_link(name="fine-link", status="ACTIVE")
    response = lead_client.get("/lead/")
    body = response.content.decode()
    assert response.context["lead"].error_count == 1
    assert "broken-link" in body
    assert "BGP session down" in body


def test_lead_view_lists_recent_failed_requests_with_the_error(lead_client, engineer):
    gateway = make_gateway()
    now = timezone.now()
    ChangeRequest.objects.create(
        kind="create",
        state="failed",
        requested_by=engineer,
        gateway=gateway,
        payload={"name": "pl-recent"},
        finished_at=now - timedelta(days=1),
        error_code="GDGW.0012",
        error_msg="Quota exceeded on the gateway",
    )
    ChangeRequest.objects.create(
        kind="create",
        state="failed",
        requested_by=engineer,
        gateway=gateway,
        payload={"name": "pl-ancient"},
        finished_at=now - timedelta(days=45),
        error_code="OLD.1",
    )
    body = lead_client.get("/lead/?days=7").content.decode()
    assert "pl-recent" in body
    assert "GDGW.0012" in body
    assert "Quota exceeded on the gateway" in body
    assert "pl-ancient" not in body
    assert "pl-ancient" in lead_client.get("/lead/?days=90").content.decode()


def test_lead_view_warns_about_stale_and_failed_regions(lead_client, settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3", "ap-southeast-1"]
    settings.STALE_AFTER = 300
    now = timezone.now()
    make_project("cn-north-4", synced_at=now)
    make_project("cn-east-3", synced_at=now - timedelta(hours=2))
    make_project(
        "ap-southeast-1", synced_at=now, sync_error="The cloud could not be reached", sync_failed_at=now
    )
    response = lead_client.get("/lead/")
    assert [row.region for row in response.context["lead"].stale_regions] == ["cn-east-3", "ap-southeast-1"]
    body = response.content.decode()
    assert 'id="stale-warnings"' in body
    assert 'id="stale-cn-east-3"' in body
    assert 'id="stale-cn-north-4"' not in body
    assert "The cloud could not be reached" in body


def test_lead_view_has_no_stale_warning_when_every_region_is_fresh(lead_client, settings):
    settings.CLOUD_REGIONS = ["cn-north-4"]
    make_project("cn-north-4", synced_at=timezone.now())
    assert 'id="stale-warnings"' not in lead_client.get("/lead/").content.decode()


def test_lead_view_draws_the_provisioning_chart_and_gives_the_numbers_in_text(lead_client, engineer):
    for seconds in range(10, 101, 10):
        provisioned(engineer, seconds=seconds)
    body = lead_client.get("/lead/?days=7").content.decode()
    assert '<svg id="provisioning-chart" role="img"' in body
    assert "<polyline" in body
    total = body.split('id="provisioning-total">', 1)[1].split("</tr>", 1)[0]
    assert "<td>55 s</td><td>95.5 s</td>" in total
    assert 'id="provisioning-table"' in body
    assert "<script" not in body.split('id="lead-period"')[1]


def test_lead_view_shows_the_clouds_time_apart_from_the_wait_for_approval(lead_client, engineer):
    # waited an hour for approval each, then the cloud took 20 s and 40 s
    provisioned(engineer, seconds=3620, cloud_seconds=20)
    provisioned(engineer, seconds=3640, cloud_seconds=40)
    provisioned(engineer, seconds=7200)  # no recorded execution start: counts in the total only
    stats = lead.build_period_stats(user=engineer, days=7)
    assert stats.provisioning.cloud_p50 == pytest.approx(30.0)
    assert stats.provisioning.cloud_p95 == pytest.approx(39.0)
    assert stats.provisioning.p50 == pytest.approx(3640.0)
    body = lead_client.get("/lead/?days=7").content.decode()
    cloud = body.split('id="provisioning-cloud">', 1)[1].split("</tr>", 1)[0]
    assert "<td>30 s</td><td>39 s</td>" in cloud
    total = body.split('id="provisioning-total">', 1)[1].split("</tr>", 1)[0]
    assert "<td>60.7 min</td>" in total
    daily = body.split('id="provisioning-table">', 1)[1].split("</table>", 1)[0]
    assert "<td>3</td><td>30 s</td><td>39 s</td>" in daily


def test_lead_view_without_provisioned_links_says_so(lead_client):
    body = lead_client.get("/lead/").content.decode()
    assert "No link created through dcportal went ACTIVE in the last 30 days." in body
    assert "<svg" not in body


@pytest.mark.parametrize("days", [7, 30, 90])
def test_lead_view_accepts_each_period(lead_client, days):
    response = lead_client.get(f"/lead/?days={days}")
    assert response.status_code == 200
    assert response.context["period"].days == days
    assert f'<option value="{days}" selected>' in response.content.decode()


@pytest.mark.parametrize("bad", ["14", "abc", "-7", "7; drop table", "0"])
def test_lead_view_falls_back_to_30_days_on_a_bad_period(lead_client, bad):
    response = lead_client.get("/lead/", {"days": bad})
    assert response.status_code == 200
    assert response.context["period"].days == 30
    assert "Unknown period; showing the last 30 days." in response.content.decode()


def test_lead_view_over_htmx_returns_only_the_period_section(lead_client):
    response = lead_client.get("/lead/?days=90", **HX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "peerlinks/_lead_period.html"
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="lead-period">')
    assert "Provisioning time, last 90 days" in body
    assert "lead" not in response.context


def test_the_period_form_works_without_javascript(lead_client):
    body = lead_client.get("/lead/").content.decode()
    form = re.search(r"<form[^>]*hx-get=\"/lead/\"[^>]*>", body).group(0)
    assert 'action="/lead/"' in form
    assert 'method="get"' in form


def test_lead_view_refuses_post(lead_client):
    assert lead_client.post("/lead/").status_code == 405


def test_lead_view_query_count_does_not_grow_with_rows(
    lead_client, engineer, django_assert_num_queries, settings
):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3"]

    def populate(n):
        for region in settings.CLOUD_REGIONS:
            gateway = make_gateway(region=region)
            for i in range(n):
                provisioned(
                    engineer,
                    seconds=10 * (i + 1),
                    gateway=gateway,
                    active_at=timezone.now() - timedelta(days=i),
                )
                make_peer_link(gateway=gateway, status="ERROR", reason="down")
                ChangeRequest.objects.create(
                    kind="create", requested_by=engineer, gateway=gateway, payload={"name": f"p{i}"}
                )
                ChangeRequest.objects.create(
                    kind="delete",
                    state="failed",
                    requested_by=engineer,
                    gateway=gateway,
                    payload={"link_name": f"d{i}"},
                    finished_at=timezone.now(),
                    error_code="X",
                )

    populate(1)
    with CaptureQueriesContext(connection) as small:
        assert lead_client.get("/lead/?days=30").status_code == 200
    populate(15)
    with django_assert_num_queries(len(small)):
        response = lead_client.get("/lead/?days=30")
    assert response.context["period"].provisioning.samples == 2 * 16
    with django_assert_num_queries(len(small)):
        lead_client.get("/lead/?days=90")
