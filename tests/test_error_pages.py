"""Error pages are pages of the site: its top bar, its colours and a way back, not a bare line of text."""

import uuid

import pytest

pytestmark = pytest.mark.django_db


def test_an_address_with_nothing_at_it_says_so_inside_the_site_with_a_way_back(engineer_client):
    response = engineer_client.get(f"/links/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "base.html"]
    html = response.content.decode()
    assert '<header class="topbar">' in html
    assert "There is nothing at this address" in html
    assert 'href="/">Back to the dashboard</a>' in html


def test_an_address_no_page_answers_to_gets_the_same_not_found_page(engineer_client):
    response = engineer_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()
