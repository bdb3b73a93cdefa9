"""Every page names each row's cloud account when there are several (a column, a filter kept in the URL
and the export), and stays as it was with one; with LIMIT_READING_TO_OWN_ACCOUNTS a user with a role in
one account reads that account only, everywhere."""

import csv
import io
import re

import pytest

from tests.conftest import _user, make_peer_link

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


# --- Lists and filters --------------------------------------------------------------------------


def test_link_list_has_no_account_column_or_filter_with_one_account(viewer_client):
    make_peer_link(name="pl-alone")
    body = viewer_client.get("/links/").content.decode()
    assert "pl-alone" in body
    assert 'name="account"' not in body
    assert "?account=" not in body


def test_link_list_names_each_links_account_and_filters_by_it(viewer_client, carry_two_accounts):
    body = viewer_client.get("/links/").content.decode()
    assert 'name="account"' in body
    assert "pl-first" in body and "pl-teamb" in body
    assert '<a href="/links/?account=team-b">team-b</a>' in body
    only_b = viewer_client.get("/links/", {"account": "team-b"}).content.decode()
    assert "pl-teamb" in only_b and "pl-first" not in only_b
    # the export link keeps the filter
    assert "/links/export.csv?account=team-b" in only_b


def test_link_list_with_an_unknown_account_says_the_filter_was_ignored(viewer_client, carry_two_accounts):
    response = viewer_client.get("/links/", {"account": "nope"})
    assert response.status_code == 200
    assert "Some filters were ignored" in response.content.decode()


def test_link_export_has_an_account_column_and_keeps_the_account_filter(viewer_client, carry_two_accounts):
    rows = _csv(viewer_client.get("/links/export.csv"))
    assert {(row["name"], row["account"]) for row in rows} == {
        ("pl-first", carry_two_accounts["first"].name),
        ("pl-teamb", "team-b"),
    }
    rows = _csv(viewer_client.get("/links/export.csv", {"account": "team-b"}))
    assert [row["name"] for row in rows] == ["pl-teamb"]


def test_link_list_can_be_sorted_by_account(viewer_client, carry_two_accounts):
    body = viewer_client.get("/links/", {"sort": "-account"}).content.decode()
    assert body.index("pl-teamb") < body.index("pl-first")


# --- Gateways, dashboard ------------------------------------------------------------------------


def test_gateway_list_groups_gateways_by_account_and_region(viewer_client, carry_two_accounts):
    body = viewer_client.get("/gateways/").content.decode()
    first, team_b = body.index('id="region-cn-north-4"'), body.index('id="region-team-b-cn-north-4"')
    assert first < body.index("gdgw-first") < team_b < body.index("gdgw-teamb")
    assert "account team-b" in body


def test_gateway_page_names_its_account(viewer_client, carry_two_accounts):
    gateway = carry_two_accounts["gateway_teamb"]
    body = viewer_client.get(gateway.get_absolute_url()).content.decode()
    assert '<a href="/links/?account=team-b">team-b</a>' in body
    assert 'id="sync-note-team-b-cn-north-4"' in body
    assert "pl-teamb" in body


def test_link_page_names_its_account_when_there_are_several(viewer_client, carry_two_accounts):
    link = carry_two_accounts["link_teamb"]
    assert (
        '<a href="/links/?account=team-b">team-b</a>'
        in viewer_client.get(link.get_absolute_url()).content.decode()
    )


def test_link_and_gateway_pages_name_no_account_with_one(viewer_client):
    link = make_peer_link(name="pl-alone")
    assert "?account=" not in viewer_client.get(link.get_absolute_url()).content.decode()
    assert "?account=" not in viewer_client.get(link.gateway.get_absolute_url()).content.decode()
    assert "account " not in viewer_client.get("/gateways/").content.decode()


def test_dashboard_syncs_each_accounts_regions(viewer_client, carry_two_accounts, settings):
    from django.utils import timezone

    from peerlinks.models import CloudProject

    team_b = carry_two_accounts["team_b"]
    team_b.regions = ["cn-north-4", "ap-southeast-1"]
    team_b.save()
    CloudProject.objects.create(region="ap-southeast-1", account=team_b, synced_at=timezone.now())
    CloudProject.objects.create(region="eu-west-101", account=team_b, unmanaged_gateways=2)
    # the first account has ap-southeast-1 too, but does not manage it (CLOUD_REGIONS)
    CloudProject.objects.create(
        region="ap-southeast-1", account=carry_two_accounts["first"], unmanaged_gateways=1
    )
    body = viewer_client.get("/").content.decode()
    for anchor in ("cn-north-4", "team-b-cn-north-4", "team-b-ap-southeast-1"):
        assert f'id="sync-{anchor}"' in body
    assert 'id="sync-ap-southeast-1"' not in body
    unmanaged = body[body.index('id="unmanaged-regions"') :]
    assert "eu-west-101 (team-b)" in unmanaged
    assert f"ap-southeast-1 ({carry_two_accounts['first'].name})" in unmanaged
    assert "ap-southeast-1 (team-b)" not in unmanaged


# --- Changes, audit, search, the create form ------------------------------------------------------


def test_change_list_names_each_changes_account_and_filters_by_it(viewer_client, carry_two_accounts):
    body = viewer_client.get("/changes/").content.decode()
    assert 'name="account"' in body
    assert '<a href="/changes/?account=team-b">team-b</a>' in body
    only_b = viewer_client.get("/changes/", {"account": "team-b"}).content.decode()
    assert f"#{carry_two_accounts['change_teamb'].pk}<" in only_b
    assert f"#{carry_two_accounts['change_first'].pk}<" not in only_b


def test_change_list_has_no_account_filter_with_one_account(viewer_client):
    assert 'name="account"' not in viewer_client.get("/changes/").content.decode()


def test_change_page_names_its_account(viewer_client, carry_two_accounts):
    body = viewer_client.get(carry_two_accounts["change_teamb"].get_absolute_url()).content.decode()
    assert "<dd>team-b</dd>" in body


def test_audit_log_shows_each_events_account_and_filters_by_it(viewer_client, carry_two_accounts):
    body = viewer_client.get("/audit/").content.decode()
    assert 'name="account"' in body
    assert '<a href="/audit/?account=team-b">team-b</a>' in body
    only_b = viewer_client.get("/audit/", {"account": "team-b"}).content.decode()
    assert f'id="event-{carry_two_accounts["event_teamb"].pk}"' in only_b
    assert f'id="event-{carry_two_accounts["event_first"].pk}"' not in only_b


def test_search_finds_accounts_and_labels_each_row_with_its_account(viewer_client, carry_two_accounts):
    body = viewer_client.get("/search/", {"q": "team"}).content.decode()
    assert 'id="results-accounts"' in body
    assert '<a href="/links/?account=team-b"' in body
    links = viewer_client.get("/search/", {"q": "pl-"}).content.decode()
    assert "team-b · gdgw-teamb" in links


def test_create_form_labels_gateways_and_peers_with_their_account(client, engineer, carry_two_accounts):
    client.force_login(engineer)
    body = client.get("/links/new/", {"peer_type": "ER", "peer_region": "cn-north-4"}).content.decode()
    assert "gdgw-teamb (ACTIVE) · account team-b" in body
    assert "er-teamb (available) · account team-b" in body
    assert f"er-first (available) · account {carry_two_accounts['first'].name}" in body


def test_create_form_labels_no_account_with_one(client, engineer):
    from tests.conftest import make_gateway, make_router

    client.force_login(engineer)
    make_gateway(name="gdgw-alone")
    make_router(name="er-alone")
    body = client.get("/links/new/", {"peer_type": "ER", "peer_region": "cn-north-4"}).content.decode()
    assert "gdgw-alone (ACTIVE) · 3 left" in body
    assert "· account" not in body


# --- Topology, lead view, health ------------------------------------------------------------------


def test_topology_names_each_nodes_account_and_filters_by_it(viewer_client, carry_two_accounts):
    body = viewer_client.get("/topology/").content.decode()
    assert 'name="account"' in body
    assert "gdgw-first" in body and "gdgw-teamb" in body
    assert "account team-b" in body
    only_b = viewer_client.get("/topology/", {"account": "team-b"}).content.decode()
    only_b = only_b[only_b.index('id="topology-map"') :]
    assert "gdgw-teamb" in only_b and "er-teamb" in only_b
    assert "gdgw-first" not in only_b and "er-first" not in only_b


def test_lead_view_can_show_one_account(viewer_client, carry_two_accounts):
    from peerlinks.models import PeerLink

    PeerLink.objects.filter(name__in=["pl-first", "pl-teamb"]).update(status="ERROR", reason="down")
    body = viewer_client.get("/lead/").content.decode()
    assert 'id="lead-account"' in body
    assert "pl-first" in body and "pl-teamb" in body
    only_b = viewer_client.get("/lead/", {"account": "team-b"}).content.decode()
    assert "pl-teamb" in only_b and "pl-first" not in only_b
    assert f"#{carry_two_accounts['change_teamb'].pk}<" in only_b
    assert f"#{carry_two_accounts['change_first'].pk}<" not in only_b
    # the period section keeps the account
    period = viewer_client.get("/lead/", {"account": "team-b", "days": "7"}, HTTP_HX_REQUEST="true")
    assert '<input type="hidden" name="account" value="team-b">' in period.content.decode()


def test_lead_view_has_no_account_choice_with_one_account(viewer_client):
    assert 'id="lead-account"' not in viewer_client.get("/lead/").content.decode()


def test_readyz_reports_the_sync_age_of_each_account(client, carry_two_accounts):
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert set(body["accounts"]) == {carry_two_accounts["first"].name, "team-b"}
    assert body["accounts"]["team-b"]["last_sync_age_seconds"] < 60


# --- Notifications ------------------------------------------------------------------------------


def test_notices_and_mail_name_the_changes_account_when_there_are_several(
    carry_two_accounts, approver, mailoutbox, client
):
    from peerlinks.models import Notice
    from peerlinks.services import notifications

    approver.email = "lead1@example.net"
    approver.save()
    change = carry_two_accounts["change_teamb"]
    notifications.notify_submitted(change=change)
    notice = Notice.objects.get(user=approver, change_request=change)
    assert f"#{change.pk} update pl-teamb-renamed [team-b]" in notice.message
    (mail,) = mailoutbox
    assert "[team-b]" in mail.subject
    assert "Account:   team-b" in mail.body
    client.force_login(approver)
    assert "[team-b]" in client.get("/notices/").content.decode()


def test_notices_and_mail_name_no_account_with_one(approver, engineer, mailoutbox):
    from peerlinks.models import ChangeRequest, Notice
    from peerlinks.services import notifications

    approver.email = "lead1@example.net"
    approver.save()
    link = make_peer_link(name="pl-alone")
    change = ChangeRequest.objects.create(
        kind="update", requested_by=engineer, gateway=link.gateway, peer_link=link, payload={"name": "pl-x"}
    )
    notifications.notify_submitted(change=change)
    assert "[" not in Notice.objects.get(user=approver).message
    (mail,) = mailoutbox
    assert "Account:" not in mail.body


# --- Reading limited to one's own accounts ------------------------------------------------------


@pytest.fixture
def team_b_reader(client, carry_two_accounts):
    """Logged in, with the Viewer role for team-b only (no global role)."""
    from peerlinks.models import AccountRole

    user = _user("team-b-reader")
    AccountRole.objects.create(user=user, account=carry_two_accounts["team_b"], role="Viewer")
    client.force_login(user)
    return client


def test_a_user_limited_to_team_b_sees_nothing_of_the_first_account(
    team_b_reader, carry_two_accounts, settings
):
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = True
    world = carry_two_accounts
    pages = {
        "/links/": ("pl-teamb", "pl-first"),
        "/changes/": (f"#{world['change_teamb'].pk}<", f"#{world['change_first'].pk}<"),
        "/audit/": (f'id="event-{world["event_teamb"].pk}"', f'id="event-{world["event_first"].pk}"'),
        "/gateways/": ("gdgw-teamb", "gdgw-first"),
        "/topology/": ("gdgw-teamb", "gdgw-first"),
        "/search/?q=pl-": ("pl-teamb", "pl-first"),
        "/search/?q=gdgw": ("gdgw-teamb", "gdgw-first"),
        "/lead/": ("team-b", "pl-first"),
        "/": ('id="sync-team-b-cn-north-4"', 'id="sync-cn-north-4"'),
    }
    for path, (seen, unseen) in pages.items():
        body = team_b_reader.get(path).content.decode()
        assert seen in body, path
        assert unseen not in body, path
        assert world["first"].name not in body.replace("dcportal", ""), path  # not even in a filter
    rows = _csv(team_b_reader.get("/links/export.csv"))
    assert [row["name"] for row in rows] == ["pl-teamb"]
    for other in (world["link_first"], world["gateway_first"], world["change_first"]):
        assert team_b_reader.get(other.get_absolute_url()).status_code == 404
    for path in ("status", "edit", "delete"):
        assert team_b_reader.get(f"{world['link_first'].get_absolute_url()}{path}/").status_code in (403, 404)
    assert team_b_reader.get(world["link_teamb"].get_absolute_url()).status_code == 200
    assert team_b_reader.get(world["change_teamb"].get_absolute_url()).status_code == 200


def test_with_the_limit_off_a_user_with_a_role_in_one_account_reads_every_account(
    team_b_reader, carry_two_accounts, settings
):
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = False
    body = team_b_reader.get("/links/").content.decode()
    assert "pl-teamb" in body and "pl-first" in body
    assert team_b_reader.get(carry_two_accounts["link_first"].get_absolute_url()).status_code == 200
    assert len(_csv(team_b_reader.get("/links/export.csv"))) == 2
    assert "gdgw-first" in team_b_reader.get("/topology/").content.decode()


def test_with_the_limit_on_a_global_role_still_reads_every_account(
    viewer_client, carry_two_accounts, settings
):
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = True
    body = viewer_client.get("/links/").content.decode()
    assert "pl-teamb" in body and "pl-first" in body
    assert viewer_client.get(carry_two_accounts["change_first"].get_absolute_url()).status_code == 200


def test_the_live_poll_of_a_limited_user_counts_only_their_accounts(
    team_b_reader, carry_two_accounts, settings
):
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = True
    body = team_b_reader.get("/live/", {"page": "dashboard"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="sync-team-b-cn-north-4"' in body
    assert 'id="sync-cn-north-4"' not in body


def test_dashboard_lists_name_the_account_of_each_link_and_change(viewer_client, carry_two_accounts):
    from peerlinks.models import PeerLink

    PeerLink.objects.filter(name="pl-teamb").update(status="ERROR", reason="down")
    body = viewer_client.get("/").content.decode()
    errors = body[body.index('id="error-links"') :]
    assert "cn-north-4 · team-b" in errors
    assert "gdgw-teamb · team-b" in body  # the recent change


def test_the_page_of_a_gone_gateway_in_a_region_no_longer_synced_still_opens(viewer_client):
    from django.utils import timezone

    from tests.conftest import make_gateway, make_project

    gone = make_gateway(project=make_project("eu-west-101"), gone_at=timezone.now())
    response = viewer_client.get(gone.get_absolute_url())
    assert response.status_code == 200
    assert 'id="sync-note-eu-west-101"' in response.content.decode()


def test_the_cloud_banner_names_the_account_of_a_failing_region(viewer_client, carry_two_accounts):
    from django.utils import timezone

    project = carry_two_accounts["team_b"].projects.get(region="cn-north-4")
    project.sync_error = "ListGlobalDcGateways failed: cannot reach 127.0.0.1:9"
    project.sync_failed_at = timezone.now()
    project.save()
    banner = viewer_client.get("/links/").content.decode()
    banner = banner[banner.index('id="cloud-banner"') :]
    assert "no answer for cn-north-4 (team-b)." in banner


def test_the_unfiltered_map_read_by_one_reader_never_shows_another_what_they_may_not_read(
    team_b_reader, viewer, carry_two_accounts, settings
):
    """The map with no filter set reads its connections with a query compiled once per process and set of
    readable accounts: whoever opens it first, each reader gets theirs, as the filtered map draws it."""
    from django.test import Client

    settings.LIMIT_READING_TO_OWN_ACCOUNTS = True
    everyone = Client()
    everyone.force_login(viewer)

    def edges(client: Client, query: str = "") -> set[str]:
        body = client.get(f"/topology/{query}").content.decode()
        return set(re.findall(r'data-(?:edge|link)="([^"]+)"', body))

    for first, second in ((everyone, team_b_reader), (team_b_reader, everyone)):
        edges(first)
        edges(second)
    world = carry_two_accounts
    assert edges(team_b_reader) == {world["link_teamb"].cloud_id}
    assert edges(everyone) == {world["link_teamb"].cloud_id, world["link_first"].cloud_id}
    for client in (everyone, team_b_reader):  # a filter that keeps every link: the map built anew
        assert edges(client) == edges(client, "?status=ACTIVE&sort=name") == edges(client, "?sort=-name")
