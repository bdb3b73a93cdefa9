"""The link list, a link's page, its forms and the audit log in a Chinese browser, on a desktop and on a
phone: Chinese throughout, the copy button speaks Chinese too, and nothing pushes the page sideways."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import make_gateway, make_peer_link, make_project, make_router
from tests.e2e.conftest import PASSWORD, TIMEOUT_MS, words_broken_in_tables

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chinese_page(browser, live_server, engineer_login):
    """A browser asking for Chinese, logged in through the (Chinese) login form."""
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("用户名").fill(engineer_login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#account .whoami")).to_have_text(engineer_login)  # the account menu
    expect(page.get_by_role("button", name="退出登录", include_hidden=True)).to_have_count(1)
    yield page
    context.close()


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert not words_broken_in_tables(page)


def test_link_pages_and_audit_log_in_chinese_on_desktop_and_phone(chinese_page):
    from peerlinks.models import AuditEvent

    project = make_project("cn-north-4")
    gateway = make_gateway(project=project, name="gw-main")
    router = make_router(project=project, name="er-core")
    link = make_peer_link(
        gateway=gateway,
        name="pl-main",
        peer_gateway_id=router.cloud_id,
        owner_team="netops",
        ticket_ref="CHG-1",
        labels=["prod"],
        cloud_created_at=timezone.now(),
    )
    make_peer_link(gateway=gateway, name="pl-broken", status="ERROR", reason="quota exceeded")
    AuditEvent.objects.create(
        action="peer_link.create",
        object_type="peer_link",
        object_id=link.cloud_id,
        object_repr=link.name,
        cloud_request_id="0123456789abcdef0123456789abcdef",
    )
    page = chinese_page

    page.goto("/links/")
    expect(page.get_by_role("heading", name="对等连接", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="负责团队")).to_be_visible()  # a sortable column
    expect(page.locator("#status-" + link.cloud_id)).to_have_text("正常")
    page.get_by_label("状态").select_option("ERROR")  # htmx swaps the table in place
    expect(page.locator("#peerlink-rows tr")).to_have_count(1)
    expect(page.locator("#peerlink-rows")).to_contain_text("故障")
    page.screenshot(path="/tmp/i10-tr2-list-zh.png", full_page=True)

    page.goto(link.get_absolute_url())
    expect(page.get_by_role("heading", name="状态时间线")).to_be_visible()
    expect(page.get_by_role("link", name="改名 / 修改描述")).to_be_visible()
    page.get_by_text("编辑本地字段").click()
    page.get_by_label("工单号").fill("CHG-2")
    page.get_by_role("button", name="保存").click()  # htmx swaps the panel
    expect(page.locator("#local-fields")).to_contain_text("已保存。")
    page.screenshot(path="/tmp/i10-tr2-link-zh.png", full_page=True)

    page.goto(f"/links/{link.cloud_id}/delete/")
    expect(page.get_by_role("button", name="申请删除 pl-main")).to_be_visible()
    page.screenshot(path="/tmp/i10-tr2-delete-zh.png", full_page=True)

    page.goto("/audit/")
    copy = page.get_by_role("button", name="复制请求ID 0123456789abcdef0123456789abcdef")
    copy.click()
    expect(copy).to_have_text("已复制")
    page.screenshot(path="/tmp/i10-tr2-audit-zh.png", full_page=True)

    page.set_viewport_size({"width": 360, "height": 740})
    for path, name in [
        ("/links/", "list"),
        (link.get_absolute_url(), "link"),
        ("/links/new/", "create"),
        ("/audit/", "audit"),
    ]:
        page.goto(path)
        page.screenshot(path=f"/tmp/i10-tr2-{name}-zh-360.png", full_page=True)
        _fits(page)
    # On the phone the audit log's actions and request IDs stay whole (an inline element broken over lines has
    # a box per line): "peer_link.local_fields" stood a few letters a line, a request ID three. The table
    # scrolls in its card instead.
    lines = page.locator("#audit-table :is(code.action, td.request-id code)").evaluate_all(
        "codes => codes.map(c => c.getClientRects().length)"
    )
    assert len(lines) == 3 and set(lines) == {1}, lines
