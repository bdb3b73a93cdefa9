import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from peerlinks.models import ChangeRequest, Notice
from tests.conftest import make_gateway

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def engineer_notices(engineer):
    now = timezone.now()
    change = ChangeRequest.objects.create(
        kind="create", requested_by=engineer, gateway=make_gateway(), payload={"name": "pl-x"}
    )
    old_read = Notice.objects.create(
        user=engineer, message="old and read", created_at=now - timedelta(days=2), read_at=now
    )
    old_unread = Notice.objects.create(
        user=engineer, message="old but unread", change_request=change, created_at=now - timedelta(days=1)
    )
    new_unread = Notice.objects.create(user=engineer, message="brand new", created_at=now)
    return old_read, old_unread, new_unread


def test_notices_need_login(client):
    response = client.get("/notices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.post("/notices/read/").status_code == 302


def test_notice_list_shows_own_notices_unread_first_then_newest(
    engineer_client, engineer, outsider, engineer_notices
):
    Notice.objects.create(user=outsider, message="someone else's news")
    response = engineer_client.get("/notices/")
    assert response.status_code == 200
    assert "peerlinks/notice_list.html" in [t.name for t in response.templates]
    messages = [notice.message for notice in response.context["page"].object_list]
    assert messages == ["brand new", "old but unread", "old and read"]
    body = response.content.decode()
    assert "someone else&#x27;s news" not in body and "someone else's news" not in body
    assert "2 unread notices" in body
    change = engineer_notices[1].change_request
    assert f'href="/changes/{change.pk}/"' in body


def test_notice_list_over_htmx_is_the_fragment(engineer_client, engineer_notices):
    response = engineer_client.get("/notices/", **HX)
    assert response.status_code == 200
    assert [t.name for t in response.templates] == [
        "peerlinks/_notice_list.html",
        "peerlinks/_pagination.html",
    ]
    assert response.content.decode().lstrip().startswith('<div id="notice-list">')


def test_marking_all_read_marks_only_own_notices(engineer_client, engineer, outsider, engineer_notices):
    theirs = Notice.objects.create(user=outsider, message="theirs")
    response = engineer_client.post("/notices/read/")
    assert response.status_code == 302
    assert response["Location"] == "/notices/"
    assert not Notice.objects.filter(user=engineer, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert "2 notices marked read." in engineer_client.get("/notices/").content.decode()


def test_marking_one_notice_read_by_form_field(engineer_client, engineer_notices):
    _, old_unread, new_unread = engineer_notices
    response = engineer_client.post("/notices/read/", {"id": old_unread.pk})
    assert response.status_code == 302
    old_unread.refresh_from_db()
    new_unread.refresh_from_db()
    assert old_unread.read_at is not None
    assert new_unread.read_at is None


def test_marking_one_notice_read_by_query_string(engineer_client, engineer_notices):
    _, _, new_unread = engineer_notices
    assert engineer_client.post(f"/notices/read/?id={new_unread.pk}").status_code == 302
    new_unread.refresh_from_db()
    assert new_unread.read_at is not None
    assert Notice.objects.filter(read_at__isnull=True).count() == 1


def test_marking_read_over_htmx_returns_the_refreshed_list(engineer_client, engineer_notices):
    _, old_unread, _ = engineer_notices
    response = engineer_client.post("/notices/read/", {"id": old_unread.pk}, **HX)
    assert response.status_code == 200
    assert [t.name for t in response.templates] == [
        "peerlinks/_notice_list.html",
        "peerlinks/_pagination.html",
        "peerlinks/_nav_notices.html",
        "peerlinks/_nav_menu_count.html",
    ]
    body = response.content.decode()
    assert "1 unread notice." in body
    # The navigation's count follows, swapped out of band (and the Menu toggle's, for a phone).
    nav = re.search(r'<a href="/notices/" id="nav-notices" hx-swap-oob="innerHTML">(.*?)</a>', body)
    assert nav is not None
    assert nav.group(1) == 'Notices <span class="count-badge">1</span>'
    menu_count = r'<span id="nav-menu-count" hx-swap-oob="true"> <span class="count-badge"[^>]*>1</span>'
    assert re.search(menu_count, body)
    assert f'<input type="hidden" name="id" value="{old_unread.pk}">' not in body


def test_every_mark_read_button_also_works_without_javascript(engineer_client, engineer_notices):
    body = engineer_client.get("/notices/").content.decode()
    assert body.count('action="/notices/read/"') == body.count('hx-post="/notices/read/"') == 3


def test_marking_another_users_notice_is_404_and_changes_nothing(engineer_client, outsider):
    theirs = Notice.objects.create(user=outsider, message="theirs")
    assert engineer_client.post("/notices/read/", {"id": theirs.pk}).status_code == 404
    assert engineer_client.post("/notices/read/", {"id": 999999}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "1.5"])
def test_a_bad_notice_id_is_a_400_with_a_message(engineer_client, engineer_notices, bad):
    response = engineer_client.post("/notices/read/", {"id": bad})
    assert response.status_code == 400
    assert "positive whole number" in response.content.decode()
    assert Notice.objects.filter(read_at__isnull=True).count() == 2


def test_marking_read_needs_post(engineer_client):
    assert engineer_client.get("/notices/read/").status_code == 405


def test_an_empty_notice_list_says_so(engineer_client):
    body = engineer_client.get("/notices/").content.decode()
    assert "No notices yet." in body
    assert "Nothing unread." in body


def test_notice_list_query_count_does_not_grow_with_notices(
    engineer_client, engineer, django_assert_num_queries
):
    gateway = make_gateway()

    def populate(n):
        for i in range(n):
            change = ChangeRequest.objects.create(
                kind="create", requested_by=engineer, gateway=gateway, payload={}
            )
            Notice.objects.create(user=engineer, message=f"n{i}", change_request=change)

    populate(2)
    with CaptureQueriesContext(connection) as small:
        engineer_client.get("/notices/")
    populate(30)
    with django_assert_num_queries(len(small)):
        engineer_client.get("/notices/")
