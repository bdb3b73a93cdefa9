"""Bulk create in a real browser: an engineer uploads a CSV of 20 links, checks the preview and asks for them
as one batch; a lead approves the batch once in another browser; the engineer's batch page, through the
page's one poll, shows every row done and every link ACTIVE without a reload, its address and history
untouched."""

import io
import os
import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REGION
from tests.e2e.conftest import person as _person

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = 20


@pytest.fixture
def bulk_cloud(fast_cloud: dict) -> dict:
    """A gateway with room for the batch, and a router for each row (a gateway links to a peer once)."""
    from django.core.management import call_command

    sim = fast_cloud["simulator"].sim
    sim.add_gateway(name="gdgw-bulk", region=REGION, quota=ROWS + 5)
    for n in range(1, ROWS + 1):
        sim.add_router(name=f"er-bulk-{n:02}", region=REGION)
    call_command("sync_peerlinks", stdout=io.StringIO())
    return fast_cloud


def _csv() -> bytes:
    lines = ["gateway,peer,name,description,owner,ticket"]
    lines += [f"gdgw-bulk,er-bulk-{n:02},bulk-{n:02},row {n},team-bulk,CHG-2026" for n in range(1, ROWS + 1)]
    return ("\n".join(lines) + "\n").encode()


def _shoot(page: Page, name: str) -> None:
    """Screenshots at a wide and a phone width, looked at by hand (in SCREENSHOTS, else /tmp; not kept)."""
    folder = os.environ.get("SCREENSHOTS") or "/tmp"
    os.makedirs(folder, exist_ok=True)
    for width in (1400, 360):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=os.path.join(folder, f"e2e-bulk-{name}-{width}.png"), full_page=width > 360)
    page.set_viewport_size({"width": 1280, "height": 720})


def test_a_20_row_upload_becomes_one_batch_one_approval_and_20_active_links(bulk_cloud, worker, login_as):
    started = time.monotonic()
    engineer = login_as(_person("e2e-bulk-eng", "Engineer"))
    lead = login_as(_person("e2e-bulk-lead", "Approver"))

    engineer.goto("/links/")
    engineer.get_by_role("link", name="Create in bulk").click()
    expect(engineer).to_have_url(re.compile("/batches/new/$"))
    engineer.get_by_label("File (CSV or YAML)").set_input_files(
        {"name": "links.csv", "mimeType": "text/csv", "buffer": _csv()}
    )
    engineer.get_by_role("button", name="Check the rows").click()
    preview = engineer.locator("#batch-preview")
    expect(preview.locator(".batch-verdict")).to_have_text(f"{ROWS} rows can be asked for.")
    expect(preview.locator("#preview-rows tbody tr.row-ok")).to_have_count(ROWS)
    expect(preview.locator("#preview-quotas")).to_contain_text(f"{ROWS} of {ROWS + 5}")
    _shoot(engineer, "preview")
    engineer.get_by_role("button", name=f"Ask for {ROWS} links").click()
    expect(engineer).to_have_url(re.compile(r"/batches/\d+/$"))
    batch_url = engineer.url
    summary = engineer.locator("#batch-summary")
    expect(summary).to_have_text(f"Pending approval: {ROWS}")
    engineer.evaluate("window.__e2eSamePage = true")
    history = engineer.evaluate("history.length")
    asked = []  # what the page's htmx asks from now on: its one poll only
    engineer.on("request", lambda r: r.headers.get("hx-request") and asked.append(urlsplit(r.url).path))
    _shoot(engineer, "pending")

    # The lead sees one item in the queue, not twenty, and approves it with one click.
    lead.goto("/approvals/")
    batches = lead.locator("#waiting-batches tbody tr")
    expect(batches).to_have_count(1)
    expect(batches).to_contain_text(f"Create {ROWS} links")
    expect(lead.locator("#nav-approvals .count-badge")).to_have_text("1")
    _shoot(lead, "queue")
    batches.get_by_role("link").click()
    lead.get_by_role("button", name="Approve all").click()
    expect(lead.locator(".messages")).to_contain_text("You approved every pending row of this batch.")

    # The engineer's page follows every row to the end on its own: several poll cycles, one page.
    seen = set()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        text = summary.inner_text()
        seen.add(text)
        if text == f"Done: {ROWS}":
            break
        if "Executing" in text and not any("Executing" in earlier for earlier in seen - {text}):
            _shoot(engineer, "running")  # rows on their way, once
        engineer.wait_for_timeout(250)
    expect(summary).to_have_text(f"Done: {ROWS}")
    assert len(seen) >= 3, seen  # pending, then approved/executing, then done: the poll swapped it in
    rows = engineer.locator("#batch-rows tbody tr")
    expect(rows).to_have_count(ROWS)
    expect(engineer.locator("#batch-rows .badge.status-active")).to_have_count(ROWS)
    assert engineer.url == batch_url
    assert engineer.evaluate("window.__e2eSamePage === true")
    assert engineer.evaluate("history.length") == history
    assert asked and set(asked) == {"/live/"}, asked  # the batch has no poll of its own
    expect(engineer.locator(".live-panel")).to_have_count(0)  # every row final: not followed any more
    _shoot(engineer, "done")
    engineer.goto("/links/")
    expect(engineer.locator("input[type=checkbox][form=bulk-delete]")).to_have_count(ROWS)
    _shoot(engineer, "list")

    from peerlinks.models import Notice, PeerLink

    # One decision, told once (each row still tells how it ended, as any change does).
    told = Notice.objects.filter(user__username="e2e-bulk-eng")
    assert told.filter(kind="batch_approved").count() == 1 and not told.filter(kind="approved").exists()
    lead_told = Notice.objects.filter(user__username="e2e-bulk-lead")
    assert list(lead_told.values_list("kind", flat=True)) == ["batch_submitted"]

    links = PeerLink.objects.filter(name__startswith="bulk-")
    assert sorted(links.values_list("status", flat=True)) == ["ACTIVE"] * ROWS
    assert set(links.values_list("owner_team", "ticket_ref")) == {("team-bulk", "CHG-2026")}
    print(f"bulk e2e: {time.monotonic() - started:.1f} s")
