"""Chinese and time zones in a real browser: the browser's zone is picked up by the static script, the menus
switch zone and language and bring the person back to the same page, and the top bar fits a phone."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, TIMEOUT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# 07:04:05 UTC: 15:04:05 in Shanghai, 02:04:05 in New York.
MOMENT = datetime(2026, 12, 2, 7, 4, 5, tzinfo=UTC)


@pytest.fixture
def shanghai_page(browser, live_server):
    """A browser whose clock says Asia/Shanghai and whose language is English."""
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Shanghai", locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_zone_comes_from_the_browser_and_the_menus_switch_zone_and_language(shanghai_page, engineer_login):
    from peerlinks.models import AuditEvent

    AuditEvent.objects.create(
        at=MOMENT, actor_name="someone", action="peer_link.create", object_type="peer_link"
    )
    page = shanghai_page
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Username").fill(engineer_login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(engineer_login, exact=True)).to_be_visible()

    # The login page's script told the server the browser's zone: times are in Shanghai's, zone named.
    page.goto("/audit/")
    cell = page.locator("#audit-table td.nowrap").first
    expect(cell).to_have_text("2026-12-02 15:04:05 UTC+08:00")
    expect(cell).to_have_attribute("title", "2026-12-02 15:04:05 UTC+08:00 (Asia/Shanghai)")
    expect(page.get_by_label("Time zone").locator("option:checked")).to_have_text(
        "From your browser (Asia/Shanghai)"
    )
    page.screenshot(path="/tmp/i10-i18n-audit-shanghai.png", full_page=False)

    # Another zone, chosen by hand in the account menu: the same page comes back with every time moved.
    page.locator("#account > summary").click()
    page.get_by_label("Time zone").select_option("America/New_York")
    page.locator("#preferences form").nth(1).get_by_role("button").click()
    expect(page).to_have_url(f"{page.url.split('/audit/')[0]}/audit/")
    expect(cell).to_have_text("2026-12-02 02:04:05 UTC-05:00")

    # Chinese, chosen by hand: the same page in Chinese.
    page.locator("#account > summary").click()
    page.get_by_label("Language").select_option("zh-hans")
    page.locator("#preferences form").first.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator("#account > summary").click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    expect(page.get_by_label("语言")).to_have_value("zh-hans")
    expect(page.get_by_label("时区")).to_have_value("America/New_York")
    assert page.url.endswith("/audit/")
    page.screenshot(path="/tmp/i10-i18n-audit-zh.png", full_page=False)

    # On a phone the menus wrap inside the top bar: the page does not scroll sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/login/")
    page.screenshot(path="/tmp/i10-i18n-login-360.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
