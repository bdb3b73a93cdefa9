"""Every page reads the database a fixed, small number of times, whatever the number of rows and whoever
reads it: at most PAGE_BUDGET queries (issue 13), the same with 5 rows as with 60, with one account as
with two. What a page's frame needs (the session, the person with their preferences and what they may
do, the navigation's counts, the accounts and their regions for the banner) is read once per request,
in 4 (the person is read with their permissions and roles per account)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from peerlinks.models import AuditEvent, ChangeRequest, Drift, Notice, PeerLink, SharedAttachment
from tests.conftest import _user, account_role, make_gateway, make_peer_link, make_router, set_policy
from tests.test_cross_account_approvals import _create

PAGE_BUDGET = 10

pytestmark = pytest.mark.django_db


def _world(size: int) -> dict:
    """`size` links on a gateway (a fifth pending, a tenth in error), a change request and a notice each
    for a tenth of them."""
    gateway = make_gateway(name="gw-q")
    router = make_router(name="er-q")
    links = [
        make_peer_link(
            gateway=gateway,
            name=f"link-{i:03d}",
            status="PENDING_CREATE" if i % 5 == 0 else "ERROR" if i % 10 == 1 else "ACTIVE",
            peer_gateway_id=router.cloud_id,
            owner_team="noc",
        )
        for i in range(size)
    ]
    requester = _user(f"requester-{size}", "Engineer")
    for link in links[:: max(1, size // 6)]:
        ChangeRequest.objects.create(
            kind="delete", requested_by=requester, gateway=gateway, peer_link=link, payload={}
        )
    return {"gateway": gateway, "link": links[-1]}


def _pages(world: dict, *, approver: bool) -> list[str]:
    pages = [
        "/",
        "/links/",
        "/links/?q=link-00",
        "/links/?status=ERROR&sort=-name",
        "/links/?last=1",
        "/gateways/",
        f"/gateways/{world['gateway'].cloud_id}/",
        f"/links/{world['link'].cloud_id}/",
        "/changes/",
        "/audit/",
        "/notices/",
        "/search/?q=link",
        "/topology/",
        "/account/api-tokens/",
        "/live/",
    ]
    if approver:
        pages += ["/approvals/", "/lead/"]
    return pages


def _queries(client, pages: list[str]) -> dict[str, int]:
    counted = {}
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        counted[page] = len(queries)
    return counted


@pytest.mark.parametrize("role", ["Engineer", "Approver", "Admin"])
def test_each_page_reads_a_fixed_small_number_of_times_for_each_role(client, role):
    set_policy(approvals_create=1, approvals_update=1, approvals_delete=1)
    person = _user(f"person-{role.lower()}", role, is_staff=role == "Admin", is_superuser=role == "Admin")
    client.force_login(person)
    small = _world(5)
    Notice.objects.bulk_create(Notice(user=person, message=f"note {i}") for i in range(2))
    pages = _pages(small, approver=role in ("Approver", "Admin"))
    few = _queries(client, pages)
    big = _world(60)
    Notice.objects.bulk_create(Notice(user=person, message=f"note {i}") for i in range(28))
    many = _queries(client, _pages(big, approver=role in ("Approver", "Admin")))
    for (page, at_few), at_many in zip(few.items(), many.values(), strict=True):
        assert at_few <= PAGE_BUDGET, f"{page}: {at_few} queries"
        assert at_many <= at_few, f"{page}: {at_few} queries with 5 links, {at_many} with 60"


def test_a_second_account_costs_no_query_more(client, two_accounts):
    person = two_accounts["a_engineer"]
    client.force_login(person)
    world = {"gateway": two_accounts["gateway_a"], "link": two_accounts["link_a"]}
    counted = _queries(client, _pages(world, approver=False))
    for page, queries in counted.items():
        assert queries <= PAGE_BUDGET, f"{page}: {queries} queries with two accounts"
    # An approver as well: the navigation counts what waits for them (in the frame's one query of counts),
    # and a list's account filter offers the accounts the banner read.
    account_role(person, "Approver", two_accounts["team_b"])
    for page, queries in _queries(client, ["/approvals/", "/changes/", "/links/", "/lead/"]).items():
        assert queries <= PAGE_BUDGET, f"{page}: {queries} queries"


def test_a_cross_account_change_waiting_costs_no_query_more(client, two_accounts):
    """A change from one account's gateway to another's router waits for an approver of each: the queue
    weighs it against both accounts' approvers and the policy, for either account's approver."""
    _create(two_accounts)
    _create(two_accounts, gateway="gateway_b", name="only-b")
    for approver in ("a_approver", "b_approver"):
        client.force_login(two_accounts[approver])
        for page, queries in _queries(client, ["/approvals/", "/changes/", "/lead/", "/"]).items():
            assert queries <= PAGE_BUDGET, f"{page}: {queries} queries for {approver}"


def test_each_person_gets_their_own_counts_from_the_frames_queries_compiled_once(
    client, two_accounts, settings
):
    """The frame's queries are compiled once per connection and only executed afterwards (models.fixed_rows):
    people with different roles asking one after the other on one connection each see their own counts,
    as they would from queries built anew (with DEBUG off: no check against a query built anew)."""
    settings.DEBUG = False
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = True
    requester = _user("requester-ab", "Engineer")
    for gateway in (two_accounts["gateway_a"], two_accounts["gateway_b"], two_accounts["gateway_b"]):
        ChangeRequest.objects.create(
            kind="delete",
            requested_by=requester,
            gateway=gateway,
            payload={},
            state=ChangeRequest.State.PENDING_APPROVAL,
        )
    Notice.objects.create(user=two_accounts["b_approver"], message="one")
    everywhere = _user("approver-everywhere", "Approver")
    # Approvals waiting (badge) and notices unread (badge, none shown for 0) in the navigation.
    expected = {"a_approver": ("1", None), "b_approver": ("2", "1"), "everywhere": ("3", None)}
    people = {**two_accounts, "everywhere": everywhere}
    for name in ["a_approver", "b_approver", "everywhere", "b_approver", "a_approver"]:
        client.force_login(people[name])
        page = client.get("/").content.decode()
        shown = [
            re.search(rf'id="{link}"[^>]*>[^<]*(?:<span class="count-badge"[^>]*>(\d+)</span>)?', page).group(
                1
            )
            for link in ("nav-approvals", "nav-notices")
        ]
        assert shown == list(expected[name]), name
        # The dashboard's lists (compiled once too) show each person the changes of their own accounts.
        recent = page.split('id="recent-changes"')[1].split("</section>")[0]
        assert recent.count('<tr><td><a href="/changes/') == int(expected[name][0]), name


def test_a_frame_query_whose_key_leaves_out_what_shapes_it_is_caught_in_the_tests(db, settings):
    from django.contrib.auth import get_user_model

    from peerlinks.models import fixed_rows

    settings.DEBUG = True
    people = get_user_model().objects

    def by_name(pk: int, name: str):
        return people.filter(pk=pk, username=name).values_list("pk")

    first, second = _user("first-person"), _user("second-person")
    assert fixed_rows("left-out", lambda pk: by_name(pk, "first-person"), first.pk) == [(first.pk,)]
    # The name shapes the query too, but the key leaves it out: the next person's first call is checked.
    with pytest.raises(AssertionError, match="not fixed"):
        fixed_rows("left-out", lambda pk: by_name(pk, "second-person"), second.pk)


def test_each_link_page_shows_its_own_link_and_story_from_queries_compiled_once(
    client, two_accounts, settings
):
    """A link page's queries are compiled once (models.fixed_rows, with texts as well as numbers changing):
    pages of different links, asked in turn by people reading different accounts, each show that link and
    its own story, and a link of an account the person may not read is not found (with DEBUG off)."""
    settings.DEBUG = False
    settings.LIMIT_READING_TO_OWN_ACCOUNTS = True
    for name in ("link_a", "link_b"):
        link = two_accounts[name]
        AuditEvent.objects.create(
            action="peer_link.local_fields",
            object_type="peer_link",
            object_id=link.cloud_id,
            cloud_request_id=f"event-of-{link.name}",
        )
    turns = [
        ("a_engineer", "link_a", 200),
        ("b_engineer", "link_b", 200),
        ("b_engineer", "link_a", 404),
        ("a_engineer", "link_b", 404),
        ("a_engineer", "link_a", 200),
    ]
    for person, name, status in turns:
        client.force_login(two_accounts[person])
        link = two_accounts[name]
        response = client.get(link.get_absolute_url())
        assert response.status_code == status, (person, name)
        if status == 200:
            page = response.content.decode()
            assert f"<h1>{link.name}" in page or link.name in page
            other = "link-b" if name == "link_a" else "link-a"
            assert f"event-of-{link.name}" in page and f"event-of-{other}" not in page
    client.force_login(two_accounts["a_engineer"])
    assert client.get("/links/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_a_fixed_query_that_changes_a_text_it_is_given_is_refused(db):
    """fixed_rows replaces whole parameters only: a query that turns a text into a pattern is refused the
    first time, in production as in the tests, rather than answering the stand-in's rows."""
    from django.contrib.auth import get_user_model

    from peerlinks.models import fixed_rows

    person = _user("pattern-person")

    def named_like(name: str):
        return get_user_model().objects.filter(username__contains=name).values_list("pk")

    def named(name: str):
        return get_user_model().objects.filter(username=name).values_list("pk")

    assert fixed_rows("exact name", named, person.username) == [(person.pk,)]
    with pytest.raises(ValueError, match="cannot be fixed"):
        fixed_rows("name pattern", named_like, "pattern")


def _link_whose_attachment_waits(world: dict, name: str, *, n: int) -> PeerLink:
    """A pending link from account A's gateway to account B's router, its attachment waiting for B."""
    link = make_peer_link(
        gateway=world["gateway_a"],
        name=name,
        status="PENDING_CREATE",
        peer_type="ER",
        peer_gateway_id=world["router_b"].cloud_id,
        link_id=f"0b0b0b0b-0000-4000-8000-{n:012d}",
    )
    SharedAttachment.objects.create(
        cloud_id=link.link_id,
        router=world["router_b"],
        state=SharedAttachment.WAITING,
        resource_id=world["gateway_a"].cloud_id,
    )
    return link


def test_a_link_page_while_its_cross_account_attachment_waits_stays_within_the_budget(client, two_accounts):
    """The page reads the waiting attachment (to offer the router's approver its decision); it does not
    ask for drift the link was read without (most links have none)."""
    world = two_accounts
    link = _link_whose_attachment_waits(world, "across", n=1)
    for person in ("a_engineer", "b_approver"):
        client.force_login(world[person])
        counted = _queries(client, [link.get_absolute_url()])
        assert counted[link.get_absolute_url()] <= PAGE_BUDGET, (person, counted)
    # With drift seen on it as well: its page reads the drift too, and stays within the budget.
    Drift.objects.create(
        peer_link=link, kind=Drift.Kind.CHANGED, detail={"name": {"before": "across", "after": "renamed"}}
    )
    for person in ("a_engineer", "b_approver"):
        client.force_login(world[person])
        counted = _queries(client, [link.get_absolute_url()])
        assert counted[link.get_absolute_url()] <= PAGE_BUDGET, (person, "with drift", counted)


def test_a_cross_account_change_its_page_its_poll_and_the_queue_beside_a_batch_stay_within_the_budget(
    client, two_accounts
):
    """The page of a change between two accounts names its peer (router and account) and weighs its approvals
    against the policy's cross-account rule, both read with the change; so does the poll that brings its
    panels once it moved, and the queue, where a batch waits beside it."""
    from peerlinks.services import bulk

    world = two_accounts
    change = _create(world)
    gateway = make_gateway(project=world["gateway_a"].project, name="gw-room", available_peer_link_count=9)
    for n in range(2):
        make_router(project=gateway.project, name=f"er-batch-{n}")
    rows = "".join(f"gw-room,er-batch-{n},batch-{n},,team-a,CHG-{n}\n" for n in range(2))
    bulk.submit_creates(
        user=world["a_engineer"], records=bulk.parse(f"gateway,peer,name,description,owner,ticket\n{rows}")
    )
    page = f"/changes/{change.pk}/"
    for person in ("a_engineer", "a_approver", "b_approver"):
        client.force_login(world[person])
        counted = _queries(client, [page])
        with CaptureQueriesContext(connection) as polled:
            answer = client.get(
                "/live/", {"change": f"{change.pk}:shown before", "fast": "1"}, HTTP_HX_REQUEST="true"
            )
        counted["/live/ (the change moved)"] = len(polled)
        assert 'id="change-state"' in answer.content.decode()
        if person != "a_engineer":
            counted |= _queries(client, ["/approvals/"])
        for shown, queries in counted.items():
            assert queries <= PAGE_BUDGET, (person, shown, queries)
    body = client.get(page).content.decode()
    assert body.count('<strong class="peer-name">er-b</strong>') == 3
    assert '<span class="peer-account badge">account team-b</span>' in body


def test_what_a_person_may_do_is_read_with_their_session_as_a_query_of_its_own_would_read_it(two_accounts):
    """The frame reads a person's permissions and roles per account with their row (one query less on every
    page); the answer is the one the query of its own gives, for a global role, a role per account, a
    permission given to the person alone, a superuser and nobody."""
    from django.contrib.auth.models import Permission

    from peerlinks import permissions
    from peerlinks.models import AccountRole

    engineer = two_accounts["a_engineer"]
    engineer.user_permissions.add(Permission.objects.get(codename="change_policy"))
    AccountRole.objects.create(user=engineer, account=two_accounts["team_b"], role="Approver")
    people = [
        engineer,
        _user("global-approver", "Approver"),
        _user("root", "Admin", is_superuser=True),
        _user("no-role-yet"),
    ]
    for person in people:
        read_with_session = permissions.user_with_preferences(person.pk)
        apart = type(person).objects.get(pk=person.pk)  # read as a token or a sign-in reads a person
        assert read_with_session.get_all_permissions() == apart.get_all_permissions(), person
        assert permissions._account_roles(read_with_session) == permissions._account_roles(apart), person
    assert "peerlinks.change_policy" in permissions.user_with_preferences(engineer.pk).get_all_permissions()
    assert permissions._account_roles(permissions.user_with_preferences(engineer.pk)) == {
        two_accounts["first"].pk: frozenset({"Engineer"}),
        two_accounts["team_b"].pk: frozenset({"Approver"}),
    }
    assert permissions.user_with_preferences(people[-1].pk).get_all_permissions() == set()


@pytest.mark.parametrize("role", ["Viewer", "Engineer", "Approver", "Admin"])
def test_the_frame_reads_four_times_for_every_role_a_superuser_too(client, role):
    """The poll answers with the frame only: session, the person with what they may do, the counts, the
    accounts. A superuser's permissions are first asked for through the request's lazy user (Django's own
    check answers them without asking), and are read with the person all the same."""
    person = _user(f"frame-{role.lower()}", role, is_staff=role == "Admin", is_superuser=role == "Admin")
    client.force_login(person)
    assert _queries(client, ["/live/"]) == {"/live/": 4}


def test_a_cross_account_change_done_its_batch_and_the_create_form_stay_within_the_budget(
    client, two_accounts
):
    """Pages the frame's budget was first missed on: a cross-account create done, whose link's attachment
    waits for the other account (its sides drawn from what was read with the change); a batch's page, the
    same with one failed row as with three (whether each was retried is read with the rows); and the create
    form for a chosen gateway (the regions it offers come from the accounts the banner read)."""
    from peerlinks.services import bulk

    world = two_accounts
    change = _create(world)
    link = _link_whose_attachment_waits(world, "x-link", n=2)
    ChangeRequest.objects.filter(pk=change.pk).update(state=ChangeRequest.State.DONE, peer_link=link)
    gateway = make_gateway(project=world["gateway_a"].project, name="gw-room", available_peer_link_count=9)
    for n in range(3):
        make_router(project=gateway.project, name=f"er-row-{n}")
    rows = "".join(f"gw-room,er-row-{n},row-{n},,team-a,CHG-{n}\n" for n in range(3))
    header = "gateway,peer,name,description,owner,ticket\n"
    batch = bulk.submit_creates(user=world["a_engineer"], records=bulk.parse(header + rows))
    row_ids = list(bulk.batch_rows(batch).values_list("pk", flat=True))
    client.force_login(world["a_engineer"])
    for person in ("a_engineer", "a_approver", "b_approver"):
        client.force_login(world[person])
        page = f"/changes/{change.pk}/"
        counted = _queries(client, [page, f"/links/new/?gateway={world['gateway_a'].cloud_id}"])
        with CaptureQueriesContext(connection) as polled:
            client.get("/live/", {"change": f"{change.pk}:shown before"}, HTTP_HX_REQUEST="true")
        counted["/live/ (the change moved)"] = len(polled)
        for shown, queries in counted.items():
            assert queries <= PAGE_BUDGET, (person, shown, queries)
    client.force_login(world["a_engineer"])
    failed = ChangeRequest.State.FAILED
    ChangeRequest.objects.filter(pk=row_ids[0]).update(state=failed)
    one_failed = _queries(client, [batch.get_absolute_url()])[batch.get_absolute_url()]
    ChangeRequest.objects.filter(pk__in=row_ids).update(state=failed)
    three_failed = _queries(client, [batch.get_absolute_url()])[batch.get_absolute_url()]
    assert three_failed == one_failed <= PAGE_BUDGET
