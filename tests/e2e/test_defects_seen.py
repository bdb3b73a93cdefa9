"""The defects a new user met, each seen in a real browser as the person who met it sees it.

The admin leaves the cloud's fields of a cached link alone and audits its local ones; a retry of a create
whose link ended in ERROR says what to do; peers read by name; the create form says "global DC gateway";
the dashboard names a region dcportal does not manage; a comment reaches the requester's notices; the
approval page shows the gateway's quota; turning the change window off releases what waited for it, and
the lead view then shows the cloud's time apart from the total.
"""

import io
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import REGION, person, request_link

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_admin_shows_a_cached_links_cloud_fields_read_only_and_audits_a_local_edit(
    make_active_link, login_as
):
    from peerlinks.models import PeerLink

    cloud_id = make_active_link("e2e-cached", "er-e2e-ok")
    link = PeerLink.objects.get(cloud_id=cloud_id)
    admin = login_as(person("e2e-admin", "Admin", is_staff=True, is_superuser=True))

    admin.goto(f"/admin/peerlinks/peerlink/{link.pk}/change/")
    form = admin.locator("#peerlink_form")
    for owned in ("name", "status", "create_owner"):
        expect(form.locator(f'[name="{owned}"]')).to_have_count(0)  # shown, not editable
    expect(form.locator(".field-name .readonly")).to_have_text("e2e-cached")
    expect(form.locator(".field-status .readonly")).to_contain_text("ACTIVE")
    form.locator('[name="owner_team"]').fill("netops")
    form.locator('[name="ticket_ref"]').fill("CHG-42")
    form.locator('[name="_save"]').click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")

    link.refresh_from_db()
    assert (link.name, link.status, link.owner_team, link.ticket_ref) == (
        "e2e-cached",
        "ACTIVE",
        "netops",
        "CHG-42",
    )
    admin.goto("/audit/")
    row = admin.locator("table.audit tbody tr", has_text="peer_link.local_fields")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("e2e-admin")
    expect(row).to_contain_text("e2e-cached")
    expect(row).to_contain_text("CHG-42")


def test_the_create_form_says_what_to_do_about_a_broken_link_and_names_peers(
    fast_cloud, make_active_link, login_as
):
    from peerlinks.models import Gateway, PeerLink
    from tests.conftest import make_peer_link

    cloud_id = make_active_link("e2e-named", "er-e2e-3")
    make_peer_link(  # as the last sync saw it
        gateway=Gateway.objects.get(cloud_id=fast_cloud["gateway_id"]),
        name="e2e-broken",
        status=PeerLink.Status.ERROR,
        peer_gateway_id=fast_cloud["routers"]["er-e2e-doomed"],
        peer_region=REGION,
    )
    engineer = login_as(person("e2e-eng", "Engineer"))

    # A retry of the create whose link ended in ERROR: the peer says what to do, not just "already linked".
    engineer.goto("/links/new/")
    engineer.get_by_label("Gateway").select_option(fast_cloud["gateway_id"])
    engineer.get_by_label("Peer type").select_option("ER")
    engineer.get_by_label("Peer region").select_option(REGION)
    expect(engineer.locator("#create-form .htmx-request")).to_have_count(0)
    doomed = engineer.locator(f'#field-peer option[value="{fast_cloud["routers"]["er-e2e-doomed"]}"]')
    expect(doomed).to_contain_text(
        "already linked from this gateway by e2e-broken, which ended in ERROR: "
        "ask to delete e2e-broken first, then ask for the new link"
    )
    expect(doomed).to_be_disabled()

    # The peer's label names its kind as written elsewhere: "global DC gateway", not "global dc gateway".
    engineer.get_by_label("Peer type").select_option("GDGW")
    expect(engineer.locator("#field-peer label")).to_have_text(f"Peer: global DC gateway in {REGION}")

    # The change page and the link page name the peer, with its ID after it.
    change_id = request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-by-name")
    peer = engineer.locator("#change-preview .peer")
    expect(peer.locator(".peer-name")).to_have_text("er-e2e-ok")
    expect(peer.locator(".peer-id")).to_have_text(fast_cloud["routers"]["er-e2e-ok"])
    assert engineer.url.endswith(f"/changes/{change_id}/")
    engineer.goto(f"/links/{cloud_id}/")
    expect(engineer.locator("#link-peer .peer-name")).to_have_text("er-e2e-3")


def test_the_dashboard_names_a_region_the_cloud_has_gateways_in_that_dcportal_does_not_manage(
    simulator, settings, login_as
):
    from django.core.management import call_command

    simulator.sim.add_gateway(name="gdgw-managed", region=REGION)
    simulator.sim.add_gateway(name="gdgw-elsewhere", region="cn-east-3")
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    call_command("sync_peerlinks", stdout=io.StringIO())  # the full sync also counts the other regions
    engineer = login_as(person("e2e-eng", "Engineer"))

    engineer.goto("/")
    notice = engineer.locator("#unmanaged-regions")
    expect(notice.locator("li", has_text="cn-east-3")).to_have_text("cn-east-3: 1 global DC gateway")
    expect(notice).to_contain_text(f"CLOUD_REGIONS={REGION},cn-east-3")
    expect(engineer.locator("#sync-cn-east-3")).to_have_count(0)  # not listed as if it were synced


def test_the_approver_sees_the_quota_and_a_comment_reaches_the_requesters_notices(
    fast_cloud, worker, login_as
):
    engineer = login_as(person("e2e-eng", "Engineer"))
    lead = login_as(person("e2e-lead", "Approver"))
    change_id = request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-asked")
    expect(engineer.locator("#nav-notices .count-badge")).to_have_count(0)

    lead.goto(f"/changes/{change_id}/")
    expect(lead.locator("#change-quota")).to_have_text(
        "Gateway quota: 0 of 10 peer links used; 1 of 10 after this change."
    )
    lead.get_by_label("Add a comment").fill("Which ticket is this for?")
    lead.get_by_role("button", name="Comment", exact=True).click()
    expect(lead.locator("#change-comments .comments")).to_contain_text("Which ticket is this for?")

    # The requester's top bar counts it without a reload; the notices page lists it.
    expect(engineer.locator("#nav-notices .count-badge")).to_have_text("1")
    engineer.locator("#nav-notices").click()
    expect(engineer.locator("main")).to_contain_text("e2e-lead commented: Which ticket is this for?")


def _seconds(text: str) -> float:
    """'55 s', '4.5 min', '2.1 h' in seconds."""
    number, unit = re.fullmatch(r"([\d.]+) (s|min|h)", text.strip()).groups()
    return float(number) * {"s": 1, "min": 60, "h": 3600}[unit]


def test_turning_the_change_window_off_releases_a_waiting_change_and_the_lead_view_splits_its_time(
    fast_cloud, worker, scheduler, login_as
):
    import datetime

    from django.utils import timezone

    from tests.conftest import set_policy

    later = timezone.localtime() + datetime.timedelta(hours=3)
    policy = set_policy(
        window_enabled=True,
        window_weekdays="1,2,3,4,5,6,7",
        window_start=later.time().replace(second=0, microsecond=0),
        window_end=(later + datetime.timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    engineer = login_as(person("e2e-eng", "Engineer"))
    lead = login_as(person("e2e-lead", "Approver"))
    admin = login_as(person("e2e-admin", "Admin", is_staff=True, is_superuser=True))
    change_id = request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-windowed")

    lead.goto(f"/changes/{change_id}/")
    lead.get_by_role("button", name="Approve").click()
    expect(lead.locator("#change-decision")).to_contain_text("Waits for the change window")
    state = engineer.locator("#change-state")
    expect(state.locator(".badge").first).to_have_text("Approved")
    lead.wait_for_timeout(1500)  # a few of the scheduler's rounds: the closed window holds the change
    expect(state.locator(".badge").first).to_have_text("Approved")

    # The admin turns the window off; nobody presses anything more.
    admin.goto(f"/admin/peerlinks/policy/{policy.pk}/change/")
    admin.get_by_label("Change window on").uncheck()
    admin.locator('[name="_save"]').click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")

    expect(state.locator(".badge").first).to_have_text("Done")
    expect(state.locator(".badge.status-active")).to_have_text("ACTIVE")

    # The lead view: the link's time in the cloud apart from its total, which holds the wait.
    lead.goto("/lead/")
    cloud_row = lead.locator("#provisioning-cloud")
    total_row = lead.locator("#provisioning-total")
    expect(cloud_row.locator("th")).to_contain_text("In the cloud")
    expect(total_row.locator("th")).to_contain_text("Total")
    in_cloud = _seconds(cloud_row.locator("td").first.inner_text())
    total = _seconds(total_row.locator("td").first.inner_text())
    assert 0 < in_cloud < total, (in_cloud, total)
