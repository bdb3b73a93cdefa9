"""The Django admin never rewrites what the cloud owns on a cached link: the next sync would blame the cloud
for it ("changed outside dcportal"). Local fields are edited there as on the link page, and audited."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from peerlinks.models import AuditEvent, PeerLink
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def link() -> PeerLink:
    return make_peer_link(name="pl-cached", status="ACTIVE")


def _change_url(link: PeerLink) -> str:
    return reverse("admin:peerlinks_peerlink_change", args=[link.pk])


def test_the_cloud_fields_of_a_cached_link_are_shown_but_not_editable(client, admin, link):
    client.force_login(admin)
    page = client.get(_change_url(link)).content.decode()
    for local in ("owner_team", "ticket_ref", "labels"):
        assert f'name="{local}"' in page
    for owned in ("name", "status", "reason", "peer_gateway_id", "create_owner", "synced_at", "gone_at"):
        assert f'name="{owned}"' not in page
    assert "pl-cached" in page and "ACTIVE" in page  # shown, read-only


def test_a_posted_cloud_field_is_ignored_and_a_local_edit_is_audited(client, admin, link):
    client.force_login(admin)
    cloud_owned = (link.name, link.status, link.create_owner)
    answer = client.post(
        _change_url(link),
        {
            "owner_team": "netops",
            "ticket_ref": "CHG-42",
            "labels": '["core"]',
            "status": "ERROR",
            "name": "renamed-by-hand",
            "create_owner": "someone",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    link.refresh_from_db()
    assert (link.name, link.status, link.create_owner) == cloud_owned
    assert (link.owner_team, link.ticket_ref, link.labels) == ("netops", "CHG-42", ["core"])
    event = AuditEvent.objects.get(action="peer_link.local_fields")
    assert event.actor == admin and event.object_id == link.cloud_id
    assert event.after == {"owner_team": "netops", "ticket_ref": "CHG-42", "labels": ["core"]}


def test_cached_links_cannot_be_added_or_deleted_in_the_admin(client, admin, link):
    client.force_login(admin)
    assert client.get(reverse("admin:peerlinks_peerlink_add")).status_code == 403
    assert (
        client.post(reverse("admin:peerlinks_peerlink_delete", args=[link.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert PeerLink.objects.filter(pk=link.pk).exists()


def test_an_admin_edit_of_the_policy_is_audited_with_what_changed(client, admin_user):
    from peerlinks.models import AuditEvent, Policy

    policy = Policy.current()
    client.force_login(admin_user)
    page = client.get(f"/admin/peerlinks/policy/{policy.pk}/change/")
    data = {
        field: value
        for field, value in page.context["adminform"].form.initial.items()
        if field in page.context["adminform"].form.fields
    }
    data = {
        key: ("on" if value is True else value) for key, value in data.items() if value not in (False, None)
    }
    data["approvals_create"] = 2
    data["window_weekdays"] = policy.window_weekdays
    data["expire_after"] = "7 00:00:00"
    data["window_start"] = policy.window_start.strftime("%H:%M")
    data["window_end"] = policy.window_end.strftime("%H:%M")
    response = client.post(f"/admin/peerlinks/policy/{policy.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.actor == admin_user
    assert event.before == {"approvals_create": 1} and event.after == {"approvals_create": 2}
    assert Policy.current().approvals_create == 2


def test_a_policy_change_reads_in_the_audit_log_in_both_languages(client, admin_user):
    from peerlinks.models import Policy
    from peerlinks.services.lifecycle import save_policy

    policy = Policy.current()
    policy.approvals_delete = 2
    save_policy(policy, user=admin_user)
    client.force_login(admin_user)
    english = client.get("/audit/").content.decode()
    assert "policy.changed" in english and "approvals_delete" in english
    chinese = client.get("/audit/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "policy.changed" in chinese and 'lang="zh-hans"' in chinese


# --- Roles for one account, on the user's admin page ----------------------------------------------


class _FormFields(HTMLParser):
    """The values an admin change form would post as it stands (inputs, checked boxes, selected options)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _form_data(html: str) -> dict[str, list[str]]:
    parser = _FormFields()
    parser.feed(html)
    return {name: values for name, values in parser.data.items() if values or name.endswith("groups")}


def test_roles_for_one_account_are_given_and_taken_away_in_the_user_admin_and_audited(client, admin):
    from django.contrib.auth import get_user_model

    from peerlinks.models import AccountRole, CloudAccount

    team_b = CloudAccount.objects.create(name="team-b", regions=["cn-north-4"])
    person = get_user_model().objects.create_user("ines")
    client.force_login(admin)
    url = reverse("admin:auth_user_change", args=[person.pk])
    data = _form_data(client.get(url).content.decode())
    prefix = "account_roles"
    assert f"{prefix}-TOTAL_FORMS" in data
    data[f"{prefix}-TOTAL_FORMS"] = ["1"]
    data[f"{prefix}-0-account"] = [str(team_b.pk)]
    data[f"{prefix}-0-role"] = ["Approver"]
    data[f"{prefix}-0-user"] = [str(person.pk)]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    row = AccountRole.objects.get(user=person)
    assert (row.account, row.role, row.from_idp) == (team_b, "Approver", False)
    added = AuditEvent.objects.get(action="user.account_role_added")
    assert added.actor == admin and added.object_id == str(person.pk) and added.account == team_b
    assert added.after == {"account": "team-b", "role": "Approver"}

    data = _form_data(client.get(url).content.decode())
    data[f"{prefix}-0-DELETE"] = ["on"]
    assert client.post(url, data).status_code == 302
    assert not AccountRole.objects.filter(user=person).exists()
    removed = AuditEvent.objects.get(action="user.account_role_removed")
    assert removed.before == {"account": "team-b", "role": "Approver", "from_idp": False}


def test_the_403_page_names_the_accounts_a_person_holds_roles_for(client, two_accounts):
    client.force_login(two_accounts["b_engineer"])
    response = client.post(reverse("peerlinks:link_local", args=[two_accounts["link_a"].cloud_id]), {})
    assert response.status_code == 403
    html = response.content.decode()
    assert f"You are not an engineer for account {two_accounts['first'].name}." in html
    assert 'id="account-roles"' in html and "<strong>team-b</strong>: Engineer" in html
