"""The pages of a cross-account link: both sides shown, and the router account's approver accepting or
rejecting the attachment from the link page or the approvals page (plain POSTs, no JavaScript needed)."""

import pytest
from django.urls import reverse

from peerlinks.models import AuditEvent, ChangeRequest, CloudAccount, PeerLink, SharedAttachment
from tests.test_attachments import link_to_team_b, person, team_b  # noqa: F401 (fixture)


@pytest.fixture
def waiting(team_b, engineer) -> SharedAttachment:  # noqa: F811
    link_to_team_b(engineer)
    return SharedAttachment.objects.get()


def link() -> PeerLink:
    return PeerLink.objects.get(name="pl-to-team-b")


def test_the_link_page_shows_both_sides_and_what_waits(client, team_b, waiting):  # noqa: F811
    client.force_login(person("a-lead", account=CloudAccount.objects.environment()))
    html = client.get(link().get_absolute_url()).content.decode()
    assert 'id="both-sides"' in html
    assert "Account main" in html and "Account team-b" in html
    assert "er-team-b-shared" in html and "pending_acceptance" in html
    assert "Waiting for team-b to accept the attachment." in html
    assert "account team-b" in html  # the peer tag names the peer's account
    # Not an approver of team-b: nothing to press.
    assert "accept-attachment" not in html


def test_the_change_page_shows_both_accounts(client, team_b, waiting):  # noqa: F811
    client.force_login(person("viewer-all", role="Viewer"))
    html = client.get(ChangeRequest.objects.get().get_absolute_url()).content.decode()
    assert 'id="both-sides"' in html
    assert "Account main" in html and "Account team-b" in html
    assert "Waiting for team-b to accept the attachment." in html


def test_a_final_change_that_made_no_link_says_so_on_both_sides(client, team_b, waiting):  # noqa: F811
    change = ChangeRequest.objects.get()
    ChangeRequest.objects.filter(pk=change.pk).update(state="failed", peer_link=None)
    client.force_login(person("viewer-all", role="Viewer"))
    html = client.get(change.get_absolute_url()).content.decode()
    assert 'id="both-sides"' in html
    assert "<dt>Link status</dt><dd>not made</dd>" in html and "not made yet" not in html


def test_team_b_approver_accepts_from_the_link_page(client, team_b, waiting):  # noqa: F811
    client.force_login(person("b-lead", account=team_b))
    page = link().get_absolute_url()
    assert f'id="accept-attachment-{waiting.pk}"' in client.get(page).content.decode()
    response = client.post(
        reverse("peerlinks:attachment_accept", args=[waiting.pk]), {"next": page}, follow=True
    )
    assert response.redirect_chain[-1][0] == page
    html = response.content.decode()
    assert "Accepted the attachment to router er-team-b-shared." in html
    assert "Waiting for team-b" not in html
    assert link().status == PeerLink.Status.ACTIVE
    assert AuditEvent.objects.filter(action="attachment.accepted", account=team_b).count() == 1
    assert "attachment.accepted" in html  # among the link's audit events


def test_a_double_click_says_it_no_longer_waits(client, team_b, waiting):  # noqa: F811
    client.force_login(person("b-lead", account=team_b))
    url = reverse("peerlinks:attachment_accept", args=[waiting.pk])
    client.post(url)
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert "no longer waits for a decision" in response.content.decode()
    assert AuditEvent.objects.filter(action__startswith="attachment.").count() == 1


def test_team_b_approver_rejects_from_the_approvals_page(client, team_b, waiting):  # noqa: F811
    client.force_login(person("b-lead", account=team_b))
    queue = reverse("peerlinks:approval_queue")
    html = client.get(queue).content.decode()
    assert f'id="waiting-attachment-{waiting.pk}"' in html and "pl-to-team-b" in html
    response = client.post(
        reverse("peerlinks:attachment_reject", args=[waiting.pk]), {"next": queue}, follow=True
    )
    assert response.redirect_chain[-1][0] == queue
    assert "Rejected the attachment to router er-team-b-shared" in response.content.decode()
    assert link().status == PeerLink.Status.ERROR


def test_the_approvals_page_lists_no_attachment_of_another_account(client, team_b, waiting):  # noqa: F811
    client.force_login(person("a-lead", account=CloudAccount.objects.environment()))
    html = client.get(reverse("peerlinks:approval_queue")).content.decode()
    assert "waiting-attachment-" not in html


@pytest.mark.parametrize("role", ["Approver of the first account", "Engineer of team-b", "Viewer"])
def test_anyone_else_is_refused_with_403(client, team_b, waiting, role):  # noqa: F811
    user = {
        "Approver of the first account": lambda: person("a-lead", account=CloudAccount.objects.environment()),
        "Engineer of team-b": lambda: person("b-eng", account=team_b, role="Engineer"),
        "Viewer": lambda: person("viewer-all", role="Viewer"),
    }[role]()
    client.force_login(user)
    response = client.post(reverse("peerlinks:attachment_accept", args=[waiting.pk]))
    assert response.status_code == 403
    waiting.refresh_from_db()
    assert waiting.is_waiting


def test_bad_requests_are_4xx(client, team_b, waiting):  # noqa: F811
    client.force_login(person("b-lead", account=team_b))
    assert client.get(reverse("peerlinks:attachment_accept", args=[waiting.pk])).status_code == 405
    assert client.post(reverse("peerlinks:attachment_reject", args=[999999])).status_code == 404
    # An address on another site is not followed back.
    response = client.post(
        reverse("peerlinks:attachment_accept", args=[waiting.pk]), {"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == link().get_absolute_url()


def test_the_link_list_and_the_gateway_page_say_what_the_link_waits_for(client, team_b, waiting):  # noqa: F811
    client.force_login(person("viewer-all", role="Viewer"))
    for url in (reverse("peerlinks:link_list"), link().gateway.get_absolute_url()):
        html = client.get(url).content.decode()
        assert html.count("Waiting for team-b to accept the attachment.") == 1, url
