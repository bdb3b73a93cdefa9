"""The top bar in a real browser: one row on a desktop and a laptop, in English and Chinese; the account menu
opened by keyboard; on a phone the navigation folds behind Menu, whose toggle carries the counts."""

import pytest
from playwright.sync_api import expect

from tests.e2e import test_live_elements
from tests.e2e.test_accessibility import _serious

open_tab = test_live_elements.open_tab  # the fixture: a watched tab of a person's browser
lead = test_live_elements.lead

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROW_JS = """() => {
  const box = (e) => e.getBoundingClientRect();
  const links = [...document.querySelectorAll('.mainnav a')].map(box);
  const name = box(document.querySelector('#account > summary'));
  const search = box(document.querySelector('#search-q'));
  const tops = new Set(links.map((b) => Math.round(b.top)));
  const row = {top: Math.min(...links.map((b) => b.top)), bottom: Math.max(...links.map((b) => b.bottom))};
  const inRow = (b) => b.top < row.bottom && b.bottom > row.top;
  return {linkRows: tops.size, nameInRow: inRow(name), searchInRow: inRow(search),
          height: box(document.querySelector('header.topbar')).height,
          sideways: document.documentElement.scrollWidth - window.innerWidth};
}"""


def test_the_top_bar_is_one_row_on_a_desktop_and_a_laptop_and_folds_on_a_phone(open_tab, lead):
    from peerlinks.models import Notice
    from peerlinks.services.preferences import save_preferences

    Notice.objects.create(user=lead, message="e2e notice")
    tab = open_tab(lead, "/links/")
    page = tab.page
    for language in ("en", "zh-hans"):
        save_preferences(user=lead, language=language)
        for width in (1400, 1024):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto("/links/")
            expect(page.locator("html")).to_have_attribute("lang", language)
            row = page.evaluate(ROW_JS)
            assert row == {**row, "linkRows": 1, "nameInRow": True, "searchInRow": True, "sideways": 0}, (
                f"{language} at {width} px: {row}"
            )
            current = page.locator(".mainnav [aria-current=page]")
            expect(current).to_have_attribute("href", "/links/")
            page.screenshot(path=f"/tmp/i10-polish-topbar-{width}-{language}.png")

    # By keyboard: from the search box to the user's name, Enter opens the menu with visible focus.
    page.locator("#search-q").focus()
    name = page.locator("#account > summary")
    while not name.evaluate("e => e === document.activeElement"):
        page.keyboard.press("Tab")
    assert name.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.locator("#pref-language")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("#pref-language")).to_be_focused()
    page.screenshot(path="/tmp/i10-polish-topbar-account-open-zh.png")
    assert _serious(page) == []  # axe-core, with the menu open
    page.keyboard.press("Escape")  # closes the menu, the focus back on its toggle
    expect(page.locator("#pref-language")).to_be_hidden()
    expect(name).to_be_focused()
    name.click()
    expect(page.locator("#pref-language")).to_be_visible()
    page.locator("h1").click()  # a click elsewhere closes it too
    expect(page.locator("#pref-language")).to_be_hidden()

    # A phone: the links fold behind Menu, and the toggle shows what waits (here one unread notice).
    page.set_viewport_size({"width": 360, "height": 740})
    save_preferences(user=lead, language="en")
    page.goto("/links/")
    menu = page.locator(".navmenu > summary")
    expect(menu).to_have_text("Menu 1")
    expect(page.locator(".mainnav")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    menu.click()
    page.locator("#account > summary").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert _serious(page) == []
    page.screenshot(path="/tmp/i10-polish-topbar-360-open.png", full_page=True)


INSIDE_JS = """([inner, outer]) => {
  const a = document.querySelector(inner).getBoundingClientRect();
  const b = document.querySelector(outer).getBoundingClientRect();
  return a.left >= b.left && a.right <= b.right && a.right <= window.innerWidth;
}"""


def test_on_a_phone_the_common_actions_are_reachable_without_sideways_scrolling(open_tab, lead):
    from peerlinks.models import Drift
    from tests.conftest import make_gateway, make_peer_link

    gateway = make_gateway(name="gdgw-with-a-long-name-that-would-push-a-select-out-of-its-card-" + "x" * 20)
    link = make_peer_link(gateway=gateway, name="made-outside")
    drift = Drift.objects.create(peer_link=link, kind="created")
    tab = open_tab(lead, "/", pages=["/links/", "/topology/", "/lead/"])
    page = tab.page
    page.set_viewport_size({"width": 360, "height": 740})

    # The dashboard: a drift's actions sit under it, in the card, not at the right end of a scrolled table.
    page.goto("/")
    acknowledge = page.locator(f"#drift-{drift.pk}").get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_be_visible()
    assert page.evaluate(INSIDE_JS, [f"#drift-{drift.pk} .drift-actions", "#drift"])
    page.screenshot(path="/tmp/i10-polish-phone-dashboard.png", full_page=True)

    # The link list: the filters fold behind "Filters", and stay open while a filter is set.
    page.goto("/links/")
    expect(page.get_by_label("Owner team")).to_be_hidden()
    page.locator(".filters-fold > summary").click()
    expect(page.get_by_label("Owner team")).to_be_visible()
    page.goto("/links/?status=ACTIVE")
    expect(page.get_by_label("Owner team")).to_be_visible()
    assert page.evaluate(INSIDE_JS, ["#peerlink-filters select[name=gateway]", "#peerlink-filters"])
    page.screenshot(path="/tmp/i10-polish-phone-links-filtered.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 740})  # wider: always unfolded, no toggle
    expect(page.locator(".filters-fold > summary")).to_be_hidden()
    page.goto("/links/")
    expect(page.get_by_label("Owner team")).to_be_visible()
    page.set_viewport_size({"width": 360, "height": 740})

    # The topology: the Gateway select stays inside its card.
    page.goto("/topology/")
    assert page.evaluate(INSIDE_JS, ["#topology-filters select[name=gateway]", "#topology-filters"])

    # The lead view: a matrix scrolls in its own box with the gateway's name kept in view.
    page.goto("/lead/")
    box = page.locator("#status-matrix .grid-2 > div").last
    box.evaluate("e => e.scrollLeft = 400")
    assert page.evaluate(INSIDE_JS, ["#matrix-gateways tbody td:first-child", "#status-matrix"])
    for path in ("/", "/links/", "/topology/", "/lead/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    tab.assert_clean()
