"""Every page a person can reach, checked in a real browser: axe-core finds no serious or critical WCAG 2.1 AA
violation (light and dark, in every language), nothing scrolls the page sideways at 360 px, and the main
things are done by keyboard alone with a visible focus.

axe-core comes from the pinned `axe-playwright-python` package (it ships axe.min.js): nothing is downloaded
at test time and the version moves only when requirements-dev.txt does.
"""

import datetime
import os
import re
from collections.abc import Callable, Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.conftest import make_gateway, make_peer_link, make_router
from tests.e2e.conftest import PASSWORD, TIMEOUT_MS, request_link, words_broken_in_tables

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Languages the pages are checked in, chosen by the browser's Accept-Language (its locale).
LANGUAGES = ["en", "zh-Hans"]
SCHEMES = ["light", "dark"]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 360, "height": 740}
TABLET = {"width": 768, "height": 1024}
# SCREENSHOTS: a folder to keep a picture of every page the checks visit (to look at, or for the README).
SCREENSHOTS = os.environ.get("SCREENSHOTS", "")
DESKTOP = {"width": 1280, "height": 900}


def _person(username: str, *roles: str):
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user = get_user_model().objects.create_user(username, password=PASSWORD, email=f"{username}@example.net")
    user.groups.set([ensure_role(role) for role in roles])
    return user


@pytest.fixture
def world(transactional_db) -> dict:
    """A cache with something on every page: links in each status, changes in each state, drift, audit
    events and notices. The lead (Engineer and Approver) sees it all; the viewer meets the 403 page."""
    from django.utils import timezone

    from peerlinks.models import Approval, AuditEvent, ChangeBatch, ChangeRequest, Comment, Drift, Notice
    from peerlinks.services import tokens
    from tests.conftest import set_policy

    set_policy(approvals_create=1, approvals_update=1, approvals_delete=1, window_enabled=False)
    lead = _person("a11y-lead", "Engineer", "Approver")
    engineer = _person("a11y-engineer", "Engineer")
    _person("a11y-viewer", "Viewer")
    gateway = make_gateway(name="gdgw-a11y-main")
    make_gateway(name="gdgw-a11y-spare", status="ERROR", region="ap-southeast-1")
    routers = [make_router(name=f"er-a11y-{n}") for n in range(3)]
    links = [
        make_peer_link(name="pl-a11y-active", gateway=gateway, peer_gateway_id=routers[0].cloud_id),
        make_peer_link(
            name="pl-a11y-pending",
            gateway=gateway,
            status="PENDING_CREATE",
            peer_gateway_id=routers[1].cloud_id,
        ),
        make_peer_link(
            name="pl-a11y-error", gateway=gateway, status="ERROR", peer_gateway_id=routers[2].cloud_id
        ),
    ]
    now = timezone.now()
    changed = Drift.objects.create(
        peer_link=links[0],
        kind="changed",
        detail={"name": {"before": "pl-a11y-old", "after": "pl-a11y-active"}},
    )
    created = Drift.objects.create(peer_link=links[2], kind="created", detail={"name": links[2].name})
    payload = {
        "name": "pl-a11y-new",
        "description": "to the new router",
        "peer_type": "ER",
        "peer_gateway_id": routers[2].cloud_id,
        "peer_region": "cn-north-4",
    }

    def change(state: str, **fields: object) -> ChangeRequest:
        values = {"kind": "create", "requested_by": engineer, "gateway": gateway, "payload": payload}
        values.update(approvals_required=1, state=state, **fields)
        return ChangeRequest.objects.create(**values)

    pending = change("pending_approval", expires_at=now + datetime.timedelta(days=7))
    batch = ChangeBatch.objects.create(kind="create", requested_by=engineer)
    for name in ("pl-a11y-bulk-1", "pl-a11y-bulk-2"):
        change("pending_approval", batch=batch, payload={**payload, "name": name})
    Comment.objects.create(change_request=pending, author=engineer, body="Needed for the migration.")
    approved = change("approved", not_before=now + datetime.timedelta(hours=3))
    Approval.objects.create(
        change_request=approved, approver=lead, decision="approve", comment="Fine.", payload_digest="x"
    )
    done = change("done", peer_link=links[0], started_at=now, finished_at=now, attempts=1)
    failed = change(
        "failed",
        started_at=now,
        finished_at=now,
        attempts=1,
        error_code="DC.1001",
        error_msg="The enterprise router is not available.",
    )
    for event in ("change.submit", "change.approve", "peerlink.update_local"):
        AuditEvent.objects.create(
            actor=engineer,
            actor_name=engineer.username,
            action=event,
            object_type="change_request",
            object_id=str(pending.pk),
            object_repr=str(pending),
            change_request=pending,
            before={"name": "a"},
            after={"name": "b"},
            cloud_request_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        )
    Notice.objects.create(
        user=lead, change_request=pending, message=f"{engineer.username} asks for {pending}."
    )
    Notice.objects.create(user=lead, change_request=done, message=f"{done} is done.", read_at=now)
    tokens.create_token(user=lead, name="nightly export to the capacity report", scope="read_only", days=30)
    tokens.revoke_token(
        token_id=tokens.create_token(user=lead, name="old pipeline", scope="read_write", days=7).token.pk,
        user=lead,
    )
    return {
        "gateway": gateway,
        "links": links,
        "pending": pending,
        "batch": batch,
        "approved": approved,
        "done": done,
        "failed": failed,
        "changed": changed,
        "created": created,
    }


# an address with nothing at it: a link that does not exist
MISSING = "/links/00000000-0000-4000-8000-000000000000/"


def others_pages(world: dict) -> list[tuple[str, str, str]]:
    """(who, what, path) of the pages only someone else meets: the requester's edit form, a viewer's 403."""
    return [
        ("a11y-engineer", "change edit form", f"/changes/{world['pending'].pk}/edit/"),
        ("a11y-viewer", "403", "/links/new/"),
    ]


def pages(world: dict) -> list[tuple[str, str]]:
    """(what, path) of every page the lead can reach, in the order a person might."""
    link, gateway = world["links"][0], world["gateway"]
    return [
        ("dashboard", "/"),
        ("link list", "/links/"),
        ("link list, nothing matches", "/links/?q=no-such-link"),
        ("link page", f"/links/{link.cloud_id}/"),
        ("link page, in error", f"/links/{world['links'][2].cloud_id}/"),
        ("create form", "/links/new/"),
        ("edit form", f"/links/{link.cloud_id}/edit/"),
        ("delete form", f"/links/{link.cloud_id}/delete/"),
        ("gateway list", "/gateways/"),
        ("gateway page", f"/gateways/{gateway.cloud_id}/"),
        ("topology", "/topology/"),
        ("change list", "/changes/"),
        ("change, pending approval", f"/changes/{world['pending'].pk}/"),
        ("change, approved", f"/changes/{world['approved'].pk}/"),
        ("change, done", f"/changes/{world['done'].pk}/"),
        ("change, failed", f"/changes/{world['failed'].pk}/"),
        ("approval queue", "/approvals/"),
        ("bulk upload", "/batches/new/"),
        ("batch, pending approval", f"/batches/{world['batch'].pk}/"),
        ("team lead view", "/lead/"),
        ("audit log", "/audit/"),
        ("notices", "/notices/"),
        ("API tokens", "/account/api-tokens/"),
        ("search results", "/search/?q=a11y"),
        ("adopting a link made outside dcportal", f"/drift/{world['created'].pk}/adopt/"),
        ("reverting a change made outside dcportal", f"/drift/{world['changed'].pk}/revert/"),
    ]


def _server_validates(page: Page) -> None:
    """Turn off the browser's own checks of `required` fields, so the server's errors are shown."""
    page.evaluate("document.querySelectorAll('form').forEach(form => form.noValidate = true)")


def _log_in(page: Page, username: str, password: str) -> None:
    """Fill in and send the login form (by its fields, so in any language)."""
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form[action$='/login/'] button[type=submit]").click()


def _logging_in(page: Page) -> Iterator[str]:
    """The login page as it opens, then after a wrong password; yield what is shown."""
    yield "login"
    _log_in(page, "a11y-lead", "not-the-password")
    expect(page.locator(".card.narrow .error")).to_be_visible()
    yield "login with a wrong password"


def _forms_with_errors(page: Page, world: dict) -> Iterator[str]:
    """Leave the page on each form showing its errors; yield what is shown."""
    page.goto("/links/new/")
    _server_validates(page)
    page.locator("#create-form .actions button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    yield "create form with errors"
    page.goto(f"/links/{world['links'][0].cloud_id}/delete/")
    _server_validates(page)
    page.locator("#id_confirm_name").fill("not-its-name")
    page.locator("form.change-form button[type=submit]").click()
    expect(page.locator("#delete-form .field-error").first).to_be_visible()
    yield "delete form with errors"
    page.goto(f"/changes/{world['pending'].pk}/")
    page.locator("#change-decision button[formaction$='/reject/']").click()
    expect(page.locator("#change-decision .field-error")).to_be_visible()
    yield "reject without a comment"
    page.goto("/batches/new/")
    rows = ["gateway,peer,name,owner", "gdgw-a11y-main,er-a11y-0,pl-a11y-again,net", "gdgw-a11y-main,nope,x,"]
    page.locator("#id_text").fill("\n".join(rows))
    page.locator("#batch-upload button[type=submit]").click()
    expect(page.locator("#preview-rows .row-refused")).to_have_count(2)
    yield "bulk preview with refused rows"


@pytest.fixture
def open_as(browser: Browser, live_server) -> Iterator[Callable[..., Page]]:
    """A fresh browser context per person, language and look; logged in through the form."""
    contexts = []

    def open_as(username: str | None, **options: object) -> Page:
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        if username:
            _log_in(page, username, PASSWORD)
            expect(page.locator(".whoami")).to_have_text(username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def _shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{slug}.png"), full_page=True)


# ids named by aria-describedby, aria-labelledby or a label's `for` that are not in the page
DANGLING = """[...document.querySelectorAll('[aria-describedby], [aria-labelledby], label[for]')]
  .flatMap(el => ['aria-describedby', 'aria-labelledby', 'for']
    .flatMap(name => (el.getAttribute(name) || '').split(/\\s+/))
    .filter(id => id && !document.getElementById(id))
    .map(id => `${el.outerHTML.slice(0, 80)} names #${id}`))"""
# the page's background as light (1) or dark (0): the look the browser asked for must be the one drawn
BACKGROUND_IS_LIGHT = """(() => {
  const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
  return (r + g + b) / 3 > 128 ? 1 : 0;
})()"""


def _serious(page: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now, one line each."""
    results = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(
            " ".join(node["target"]) + " " + node.get("failureSummary", "").replace("\n", " ")
            for node in v["nodes"][:4]
        )
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_axe_finds_no_serious_violation_on_any_page(open_as, world, language, scheme):
    look = {"locale": language, "color_scheme": scheme, "viewport": DESKTOP}
    found: dict[str, list[str]] = {}

    def check(page: Page, what: str) -> None:
        found[what] = _serious(page) + [f"missing id: {line}" for line in page.evaluate(DANGLING)]
        if page.evaluate(BACKGROUND_IS_LIGHT) != (scheme == "light"):
            found[what].append(f"the page is not drawn {scheme}")
        _shot(page, f"{language}-{scheme}-{what}")

    logged_out = open_as(None, **look)
    for what in _logging_in(logged_out):
        check(logged_out, what)
    for who, what, path in others_pages(world):
        other = open_as(who, **look)
        other.goto(path)
        check(other, what)
    page = open_as("a11y-lead", **look)
    for what, path in pages(world):
        response = page.goto(path)
        assert response.status == 200, f"{what}: {path} answered {response.status}"
        check(page, what)
    for what in _forms_with_errors(page, world):
        check(page, what)
    assert page.goto(MISSING).status == 404
    check(page, "page not found")

    problems = {what: lines for what, lines in found.items() if lines}
    assert not problems, "\n".join(f"{what}:\n  " + "\n  ".join(lines) for what, lines in problems.items())


def _sideways(page: Page) -> int:
    """How far the page scrolls sideways (0 when it fits)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("device", "viewport", "language"),
    [
        pytest.param("phone", PHONE, "en", id="phone"),
        pytest.param("tablet", TABLET, "en", id="tablet"),
        pytest.param("phone-zh", PHONE, "zh-Hans", id="phone-zh"),
    ],
)
def test_every_page_fits_a_phone_and_a_tablet_without_sideways_scrolling(
    open_as, world, device, viewport, language
):
    """Nothing scrolls the page sideways (a wide table scrolls in its card), and in Chinese no table column
    is squeezed to a character a line."""
    found: dict[str, int] = {}
    broken: dict[str, list[str]] = {}

    def check(page: Page, what: str) -> None:
        found[what] = _sideways(page)
        broken[what] = words_broken_in_tables(page)
        _shot(page, f"{device}-{what}")

    look = {"viewport": viewport, "locale": language}
    logged_out = open_as(None, **look)
    for what in _logging_in(logged_out):
        check(logged_out, what)
    for who, what, path in others_pages(world):
        other = open_as(who, **look)
        other.goto(path)
        check(other, what)
    page = open_as("a11y-lead", **look)
    for what, path in pages(world):
        page.goto(path)
        check(page, what)
    for what in _forms_with_errors(page, world):
        check(page, what)
    page.goto(MISSING)
    check(page, "page not found")
    wide = {what: px for what, px in found.items() if px > 0}
    assert not wide, f"pages scrolling sideways on a {device} (by px): {wide}"
    squeezed = {what: words for what, words in broken.items() if words}
    assert not squeezed, f"words broken over lines in a table on a {device}: {squeezed}"


def test_the_navigation_folds_behind_menu_on_a_phone_even_without_javascript(open_as, world):
    wide = open_as("a11y-lead", viewport=DESKTOP)
    expect(wide.get_by_role("navigation", name="Main").get_by_role("link", name="Peer links")).to_be_visible()
    expect(wide.locator(".navmenu > summary")).to_be_hidden()

    phone = open_as("a11y-lead", viewport=PHONE, java_script_enabled=False)
    menu = phone.get_by_text("Menu", exact=True)
    nav = phone.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Peer links")).to_be_hidden()
    expect(phone.get_by_role("button", name="Log out")).to_be_hidden()
    closed_at = menu.bounding_box()
    menu.click()
    expect(nav.get_by_role("link", name="Peer links")).to_be_visible()
    assert menu.bounding_box() == closed_at, "the Menu toggle stays where it was"
    _shot(phone, "phone-menu-open")
    assert _sideways(phone) <= 0
    nav.get_by_role("link", name="Peer links").click()
    expect(phone).to_have_url(re.compile(r"/links/$"))
    expect(nav.get_by_role("link", name="Peer links")).to_be_hidden()  # folded again on the new page


def _tab_to(page: Page, matches: str, *, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies the JS predicate `matches` (given `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {matches})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element where {matches}")


def _outline(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.activeElement).outlineStyle")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_by_keyboard_alone_log_in_open_a_link_from_the_topology_and_save_its_fields(open_as, world, scheme):
    page = open_as(None, viewport=DESKTOP, color_scheme=scheme)
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("a11y-lead")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator(".whoami")).to_have_text("a11y-lead")

    page.goto("/topology/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert _outline(page) == "solid"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null"), (
        "Skip to content skips the navigation"
    )
    link = world["links"][0]
    _tab_to(page, f"el.dataset.link === '{link.cloud_id}'")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == f"Peer link {link.name} (ACTIVE)"
    stroke = page.evaluate("getComputedStyle(document.activeElement.querySelector('.topo-edge')).strokeWidth")
    assert stroke == "5px", "the focused line is drawn thicker"
    _shot(page, f"keyboard-{scheme}-topology-focus")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/links/{link.cloud_id}/$"))

    _tab_to(page, "el.tagName === 'SUMMARY' && el.textContent.includes('Edit local fields')")
    assert _outline(page) == "solid", "the focused control shows a focus outline"
    page.keyboard.press("Enter")
    _tab_to(page, "el.name === 'owner_team'")
    assert _outline(page) == "solid"
    page.keyboard.type("netops-east")
    page.keyboard.press("Enter")
    expect(page.locator("#local-fields dd").first).to_have_text("netops-east")
    _shot(page, f"keyboard-{scheme}-saved")


def test_on_a_phone_a_link_is_asked_for_approved_by_a_lead_and_followed_to_active(open_as, cloud, worker):
    from tests.conftest import set_policy

    set_policy(approvals_create=1, window_enabled=False)
    _person("a11y-phone-engineer", "Engineer")
    _person("a11y-phone-lead", "Approver")
    engineer = open_as("a11y-phone-engineer", viewport=PHONE)
    change_id = request_link(engineer, cloud, router="er-e2e-ok", name="pl-from-a-phone")
    expect(engineer.locator("#change-state .badge")).to_have_text("Pending approval")
    _shot(engineer, "phone-flow-1-requested")
    assert _sideways(engineer) <= 0

    lead = open_as("a11y-phone-lead", viewport=PHONE)
    lead.get_by_text("Menu", exact=True).click()
    lead.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Approvals")).click()
    lead.get_by_role("link", name=f"#{change_id}", exact=True).click()
    lead.wait_for_url(f"**/changes/{change_id}/")  # measured once the change's page is there, not mid-way
    _shot(lead, "phone-flow-2-to-approve")
    assert _sideways(lead) <= 0
    lead.get_by_role("button", name="Approve").click()
    expect(lead.locator("#change-decision")).to_contain_text("1 of 1 approval received")

    state = engineer.locator("#change-state")
    expect(state.locator(".badge").first).to_have_text("Done")
    expect(state.locator(".badge.status-active")).to_have_text("ACTIVE")
    _shot(engineer, "phone-flow-3-active")
    assert _sideways(engineer) <= 0
    engineer.get_by_role("link", name="pl-from-a-phone").first.click()
    expect(engineer).to_have_url(re.compile(r"/links/[0-9a-f-]+/$"))
    expect(engineer.locator(".badge.status-active").first).to_have_text(re.compile("active", re.I))
    _shot(engineer, "phone-flow-4-link-page")
    assert _sideways(engineer) <= 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_status_keeps_its_own_colour_and_its_word_in_light_and_dark(open_as, world, scheme):
    page = open_as("a11y-lead", viewport=DESKTOP, color_scheme=scheme)
    page.goto("/links/")
    colours = {}
    for name, word in (
        ("pl-a11y-active", "Active"),
        ("pl-a11y-pending", "Creating"),
        ("pl-a11y-error", "Error"),
    ):
        badge = page.get_by_role("row").filter(has_text=name).locator(".badge")
        expect(badge).to_contain_text(word)  # the status is said in words, not by colour alone
        colours[word] = badge.evaluate(
            "el => getComputedStyle(el).color + ' on ' + getComputedStyle(el).backgroundColor"
        )
    assert len(set(colours.values())) == 3, f"statuses share a colour in {scheme}: {colours}"


def _choose_by_keyboard(page: Page, value: str) -> None:
    """On the focused select, press ArrowDown until `value` is chosen (each press chooses the next option)."""
    for _ in range(30):
        if page.evaluate("document.activeElement.value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"ArrowDown never reached {value!r}")


def test_by_keyboard_alone_ask_for_a_link(open_as, cloud):
    from tests.conftest import set_policy

    set_policy(approvals_create=1, window_enabled=False)
    _person("a11y-keys-engineer", "Engineer")
    page = open_as("a11y-keys-engineer", viewport=DESKTOP)
    page.goto("/links/new/")
    _tab_to(page, "el.id === 'id_gateway'")
    _choose_by_keyboard(page, cloud["gateway_id"])
    expect(page.locator("#create-form .htmx-request")).to_have_count(0)  # the peer list has reloaded
    router_id = cloud["routers"]["er-e2e-ok"]
    expect(page.locator(f'#id_peer option[value="{router_id}"]')).to_be_attached()
    _tab_to(page, "el.id === 'id_peer'")
    _choose_by_keyboard(page, router_id)
    _tab_to(page, "el.id === 'id_name'")
    page.keyboard.type("pl-by-keyboard")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
    expect(page.locator("#change-state .badge")).to_have_text("Pending approval")
    expect(page.get_by_text("pl-by-keyboard").first).to_be_visible()
