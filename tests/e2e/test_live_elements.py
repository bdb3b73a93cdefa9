"""Every element that polls or swaps, on every page, watched in a real browser.

What a person would notice: while an element polls, the page keeps its content (the same DOM nodes, not a
reload), its address and its history; when the cloud (or a colleague) changes something, only that element
changes, in place; an htmx swap that pushes a URL adds one history entry, and Back gives the whole page again
even when htmx has no snapshot of it (a history-cache miss: htmx then asks the server, which must answer the
page, not the fragment). On every page: no console error, no request to a URL the page did not mean to ask,
and never a fragment URL in the address bar.

Polling runs every POLL (0.5 s) here: tests/e2e/conftest.py sets POLL_INTERVAL for the live server.
"""

import io
import itertools
import os
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    expect,
)

from tests.conftest import make_gateway, make_peer_link, make_router, poll_until, set_policy
from tests.e2e.conftest import FAST_POLL, POLL, REGION, TIMEOUT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CYCLES = 3  # polling cycles watched at least
LIVE = "/live/"  # every page's one poll (base.html): the navigation's counts, the cloud banner, the dashboard
SHOTS = Path(os.environ.get("SCREENSHOTS") or "/tmp/e2e-shots")  # where _shoot keeps its pictures
# Paths htmx may ask for but that are never a page: one of them in the address bar is the original defect.
FRAGMENT_ONLY = re.compile(
    r".*/(status|local|peers|refresh|acknowledge|read|approve|reject|cancel|comments|run-now)/$"
)

# Before any page script: count htmx's history restores (a restore is a swap, not a reload).
INIT_SCRIPT = """
document.addEventListener("htmx:historyRestore", (event) => {
  window.__restores = (window.__restores || 0) + 1;
  window.__lastRestoreWasMiss = Boolean(event.detail.cacheMiss);
});
"""

# The page as a person sees it: where it is, how long its history is, whether it is still the page that
# was marked (no reload, no navigation), which remembered elements were replaced or removed, and how many
# elements match each selector that must match exactly one (a polling element swapped into itself doubles).
STATE_JS = """() => ({
  url: location.href,
  history: history.length,
  same: window.__same === true,
  lost: Object.entries(window.__kept || {}).filter(([, e]) => !e.isConnected).map(([s]) => s),
  counts: Object.fromEntries((window.__once || []).map((s) => [s, document.querySelectorAll(s).length])),
})"""


# --- People and tabs ------------------------------------------------------------------------------


# The suite's people (tests/conftest.py): `engineer` is engineer1; the two approvers are lead1 and lead2.
@pytest.fixture
def lead(approver):
    return approver


@pytest.fixture
def second_lead(second_approver):
    return second_approver


def _is_live(request: Request) -> bool:
    return urlsplit(request.url).path == LIVE


@dataclass
class Tab:
    """One browser page and what it did: requests, answers, console errors, addresses shown."""

    name: str
    page: Page
    pages: tuple[str, ...]  # path patterns the address bar may show
    calls: tuple[str, ...]  # further path patterns htmx may ask for
    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    finished: list[Request] = field(default_factory=list)  # answered or failed
    last_activity: float = 0.0

    # The page's live poll (LIVE) runs all the time: it is not activity a test waits to end.
    def on_request(self, request: Request) -> None:
        self.requests.append(request)
        if not _is_live(request):
            self.last_activity = time.monotonic()

    def on_response(self, response: Response) -> None:
        self.responses.append(response)
        if not _is_live(response.request):
            self.last_activity = time.monotonic()

    def on_done(self, request: Request) -> None:
        self.finished.append(request)
        if not _is_live(request):
            self.last_activity = time.monotonic()

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '?')})")

    def pump(self) -> None:
        """Let Playwright deliver the events that arrived (they only do during a Playwright call)."""
        self.page.evaluate("0")

    def polls(self, path: str, *, status: int | None = None) -> int:
        """htmx's answers to `path` so far (history restores not counted), of `status` if given."""
        return sum(
            1
            for response in self.responses
            if urlsplit(response.url).path == path
            and response.request.headers.get("hx-request") == "true"
            and "hx-history-restore-request" not in response.request.headers
            and (status is None or response.status == status)
        )

    def asked(self, path: str) -> int:
        """htmx's requests for `path` so far, answered or not."""
        return sum(
            1
            for request in self.requests
            if urlsplit(request.url).path == path and request.headers.get("hx-request") == "true"
        )

    def state(self) -> dict[str, Any]:
        return self.page.evaluate(STATE_JS)

    def hold(self, *keep: str, once: Sequence[str] = ()) -> dict[str, Any]:
        """Mark the page and remember the elements `keep` selects (they must stay, untouched), and the
        selectors in `once` (each must go on matching exactly one element, however often it is swapped);
        return the page's state to compare with."""
        missing = self.page.evaluate(
            """([selectors, once]) => {
                window.__same = true;
                window.__kept = {};
                window.__once = once;
                const missing = [];
                for (const s of selectors) {
                    const e = document.querySelector(s);
                    if (e) window.__kept[s] = e; else missing.push(s);
                }
                return missing;
            }""",
            [list(keep), list(once)],
        )
        assert missing == [], f"{self.name}: nothing matches {missing}"
        return self.state()

    def assert_held(self, before: dict[str, Any], *, pushed: int = 0) -> None:
        """Same page, same elements, and the URL and history as `before` (or `pushed` entries more)."""
        now = self.state()
        assert now["same"], f"{self.name}: the page reloaded or navigated away (now at {now['url']})"
        assert now["lost"] == [], f"{self.name}: these were replaced or removed: {now['lost']}"
        not_once = {selector: n for selector, n in now["counts"].items() if n != 1}
        assert not_once == {}, f"{self.name}: should match one element each: {not_once}"
        if not pushed:
            assert now["url"] == before["url"], f"{self.name}: the address changed to {now['url']}"
        assert now["history"] == before["history"] + pushed, (
            f"{self.name}: history went from {before['history']} to {now['history']} entries"
            f" ({pushed} push{'es' if pushed != 1 else ''} expected)"
        )

    def forgive_replaced_poll(self) -> None:
        """An action that takes the place of the page's poll in flight (hx-sync="#live-poll:replace", as
        Acknowledge does) makes htmx log that abort as a console error: expected when the click meets a
        poll. Drop those; nothing else may be logged."""
        self.pump()
        self.errors = [e for e in self.errors if not re.match(r"htmx:(afterRequest|sendAbort)\b", e)]

    def assert_clean(self) -> None:
        """No console error; nothing asked that the page did not mean; no fragment URL as an address."""
        self.pump()
        assert self.errors == [], f"{self.name}: console errors: {self.errors}"
        shown = [urlsplit(url).path for url in self.addresses]
        assert not [p for p in shown if FRAGMENT_ONLY.fullmatch(p)], (
            f"{self.name}: address bar showed {shown}"
        )
        assert all(any(re.fullmatch(p, path) for p in self.pages) for path in shown), (
            f"{self.name}: address bar showed {shown}, expected only {self.pages}"
        )
        asked = [
            f"{request.method} {urlsplit(request.url).path}"
            for request in self.requests
            if not urlsplit(request.url).path.startswith("/static/")
        ]
        allowed = (*self.pages, *self.calls)
        unexpected = [a for a in asked if not any(re.fullmatch(p, a.split(" ", 1)[1]) for p in allowed)]
        assert unexpected == [], f"{self.name}: unexpected requests {unexpected}"


@pytest.fixture
def open_tab(browser: Browser, live_server) -> Iterator[Callable[..., Tab]]:
    """`open_tab(user, path, pages=..., calls=...)`: a page of that person's browser (one context per
    person, logged in by session cookie), at `path`, watched from its first request."""
    from django.conf import settings
    from django.test import Client

    contexts: dict[int, BrowserContext] = {}

    def open_(
        user, path: str, *, name: str = "", pages: Sequence[str] = (), calls: Sequence[str] = ()
    ) -> Tab:
        context = contexts.get(user.pk)
        if context is None:
            context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(INIT_SCRIPT)
            client = Client()
            client.force_login(user, backend="peerlinks.permissions.GlobalRolesBackend")
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
            )
            contexts[user.pk] = context
        page = context.new_page()
        tab = Tab(name=name or path, page=page, pages=(urlsplit(path).path, *pages), calls=(LIVE, *calls))
        page.on("request", tab.on_request)
        page.on("response", tab.on_response)
        page.on("requestfinished", tab.on_done)
        page.on("requestfailed", tab.on_done)
        page.on("console", tab.on_console)
        page.on("pageerror", lambda error: tab.errors.append(str(error)))
        page.on(
            "framenavigated",
            lambda frame: tab.addresses.append(frame.url) if frame == page.main_frame else None,
        )
        response = page.goto(path)
        assert response is not None and response.status == 200, (
            f"{path} answered {response and response.status}"
        )
        return tab

    yield open_
    for context in contexts.values():
        context.close()


def _watch(
    watched: Sequence[tuple[Tab, dict[str, Any], str]], *, cycles: int = CYCLES, seconds: float = 0.0
) -> None:
    """Until each tab has had `cycles` more answers from its polling path (and `seconds` have passed),
    check at every look that each keeps its page, elements, URL and history."""
    start = {tab.name: tab.polls(path) for tab, _, path in watched}
    began = time.monotonic()

    def watched_enough() -> bool:
        for tab, before, _ in watched:
            tab.assert_held(before)
        return time.monotonic() - began >= seconds and all(
            tab.polls(path) >= start[tab.name] + cycles for tab, _, path in watched
        )

    poll_until(
        watched_enough,
        what=lambda: (
            "polling: "
            + ", ".join(
                f"{tab.name} {tab.polls(path) - start[tab.name]}/{cycles}" for tab, _, path in watched
            )
        ),
        timeout=seconds + cycles * POLL * 6 + 10,
        interval=0.2,
    )


def _assert_quiet(watched: Sequence[tuple[Tab, dict[str, Any], str]], *, cycles: int = CYCLES) -> None:
    """For `cycles` polling intervals, no tab asks its polling path again (and each keeps its page)."""
    start = {tab.name: tab.asked(path) for tab, _, path in watched}
    began = time.monotonic()

    def quiet_long_enough() -> bool:
        for tab, before, path in watched:
            tab.assert_held(before)
            assert tab.asked(path) == start[tab.name], f"{tab.name}: still polls {path}"
        return time.monotonic() - began >= cycles * POLL

    poll_until(quiet_long_enough, what="quiet polling", timeout=cycles * POLL + 10, interval=0.2)


def _back_on_a_history_cache_miss(tab: Tab) -> None:
    """Press Back with htmx's snapshot cache emptied and off: htmx must fetch the page from the server."""
    restores = tab.page.evaluate(
        """() => {
            htmx.config.historyCacheSize = 0;
            sessionStorage.clear();  // where htmx 2 keeps its snapshots
            localStorage.clear();
            return window.__restores || 0;
        }"""
    )
    tab.page.go_back(wait_until="commit")
    poll_until(
        lambda: (
            tab.page.evaluate("[window.__restores || 0, window.__lastRestoreWasMiss]") == [restores + 1, True]
        ),
        what=f"{tab.name}: htmx to restore the previous page from the server",
        timeout=TIMEOUT_MS / 1000,
    )


def _leave_the_field(tab: Tab, field: Locator) -> None:
    """Tab out of a text field once its typing has been answered, as a person moves on, and let what
    that sends (its `change` event) be answered too."""
    field.press("Tab")
    _quiet_network(tab)


def _quiet_network(tab: Tab, quiet: float = POLL) -> None:
    """Until nothing is in flight and nothing was asked or answered for `quiet` seconds."""
    tab.last_activity = time.monotonic()

    def quiet_now() -> bool:
        tab.pump()
        in_flight = sum(not _is_live(r) for r in tab.requests) - sum(not _is_live(r) for r in tab.finished)
        return in_flight == 0 and time.monotonic() - tab.last_activity >= quiet

    poll_until(quiet_now, what=f"{tab.name}: the network to be quiet", timeout=quiet + 10)


def _addresses(tab: Tab) -> list[str]:
    """What the address bar showed, in order (path and query; repeats of one address counted once)."""
    shown: list[str] = []
    for url in tab.addresses:
        parts = urlsplit(url)
        address = parts.path + (f"?{parts.query}" if parts.query else "")
        if not shown or shown[-1] != address:
            shown.append(address)
    return shown


def _assert_whole_page(tab: Tab, heading: str) -> None:
    """Once htmx has restored it: the page around the content is there once (top bar, navigation, main,
    the heading), not a bare fragment in <body>."""
    seen = tab.page.evaluate(
        """() => ({
            first: document.body.firstElementChild && document.body.firstElementChild.outerHTML.slice(0, 80),
            topbars: document.querySelectorAll("header.topbar").length,
            navs: document.querySelectorAll("nav.mainnav").length,
            mains: document.querySelectorAll("main").length,
            h1: [...document.querySelectorAll("main h1")].map((h) => h.textContent.trim()),
            title: document.title,
        })"""
    )
    assert seen["h1"] == [heading], f"{tab.name}: after Back the page has no heading {heading!r}: {seen}"
    assert (seen["topbars"], seen["navs"], seen["mains"]) == (1, 1, 1), f"{tab.name}: after Back: {seen}"
    assert seen["first"].startswith('<header class="topbar">'), (
        f"{tab.name}: <body> starts with {seen['first']}"
    )
    assert seen["title"].startswith(heading.split()[0]), f"{tab.name}: title is {seen['title']!r}"


def _shoot(tab: Tab, name: str) -> None:
    """Full-page screenshots at 1400 px and at 360 px wide, then back to 1400 px."""
    SHOTS.mkdir(exist_ok=True)
    for width in (1400, 360):
        tab.page.set_viewport_size({"width": width, "height": 900})
        tab.page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    tab.page.set_viewport_size({"width": 1400, "height": 900})


# --- A world with a pending link ------------------------------------------------------------------


@dataclass
class PendingWorld:
    gateway_id: str
    steady_id: str  # an ACTIVE link on the same gateway
    pending_id: str  # a link the cloud is still creating (PENDING_CREATE for an hour)
    settle: Callable[[], None]  # the cloud finishes the link and the cache hears of it


@pytest.fixture
def pending_world(cloud: dict, sim_clock, settings) -> PendingWorld:
    from django.core.management import call_command

    import dcsim
    from peerlinks import cloud as api

    settings.PENDING_TOO_LONG = 0  # the dashboard lists every pending link (with its badge)
    sim = cloud["simulator"].sim

    def create(name: str, router: str) -> str:
        return api.create_peer_link(
            region=REGION,
            gateway_id=cloud["gateway_id"],
            name=name,
            description="",
            peer_gateway_id=cloud["routers"][router],
            peer_region=REGION,
            peer_project_id=dcsim.project_id_for(REGION),
        ).peer_link.id

    steady = create("e2e-steady", "er-e2e-ok")
    sim_clock.settle()
    sim.set_config(transition_delay=3600)
    pending = create("e2e-pending", "er-e2e-3")
    call_command("sync_peerlinks", stdout=io.StringIO())

    def settle() -> None:
        sim.force_peer_link(pending, status="ACTIVE")
        call_command("sync_peerlinks", stdout=io.StringIO())  # as the pending re-check would

    return PendingWorld(gateway_id=cloud["gateway_id"], steady_id=steady, pending_id=pending, settle=settle)


def _pending_tabs(open_tab: Callable[..., Tab], user, world: PendingWorld, *, gateway: bool) -> list[tuple]:
    """The pages showing the pending link's badge, each held with what must survive its page's one poll."""
    pending, steady = f"#link-{world.pending_id}", f"#link-{world.steady_id}"
    views = [
        (
            "list",
            "/links/",
            ("h1", "#peerlink-filters", "#peerlink-table", pending, steady, f"#status-{world.steady_id}"),
        ),
        ("dashboard", "/", ("h1", "#sync-control", "#status-counts", "#pending-too-long tbody tr", "#drift")),
        ("link", f"/links/{world.pending_id}/", ("h1", "#link-fields", "#local-fields", "#status-timeline")),
    ]
    if gateway:
        views.append(
            ("gateway", f"/gateways/{world.gateway_id}/", ("h1", "#gateway-fields", pending, steady))
        )
    watched = []
    for name, path, keep in views:
        tab = open_tab(user, path, name=name)  # no call but the page's one poll (LIVE)
        expect(tab.page.locator(f"#status-{world.pending_id}")).to_have_text("Creating…")
        watched.append((tab, tab.hold(*keep, once=[f"#status-{world.pending_id}"]), LIVE))
    return watched


def _live_polls(tab: Tab) -> list[tuple[float, float]]:
    """When the page sent each of its polls and how long its answer took (seconds on the page's clock),
    from the browser's own record."""
    polls = tab.page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((e) => new URL(e.name).pathname === "/live/")
            .map((e) => [e.startTime / 1000, (e.responseEnd - e.startTime) / 1000])"""
    )
    return [tuple(poll) for poll in polls]


def _live_starts(tab: Tab) -> list[float]:
    """When the page sent each of its polls (seconds on the page's clock)."""
    return [start for start, _took in _live_polls(tab)]


def _assert_poll_slowed_and_forgot(tab: Tab, before: object, panel: str) -> None:
    """Once the followed `panel` is final: the page follows nothing more, its one poll goes on at
    POLL_INTERVAL (held content stays) and never asks about the panel again."""
    page = tab.page
    expect(page.locator(".live-panel")).to_have_count(0)
    expect(page.locator("#live-poll")).to_have_attribute("hx-trigger", f"every {round(POLL * 1000)}ms")
    tab.assert_held(before)
    time.sleep(POLL)  # past the answer that slowed the poll down
    slow_from = page.evaluate("performance.now() / 1000")
    asked = _panel_polls(tab, panel)
    _watch([(tab, before, LIVE)], cycles=CYCLES + 1)  # the nav's poll goes on, every POLL_INTERVAL
    _assert_poll_interval(tab, POLL, after=slow_from)
    assert _panel_polls(tab, panel) == asked, f"the poll still asks about a final {panel}"


def _assert_poll_interval(tab: Tab, interval: float, *, after: float = 0.0) -> None:
    """The page's polls sent after `after` are one every `interval`: on average at least 90% of it apart
    (a second poll per cycle would halve that), most of them about one interval apart (the median at most
    1.5 intervals), none twice at once (a short gap only after a late one), and none held back for long.
    A beat that comes while the poll before is still being answered waits for that answer (htmx queues
    it): a gap after an answer slower than an interval is that answer's time, so it counts less the whole
    intervals the answer took (a slow server is not a page polling too seldom). On 2 busy cores a timer
    fires late and the next one less late (0.1 s beside 0.48 s for 0.25 s): gaps of up to 1.06 s were seen,
    hence four intervals and a second at most; and no badge polls on its own."""
    polls = [(start, took) for start, took in _live_polls(tab) if start >= after]
    starts = [start for start, _took in polls]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(starts)]
    assert gaps, f"{tab.name}: no poll after {after:.2f} s"
    # Each gap less the whole intervals the answer to the poll before it took.
    own = [gap - interval * (took // interval) for gap, (_start, took) in zip(gaps, polls[:-1], strict=True)]
    answered = [round(took, 3) for _start, took in polls]
    expected = f"{tab.name}: polls {gaps} s apart, answered in {answered} s, expected every {interval} s"
    assert sum(gaps) / len(gaps) >= 0.9 * interval, expected
    assert statistics.median(own) <= 1.5 * interval, expected
    # None twice at once: a short gap only right after a late one, the timer catching up (0.067 s after
    # 0.64 s was seen for 0.25 s), the two together at least one interval.
    for before, gap in itertools.pairwise([interval, *gaps]):
        assert gap >= interval * 0.3 or (before > interval and before + gap >= interval), expected
    assert max(gaps) <= interval * 4 + 1.0, expected
    asked = [urlsplit(r.url).path for r in tab.requests if r.headers.get("hx-request") == "true"]
    assert [path for path in asked if path != LIVE] == [], f"{tab.name}: asked {asked}"


# --- Badges followed by the page's one poll ----------------------------------------------------------


WATCHED_SECONDS = 3  # twelve polls at FAST_POLL, each checked for page, elements, URL and history


def test_with_a_link_pending_the_list_dashboard_and_link_pages_keep_content_and_url_while_polling(
    open_tab, engineer, pending_world
):
    watched = _pending_tabs(open_tab, engineer, pending_world, gateway=True)
    _watch(watched, seconds=WATCHED_SECONDS)

    for tab, _, path in watched:
        assert tab.polls(path) >= WATCHED_SECONDS / FAST_POLL / 2, (
            f"{tab.name}: polled only {tab.polls(path)} times in {WATCHED_SECONDS} s"
        )
        _assert_poll_interval(tab, FAST_POLL)
        badge = tab.page.locator(f"#status-{pending_world.pending_id}")
        expect(badge).to_have_text("Creating…")
        expect(badge).to_have_count(1)
        tab.assert_clean()


def test_a_pending_badge_turns_active_in_place_and_the_poll_slows_down_on_every_page(
    open_tab, engineer, pending_world
):
    watched = _pending_tabs(open_tab, engineer, pending_world, gateway=True)
    _watch(watched)
    _shoot(watched[0][0], "list-pending")
    _shoot(watched[1][0], "dashboard-pending")
    pulse = "el => getComputedStyle(el).animationName"
    for tab, _, _ in watched:  # a followed badge pulses: the page shows it is watching it
        assert tab.page.locator(f"#status-{pending_world.pending_id}").evaluate(pulse) == "pulse", tab.name

    pending_world.settle()
    for tab, before, _ in watched:
        badge = tab.page.locator(f"#status-{pending_world.pending_id}")
        expect(badge).to_have_text("Active")
        assert badge.evaluate(pulse) == "none", tab.name  # settled: still
        expect(badge).to_have_class(re.compile(r"\bstatus-active\b"))
        expect(badge.locator(".live-link")).to_have_count(0)
        expect(badge).to_have_count(1)
        slow = f"every {round(POLL * 1000)}ms"
        expect(tab.page.locator("#live-poll")).to_have_attribute("hx-trigger", slow)
        tab.assert_held(before)
    time.sleep(POLL)  # past the answer that slowed the poll down
    slow_from = {tab.name: tab.page.evaluate("performance.now() / 1000") for tab, _, _ in watched}
    _watch(watched, cycles=CYCLES + 1)  # the nav's poll goes on, every POLL_INTERVAL; the badge stays
    for tab, _, _ in watched:
        _assert_poll_interval(tab, POLL, after=slow_from[tab.name])
        expect(tab.page.locator(f"#status-{pending_world.pending_id}")).to_have_text("Active")
        tab.assert_clean()


def test_fifty_pending_badges_cost_one_poll_a_second_and_each_changes_in_place(open_tab, engineer, settings):
    """However many badges a page shows, it sends one small poll per LIVE_FAST_POLL_INTERVAL (1 s here, as
    shipped); the badges whose link moved on change in place, the others stay."""
    from peerlinks.models import PeerLink

    settings.LIVE_FAST_POLL_INTERVAL = 1.0
    links = [make_peer_link(name=f"bulk-{i:02}", status="PENDING_CREATE") for i in range(50)]
    tab = open_tab(engineer, "/links/", name="list of 50")
    expect(tab.page.locator(".live-link")).to_have_count(50)
    before = tab.hold("h1", "#peerlink-table", *[f"#link-{link.cloud_id}" for link in links[:5]])
    _watch([(tab, before, LIVE)], seconds=3.5)
    _assert_poll_interval(tab, 1.0)

    turned = links[:10]
    PeerLink.objects.filter(pk__in=[link.pk for link in turned]).update(status="ACTIVE")
    for link in turned:
        expect(tab.page.locator(f"#status-{link.cloud_id}")).to_have_text("Active")
    expect(tab.page.locator(".live-link")).to_have_count(40)
    expect(tab.page.locator(f"#status-{links[10].cloud_id}")).to_have_text("Creating…")
    tab.assert_held(before)
    _assert_poll_interval(tab, 1.0)
    tab.assert_clean()


# --- The change page ------------------------------------------------------------------------------


@pytest.fixture
def pending_change(cloud: dict, engineer):
    """A create request of the engineer's, waiting for two approvals."""
    from peerlinks.models import Gateway
    from peerlinks.services import changes

    set_policy(approvals_create=2, window_enabled=False)
    return changes.submit_change(
        user=engineer,
        kind="create",
        gateway=Gateway.objects.get(cloud_id=cloud["gateway_id"]),
        payload={
            "name": "e2e-four-eyes",
            "description": "",
            "peer_type": "ER",
            "peer_gateway_id": cloud["routers"]["er-e2e-ok"],
            "peer_region": REGION,
            "peer_project_id": "",
        },
    )


def _panel_polls(tab: Tab, name: str) -> int:
    """The page's polls that asked about a panel `name` (it gave the poll its version: live_follow_panel)."""
    return sum(1 for r in tab.requests if _is_live(r) and f"{name}=" in urlsplit(r.url).query)


def test_a_change_page_follows_its_panels_in_the_one_poll_and_slows_down_once_final(
    open_tab, engineer, lead, pending_change
):
    """No poll of its own: the page's one poll, one request every FAST_POLL while the change is open, brings
    the state and approvals panels in place when they change; once the change is final it asks about the
    change no more and slows down."""
    from peerlinks.services import approvals, changes

    path = f"/changes/{pending_change.pk}/"
    tab = open_tab(engineer, path, name="requester")
    page = tab.page
    state, decision = page.locator("#change-state"), page.locator("#change-decision")
    title, status = page.locator("#change-preview-title"), page.locator("#change-preview-status")
    expect(state.locator(".badge").first).to_have_text("Pending approval")
    expect(decision).to_contain_text("0 of 2 approvals received")
    expect(title).to_have_text("The link after this change")
    expect(status).to_have_text("PENDING_CREATE, then ACTIVE once the cloud has made it")
    expect(page.locator(".live-panel")).to_have_count(1)
    # Nothing moves: the panels stay the same elements (the poll answers 204), one poll every FAST_POLL.
    before = tab.hold(
        "h1", "#change-preview", "#change-comments", "#change-state", "#change-decision", once=["#live-poll"]
    )
    _watch([(tab, before, LIVE)], seconds=WATCHED_SECONDS)
    _assert_poll_interval(tab, FAST_POLL)  # one request per cycle, and nothing asked but the poll
    assert tab.polls(LIVE, status=204) >= CYCLES
    _shoot(tab, "change-pending")

    before = tab.hold(
        "h1", "#change-preview", "#change-comments", once=["#change-state", "#change-decision", ".live-panel"]
    )
    approvals.approve_change(
        change_id=pending_change.pk,
        user=lead,
        payload_digest=pending_change.payload_digest,
        comment="Router checked.",
    )
    expect(decision).to_contain_text("1 of 2 approvals received")
    expect(decision).to_contain_text("Approved by lead1")
    expect(decision.locator("blockquote")).to_have_text("Router checked.")
    expect(state).to_contain_text("lead1")  # the approval in the audit trail
    expect(state.locator(".badge").first).to_have_text("Pending approval")
    tab.assert_held(before)
    _watch([(tab, before, LIVE)])  # still open: followed, fast, in place
    _assert_poll_interval(tab, FAST_POLL)
    _shoot(tab, "change-approved-once")

    swapped = ["#change-state", "#change-preview-title", "#change-preview-status", "#live-poll"]
    before = tab.hold("h1", "#change-preview", "#change-comments", once=swapped)
    changes.cancel_change(change_id=pending_change.pk, user=engineer)
    expect(state.locator(".badge").first).to_have_text("Cancelled")
    expect(title).to_have_text("The link as asked for")  # the preview's heading too, without a reload
    expect(status).to_have_text("Not made (cancelled)")  # and its status line
    expect(state).not_to_contain_text("updates live")
    _assert_poll_slowed_and_forgot(tab, before, "change")
    expect(state.locator(".badge").first).to_have_text("Cancelled")
    _shoot(tab, "change-cancelled")
    tab.assert_clean()


def test_an_approver_typing_a_comment_keeps_it_while_the_change_page_polls(
    open_tab, engineer, lead, second_lead, pending_change
):
    from peerlinks.services import approvals

    path = f"/changes/{pending_change.pk}/"
    requester = open_tab(engineer, path, name="requester")
    queue = open_tab(second_lead, "/approvals/", name="approvals queue", pages=[path])
    expect(queue.page.locator("#nav-approvals .count-badge")).to_have_text("1")
    before = queue.hold("h1", "table.approval-queue")
    held = requester.hold("h1", once=["#change-state", "#change-decision"])
    _watch([(requester, held, LIVE)])  # the queue does not poll: nothing may change there
    queue.assert_held(before)
    assert [r.url for r in queue.requests if r.headers.get("hx-request") and not _is_live(r)] == []
    queue.page.get_by_role("link", name=f"#{pending_change.pk}", exact=True).click()
    expect(queue.page).to_have_url(re.compile(f"{path}$"))
    queue.assert_clean()

    approver = queue  # the same page, now on the change
    page = approver.page
    comment = page.locator("#decision-comment")
    comment.fill("Looks right, ")
    comment.press_sequentially("go ahead.")
    before = approver.hold(
        "h1", "#change-preview", "#change-decision", "#decision-comment", once=["#change-state"]
    )
    _watch([(approver, before, LIVE)])
    expect(comment).to_have_value("Looks right, go ahead.")
    expect(comment).to_be_focused()

    approvals.approve_change(
        change_id=pending_change.pk, user=lead, payload_digest=pending_change.payload_digest
    )
    # The state panel follows (the approval is in its audit trail); the form being typed in stays.
    expect(page.locator("#change-state")).to_contain_text("lead1")
    _watch([(approver, before, LIVE)])
    expect(comment).to_have_value("Looks right, go ahead.")
    expect(requester.page.locator("#change-decision")).to_contain_text("1 of 2 approvals received")

    page.get_by_role("button", name="Approve").click()
    decision = page.locator("#change-decision")
    expect(decision).to_contain_text("2 of 2 approvals received")
    expect(decision.locator("li", has_text="lead2").locator("blockquote")).to_have_text(
        "Looks right, go ahead."
    )
    expect(page.locator("#change-state .badge").first).to_have_text("Approved")
    expect(requester.page.locator("#change-state .badge").first).to_have_text("Approved")
    expect(requester.page.locator("#change-decision")).to_contain_text("2 of 2 approvals received")
    now = approver.state()  # the approver's own answer replaced the panel; the page and URL stayed
    assert now["same"] and now["url"] == before["url"] and now["history"] == before["history"], now
    approver.calls = (LIVE, f"/changes/{pending_change.pk}/approve/")
    approver.assert_clean()
    requester.assert_clean()


def test_an_approver_typing_a_run_now_reason_keeps_it_while_the_change_page_polls(
    open_tab, engineer, lead, cloud
):
    from datetime import timedelta

    from django.utils import timezone

    from peerlinks.models import Gateway
    from peerlinks.services import approvals, changes

    later = timezone.localtime() + timedelta(hours=3)
    set_policy(
        approvals_create=1,
        window_enabled=True,
        window_weekdays="1,2,3,4,5,6,7",
        window_start=later.time().replace(second=0, microsecond=0),
        window_end=(later + timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    change = changes.submit_change(
        user=engineer,
        kind="create",
        gateway=Gateway.objects.get(cloud_id=cloud["gateway_id"]),
        payload={
            "name": "e2e-window",
            "peer_type": "ER",
            "peer_gateway_id": cloud["routers"]["er-e2e-ok"],
            "peer_region": REGION,
        },
    )
    approvals.approve_change(change_id=change.pk, user=lead, payload_digest=change.payload_digest)
    path = f"/changes/{change.pk}/"
    requester = open_tab(engineer, path, name="requester")
    approver = open_tab(lead, path, name="approver")
    page = approver.page
    expect(requester.page.locator("#run-now")).to_have_count(0)
    reason = page.locator("#run-now-reason")
    reason.fill("Outage: ")
    reason.press_sequentially("run it now.")
    before = approver.hold(
        "h1", "#change-preview", "#change-decision", "#run-now-reason", once=["#change-state"]
    )
    held = requester.hold("h1", once=["#change-state", "#change-decision"])
    _watch([(approver, before, LIVE), (requester, held, LIVE)])
    expect(reason).to_have_value("Outage: run it now.")
    expect(reason).to_be_focused()

    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#run-now")).to_have_count(0)
    expect(page.locator("#change-state")).to_contain_text("change.run_now: Outage: run it now.")
    expect(requester.page.locator("#change-state")).to_contain_text("change.run_now: Outage: run it now.")
    expect(requester.page.locator("#change-decision")).not_to_contain_text("Waits for the change window")
    now = approver.state()
    assert now["same"] and now["url"] == before["url"] and now["history"] == before["history"], now
    approver.calls = (LIVE, f"/changes/{change.pk}/run-now/")
    approver.assert_clean()
    requester.assert_clean()


# --- The batch page ------------------------------------------------------------------------------


@pytest.fixture
def pending_batch(cloud: dict, engineer):
    """A batch of the engineer's: a link to each of the three routers, each waiting for one approval."""
    from peerlinks.services import bulk

    set_policy(approvals_create=1, window_enabled=False)
    rows = [f"gdgw-e2e,{router},e2e-batch-{n}" for n, router in enumerate(cloud["routers"])]
    return bulk.submit_creates(user=engineer, records=bulk.parse("\n".join(["gateway,peer,name", *rows])))


def test_the_batch_page_follows_its_rows_in_the_one_poll_and_slows_down_once_every_row_is_final(
    open_tab, engineer, lead, pending_batch
):
    """No poll of its own: the page's one poll, fast while a row is still to finish, brings the rows, their
    counts and the buttons that depend on them in place; once every row is final it asks about the batch
    no more and slows down."""
    from peerlinks.services import bulk

    path = f"/batches/{pending_batch.pk}/"
    tab = open_tab(engineer, path, name="batch")
    page = tab.page
    summary = page.locator("#batch-summary")
    expect(summary).to_have_text("Pending approval: 3")
    expect(page.locator(".live-panel")).to_have_count(1)
    expect(page.locator("#batch-cancel")).to_be_visible()
    # Nothing moves: the rows stay the same elements (the poll answers 204), one poll every FAST_POLL.
    before = tab.hold("h1", "#batch-rows", "#batch-summary", "#batch-cancel", once=["#live-poll"])
    _watch([(tab, before, LIVE)], seconds=WATCHED_SECONDS)
    _assert_poll_interval(tab, FAST_POLL)
    assert tab.polls(LIVE, status=204) >= CYCLES
    _shoot(tab, "batch-pending")

    before = tab.hold("h1", once=["#batch-rows", "#batch-summary", "#live-poll", ".live-panel"])
    bulk.approve_batch(batch_id=pending_batch.pk, user=lead, batch_digest=bulk.batch_digest(pending_batch))
    expect(summary).to_have_text("Approved: 3")
    expect(page.locator("#batch-rows tbody .state-approved")).to_have_count(3)
    expect(page.locator("#batch-cancel")).to_be_visible()  # approved rows not started may still be cancelled
    tab.assert_held(before)
    _assert_poll_interval(tab, FAST_POLL)

    before = tab.hold("h1", once=["#batch-rows", "#batch-summary", "#live-poll"])
    bulk.cancel_batch(batch_id=pending_batch.pk, user=engineer)
    expect(summary).to_have_text("Cancelled: 3")
    expect(page.locator("#batch-cancel")).to_have_count(0)  # nothing left to cancel: the button goes
    _assert_poll_slowed_and_forgot(tab, before, "batch")
    expect(summary).to_have_text("Cancelled: 3")
    tab.assert_clean()


# --- Swaps that push a URL, and Back on a history-cache miss -------------------------------------


def test_paging_sorting_and_filtering_the_list_push_once_each_and_back_restores_the_whole_page(
    open_tab, engineer, monkeypatch
):
    monkeypatch.setattr("peerlinks.views.links.PAGE_SIZE", 2)
    gateway = make_gateway(name="gw-e2e")
    for name, status in (("e2e-gamma", "ACTIVE"), ("e2e-alpha", "ACTIVE"), ("e2e-beta", "ERROR")):
        make_peer_link(name=name, gateway=gateway, status=status)
    tab = open_tab(engineer, "/links/", name="list")
    page, table = tab.page, tab.page.locator("#peerlink-table")
    search = page.get_by_label("Search")
    before = tab.hold("h1", "#peerlink-filters", "nav.mainnav")

    page.locator("#pager-top").get_by_role("link", name="Next ›").click()
    expect(page).to_have_url(re.compile(r"/links/\?after=[\w-]+$"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr").first).to_contain_text("e2e-gamma")
    expect(page.locator("#pager-top")).to_contain_text("3 links")
    tab.assert_held(before, pushed=1)

    page.locator("th.sortable").get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=name(&|$)"))
    expect(table.locator("tbody tr").first).to_contain_text("e2e-alpha")
    expect(page.locator("#pager-top").get_by_role("link", name="‹ Previous")).to_have_count(0)
    tab.assert_held(before, pushed=2)
    sorted_url = page.url

    search.fill("gam")
    expect(page).to_have_url(re.compile(r"[?&]q=gam(&|$)"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("e2e-gamma")
    tab.assert_held(before, pushed=3)
    _leave_the_field(tab, search)
    tab.assert_held(before, pushed=3)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(sorted_url)
    _assert_whole_page(tab, "Peer links")
    expect(page.get_by_label("Search")).to_have_value("")
    expect(page.locator("th.sorted")).to_have_text("Name ▲")
    expect(page.locator("#peerlink-table")).to_have_count(1)
    expect(page.locator("#peerlink-table tbody tr")).to_have_count(2)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"/links/\?after=[\w-]+$"))
    _assert_whole_page(tab, "Peer links")
    expect(page.locator("#peerlink-table tbody tr").first).to_contain_text("e2e-gamma")

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"/links/$"))
    _assert_whole_page(tab, "Peer links")
    expect(page.locator("#peerlink-table tbody tr")).to_have_count(2)
    assert page.evaluate("window.__same") is True, "Back reloaded the page instead of htmx restoring it"

    # The restored page works like the first: filtering swaps the table in place again.
    tab.hold("h1", "#peerlink-filters")
    page.get_by_label("Search").fill("beta")
    expect(page).to_have_url(re.compile(r"[?&]q=beta(&|$)"))
    expect(page.locator("#peerlink-table tbody tr")).to_have_count(1)
    expect(page.locator("#peerlink-table")).to_contain_text("e2e-beta")
    now = tab.state()
    assert now["same"] and now["lost"] == [], f"the restored page did not filter in place: {now}"
    filters = page.locator("#peerlink-filters")
    filters.get_by_label("Status").select_option("ACTIVE")
    expect(page).to_have_url(re.compile(r"[?&]status=ACTIVE(&|$)"))
    expect(page.locator("#peerlink-table")).to_contain_text("No peer link matches.")
    filters.get_by_label("Show gone").check()
    expect(page).to_have_url(re.compile(r"[?&]show_gone=on(&|$)"))
    tab.assert_held(now, pushed=2)
    # Each swap put one address in the bar, each Back the one before; never a fragment's URL.
    shown = _addresses(tab)
    expected = [
        r"/links/",
        r"/links/\?after=[\w-]+",
        r"/links/\?sort=name",
        r"/links/\?q=gam&.*sort=name",
        r"/links/\?sort=name",
        r"/links/\?after=[\w-]+",
        r"/links/",
        r"/links/\?q=beta&.*",
        r"/links/\?q=beta&.*status=ACTIVE.*",
        r"/links/\?q=beta&.*status=ACTIVE.*show_gone=on.*",
    ]
    assert len(shown) == len(expected) and all(map(re.fullmatch, expected, shown)), shown
    tab.assert_clean()


def test_the_topology_filter_swaps_the_map_pushes_the_url_and_back_restores_the_whole_page(
    open_tab, engineer
):
    gateway = make_gateway(name="gw-topo")
    router = make_router(name="er-topo-ok")
    broken = make_router(name="er-topo-broken")
    make_peer_link(name="topo-ok", gateway=gateway, peer_gateway_id=router.cloud_id)
    make_peer_link(name="topo-broken", gateway=gateway, peer_gateway_id=broken.cloud_id, status="ERROR")
    tab = open_tab(engineer, "/topology/", name="topology")
    page = tab.page
    edges = page.locator("#topology-edges > a")
    expect(edges).to_have_count(2)
    before = tab.hold("h1", "#topology-filters")

    search = page.locator("#topology-filters").get_by_label("Search")
    search.fill("topo-ok")
    expect(page).to_have_url(re.compile(r"[?&]q=topo-ok(&|$)"))
    expect(edges).to_have_count(1)
    tab.assert_held(before, pushed=1)
    _leave_the_field(tab, search)
    tab.assert_held(before, pushed=1)

    search.fill("")
    expect(page).to_have_url(re.compile(r"[?&]q=&"))
    expect(edges).to_have_count(2)
    tab.assert_held(before, pushed=2)
    page.locator("#topology-filters").get_by_label("Status").select_option("ERROR")
    expect(page).to_have_url(re.compile(r"[?&]status=ERROR(&|$)"))
    expect(edges).to_have_count(1)
    expect(page.locator('#topology-edges > a[aria-label*="ERROR"]')).to_have_count(1)
    tab.assert_held(before, pushed=3)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"[?&]q=&"))
    _assert_whole_page(tab, "Topology")
    expect(page.locator("#topology-filters").get_by_label("Status")).to_have_value("")
    expect(edges).to_have_count(2)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"[?&]q=topo-ok(&|$)"))
    _assert_whole_page(tab, "Topology")
    expect(page.locator("#topology-filters").get_by_label("Search")).to_have_value("topo-ok")
    expect(edges).to_have_count(1)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"/topology/$"))
    _assert_whole_page(tab, "Topology")
    expect(page.locator("#topology-filters").get_by_label("Status")).to_have_value("")
    expect(page.locator("#topology-map")).to_have_count(1)
    expect(edges).to_have_count(2)
    tab.assert_clean()


def test_audit_filters_and_pager_swap_the_table_push_once_each_and_back_restores_the_whole_page(
    open_tab, engineer, monkeypatch
):
    from peerlinks.services.audit import record_audit

    monkeypatch.setattr("peerlinks.views.audit.PAGE_SIZE", 2)
    link = make_peer_link(name="e2e-audited")
    for action in ("e2e.first", "e2e.second", "e2e.second"):
        record_audit(action=action, actor=engineer, obj=link)
    tab = open_tab(engineer, "/audit/", name="audit")
    page, rows = tab.page, tab.page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(2)
    before = tab.hold("h1", "#audit-filters", "nav.mainnav")

    page.locator("#pager-top").get_by_role("link", name="Next ›").click()
    expect(page).to_have_url(re.compile(r"/audit/\?page=2$"))
    expect(rows).to_have_count(1)
    tab.assert_held(before, pushed=1)

    page.locator("#audit-filters").get_by_label("Action").select_option("e2e.first")
    expect(page).to_have_url(re.compile(r"[?&]action=e2e\.first(&|$)"))
    expect(rows).to_have_count(1)
    expect(page.locator("#audit-table")).to_contain_text("e2e.first")
    tab.assert_held(before, pushed=2)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"/audit/\?page=2$"))
    _assert_whole_page(tab, "Audit log")
    expect(page.locator("#audit-filters").get_by_label("Action")).to_have_value("")
    expect(page.locator("#pager-top")).to_contain_text("Page 2 of 2")
    tab.assert_clean()


def test_the_change_list_filter_swaps_the_rows_pushes_the_url_and_back_restores_the_whole_page(
    open_tab, engineer
):
    from peerlinks.models import ChangeRequest

    gateway = make_gateway(name="gw-changes")
    for name, state in (("e2e-made", "done"), ("e2e-broke", "failed")):
        ChangeRequest.objects.create(
            kind="create", requested_by=engineer, gateway=gateway, payload={"name": name}, state=state
        )
    tab = open_tab(engineer, "/changes/", name="changes")
    page, rows = tab.page, tab.page.locator("#change-rows tbody tr")
    expect(rows).to_have_count(2)
    before = tab.hold("h1", "form.filters", "nav.mainnav")

    page.locator("form.filters select[name=state]").select_option("failed")
    expect(page).to_have_url(re.compile(r"[?&]state=failed(&|$)"))
    expect(rows).to_have_count(1)
    expect(page.locator("#change-rows")).to_contain_text("e2e-broke")
    tab.assert_held(before, pushed=1)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"/changes/$"))
    _assert_whole_page(tab, "Change requests")
    expect(page.locator("form.filters select[name=state]")).to_have_value("")
    expect(rows).to_have_count(2)
    tab.assert_clean()


def test_the_lead_period_swaps_its_section_pushes_days_and_back_restores_the_whole_page(open_tab, lead):
    tab = open_tab(lead, "/lead/", name="lead")
    page = tab.page
    period = page.locator("#lead-period select[name=days]")
    expect(period).to_have_value("30")
    before = tab.hold("h1", "#lead-stats", "#pending-approvals", "#status-matrix", "#lead-errors")

    period.select_option("7")
    expect(page).to_have_url(re.compile(r"/lead/\?days=7$"))
    expect(page.locator("#provisioning h2")).to_have_text("Provisioning time, last 7 days")
    expect(page.locator("#lead-period")).to_have_count(1)
    tab.assert_held(before, pushed=1)

    _back_on_a_history_cache_miss(tab)
    expect(page).to_have_url(re.compile(r"/lead/$"))
    _assert_whole_page(tab, "Team lead view")
    expect(page.locator("#lead-stats")).to_be_visible()
    expect(page.locator("#lead-period select[name=days]")).to_have_value("30")
    expect(page.locator("#provisioning h2")).to_have_text("Provisioning time, last 30 days")
    tab.assert_clean()


# --- Swaps in place without a URL: notices, dashboard, link page, create form ---------------------


def test_marking_notices_read_swaps_the_list_and_updates_the_nav_count(open_tab, engineer):
    from peerlinks.models import Notice

    notices = [Notice.objects.create(user=engineer, message=f"e2e notice {n}") for n in range(3)]
    tab = open_tab(engineer, "/notices/", name="notices", calls=["/notices/read/"])
    page = tab.page
    nav_count = page.locator("#nav-notices .count-badge")
    menu_count = page.locator("#nav-menu-count .count-badge")  # a phone's Menu toggle
    expect(nav_count).to_have_text("3")
    expect(menu_count).to_have_text("3")
    before = tab.hold("h1", "nav.mainnav", "header.topbar", "#nav-notices")

    page.locator(f"#notice-{notices[1].pk}").get_by_role("button", name="Mark read").click()
    expect(page.locator(f"#notice-{notices[1].pk}")).to_have_class(re.compile(r"\bread\b"))
    expect(nav_count).to_have_text("2")
    expect(menu_count).to_have_text("2")
    expect(page.locator("#nav-notices")).to_have_attribute("aria-current", "page")
    expect(page.locator("#notice-list")).to_contain_text("2 unread notices.")
    tab.assert_held(before)

    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#notice-list")).to_contain_text("Nothing unread.")
    expect(nav_count).to_have_count(0)
    expect(menu_count).to_have_count(0)
    expect(page.locator("#nav-notices")).to_have_count(1)
    expect(page.locator("#notice-list")).to_have_count(1)
    tab.assert_held(before)
    tab.assert_clean()


def test_the_refresh_button_and_drift_acknowledge_swap_only_their_element(open_tab, engineer):
    from peerlinks.models import Drift

    drifts = [
        Drift.objects.create(peer_link=make_peer_link(name=name), kind="created", detail={"name": name})
        for name in ("e2e-drift-one", "e2e-drift-two")
    ]
    tab = open_tab(engineer, "/", name="dashboard", calls=["/refresh/", r"/drift/\d+/acknowledge/"])
    page = tab.page
    before = tab.hold("h1", "#status-counts", "#sync-status")

    page.get_by_role("button", name="Refresh from cloud").click()
    expect(page.locator("#sync-control")).to_contain_text("Sync queued")
    expect(page.locator("#sync-control")).to_have_count(1)
    tab.assert_held(before)

    # The queued sync changes what the dashboard's live poll reports, and the poll may swap the drift list
    # in anew (by design): after a poll cycle, hold it from here, for the Acknowledge.
    page.wait_for_timeout(2500)
    before = tab.hold("h1", "#status-counts", "#drift h2", f"#drift-{drifts[0].pk}")
    page.locator(f"#drift-{drifts[1].pk}").get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"#drift-{drifts[1].pk}")).to_contain_text("Acknowledged by engineer1")
    expect(page.locator(f"#drift-{drifts[1].pk}")).to_have_count(1)
    expect(page.locator(f"#drift-{drifts[0].pk}").get_by_role("button", name="Acknowledge")).to_be_visible()
    tab.assert_held(before)
    tab.forgive_replaced_poll()
    tab.assert_clean()

    gateways = open_tab(engineer, "/gateways/", name="gateways", calls=["/refresh/"])
    before = gateways.hold("h1", "section.card")
    gateways.page.get_by_role("button", name="Refresh from cloud").click()
    expect(gateways.page.locator("#sync-control")).to_contain_text("Sync queued")
    expect(gateways.page.locator("#sync-control")).to_contain_text("This page updates when it finishes.")
    gateways.assert_held(before)
    gateways.assert_clean()


def test_saving_local_fields_swaps_only_their_panel(open_tab, engineer):
    link = make_peer_link(name="e2e-local")
    path = f"/links/{link.cloud_id}/"
    tab = open_tab(engineer, path, name="link", calls=[f"/links/{link.cloud_id}/local/"])
    page = tab.page
    before = tab.hold("h1", "#link-fields", "#status-timeline", "#link-changes")

    panel = page.locator("#local-fields")
    panel.get_by_text("Edit local fields").click()
    panel.get_by_label("Owner team").fill("e2e-netops")
    panel.get_by_role("button", name="Save").click()
    expect(panel.get_by_role("status")).to_have_text("Saved.")
    expect(panel.locator("dl")).to_contain_text("e2e-netops")
    expect(page.locator("#local-fields")).to_have_count(1)
    tab.assert_held(before)
    tab.assert_clean()


def test_choosing_gateway_type_and_region_reloads_only_the_peer_select(open_tab, engineer, settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-south-1"]
    gateway = make_gateway(name="gw-create", region="cn-north-4")
    make_router(name="er-north", region="cn-north-4")
    make_router(name="er-south", region="cn-south-1")
    tab = open_tab(engineer, "/links/new/", name="create form", calls=["/links/new/peers/"])
    page = tab.page
    page.get_by_label("Name", exact=True).fill("e2e-typed-first")
    before = tab.hold("h1", "#create-form", "#field-gateway", "#field-name input", "#field-description")
    peer = page.locator("#field-peer select")
    asked = tab.polls("/links/new/peers/")
    reloading = page.locator("#create-form .htmx-request")

    page.get_by_label("Gateway").select_option(gateway.cloud_id)
    expect(reloading).to_have_count(0)
    expect(peer.locator("option", has_text="er-north")).to_have_count(1)
    page.get_by_label("Peer region").select_option("cn-south-1")
    expect(reloading).to_have_count(0)
    expect(peer.locator("option", has_text="er-south")).to_have_count(1)
    expect(peer.locator("option", has_text="er-north")).to_have_count(0)
    page.get_by_label("Peer type").select_option("GDGW")
    expect(page.locator("#field-peer label")).to_contain_text("global DC gateway in cn-south-1")

    assert tab.polls("/links/new/peers/") - asked == 3
    expect(page.get_by_label("Name", exact=True)).to_have_value("e2e-typed-first")
    expect(page.locator("#field-peer")).to_have_count(1)
    tab.assert_held(before)
    tab.assert_clean()
