"""Chinese and time zones: the language follows the browser or the switcher, the catalog is complete and
compiled, and every time is shown in the viewer's zone with the zone named."""

import ast
import gettext
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from peerlinks.middleware import DETECTED_TIME_ZONE_COOKIE, TIME_ZONE_COOKIE
from peerlinks.models import ChangeRequest
from peerlinks.presentation.times import format_time
from tests.conftest import make_gateway, make_peer_link, make_project, make_router

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "locale" / "zh_Hans" / "LC_MESSAGES"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.8"}
# 2026-12-02 07:04:05 UTC is 15:04 in Shanghai.
MOMENT = datetime(2026, 12, 2, 7, 4, 5, tzinfo=UTC)


# --- The catalog -----------------------------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: context, msgid, plural, msgstr(s) and whether it is fuzzy."""
    entries, entry, field = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry is not None:
                entries.append(entry)
            entry, field = None, None
            continue
        entry = (
            entry
            if entry is not None
            else {"ctx": None, "id": None, "plural": None, "str": {}, "fuzzy": False}
        )
        if line.startswith("#,") and "fuzzy" in line:
            entry["fuzzy"] = True
        elif line.startswith("#"):
            continue
        elif match := re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[(\d+)\])?) (".*")$', line):
            key, index, text = match.groups()
            field = {"msgctxt": "ctx", "msgid": "id", "msgid_plural": "plural"}.get(
                key, ("str", int(index or 0))
            )
            value = ast.literal_eval(text)
            if isinstance(field, tuple):
                entry["str"][field[1]] = value
            else:
                entry[field] = value
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if isinstance(field, tuple):
                entry["str"][field[1]] += value
            else:
                entry[field] += value
    return entries


def untranslated(entries: list[dict]) -> list[str]:
    return [
        f"{e['ctx'] + ' | ' if e['ctx'] else ''}{e['id']}"
        for e in entries
        if e["id"] and (e["fuzzy"] or not all(e["str"].values()) or not e["str"])
    ]


def test_every_message_of_the_chinese_catalog_is_translated_and_none_is_fuzzy():
    entries = read_po(CATALOG / "django.po")
    assert len(entries) > 200
    assert untranslated(entries) == []
    header = next(e for e in entries if e["id"] == "")
    assert not header["fuzzy"]
    assert "charset=UTF-8" in header["str"][0]


def test_compiled_catalog_holds_exactly_what_the_po_file_says():
    """`make messages` compiles the .po; a .po edited without compiling leaves the .mo behind."""
    with (CATALOG / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected = {}
    for entry in read_po(CATALOG / "django.po"):
        if entry["fuzzy"] or not entry["id"]:
            continue
        key = f"{entry['ctx']}\x04{entry['id']}" if entry["ctx"] is not None else entry["id"]
        if entry["plural"] is not None:
            for index, text in entry["str"].items():
                expected[(key, index)] = text
        else:
            expected[key] = entry["str"][0]
    compiled.pop("", None)  # the header
    assert compiled == expected


@pytest.mark.skipif(not shutil.which("xgettext"), reason="collecting messages needs GNU gettext")
def test_every_text_marked_in_the_code_is_in_the_catalog_and_translated(settings, tmp_path, monkeypatch):
    """What `make messages` would collect now: nothing new, nothing fuzzy, nothing untranslated."""
    # On a copy of the sources: makemessages also writes to a locale/ folder of the directory it runs in,
    # which in the checkout is the committed catalog.
    source = tmp_path / "src"
    for folder in ("dcportal", "peerlinks", "templates"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    target = source / "locale" / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(CATALOG / "django.po", target / "django.po")
    settings.LOCALE_PATHS = [source / "locale"]
    monkeypatch.chdir(source)
    call_command(
        "makemessages",
        locale=["zh_Hans"],
        add_location="file",
        no_obsolete=True,
        ignore_patterns=[".venv", "var", "dcsim", "bench", "tests", "scripts"],
        verbosity=0,
    )
    fresh = read_po(target / "django.po")
    assert untranslated(fresh) == [], "run `make messages` and translate what it added"
    committed = {(e["ctx"], e["id"]) for e in read_po(CATALOG / "django.po")}
    assert {(e["ctx"], e["id"]) for e in fresh} == committed, "run `make messages`"


# --- The language ----------------------------------------------------------------------------------


def test_browser_asking_for_chinese_gets_the_login_page_in_chinese(client, db):
    page = client.get(reverse("login"), **ZH).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "<h1>登录</h1>" in page
    assert "用户名" in page and "密码" in page


def test_browser_asking_for_english_or_nothing_gets_english(client, db):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").content.decode()
    assert '<html lang="en">' in page
    assert "<h1>Log in</h1>" in page
    assert '<html lang="en">' in client.get(reverse("login")).content.decode()


def test_switcher_without_javascript_posts_the_language_and_returns_to_the_page(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("peerlinks:home")).content.decode()
    assert f'action="{reverse("set_language")}"' in page
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in page

    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/links/"})
    assert response.status_code == 302
    assert response["Location"] == "/links/"
    page = client.get(reverse("peerlinks:home")).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "退出登录" in page
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in page

    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert '<html lang="en">' in client.get(reverse("peerlinks:home"), **ZH).content.decode()


def test_chinese_pages_show_translated_states_forms_and_errors(client, engineer):
    project = make_project("cn-north-4")
    gateway = make_gateway(project=project, name="gw-main")
    link = make_peer_link(gateway=gateway, name="pl-main", status="ACTIVE")
    ChangeRequest.objects.create(
        kind="create", requested_by=engineer, gateway=gateway, payload={"name": "pl-new"}
    )
    client.force_login(engineer)
    client.post(reverse("set_language"), {"language": "zh-hans"})

    changes_page = client.get(reverse("peerlinks:change_list")).content.decode()
    assert "待审批" in changes_page  # the state "Pending approval"
    assert "任意状态" in changes_page  # the filter's "Any state"

    delete_page = client.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "nope"}
    )
    text = delete_page.content.decode()
    assert "输入对等连接的名称以确认" in text  # the label
    assert "这不是此对等连接的名称；请准确输入 pl-main。" in text  # the error


def test_forbidden_page_explains_in_chinese(client, viewer):
    client.force_login(viewer)
    client.post(reverse("set_language"), {"language": "zh-hans"})
    response = client.get(reverse("peerlinks:approval_queue"))
    assert response.status_code == 403
    text = response.content.decode()
    assert "您无权执行此操作" in text and "请联系管理员为您分配所需的角色" in text


def test_database_unavailable_page_speaks_the_visitors_language():
    """Drawn without the database, but after the language is chosen (LocaleMiddleware reads no database)."""
    with translation.override("zh-hans"):
        page = render_to_string("503.html")
    assert '<html lang="zh-hans">' in page
    assert "数据库不可用，请稍后重试" in page


# --- Time zones ------------------------------------------------------------------------------------


def test_times_name_their_zone():
    assert format_time(MOMENT) == "2026-12-02 07:04 UTC"
    assert format_time(MOMENT, seconds=True) == "2026-12-02 07:04:05 UTC"
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    assert format_time(MOMENT, zone=shanghai) == "2026-12-02 15:04 UTC+08:00"
    assert format_time(MOMENT, full=True, zone=shanghai) == "2026-12-02 15:04:05 UTC+08:00 (Asia/Shanghai)"
    assert format_time(MOMENT, zone=ZoneInfo("America/St_Johns")) == "2026-12-02 03:34 UTC-03:30"
    assert format_time(None) == ""


def _audit_page_time(client) -> str:
    page = client.get(reverse("peerlinks:audit_list")).content.decode()
    cell = re.search(r'<td class="nowrap" title="([^"]*)">([^<]*)</td>', page)
    assert cell.group(1).startswith(cell.group(2))  # the title adds the zone's name
    return cell.group(2)


def test_pages_follow_the_browsers_zone_then_the_chosen_one(client, viewer):
    from peerlinks.models import AuditEvent

    AuditEvent.objects.create(
        at=MOMENT, actor_name="someone", action="peer_link.create", object_type="peer_link"
    )
    client.force_login(viewer)
    assert _audit_page_time(client) == "2026-12-02 07:04:05 UTC"

    client.cookies[DETECTED_TIME_ZONE_COOKIE] = "Asia/Shanghai"  # as static/js/timezone.js sets it
    assert _audit_page_time(client) == "2026-12-02 15:04:05 UTC+08:00"
    page = client.get(reverse("peerlinks:home")).content.decode()
    assert '<option value="">From your browser (Asia/Shanghai)</option>' in page

    # Chosen in the menu (a plain POST, no JavaScript): wins over the browser's zone.
    response = client.post(
        reverse("peerlinks:set_time_zone"), {"timezone": "America/New_York", "next": "/audit/"}
    )
    assert response.status_code == 302 and response["Location"] == "/audit/"
    assert response.cookies[TIME_ZONE_COOKIE].value == "America/New_York"
    assert _audit_page_time(client) == "2026-12-02 02:04:05 UTC-05:00"
    page = client.get(reverse("peerlinks:home")).content.decode()
    assert '<option value="America/New_York" selected>America/New_York</option>' in page

    # Back to the browser's zone.
    client.post(reverse("peerlinks:set_time_zone"), {"timezone": ""})
    assert _audit_page_time(client) == "2026-12-02 15:04:05 UTC+08:00"


def test_bad_zone_names_are_refused_or_ignored(client, viewer):
    client.force_login(viewer)
    for name in ["Mars/Olympus", "../../etc/passwd", "x" * 500]:
        assert client.post(reverse("peerlinks:set_time_zone"), {"timezone": name}).status_code == 400
    client.cookies[TIME_ZONE_COOKIE] = "Not/AZone"
    client.cookies[DETECTED_TIME_ZONE_COOKIE] = "../../etc/passwd"
    assert client.get(reverse("peerlinks:home")).status_code == 200
    # A redirect elsewhere is not followed.
    response = client.post(
        reverse("peerlinks:set_time_zone"), {"timezone": "UTC", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_link_page_and_csv_show_times_in_the_chosen_zone(client, viewer):
    link = make_peer_link(
        gateway=make_gateway(project=make_project("cn-north-4")),
        cloud_created_at=MOMENT,
        first_seen_at=MOMENT,
    )
    client.force_login(viewer)
    client.cookies[TIME_ZONE_COOKIE] = "Asia/Shanghai"
    page = client.get(reverse("peerlinks:detail", args=[link.cloud_id])).content.decode()
    assert "2026-12-02 15:04:05 UTC+08:00" in page
    csv = b"".join(client.get(reverse("peerlinks:link_export")).streaming_content).decode()
    assert "2026-12-02T15:04:05+08:00" in csv


def test_mail_names_the_zone_of_its_times(settings, engineer, approver):
    from peerlinks.services import notifications

    gateway = make_gateway(project=make_project("cn-north-4"))
    change = ChangeRequest.objects.create(
        kind="create",
        requested_by=engineer,
        gateway=gateway,
        payload={"name": "pl-new", "peer_type": "ER", "peer_gateway_id": "x", "peer_region": "cn-north-4"},
        created_at=MOMENT,
        expires_at=MOMENT,
    )
    approver.email = "lead@example.com"
    approver.save(update_fields=["email"])
    mail.outbox.clear()
    notifications.notify_submitted(change=change)
    body = mail.outbox[0].body
    assert "Asked by:  engineer1 at 2026-12-02 07:04:05 UTC" in body
    assert "Expires:   2026-12-02 07:04:05 UTC if nobody decides" in body


def test_change_window_keeps_the_servers_zone_whatever_zone_the_viewer_has(db):
    """The window opens at 22:00 by settings.TIME_ZONE; a viewer in Shanghai approving does not move it."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from peerlinks.services.lifecycle import next_window_opening
    from tests.conftest import set_policy

    policy = set_policy(window_enabled=True)
    monday_noon = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with timezone.override(ZoneInfo("Asia/Shanghai")):
        opening = next_window_opening(policy, now=monday_noon)
    assert opening == datetime(2026, 3, 2, 22, 0, tzinfo=UTC)


def test_refusal_for_someone_elses_change_is_explained_in_chinese(client, engineer, approver):
    change = ChangeRequest.objects.create(
        kind="create",
        requested_by=engineer,
        gateway=make_gateway(project=make_project("cn-north-4")),
        payload={"name": "pl-new"},
    )
    client.force_login(approver)
    client.post(reverse("set_language"), {"language": "zh-hans"})
    response = client.post(reverse("peerlinks:change_cancel", args=[change.pk]))
    assert response.status_code == 403
    text = response.content.decode()
    assert "只有提交此变更的人才能取消它。" in text and "您无权执行此操作" in text


def test_create_form_says_in_chinese_why_a_gateway_or_peer_cannot_be_chosen(client, engineer, settings):
    settings.CLOUD_REGIONS = ["cn-north-4"]
    project = make_project("cn-north-4", project_id="0" * 31 + "1")
    full = make_gateway(project=project, name="gw-full", available_peer_link_count=0)
    make_gateway(project=project, name="gw-down", status="DOWN")
    router = make_router(project=project, name="er-good")
    client.force_login(engineer)
    client.post(reverse("set_language"), {"language": "zh-hans"})
    page = client.get(reverse("peerlinks:link_create")).content.decode()
    assert "gw-full (ACTIVE) · 剩余 0 个 — 不可选：对等连接配额已用完" in page
    assert "gw-down (DOWN) · 剩余 3 个 — 不可选：状态为 DOWN" in page
    response = client.post(
        reverse("peerlinks:link_create"),
        {
            "gateway": full.cloud_id,
            "peer_type": "ER",
            "peer_region": "cn-north-4",
            "peer": router.cloud_id,
            "name": "pl",
        },
    )
    assert "此网关无法创建新的对等连接：对等连接配额已用完。" in response.content.decode()


def test_a_decision_on_a_closed_change_is_refused_in_chinese(client, engineer, approver):
    change = ChangeRequest.objects.create(
        kind="create",
        requested_by=engineer,
        gateway=make_gateway(project=make_project("cn-north-4")),
        payload={"name": "pl-new"},
        state=ChangeRequest.State.CANCELLED,
    )
    client.force_login(approver)
    client.post(reverse("set_language"), {"language": "zh-hans"})
    response = client.post(
        reverse("peerlinks:change_approve", args=[change.pk]), {"payload_digest": change.payload_digest}
    )
    assert "此变更的状态为：已取消，无需审批。" in response.content.decode()


def test_why_a_link_cannot_be_changed_now_reads_in_chinese(client, engineer):
    link = make_peer_link(gateway=make_gateway(project=make_project("cn-north-4")), status="PENDING_CREATE")
    client.force_login(engineer)
    client.post(reverse("set_language"), {"language": "zh-hans"})
    response = client.get(reverse("peerlinks:link_edit", args=[link.cloud_id]))
    assert response.status_code == 409
    assert "此对等连接的状态为 PENDING_CREATE；请等待其状态稳定。" in response.content.decode()
