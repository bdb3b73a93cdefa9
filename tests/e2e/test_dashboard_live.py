"""Every page's one poll (`/live/`), watched in a real browser: the navigation's Approvals badge on every page
with the navigation, the cloud banner as the cloud goes and comes back, and the dashboard's counts, drift
list and syncs, which change in place (the page, its address and its history stay); Refresh and Acknowledge.

Polling runs every POLL (0.5 s) here: tests/e2e/conftest.py sets POLL_INTERVAL for the live server.
"""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from playwright.sync_api import expect

from tests.conftest import make_peer_link, set_policy
from tests.e2e import test_live_elements
from tests.e2e.conftest import REGION
from tests.e2e.test_live_elements import LIVE, _shoot, _watch

open_tab = test_live_elements.open_tab  # the fixture: a watched tab of a person's browser
VERSION = "#live-poll .live-version"  # the version the page's poll sends, swapped when the parts change

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Every page with the top navigation that an approver opens without an object of its own.
NAV_PAGES = [
    *["/", "/links/", "/gateways/", "/topology/", "/changes/"],
    *["/approvals/", "/lead/", "/audit/", "/notices/"],
]


def _submit_create(cloud: dict, user, name: str, router: str):
    from peerlinks.models import Gateway
    from peerlinks.services import changes

    return changes.submit_change(
        user=user,
        kind="create",
        gateway=Gateway.objects.get(cloud_id=cloud["gateway_id"]),
        payload={
            "name": name,
            "description": "",
            "peer_type": "ER",
            "peer_gateway_id": cloud["routers"][router],
            "peer_region": REGION,
            "peer_project_id": "",
        },
    )


def test_the_approvals_badge_counts_new_requests_in_place_on_every_page_with_the_navigation(
    open_tab, cloud, engineer, approver
):
    set_policy(approvals_create=1, window_enabled=False)
    first = _submit_create(cloud, engineer, "e2e-badge-one", "er-e2e-ok")
    link = make_peer_link(name="e2e-badge-link")
    objects = [f"/changes/{first.pk}/", f"/links/{link.cloud_id}/", f"/gateways/{cloud['gateway_id']}/"]
    tabs = []
    for path in [*NAV_PAGES, *objects]:
        # The change page polls its own state too; the link page asks the cloud for nothing here (no ER link).
        tab = open_tab(approver, path, calls=[re.escape(path)])
        expect(tab.page.locator("#nav-approvals .count-badge")).to_have_text("1")
        expect(tab.page.locator("#nav-menu-count .count-badge")).to_have_text("1")  # a phone's Menu toggle
        # The links stay (only their counts are swapped), so the current page's mark stays too.
        # The poll itself is replaced by an answer that changed something (its version and interval).
        keep = ["h1", "main", ".mainnav", "#nav-approvals", "#nav-notices"]
        before = tab.hold(*keep, once=["#nav-menu-count", "#live-poll", VERSION])
        tabs.append((tab, before, LIVE))
    _watch(tabs)  # nothing changed: the poll answers 204, nothing is swapped

    _submit_create(cloud, engineer, "e2e-badge-two", "er-e2e-3")
    for tab, before, _ in tabs:
        expect(tab.page.locator("#nav-approvals .count-badge")).to_have_text("2")
        expect(tab.page.locator("#nav-menu-count .count-badge")).to_have_text("2")
        tab.assert_held(before)
    current = tabs[NAV_PAGES.index("/approvals/")][0].page.locator(".mainnav [aria-current=page]")
    expect(current).to_have_attribute("id", "nav-approvals")
    _watch(tabs)
    for tab, _, _ in tabs:
        tab.assert_clean()


def test_the_cloud_banner_comes_when_the_cloud_stops_answering_and_goes_when_it_answers(
    open_tab, cloud, engineer, settings
):
    settings.CLOUD_MAX_RETRIES = 0
    sim = cloud["simulator"].sim
    watched = []
    for path in ["/", "/links/", f"/gateways/{cloud['gateway_id']}/"]:
        tab = open_tab(engineer, path)
        expect(tab.page.locator("#cloud-banner")).to_be_empty()
        before = tab.hold("h1", "main", "#cloud-banner", once=["#live-poll", VERSION])
        watched.append((tab, before, LIVE))

    sim.set_faults(drop_rate=1.0)  # every answer dropped: no connection answers
    with pytest.raises(CommandError):
        call_command("sync_peerlinks", stdout=io.StringIO(), stderr=io.StringIO())
    for tab, before, _ in watched:
        banner = tab.page.locator("#cloud-banner")
        expect(banner).to_contain_text("dcportal cannot reach Huawei Cloud")
        expect(banner).to_contain_text(f"no answer for {REGION}")
        expect(banner).to_contain_text("What you see is the cached state from")
        detail = banner.locator("details")
        expect(detail.locator("code")).not_to_be_visible()  # the technical text waits behind a click
        expect(banner).not_to_contain_text("Errno")
        tab.assert_held(before)
    home = watched[0][0]
    home.page.locator("#cloud-banner summary").click()
    expect(home.page.locator("#cloud-banner details code")).to_be_visible()
    expect(home.page.locator(f"#sync-{REGION}")).to_contain_text("dcportal cannot reach Huawei Cloud")
    # Screenshots in a tab of their own: taking one leaves marks on the page that htmx would copy.
    shots = open_tab(engineer, "/", name="shots")
    shots.page.locator("#cloud-banner summary").click()
    _shoot(shots, "cloud-banner")  # at 1400 and 360 px wide
    shots.page.set_viewport_size({"width": 360, "height": 740})
    banner_box = shots.page.locator("#cloud-banner p").bounding_box()
    assert banner_box is not None and banner_box["x"] + banner_box["width"] <= 360  # its words wrap
    shots.page.close()

    sim.clear_faults()
    call_command("sync_peerlinks", stdout=io.StringIO())
    for tab, before, _ in watched:
        expect(tab.page.locator("#cloud-banner")).to_be_empty()
        tab.assert_held(before)
    for tab, _, _ in watched:
        tab.assert_clean()


def test_the_dashboard_shows_new_drift_and_counts_in_place_and_acknowledge_lowers_the_count(
    open_tab, engineer
):
    from peerlinks.models import Drift

    first = Drift.objects.create(
        peer_link=make_peer_link(name="e2e-drift-one"), kind="created", detail={"name": "e2e-drift-one"}
    )
    tab = open_tab(engineer, "/", calls=[r"/drift/\d+/acknowledge/"])
    page = tab.page
    expect(page.locator("#drift-count")).to_have_text("1")
    expect(page.locator("#stat-drift")).to_have_text("1")
    before = tab.hold("h1", "#status-counts", "#drift", "#sync-status", "#sync-control", "#drift h2")
    _watch([(tab, before, LIVE)])  # quiet cycles: nothing in the drift list is replaced

    second = Drift.objects.create(
        peer_link=make_peer_link(name="e2e-drift-two", status="ERROR"), kind="created", detail={}
    )
    expect(page.locator(f"#drift-{second.pk}")).to_contain_text("e2e-drift-two")
    expect(page.locator("#drift-count")).to_have_text("2")
    expect(page.locator("#stat-drift")).to_have_text("2")
    expect(page.locator("#status-counts .stat-error .stat-value")).to_have_text("1")
    before = tab.hold("h1", "#status-counts", "#drift", "#sync-status", "#sync-control", f"#drift-{first.pk}")

    page.locator(f"#drift-{second.pk}").get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"#drift-{second.pk}")).to_contain_text("Acknowledged by engineer1")
    tab.forgive_replaced_poll()
    expect(page.locator("#drift-count")).to_have_text("1")
    expect(page.locator("#stat-drift")).to_have_text("1")
    _watch([(tab, before, LIVE)], cycles=1)
    rows = (f"#drift-{first.pk}", f"#drift-{second.pk}")
    before = tab.hold("h1", "#status-counts", "#drift", "#sync-status", *rows)
    # The poll knows the page is up to date: the acknowledged row stays until something else changes.
    _watch([(tab, before, LIVE)])
    expect(page.locator(f"#drift-{second.pk}")).to_have_count(1)
    tab.assert_clean()


def test_refresh_on_the_dashboard_and_gateway_list_swaps_in_the_synced_data_when_the_sync_ends(
    open_tab, cloud, worker, engineer
):
    from peerlinks.models import Gateway

    sim = cloud["simulator"].sim
    tab = open_tab(engineer, "/", calls=["/refresh/"])
    page = tab.page
    gateways = page.locator(f"#sync-{REGION} td").nth(1)
    expect(gateways).to_have_text("1")
    before = tab.hold("h1", "#status-counts", "#sync-status", "#drift", "#recent-changes")

    sim.add_gateway(name="gdgw-e2e-new", region=REGION, quota=3)
    page.get_by_role("button", name="Refresh from cloud").click()
    expect(page.locator("#sync-control")).to_contain_text("Sync queued")
    expect(page.locator("#sync-control")).not_to_contain_text("Reload")
    expect(gateways).to_have_text("2")  # the worker synced; the poll swapped the region's row in place
    assert Gateway.objects.filter(name="gdgw-e2e-new").exists()
    expect(page.get_by_role("button", name="Refresh from cloud")).to_be_visible()  # the sync has ended
    tab.assert_held(before)
    tab.assert_clean()

    listing = open_tab(engineer, "/gateways/", calls=["/refresh/"])
    before = listing.hold("h1", "#gateway-regions")
    expect(listing.page.locator("#gateway-regions tbody tr")).to_have_count(2)
    _watch([(listing, before, LIVE)])  # nothing changed: nothing swapped
    sim.add_gateway(name="gdgw-e2e-third", region=REGION, quota=3)
    listing.page.get_by_role("button", name="Refresh from cloud").click()
    expect(listing.page.locator("#sync-control")).to_contain_text("This page updates when it finishes.")
    expect(listing.page.locator("#gateway-regions")).to_contain_text("gdgw-e2e-third")
    expect(listing.page.locator("#gateway-regions tbody tr")).to_have_count(3)
    expect(listing.page.get_by_role("button", name="Refresh from cloud")).to_be_visible()
    listing.assert_held(before)
    listing.assert_clean()
