"""The link and change pages as a person sees them: a gone link, the create form with and without
JavaScript, and the audit log's request ids."""

import io
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, REGION, request_link

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_link_deleted_outside_dcportal_reads_as_gone_and_offers_no_edit(
    logged_in, cloud, make_active_link, sim_clock
):
    from django.core.management import call_command

    from peerlinks import cloud as api

    page = logged_in
    link_id = make_active_link("e2e-doomed-link", "er-e2e-3")
    page.goto(f"/links/{link_id}/")
    expect(page.locator("#link-status")).to_have_text(re.compile(r"^ACTIVE"))
    expect(page.get_by_text("Edit local fields")).to_be_visible()

    api.delete_peer_link(region=REGION, gateway_id=cloud["gateway_id"], peer_link_id=link_id)
    sim_clock.settle()
    call_command("sync_peerlinks", stdout=io.StringIO())
    page.reload()
    expect(page.locator("#link-status")).to_have_text(re.compile(r"^Gone"))
    expect(page.locator(f"#status-{link_id}")).to_have_text("Gone")
    expect(page.locator("#timeline-gone")).to_contain_text("found gone by a sync")
    expect(page.get_by_text("Edit local fields")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    expect(page.locator("#link-peer")).to_contain_text("er-e2e-3")


def test_create_form_without_javascript_loads_peers_by_post_and_never_puts_the_token_in_a_url(
    browser, live_server, cloud, engineer_login
):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    try:
        page.goto("/")
        page.get_by_label("Username").fill(engineer_login)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto("/links/new/")
        page.get_by_label("Gateway").select_option(cloud["gateway_id"])
        page.get_by_label("Name", exact=True).fill("e2e-no-js")
        page.get_by_role("button", name="Load peers").click()
        expect(page).to_have_url(f"{live_server.url}/links/new/")
        # the peer select belongs to the "What to link" fieldset, and the choices so far are kept
        peer = page.locator("fieldset:has(legend:text('What to link')) #field-peer select")
        router_id = cloud["routers"]["er-e2e-ok"]
        expect(peer.locator(f'option[value="{router_id}"]')).to_be_attached()
        expect(page.get_by_label("Gateway")).to_have_value(cloud["gateway_id"])
        expect(page.get_by_label("Name", exact=True)).to_have_value("e2e-no-js")
        peer.select_option(router_id)
        page.get_by_role("button", name="Request this link").click()
        expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
        expect(page.locator("#change-state")).to_contain_text("er-e2e-ok")
    finally:
        context.close()
    assert not [url for url in urls if "csrfmiddlewaretoken" in url]


def test_create_form_with_javascript_asks_for_peers_without_the_token_and_cancel_has_room(
    logged_in: Page, cloud
):
    page = logged_in
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    request_link(page, cloud, router="er-e2e-ok", name="e2e-with-js")
    asked = [url for url in urls if "/links/new/peers/" in url]
    assert asked, "choosing a gateway, type and region reloads the peer list"
    assert not [url for url in urls if "csrfmiddlewaretoken" in url]

    cancel = page.get_by_role("button", name="Cancel this request").bounding_box()
    heading = page.get_by_role("heading", name="Audit trail").bounding_box()
    assert heading["y"] - (cancel["y"] + cancel["height"]) >= 16, "the cancel button touches the heading"


def test_audit_log_copies_a_whole_request_id_and_filters_by_it(browser, live_server, logged_in: Page):
    from peerlinks.models import AuditEvent

    rid = "0123456789abcdef0123456789abcdef"
    AuditEvent.objects.create(action="peer_link.updated", object_type="peer_link", cloud_request_id=rid)
    AuditEvent.objects.create(action="peer_link.created", object_type="peer_link", cloud_request_id="f" * 32)
    page = logged_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto("/audit/")
    row = page.locator("tr", has=page.get_by_text(rid, exact=True))
    expect(row.locator("td.request-id code")).to_have_text(rid)  # whole, not cut short
    copy = row.get_by_role("button", name=f"Copy request ID {rid}")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == rid

    row.get_by_role("link", name=rid).click()
    expect(page).to_have_url(f"{live_server.url}/audit/?request_id={rid}")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page.get_by_role("textbox", name="Request ID")).to_have_value(rid)

    # without JavaScript there is no dead button: the id stays there to select
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        plain = context.new_page()
        context.add_cookies(page.context.cookies())
        plain.goto("/audit/")
        expect(plain.get_by_text(rid, exact=True)).to_be_visible()
        expect(plain.locator("button[data-copy]").first).to_be_hidden()
    finally:
        context.close()
