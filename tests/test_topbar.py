"""The top bar: the current page marked in the navigation, the account menu, the Menu toggle's count."""

import re

import pytest
from django.urls import reverse

from peerlinks.models import Notice
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def current(body: str) -> list[str]:
    """The navigation links marked as the current page."""
    return re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', body)


def test_the_navigation_marks_the_section_of_the_page_shown(engineer_client):
    link = make_peer_link()
    assert current(engineer_client.get("/").content.decode()) == ["/"]
    assert current(engineer_client.get("/links/").content.decode()) == ["/links/"]
    assert current(engineer_client.get(f"/links/{link.cloud_id}/").content.decode()) == ["/links/"]
    assert current(engineer_client.get("/notices/").content.decode()) == ["/notices/"]
    assert current(engineer_client.get("/search/?q=x").content.decode()) == []


def test_the_account_menu_holds_language_time_zone_and_log_out(engineer_client):
    body = engineer_client.get("/links/").content.decode()
    account = body.split('<details class="account" id="account">', 1)[1].split("</details>", 1)[0]
    assert '<span class="whoami">engineer1</span>' in account
    for part in ('name="language"', 'name="timezone"', 'action="/logout/"'):
        assert part in account
    assert body.count('id="preferences"') == 1


def test_the_menu_toggle_counts_unread_notices_and_the_live_poll_updates_it(engineer_client, engineer):
    Notice.objects.create(user=engineer, message="one")
    body = engineer_client.get("/links/").content.decode()
    assert re.search(r'<span id="nav-menu-count"> <span class="count-badge"[^>]*>1</span>', body)
    version = re.search(r'class="live-version" name="v" value="([^"]+)"', body).group(1)
    Notice.objects.create(user=engineer, message="two")
    answer = engineer_client.get(f"{reverse('peerlinks:live')}?v={version}", **HX).content.decode()
    menu_count = r'<span id="nav-menu-count" hx-swap-oob="true"> <span class="count-badge"[^>]*>2</span>'
    assert re.search(menu_count, answer)
    assert '<a href="/notices/" id="nav-notices" hx-swap-oob="innerHTML">' in answer
