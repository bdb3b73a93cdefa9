"""The top bar, dashboard, gateways, topology, search, notices and lead view in Simplified Chinese: what a
reader of zh-hans sees, and that the cloud's problems and the notices follow each reader's language."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import ChangeRequest, Drift, Notice
from peerlinks.presentation.text import cloud_problem, gateways_problem
from peerlinks.services import notifications
from tests.conftest import make_gateway, make_peer_link, make_project

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ENGLISH_LEFT = [
    "Dashboard",
    "Refresh from cloud",
    "Last sync per region",
    "No unacknowledged drift",
    "Recent audit events",
    "Technical detail",
    "Peer links",
    " ago",
    "Acknowledge",
    "Mark all read",
    "Find anything",
]


def _visible(page: str) -> str:
    """The page's text as read (no tags, scripts or attribute values but titles and labels)."""
    body = page.split("<body", 1)[1]
    return re.sub(r"<[^>]*>", " ", body)


def _outage_and_drift():
    project = make_project("cn-north-4")
    project.synced_at = timezone.now() - timedelta(hours=2)
    project.sync_error = "ListProjects failed: cannot reach 127.0.0.1:9: [Errno 111]"
    project.sync_problem = cloud_problem(cloud.CloudUnreachable("cannot reach 127.0.0.1:9: [Errno 111]"))
    project.sync_failed_at = timezone.now() - timedelta(minutes=5)
    project.save()
    link = make_peer_link(gateway=make_gateway(project=project, name="gw-main"), name="pl-outside")
    Drift.objects.create(peer_link=link, kind=Drift.Kind.CREATED, detail={"name": "pl-outside"})
    return link


def test_dashboard_in_chinese_has_its_heading_headers_buttons_banner_and_no_english_left(client, engineer):
    _outage_and_drift()
    client.force_login(engineer)
    page = client.get(reverse("peerlinks:home"), **ZH).content.decode()
    assert "<h1>总览</h1>" in page
    assert "<th>区域</th><th>网关</th><th>上次同步</th><th>状态</th>" in page
    assert ">从云上刷新</button>" in page
    assert ">确认</button>" in page  # the drift's Acknowledge
    assert "dcportal 无法连接华为云（无法连接其 API）。" in page  # the banner, from the stored kind
    assert "cannot reach 127.0.0.1:9" in page  # the technical detail, as the cloud client said it
    text = _visible(page)
    for english in ENGLISH_LEFT:
        assert english not in text, english

    # The same stored problem, to a reader of English.
    english_page = client.get(reverse("peerlinks:home"), **EN).content.decode()
    assert "dcportal cannot reach Huawei Cloud (no connection to its API)." in english_page
    assert "<h1>Dashboard</h1>" in english_page


def test_a_region_with_gateways_that_could_not_be_listed_says_so_in_the_readers_language(client, viewer):
    project = make_project("cn-north-4")
    project.synced_at = timezone.now()
    project.sync_error = "gw-1: ListPeerLinks failed: HTTP 503"
    project.sync_problem = gateways_problem([cloud.ServerError("boom", status=503)] * 2)
    project.sync_failed_at = timezone.now()
    project.save()
    make_gateway(project=project)
    client.force_login(viewer)
    page = client.get(reverse("peerlinks:gateway_list"), **ZH).content.decode()
    assert "<h1>全球DC网关</h1>" in page
    assert "无法列出 2 个网关的对等连接：华为云返回了服务器错误；dcportal 稍后将自动重试。" in page
    page = client.get(reverse("peerlinks:gateway_list"), **EN).content.decode()
    assert "The peer links of 2 gateways could not be listed: Huawei Cloud answered with a server" in page


def test_notices_read_in_the_readers_language_and_marking_them_read_says_so_in_chinese(
    client, engineer, approver
):
    change = ChangeRequest.objects.create(
        kind="create",
        requested_by=engineer,
        gateway=make_gateway(project=make_project("cn-north-4")),
        payload={"name": "pl-new"},
    )
    notifications.notify_submitted(change=change)
    notice = Notice.objects.get(user=approver)
    assert notice.message == f"#{change.pk} create pl-new by engineer1 needs your approval"  # as sent

    client.force_login(approver)
    page = client.get(reverse("peerlinks:notice_list"), **ZH).content.decode()
    assert "<h1>通知</h1>" in page
    assert "<th>时间</th><th>通知</th>" in page
    assert f"engineer1 提交的 #{change.pk} 创建 pl-new 需要您审批" in page
    assert ">全部标记为已读</button>" in page
    assert "1 条未读通知。" in page
    for english in ("needs your approval", "Mark all read", "unread notice", " ago"):
        assert english not in _visible(page), english

    response = client.post(reverse("peerlinks:notice_mark_read"), follow=True, **ZH)
    assert "已将 1 条通知标记为已读。" in response.content.decode()
    page = client.get(reverse("peerlinks:notice_list"), **EN).content.decode()
    assert f"#{change.pk} create pl-new by engineer1 needs your approval" in page


def test_topology_search_and_lead_view_in_chinese(client, approver):
    _outage_and_drift()
    client.force_login(approver)
    topology = client.get(reverse("peerlinks:topology"), **ZH).content.decode()
    assert "<h1>拓扑</h1>" in topology and 'aria-label="图例"' in topology
    search = client.get(reverse("peerlinks:search"), {"q": "pl-out"}, **ZH).content.decode()
    assert "<h1>搜索</h1>" in search
    assert "<strong>pl-out</strong> 的搜索结果：" in search
    lead = client.get(reverse("peerlinks:lead"), **ZH).content.decode()
    assert "<h1>团队负责人视图</h1>" in lead
    assert "部分数据可能已过时。" in lead
    for page in (topology, search, lead):
        text = _visible(page)
        for english in ("Topology", "Legend", "Results for", "Team lead view", "Some data may be", " ago"):
            assert english not in text, english


def test_a_cloud_problem_stored_before_it_was_stored_by_kind_is_read_as_its_kind():
    """The migration turns the English sentences stored before into their kind; others are dropped."""
    import importlib

    from django.utils import translation

    from peerlinks.presentation.text import describe_problem, stored_cloud_error

    stored = importlib.import_module("peerlinks.migrations.0013_cloud_problem_by_kind")._stored
    unreachable = stored("dcportal cannot reach Huawei Cloud (no connection to its API).")
    gateways = stored(
        "The peer links of 2 gateways could not be listed: Huawei Cloud refused the request: no such thing"
    )
    with translation.override("zh-hans"):
        assert describe_problem(unreachable) == "dcportal 无法连接华为云（无法连接其 API）。"
        assert describe_problem(gateways) == "无法列出 2 个网关的对等连接：华为云拒绝了请求：no such thing"
        assert describe_problem("some text of old") == "some text of old"  # shown as it is
        # What a change records stays English, whoever's request ran it.
        assert stored_cloud_error(cloud.CloudTimeout("t")) == "Huawei Cloud did not answer in time."
    assert stored("something else entirely") == ""
    assert stored(unreachable) == unreachable


def test_a_cloud_failure_a_change_recorded_reads_in_chinese_on_its_pages():
    from django.utils import translation

    from peerlinks.presentation.reasons import translated
    from peerlinks.presentation.text import stored_cloud_error

    refused = stored_cloud_error(cloud.BadRequest("The peer does not exist.", status=400))
    assert refused == "Huawei Cloud refused the request: The peer does not exist."
    with translation.override("zh-hans"):
        assert translated(refused) == "华为云拒绝了请求：The peer does not exist."
        assert translated(stored_cloud_error(cloud.CloudUnreachable("x"))) == (
            "dcportal 无法连接华为云（无法连接其 API）。"
        )
