"""Change requests and approvals in Chinese: a browser asking for zh-CN reads the change pages, the approvals
queue, the refusals and why a change failed in Chinese, and an English browser still reads English."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from peerlinks.models import ChangeRequest
from peerlinks.presentation import reasons
from tests.conftest import make_gateway, make_project

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.8"}


def _change(engineer, **fields) -> ChangeRequest:
    gateway = make_gateway(project=make_project("cn-north-4"), name="gw-main")
    defaults = {
        "kind": "create",
        "requested_by": engineer,
        "gateway": gateway,
        "payload": {"name": "pl-new", "peer_type": "ER", "peer_gateway_id": "x", "peer_region": "cn-north-4"},
        "approvals_required": 2,
        "expires_at": timezone.now() + timedelta(days=1),
    }
    return ChangeRequest.objects.create(**{**defaults, **fields})


def _page(client, name: str, *args, lang=ZH) -> str:
    response = client.get(reverse(f"peerlinks:{name}", args=args), **lang)
    assert response.status_code == 200
    return response.content.decode()


def test_change_page_for_an_approver_reads_in_chinese(client, engineer, approver):
    change = _change(engineer)
    client.force_login(approver)
    page = _page(client, "change_detail", change.pk)
    assert f"<h1>变更 #{change.pk}：创建 pl-new</h1>" in page  # the heading
    assert "<th>新对等连接名称</th>" in page and "<th>操作人</th>" in page  # table headers
    assert ">批准</button>" in page and ">驳回</button>" in page  # buttons
    assert "<strong>0/2</strong>" in page and "还可以审批的人：" in page
    # The message of a change that cannot get its approvals (only one approver besides the requester).
    assert "按目前情况，此变更无法获得批准：还需要 2 个审批，但只有 1 人还可以审批（lead1）" in page
    for english in (
        "Who can still approve",
        "cannot be approved",
        "Audit trail",
        "updates live",
        "The link after this change",
        "Approve</button>",
        "Add a comment",
        "Gateway quota",
    ):
        assert english not in page, english

    # The same page for an English browser is unchanged.
    page = _page(client, "change_detail", change.pk, lang=EN)
    assert f"Change #{change.pk}: create pl-new</h1>" in page
    assert "Who can still approve:" in page and ">Approve</button>" in page
    assert "it needs 2 more approvals and only 1 person can still approve (lead1)" in page


def test_decisions_and_refusals_are_explained_in_chinese(client, engineer, approver):
    change = _change(engineer)
    client.force_login(approver)
    url = reverse("peerlinks:change_approve", args=[change.pk])
    digest = {"payload_digest": change.payload_digest}
    client.post(url, digest, **ZH)
    panel = client.post(url, digest, HTTP_HX_REQUEST="true", **ZH).content.decode()
    assert "您的批准已计入：1/2；还需要 1 位审批人。" in panel
    assert "<strong>已批准</strong>：lead1，" in panel  # the decision listed

    reject = reverse("peerlinks:change_reject", args=[change.pk])
    panel = client.post(reject, {**digest, "comment": " "}, HTTP_HX_REQUEST="true", **ZH).content.decode()
    assert "请说明原因：驳回需要填写评论。" in panel
    assert "rejection needs a comment" not in panel


def test_why_a_change_failed_reads_in_the_viewers_language(client, engineer, viewer):
    """The worker stores the reason in English; each viewer reads it in their own language."""
    waits = reasons.RENAME_WAITS.format(status="PENDING_UPDATE")
    change = _change(
        engineer,
        state=ChangeRequest.State.FAILED,
        error_code="BUSY",
        error_msg=reasons.GAVE_UP.format(count=3, reason=waits),
        error_detail="UpdatePeerLink: 409",
    )
    client.force_login(viewer)
    page = _page(client, "change_detail", change.pk)
    assert "变更失败。" in page and "技术详情" in page
    assert "尝试 3 次后放弃：此对等连接的状态为 PENDING_UPDATE；改名将等到其状态稳定后进行。" in page
    assert "Gave up" not in page and "The change failed." not in page

    page = _page(client, "change_detail", change.pk, lang=EN)
    assert "Gave up after 3 attempts: The link is PENDING_UPDATE; the rename waits until it is final." in page


def test_stored_reasons_keep_names_and_the_clouds_own_words():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert (
            reasons.translated(reasons.LINK_ENDED.format(status="ERROR", reason="BGP session down"))
            == "此对等连接最终状态为 ERROR：BGP session down"
        )
        assert reasons.translated(reasons.LINK_ENDED_NO_REASON.format(status="ERROR")) == (
            "此对等连接最终状态为 ERROR：云端未给出原因"
        )
        assert (
            reasons.translated(reasons.GATEWAY_STATE_UNKNOWN)
            == "网关的状态未知，不是 ACTIVE；未向云端发送任何操作。"
        )
        assert reasons.translated("something the cloud said") == "something the cloud said"
        assert reasons.translated("") == ""


def test_queue_and_list_read_in_chinese(client, engineer, approver):
    change = _change(engineer)
    client.force_login(approver)
    queue = _page(client, "approval_queue")
    assert "<h1>待您审批</h1>" in queue
    assert "<th>配额使用</th>" in queue and "<th>过期时间</th>" in queue
    assert "无法完成：只有 lead1 还可以审批" in queue
    assert "Waiting for your decision" not in queue and "cannot complete" not in queue

    changes = _page(client, "change_list")
    assert "<h1>变更请求</h1>" in changes and ">筛选</button>" in changes
    assert "<th>申请时间</th>" in changes and f"#{change.pk}" in changes
    assert "No change requests match" not in changes and "Asked at" not in changes

    ChangeRequest.objects.all().delete()
    assert "没有待您审批的请求。" in _page(client, "approval_queue")
    assert "没有符合条件的变更请求。" in _page(client, "change_list")


def test_edit_page_and_run_now_form_read_in_chinese(client, engineer, admin):
    change = _change(engineer)
    client.force_login(engineer)
    page = _page(client, "change_edit", change.pk)
    assert f"<h1>编辑变更 #{change.pk}</h1>" in page and ">保存</button>" in page
    assert "保存后已有的审批将失效" in page and "Saving drops" not in page

    waiting = _change(
        engineer,
        state=ChangeRequest.State.APPROVED,
        not_before=timezone.now() + timedelta(hours=3),
    )
    client.force_login(admin)
    page = _page(client, "change_detail", waiting.pk)
    assert "<h3>立即执行，不等变更窗口</h3>" in page and ">立即执行</button>" in page
    assert "仅限紧急情况：变更将立即执行" in page and "For an emergency only" not in page
    response = client.post(
        reverse("peerlinks:change_run_now", args=[waiting.pk]), {"reason": " "}, HTTP_HX_REQUEST="true", **ZH
    )
    assert "请说明原因：在变更窗口之前执行变更需要填写原因。" in response.content.decode()
