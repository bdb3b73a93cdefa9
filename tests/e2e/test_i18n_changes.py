"""Change requests and approvals in a Chinese browser: every page of the area reads in Chinese, fits a
phone without sideways scrolling, and an approval given there is answered in Chinese."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, TIMEOUT_MS, words_broken_in_tables

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# English a page of this area must no longer show in Chinese (headings, buttons, messages).
ENGLISH = (
    "Waiting for your decision",
    "Change requests",
    "Who can still approve",
    "Audit trail",
    "The change failed",
    "Gave up after",
    "Approve",
    "Comment",
    "Asked by",
)


@pytest.fixture
def chinese_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def _changes():
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from peerlinks.models import ChangeRequest
    from peerlinks.permissions import ensure_role
    from peerlinks.presentation import reasons
    from tests.conftest import make_gateway, make_project

    users = get_user_model().objects
    engineer = users.create_user("e2e-engineer", password=PASSWORD)
    engineer.groups.set([ensure_role("Engineer")])
    lead = users.create_user("e2e-lead", password=PASSWORD)
    lead.groups.set([ensure_role("Approver")])
    gateway = make_gateway(project=make_project("cn-north-4"), name="gdgw-生产")
    common = {"kind": "create", "requested_by": engineer, "gateway": gateway, "approvals_required": 2}
    payload = {"peer_type": "ER", "peer_gateway_id": "er-1", "peer_region": "cn-north-4"}
    pending = ChangeRequest.objects.create(
        **common,
        payload={**payload, "name": "pl-北京-上海"},
        expires_at=timezone.now() + timedelta(days=1),
    )
    failed = ChangeRequest.objects.create(
        **common,
        payload={**payload, "name": "pl-failed"},
        state=ChangeRequest.State.FAILED,
        error_code="PRECHECK_FAILED",
        error_msg=reasons.GAVE_UP.format(count=3, reason=reasons.NO_QUOTA),
        error_detail="ShowGlobalDcGateway: available_peer_link_count=0",
    )
    return lead.username, pending, failed


def _no_english_and_fits(page, name: str) -> None:
    text = page.locator("main").inner_text()
    for english in ENGLISH:
        assert english not in text, f"{name}: {english!r} left in English"
    for width in (1400, 360):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
        # No table column squeezed to a Chinese character a line ("创" over "建"): its table scrolls instead.
        squeezed = words_broken_in_tables(page)
        assert not squeezed, f"{name}: words broken over lines in a table at {width} px: {squeezed}"
        page.screenshot(path=f"/tmp/i10-tr3-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})


def test_changes_and_approvals_read_in_chinese_and_fit_a_phone(chinese_page):
    lead, pending, failed = _changes()
    page = chinese_page
    page.goto("/login/")
    page.get_by_label("用户名").fill(lead)
    page.get_by_label("密码").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text(lead, exact=True)).to_be_visible()

    page.goto("/approvals/")
    expect(page.get_by_role("heading", level=1)).to_have_text("待您审批")
    expect(page.locator(".approval-stuck")).to_contain_text("无法完成：只有 e2e-lead 还可以审批")
    _no_english_and_fits(page, "queue")

    page.goto("/changes/")
    expect(page.get_by_role("heading", level=1)).to_have_text("变更请求")
    expect(page.get_by_role("columnheader", name="申请时间")).to_be_visible()
    _no_english_and_fits(page, "list")

    page.goto(failed.get_absolute_url())
    expect(page.locator(".failure")).to_contain_text(
        "尝试 3 次后放弃：该网关在云上的对等连接配额已用完；未向云端发送任何操作。"
    )
    _no_english_and_fits(page, "failed")

    page.goto(pending.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text(f"变更 #{pending.pk}：创建 pl-北京-上海")
    expect(page.locator("#approval-stuck")).to_contain_text("按目前情况，此变更无法获得批准")
    _no_english_and_fits(page, "pending")

    # Approving answers in place, in Chinese; a second click is told it already counts.
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page.locator("#change-decision .approval-count")).to_contain_text("已收到 1/2 个审批。")
    expect(page.locator("#change-decision .decisions")).to_contain_text("已批准：e2e-lead")
    page.screenshot(path="/tmp/i10-tr3-approved-1400.png", full_page=True)
