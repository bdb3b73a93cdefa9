"""The link pages, the change forms of a link, drift actions and the audit log, read in Chinese: headings,
table headers, buttons and messages are translated, and no English sentence is left in the page's body."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from peerlinks.models import AuditEvent, Drift
from tests.conftest import make_gateway, make_peer_link, make_project, make_router

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.8"}

# Three English words in a row: a sentence or a label left untranslated. Values the page shows as they are
# (names, IDs, status codes, product names) are never three plain words.
ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?: [a-z]+){2,}\b")


def body_text(html: str) -> str:
    """The visible words of the page's <main> and the attributes a person reads (title, aria-label,
    placeholder)."""
    main = re.split(r"<main\b[^>]*>", html, maxsplit=1)[1].split("</main>", 1)[0]
    attributes = " | ".join(re.findall(r'(?:title|aria-label|placeholder)="([^"]*)"', main))
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)) + " | " + attributes


def english_left(html: str) -> list[str]:
    return ENGLISH.findall(body_text(html))


@pytest.fixture
def chinese(client, engineer):
    client.force_login(engineer)
    client.defaults.update(ZH)
    return client


@pytest.fixture
def link(db):
    project = make_project("cn-north-4")
    router = make_router(project=project, name="er-core")
    return make_peer_link(
        gateway=make_gateway(project=project, name="gw-main"),
        name="pl-main",
        peer_gateway_id=router.cloud_id,
        owner_team="netops",
        labels=["prod"],
        cloud_created_at=timezone.now(),
    )


def test_link_list_reads_in_chinese(chinese, link):
    html = chinese.get(reverse("peerlinks:link_list"), {"status": "NOPE"}).content.decode()
    assert "<h1>对等连接</h1>" in html
    assert "负责团队" in html and "创建时间" in html  # table headers
    assert "导出 CSV" in html and "筛选" in html  # buttons
    assert "部分筛选条件已被忽略：状态：" in html  # the message, naming the filter in Chinese
    assert "全部网关" in html and "显示已删除的" in html  # filter choices and labels
    assert "正常" in html  # the status badge
    for english in ["Peer links", "Export CSV", "Some filters were ignored", "Show gone", "All gateways"]:
        assert english not in body_text(html)
    assert english_left(html) == []

    empty = chinese.get(reverse("peerlinks:link_list"), {"q": "nothing-like-this"}).content.decode()
    assert "没有匹配的对等连接。" in empty and "0 条结果" in empty
    assert english_left(empty) == []


def test_link_page_reads_in_chinese(chinese, link):
    AuditEvent.objects.create(
        at=timezone.now(),
        actor_name="",
        action="peer_link.create",
        object_type="peer_link",
        object_id=link.cloud_id,
        cloud_request_id="req-1",
    )
    Drift.objects.create(peer_link=link, kind="created", detail={"name": link.name})
    response = chinese.post(
        reverse("peerlinks:link_local", args=[link.cloud_id]),
        {"owner_team": "netops", "ticket_ref": "CHG-1", "labels": "prod"},
        follow=True,
    )
    html = response.content.decode()
    assert "本地字段已保存。" in html  # the message
    assert "<h2>本地字段</h2>" in html and "<h2>状态时间线</h2>" in html  # headings
    assert "<th>操作人</th>" in html  # a table header
    assert "改名 / 修改描述" in html and "纳管" in html and "编辑本地字段" in html  # buttons
    assert "系统" in html and "请求 <code>req-1</code>" in html
    for english in ["Local fields", "Status timeline", "Edit local fields", "Audit events", "Delete"]:
        assert english not in body_text(html)
    assert english_left(html) == []


def test_gone_link_page_and_its_refusal_read_in_chinese(chinese, link):
    link.gone_at = timezone.now()
    link.save(update_fields=["gone_at"])
    html = chinese.get(link.get_absolute_url()).content.decode()
    assert "此对等连接在云上已不存在（自 " in html
    assert "同步时发现已不存在：在 dcportal 之外删除" in html
    assert english_left(html) == []

    response = chinese.post(
        reverse("peerlinks:link_local", args=[link.cloud_id]), {"owner_team": "x"}, follow=True
    )
    assert "此对等连接在云上已不存在：仅保留其历史记录，无法再修改。" in response.content.decode()


def test_create_rename_and_delete_forms_read_in_chinese(chinese, link, settings):
    settings.CLOUD_REGIONS = ["cn-north-4", "cn-east-3"]
    create = chinese.get(reverse("peerlinks:link_create"), {"peer_region": "cn-east-3"}).content.decode()
    assert "<h1>新建对等连接</h1>" in create and "申请创建此对等连接" in create and "加载对端" in create
    assert "cn-east-3 中没有已知的企业路由器；请选择其他类型或区域，或刷新数据。" in create
    assert english_left(create) == []

    edit = chinese.get(reverse("peerlinks:link_edit", args=[link.cloud_id])).content.decode()
    assert "<h1>修改 pl-main 的名称或描述</h1>" in edit and "提交变更申请" in edit
    assert english_left(edit) == []

    delete = chinese.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "nope"}
    ).content.decode()
    assert "<h1>删除 pl-main？</h1>" in delete and "申请删除 pl-main" in delete and "保留" in delete
    assert "这不是此对等连接的名称；请准确输入 pl-main。" in delete
    assert english_left(delete) == []


def test_drift_adopt_and_revert_read_in_chinese(chinese, link):
    drift = Drift.objects.create(peer_link=link, kind="created", detail={"name": link.name})
    revert = chinese.get(reverse("peerlinks:drift_revert", args=[drift.pk])).content.decode()
    assert "申请删除 pl-main。" in revert and "提交变更申请" in revert
    assert english_left(revert) == []
    adopt = chinese.get(reverse("peerlinks:drift_adopt", args=[drift.pk])).content.decode()
    assert "<h1>纳管 pl-main</h1>" in adopt and "纳管此对等连接" in adopt
    assert english_left(adopt) == []

    drift.acknowledged_at = timezone.now()
    drift.save(update_fields=["acknowledged_at"])
    refused = chinese.get(reverse("peerlinks:drift_adopt", args=[drift.pk]))
    assert refused.status_code == 409
    assert "只有在 dcportal 之外创建、仍然存在且偏差尚未处理的对等连接才能纳管。" in refused.content.decode()


def test_audit_log_reads_in_chinese(chinese, link):
    AuditEvent.objects.create(
        at=timezone.now(),
        actor_name="",
        action="peer_link.local_fields",
        object_type="peer_link",
        object_id=link.cloud_id,
        object_repr=link.name,
        before={"owner_team": ""},
        after={"owner_team": "netops"},
        cloud_request_id="req-42",
    )
    html = chinese.get(reverse("peerlinks:audit_list"), {"at_after": "not-a-date"}).content.decode()
    assert "<h1>审计日志</h1>" in html
    assert "<th>操作人</th>" in html and "<th>变更内容</th>" in html  # table headers
    assert ">复制</button>" in html and 'aria-label="复制请求ID req-42"' in html  # a button
    assert 'data-copied="已复制"' in html
    assert "部分筛选条件已被忽略：日期范围：" in html  # the message
    assert '<div class="hint small">对等连接</div>' in html  # the object's type
    assert "系统" in html and "第 1–1 条，共 1 条" in html
    assert english_left(html) == []
