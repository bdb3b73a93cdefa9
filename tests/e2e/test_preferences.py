"""A person's language and time zone follow them: chosen in one browser, applied in another after sign-in,
while the login page still follows the browser it is opened in."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, TIMEOUT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# 07:04:05 UTC: 16:04:05 in Tokyo, 02:04:05 in New York.
MOMENT = datetime(2026, 12, 2, 7, 4, 5, tzinfo=UTC)


def sign_in(browser, live_server, username: str, *, zone: str):
    """A new browser (English, clock in `zone`) in which `username` signs in through the login form."""
    context = browser.new_context(base_url=live_server.url, timezone_id=zone, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # before sign-in: the browser's language
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text(username, exact=True)).to_be_visible()
    return context, page


def test_language_and_zone_chosen_in_one_browser_apply_in_another(browser, live_server, engineer_login):
    from peerlinks.models import AuditEvent

    AuditEvent.objects.create(at=MOMENT, actor_name="someone", action="peer_link.create", object_type="x")

    first, page = sign_in(browser, live_server, engineer_login, zone="America/New_York")
    page.goto("/audit/")
    page.locator("#account > summary").click()  # the account menu holds both
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.locator("#preferences form").nth(1).get_by_role("button").click()
    expect(page.locator("#audit-table td.nowrap").first).to_have_text("2026-12-02 16:04:05 UTC+09:00")
    page.locator("#account > summary").click()
    page.get_by_label("Language").select_option("zh-hans")
    page.locator("#preferences form").first.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    first.close()

    # Another browser, English and in New York: once signed in, the person's own language and zone.
    second, page = sign_in(browser, live_server, engineer_login, zone="America/New_York")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.goto("/audit/")
    expect(page.locator("#audit-table td.nowrap").first).to_have_text("2026-12-02 16:04:05 UTC+09:00")
    expect(page.get_by_label("语言")).to_have_value("zh-hans")
    expect(page.get_by_label("时区")).to_have_value("Asia/Tokyo")
    page.screenshot(path="/tmp/i10-prefs-second-browser.png")
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path="/tmp/i10-prefs-second-browser-360.png", full_page=True)
    second.close()
