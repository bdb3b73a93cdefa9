"""Four eyes in a real browser: an engineer asks, a team lead decides in another browser, each sees the other.

Two browser contexts are two people: separate cookies, separate logins, one live server and one worker.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import person as _person
from tests.e2e.conftest import request_link

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _request_link(page: Page, cloud: dict, *, router: str, name: str) -> int:
    """Ask for a link and land on its change, waiting for approval."""
    change_id = request_link(page, cloud, router=router, name=name)
    expect(page.locator("#change-state .badge")).to_have_text("Pending approval")
    return change_id


def _mark_page(page: Page) -> None:
    """A flag that survives htmx swaps but not a reload or a navigation."""
    page.evaluate("window.__e2eSamePage = true")


def _same_page(page: Page) -> bool:
    return page.evaluate("window.__e2eSamePage === true")


def _open_from_queue(page: Page, change_id: int) -> None:
    """The lead finds the request through the navigation badge and the approvals queue."""
    page.goto("/")
    expect(page.locator("#nav-approvals .count-badge")).to_have_text("1")
    page.locator("#nav-approvals").click()
    expect(page.get_by_role("heading", name="Waiting for your decision")).to_be_visible()
    page.get_by_role("link", name=f"#{change_id}", exact=True).click()
    expect(page).to_have_url(re.compile(f"/changes/{change_id}/$"))


def test_a_lead_approves_in_another_browser_and_the_engineer_sees_the_link_turn_active(
    fast_cloud, worker, login_as
):
    engineer = login_as(_person("e2e-eng", "Engineer"))
    lead = login_as(_person("e2e-lead", "Approver"))

    change_id = _request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-four-eyes")
    expect(engineer.locator("#change-decision")).to_contain_text("0 of 1 approval received")
    expect(engineer.locator("#change-decision")).to_contain_text("Who can still approve: e2e-lead")
    expect(engineer.get_by_role("button", name="Approve")).to_have_count(0)
    _mark_page(engineer)

    _open_from_queue(lead, change_id)
    lead.locator("#decision-comment").fill("Looks right.")
    lead.get_by_role("button", name="Approve").click()
    decision = lead.locator("#change-decision")
    expect(decision).to_contain_text("1 of 1 approval received")
    expect(decision).to_contain_text("Approved by e2e-lead")
    expect(decision.locator("blockquote")).to_have_text("Looks right.")
    expect(lead.get_by_role("button", name="Approve")).to_have_count(0)

    state = engineer.locator("#change-state")
    expect(state.locator(".badge").first).to_have_text("Done")
    expect(state.locator(".badge.status-active")).to_have_text("ACTIVE")
    assert _same_page(engineer), "the engineer's page reloaded instead of updating in place"

    sim = fast_cloud["simulator"].sim
    links = [link for link in list(sim.store.peer_links.values()) if link.name == "e2e-four-eyes"]
    assert len(links) == 1


def test_a_lead_rejects_with_a_comment_and_the_engineer_sees_why(fast_cloud, login_as):
    engineer = login_as(_person("e2e-eng", "Engineer"))
    lead = login_as(_person("e2e-lead", "Approver"))

    change_id = _request_link(engineer, fast_cloud, router="er-e2e-3", name="e2e-not-today")
    _mark_page(engineer)

    _open_from_queue(lead, change_id)
    decision = lead.locator("#change-decision")
    lead.get_by_role("button", name="Reject").click()
    expect(decision.locator(".field-error")).to_have_text("Say why: a rejection needs a comment.")
    expect(decision).to_contain_text("0 of 1 approval received")  # nothing was decided

    lead.locator("#decision-comment").fill("Use the other router: er-e2e-ok.")
    lead.get_by_role("button", name="Reject").click()
    expect(decision).to_contain_text("Rejected by e2e-lead")
    expect(decision.locator("blockquote")).to_have_text("Use the other router: er-e2e-ok.")
    expect(lead.get_by_role("button", name="Reject")).to_have_count(0)

    state = engineer.locator("#change-state")
    expect(state.locator(".badge").first).to_have_text("Rejected")
    expect(state).to_contain_text("Use the other router: er-e2e-ok.")
    assert _same_page(engineer), "the engineer's page reloaded instead of updating in place"
    engineer.reload()
    expect(engineer.locator("#change-decision blockquote")).to_have_text("Use the other router: er-e2e-ok.")

    sim = fast_cloud["simulator"].sim
    assert not any(link.name == "e2e-not-today" for link in list(sim.store.peer_links.values()))


def test_a_lead_who_approves_a_version_edited_since_sees_the_new_one_and_nothing_is_decided(
    fast_cloud, login_as
):
    engineer = login_as(_person("e2e-eng", "Engineer"))
    lead = login_as(_person("e2e-lead", "Approver"))
    change_id = _request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-first-name")

    _open_from_queue(lead, change_id)
    expect(lead.locator("#change-preview")).to_contain_text("e2e-first-name")
    lead.locator("#decision-comment").fill("Looks right.")
    _mark_page(lead)

    engineer.goto(f"/changes/{change_id}/edit/")
    engineer.get_by_label("Name", exact=True).fill("e2e-second-name")
    engineer.get_by_role("button", name="Save").click()
    expect(engineer).to_have_url(re.compile(f"/changes/{change_id}/$"))

    # The lead's page still shows the first name in its preview; approving it is refused, and the page
    # turns into the new version in place, with the comment kept.
    expect(lead.locator("#change-preview")).to_contain_text("e2e-first-name")
    lead.get_by_role("button", name="Approve").click()
    expect(lead.locator("#change-outdated")).to_contain_text(
        "This change was edited after you opened it: review the new version."
    )
    expect(lead.locator("#change-preview")).to_contain_text("e2e-second-name")
    expect(lead.locator("#change-preview h2")).to_be_in_viewport()
    expect(lead.locator("#change-outdated")).to_be_in_viewport()
    expect(lead.locator("#change-decision")).to_contain_text("0 of 1 approval received")
    expect(lead.locator("#decision-comment")).to_have_value("Looks right.")
    assert _same_page(lead), "the lead's page reloaded instead of updating in place"
    expect(lead).to_have_url(re.compile(f"/changes/{change_id}/$"))

    lead.get_by_role("button", name="Approve").click()
    expect(lead.locator("#change-decision")).to_contain_text("1 of 1 approval received")
    expect(lead.locator("#change-outdated")).to_have_count(0)
    expect(engineer.locator("#change-state .badge").first).to_have_text(re.compile("Approved|Executing|Done"))


def test_an_approver_cannot_approve_their_own_request(fast_cloud, login_as):
    lead = login_as(_person("e2e-lead", "Approver"))
    change_id = _request_link(lead, fast_cloud, router="er-e2e-ok", name="e2e-mine")

    decision = lead.locator("#change-decision")
    expect(decision).to_contain_text("You asked for this change: someone else has to approve it.")
    expect(lead.get_by_role("button", name="Approve")).to_have_count(0)
    lead.goto("/approvals/")
    expect(lead.locator("table.approval-queue")).to_contain_text("Nothing waits for your decision.")
    expect(lead.locator("#nav-approvals .count-badge")).to_have_count(0)

    # The button is not offered; posting the approve form anyway (as a page without JavaScript would) is
    # refused with the reason.
    lead.goto(f"/changes/{change_id}/")
    lead.evaluate(
        """(url) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = url;
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").cloneNode();
            form.append(token);
            document.body.append(form);
            form.submit();
        }""",
        f"/changes/{change_id}/approve/",
    )
    expect(lead.get_by_role("heading", name="You are not allowed to do this")).to_be_visible()
    expect(lead.locator("main")).to_contain_text(
        "You asked for this change: someone else has to approve or reject it."
    )

    lead.goto(f"/changes/{change_id}/")
    expect(lead.locator("#change-state .badge").first).to_have_text("Pending approval")
    expect(decision).to_contain_text("0 of 1 approval received")


SHOTS = "/tmp/i10-appr"


def _shoot(page: Page, name: str) -> None:
    """The page at desktop width and at 360 px wide, then back."""
    import os

    os.makedirs(SHOTS, exist_ok=True)
    for width in (1400, 360):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 720})


def test_a_request_too_few_people_can_approve_says_so_and_a_second_approve_already_counts(
    fast_cloud, login_as
):
    from tests.conftest import set_policy

    set_policy(approvals_create=2)
    engineer = login_as(_person("e2e-eng", "Engineer"))
    lead = login_as(_person("e2e-lead", "Approver"))

    change_id = _request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-two-needed")
    stuck = "This change cannot be approved as things stand: it needs 2 more approvals and only 1 person"
    expect(engineer.locator(".messages .warning")).to_contain_text(stuck)  # told at submission
    decision = engineer.locator("#change-decision")
    expect(decision.locator("#approval-stuck")).to_contain_text("can still approve (e2e-lead)")
    expect(decision).to_contain_text("Who can still approve: e2e-lead")
    _mark_page(engineer)

    lead.goto("/approvals/")
    row = lead.locator("table.approval-queue tr", has_text=f"#{change_id}")
    expect(row).to_contain_text("0 of 2")
    expect(row).to_contain_text("cannot complete: only e2e-lead can still approve")
    _shoot(lead, "approval-queue")
    row.get_by_role("link", name=f"#{change_id}", exact=True).click()
    lead.get_by_role("button", name="Approve").click()
    panel = lead.locator("#change-decision")
    expect(panel).to_contain_text("1 of 2 approvals received")
    expect(panel.locator("#approval-stuck")).to_contain_text("it needs 1 more approval and nobody else can")
    lead.get_by_role("button", name="Approve").click()  # again
    expect(panel.locator(".action-note")).to_have_text(
        "Your approval already counts: 1 of 2; another approver is needed."
    )
    expect(panel).to_contain_text("1 of 2 approvals received")
    _shoot(lead, "approval-already-counts")

    # The requester's page follows in place: one approval, and nobody left to give the second.
    expect(decision).to_contain_text("1 of 2 approvals received")
    expect(decision.locator("#approval-stuck")).to_contain_text("nobody else can approve it")
    assert _same_page(engineer), "the engineer's page reloaded instead of updating in place"
    _shoot(engineer, "approval-stuck-requester")

    from peerlinks.models import Approval

    assert Approval.objects.filter(change_request_id=change_id).count() == 1


def test_a_lead_runs_a_change_waiting_for_the_window_now_with_a_reason_and_it_turns_active(
    fast_cloud, worker, login_as
):
    import datetime

    from django.utils import timezone

    from tests.conftest import set_policy

    later = timezone.localtime() + datetime.timedelta(hours=3)
    set_policy(
        window_enabled=True,
        window_weekdays="1,2,3,4,5,6,7",
        window_start=later.time().replace(second=0, microsecond=0),
        window_end=(later + datetime.timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    engineer = login_as(_person("e2e-eng", "Engineer"))
    lead = login_as(_person("e2e-lead", "Approver"))
    change_id = _request_link(engineer, fast_cloud, router="er-e2e-ok", name="e2e-urgent")
    _mark_page(engineer)

    _open_from_queue(lead, change_id)
    lead.get_by_role("button", name="Approve").click()
    panel = lead.locator("#change-decision")
    expect(panel).to_contain_text("Waits for the change window")
    expect(lead.locator("#change-state .badge").first).to_have_text("Approved")
    expect(engineer.locator("#change-state .badge").first).to_have_text("Approved")
    expect(engineer.get_by_role("button", name="Run now")).to_have_count(0)  # not the requester's to skip
    _shoot(lead, "run-now-form")

    lead.get_by_role("button", name="Run now").click()  # no reason
    expect(panel.locator(".field-error")).to_have_text(
        "Say why: running a change before its window needs a reason."
    )
    expect(lead.locator("#change-state .badge").first).to_have_text("Approved")
    lead.get_by_label("Reason").fill("P1: the old link drops traffic, ticket NET-4411.")
    lead.get_by_role("button", name="Run now").click()
    expect(lead.get_by_role("button", name="Run now")).to_have_count(0)

    state = engineer.locator("#change-state")
    expect(state.locator(".badge").first).to_have_text("Done")
    expect(state.locator(".badge.status-active")).to_have_text("ACTIVE")
    expect(state).to_contain_text("change.run_now: P1: the old link drops traffic, ticket NET-4411.")
    assert _same_page(engineer), "the engineer's page reloaded instead of updating in place"
    engineer.goto("/notices/")
    expect(engineer.locator("main")).to_contain_text("run now by e2e-lead, before the change window")
