"""Shared fixtures and helpers: the simulator on an ephemeral loopback port and its clock, one way to wait
for something (`poll_until`), people and cached rows, and a guard that keeps tests offline."""

import html
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets (PostgreSQL's socket) stay on this machine


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"tests must not leave loopback: connect to {address!r} refused")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _offline_guard():
    """Fail any connection a test makes outside 127.0.0.0/8 and ::1."""
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _real_connect


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SQLite tests use a file, not shared-cache memory: threads in race tests then wait for the write
    lock (timeout, IMMEDIATE) as the web and worker processes do, instead of failing with "table locked"."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    # A backend these helpers do not know would silently turn off what they set up for the other two.
    assert on_sqlite(db) or on_postgresql(db), f"tests/conftest.py does not know {db['ENGINE']}"
    if on_sqlite(db):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    skip_disk_flushes(db)


def on_postgresql(db: dict) -> bool:
    """Whether these database settings are PostgreSQL's (Django's backend, or dcportal's own on it)."""
    return db["ENGINE"] in ("django.db.backends.postgresql", "dcportal.postgresql")


def on_sqlite(db: dict) -> bool:
    """Whether these database settings are SQLite's (Django's backend, or dcportal's own on it)."""
    return db["ENGINE"] in ("django.db.backends.sqlite3", "dcportal.sqlite3")


def skip_disk_flushes(db: dict) -> None:
    """The test database is thrown away after the run: a commit need not wait for the disk (an fsync costs
    several milliseconds here, and a sync or a transactional test commits hundreds of times). SQLite skips
    its fsyncs (synchronous=OFF); PostgreSQL answers a commit before its WAL reaches the disk
    (synchronous_commit=off). Locks, transactions and what other connections see are unchanged; only a
    crash of the machine could lose the last commits. Worker subprocesses open the database with the
    product's settings and still wait for the disk."""
    options = db.setdefault("OPTIONS", {})
    if on_sqlite(db):
        commands = [options.get("init_command"), "PRAGMA synchronous=OFF"]
        options["init_command"] = ";".join(filter(None, commands))
    elif on_postgresql(db):
        options["options"] = " ".join(filter(None, [options.get("options"), "-c synchronous_commit=off"]))


# Rows every migrate makes and no test changes: a flush that kept them has nothing to make again after it.
KEPT_BY_FLUSH = ("django_content_type", "auth_permission")


@pytest.fixture(scope="session", autouse=True)
def _quick_flush(django_db_setup: None) -> None:
    """Empty the test tables quickly after each transactional test (some sixty of them).

    Django's flush TRUNCATEs every table on PostgreSQL, which makes each one anew on disk (about 0.3 s for
    this schema); DELETE of their few rows takes 10 ms, and the deferred foreign keys make the order
    irrelevant. Content types and permissions are kept, so the post-migrate signal after the flush only
    finds them instead of making them all again (the roles are still made again: they are flushed).
    """
    from django.db import connection

    flush = connection.ops.sql_flush

    def sql_flush(style: object, tables: list[str], *, reset_sequences: bool = False, **options: object):
        tables = [table for table in tables if table not in KEPT_BY_FLUSH]
        if reset_sequences or connection.vendor != "postgresql":
            return flush(style, tables, reset_sequences=reset_sequences, **options)
        return [f"DELETE FROM {connection.ops.quote_name(table)};" for table in tables]

    connection.ops.sql_flush = sql_flush


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs ~0.3 s a user; tests need logins, not brute-force resistance."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language_and_zone() -> Iterator[None]:
    """A page asked for in Chinese leaves Chinese active in this thread (LocaleMiddleware sets it per
    request and never resets it): each test starts in English and the default zone."""
    from django.utils import timezone, translation

    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture(autouse=True)
def _no_parts_drawn_by_another_test() -> None:
    """Each test starts with no drawn part kept (peerlinks.data_version): a test's writes are rolled back
    with it, its data version with them on SQLite, and the next test's data could come back to that
    version with other rows."""
    from django.core.cache import caches

    caches["drawn_parts"].clear()


# --- Waiting ------------------------------------------------------------------------------------


def poll_until(
    condition: Callable[[], T],
    *,
    what: str | Callable[[], str],
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    After `timeout` seconds, fail with an AssertionError naming `what` was awaited (a callable `what` is
    called then, to describe how far things got). Whatever the condition raises (an assertion that
    something went wrong meanwhile, say) ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            description = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {description}")
        time.sleep(interval)


# --- The link table as shown ---------------------------------------------------------------------

_LINK_ROW = re.compile(r'<tr id="link-[^"]*"[^>]*><td>(?:<input [^>]*> )?<a href="[^"]*">([^<]*)</a>')


def listed_names(response) -> list[str]:
    """The names in a page's link table (the list page, a gateway's page), in the order shown."""
    return [html.unescape(name) for name in _LINK_ROW.findall(response.content.decode())]


# --- The page's one poll --------------------------------------------------------------------------


def live_version(page: str) -> str:
    """The version of the live parts a page shows, which its one poll sends to `/live/` (`v`)."""
    return re.search(r'class="live-version" name="v" value="([^"]+)"', page).group(1)


def followed_panel(page: str, name: str) -> str:
    """What a panel of the page gives its one poll (`<id>:<version>`, live_follow_panel; "" for none)."""
    found = re.search(rf'class="live-panel" name="{name}" value="([^"]+)"', page)
    return found.group(1) if found else ""


# --- Processes on the test database ----------------------------------------------------------


def worker_database_url() -> str:
    """The test database as a DATABASE_URL for a `manage.py db_worker` (or other) subprocess."""
    from django.db import connection

    db = connection.settings_dict
    if on_sqlite(db):
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("the worker needs a file database; tests/conftest.py should have made one")
        return f"sqlite:///{name}"
    if on_postgresql(db):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    pytest.skip(f"no worker support for {db['ENGINE']}")


# --- The simulator ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def simulator_session():
    """One simulator process-wide (in a background thread), on an ephemeral port, empty seed."""
    from dcsim.server import start_background

    handle = start_background(host="127.0.0.1", port=0, seed="empty", transition_delay=0.2)
    yield handle
    handle.stop()


def _put_back(handle) -> None:
    """After a test: the simulator on real time again, empty, with no faults and its start config."""
    handle.sim.clock = time.time
    handle.reset(seed="empty")


@pytest.fixture
def simulator(simulator_session):
    """The shared simulator, reset to the empty seed with no faults before each test.

    A test that needs other timings or quotas sets them with `simulator.sim.set_config(...)` (undone by
    the next reset); it does not start a simulator of its own.
    """
    simulator_session.reset(seed="empty")
    yield simulator_session
    _put_back(simulator_session)


@pytest.fixture
def demo_simulator(simulator_session):
    """The shared simulator, reset to the demo seed before each test."""
    simulator_session.reset(seed="demo")
    yield simulator_session
    _put_back(simulator_session)


class SimClock:
    """The simulator's clock in a test: real time plus an offset the test moves forward.

    The simulator's store is clock-driven and lazy: a link due ACTIVE (or gone) is so at the first read
    after the clock has passed its due time. So a test that only waits for `transition_delay` or
    `delete_delay` to pass calls `settle()` instead of sleeping. Keep the total offset under the 15 minutes
    of clock skew the simulator allows an AK/SK signature, unless skew is what the test is about.
    """

    def __init__(self, sim) -> None:
        self.sim = sim
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "the simulator's clock only moves forward"
        self.offset += seconds

    def settle(self) -> None:
        """Move past the simulator's current transition and delete delays: what is pending now is due."""
        config = self.sim.get_config()
        self.advance(max(config["transition_delay"], config["delete_delay"]) + 0.001)


@pytest.fixture
def sim_clock(simulator_session) -> SimClock:
    """The shared simulator's clock, under the test's control (with `simulator` or `demo_simulator`)."""
    clock = SimClock(simulator_session.sim)
    simulator_session.sim.clock = clock
    yield clock
    simulator_session.sim.clock = time.time


def run_tasks_until(
    change,
    *,
    sim_clock: SimClock | None = None,
    until: Callable | None = None,
    timeout: float = 20.0,
):
    """Run the queued tasks in-process (`db_worker --batch`), round after round, until the change request
    is final or `until(change)` holds; return it. With `sim_clock`, the simulator's clock moves past its
    delays between rounds, so links settle without waiting for them."""
    from django.core.management import call_command

    until_default = until is None
    until = until or (lambda c: c.is_terminal)

    def round_done() -> bool:
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
        change.refresh_from_db()
        if until(change):
            return True
        if sim_clock is not None:
            sim_clock.settle()
        return False

    poll_until(
        round_done,
        what=lambda: (
            f"change #{change.pk} to be {'final' if until_default else 'where the test needs it'}"
            f" (it is {change.state}: {change.error_msg or 'no error'})"
        ),
        timeout=timeout,
        interval=0.02,
    )
    return change


# --- People and cached rows -------------------------------------------------------------------

TEST_PASSWORD = "pw-for-tests-only"


def _user(username: str, *roles: str, **flags: object):
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user = get_user_model().objects.create_user(username, password=TEST_PASSWORD, **flags)
    user.groups.set([ensure_role(role) for role in roles])
    return user


@pytest.fixture
def engineer(db):
    return _user("engineer1", "Engineer")


@pytest.fixture
def viewer(db):
    return _user("viewer1", "Viewer")


@pytest.fixture
def approver(db):
    return _user("lead1", "Approver")


@pytest.fixture
def second_approver(db):
    return _user("lead2", "Approver")


@pytest.fixture
def admin(db):
    return _user("admin1", "Admin", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(db):
    """Logged in, but with no role at all."""
    return _user("outsider1")


def set_policy(**fields: object):
    """Change the approval policy row for one test (fields of peerlinks.models.Policy)."""
    from peerlinks.models import Policy

    policy = Policy.current()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    return policy


@pytest.fixture
def no_approvals(db):
    """A policy that approves every change at submission: for tests about execution, not approval."""
    return set_policy(approvals_create=0, approvals_update=0, approvals_delete=0)


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


_counter = iter(range(1, 10**9))


def make_project(region: str = "cn-north-4", **overrides: object):
    from peerlinks.models import CloudProject

    defaults = {"project_id": f"{next(_counter):032x}"}
    defaults.update(overrides)
    return CloudProject.objects.get_or_create(region=region, defaults=defaults)[0]


def make_gateway(**overrides: object):
    import uuid

    from peerlinks.models import Gateway

    values = {
        "cloud_id": str(uuid.uuid4()),
        "name": f"gdgw-{next(_counter)}",
        "status": "ACTIVE",
        "bgp_asn": 64512,
        "current_peer_link_count": 0,
        "available_peer_link_count": 3,
    }
    values.update(overrides)
    if "project" not in values:
        values["project"] = make_project(values.pop("region", "cn-north-4"))
    return Gateway.objects.create(**values)


def make_router(**overrides: object):
    import uuid

    from peerlinks.models import EnterpriseRouter

    values = {
        "cloud_id": str(uuid.uuid4()),
        "name": f"er-{next(_counter)}",
        "state": "available",
        "asn": 64513,
    }
    values.update(overrides)
    if "project" not in values:
        values["project"] = make_project(values.pop("region", "cn-north-4"))
    return EnterpriseRouter.objects.create(**values)


def make_peer_link(**overrides: object):
    """A cached peer link to an enterprise router; any field can be overridden."""
    import uuid

    from peerlinks.models import PeerLink

    values = {
        "cloud_id": str(uuid.uuid4()),
        "name": f"link-{next(_counter)}",
        "status": "ACTIVE",
        "peer_type": "ER",
        "peer_gateway_id": str(uuid.uuid4()),
        "peer_region": "cn-north-4",
        "peer_project_id": f"{next(_counter):032x}",
        "create_owner": "dc",
    }
    values.update(overrides)
    if "gateway" not in values:
        values["gateway"] = make_gateway()
    return PeerLink.objects.create(**values)


# --- Two accounts ----------------------------------------------------------------------------------


@pytest.fixture
def carry_two_accounts(simulator, settings, db):
    """Two cloud accounts synced from the simulator (cn-north-4): the first one (`first-account`, the
    CLOUD_* settings, simulator account dcsim-demo) with gateway gdgw-first, router er-first and link
    pl-first between them, and `team-b` with gdgw-teamb, er-teamb and pl-teamb; a pending change request
    and an audit event in each. Returns the rows by name."""
    import dcsim
    from peerlinks import cloud
    from peerlinks.models import ChangeRequest, CloudAccount, Gateway, PeerLink
    from peerlinks.services.audit import record_audit
    from peerlinks.services.sync import sync_region

    region = "cn-north-4"
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [region]
    settings.CLOUD_MAX_RETRIES = 0
    simulator.sim.set_config(transition_delay=0)
    first = CloudAccount.objects.environment()
    first.name = "first-account"  # a name no page has for another reason
    first.save(update_fields=["name"])
    team_b = CloudAccount.objects.create(
        name="team-b", access_key=dcsim.TEAM_B_AK, secret_key=dcsim.TEAM_B_SK, regions=[region]
    )
    requester = _user("requester-two-accounts", "Engineer")
    rows: dict = {"first": first, "team_b": team_b}
    for key, account, domain in (("first", first, dcsim.DEMO_DOMAIN), ("teamb", team_b, dcsim.TEAM_B_DOMAIN)):
        gateway = simulator.sim.add_gateway(name=f"gdgw-{key}", region=region, account=domain)
        router = simulator.sim.add_router(name=f"er-{key}", region=region, account=domain)
        cloud.create_peer_link(
            region=region,
            gateway_id=gateway["id"],
            name=f"pl-{key}",
            peer_gateway_id=router["id"],
            peer_region=region,
            peer_project_id=dcsim.project_id_for(region, domain),
            config=account.cloud_config(),
        )
        sync_region(region=region, account=account)
        rows[f"gateway_{key}"] = Gateway.objects.get(cloud_id=gateway["id"])
        rows[f"link_{key}"] = PeerLink.objects.get(name=f"pl-{key}")
        rows[f"change_{key}"] = ChangeRequest.objects.create(
            kind="update",
            requested_by=requester,
            gateway=rows[f"gateway_{key}"],
            peer_link=rows[f"link_{key}"],
            payload={"name": f"pl-{key}-renamed", "description": ""},
        )
        rows[f"event_{key}"] = record_audit(
            action="peer_link.local_fields",
            actor=requester,
            obj=rows[f"link_{key}"],
            after={"ticket_ref": key},
        )
    return rows


def account_role(user, role: str, account):
    """Give `user` role `role` ("Engineer", …) for `account` only, as an admin would."""
    from peerlinks.models import AccountRole

    AccountRole.objects.create(user=user, account=account, role=role)
    return user


@pytest.fixture
def two_accounts(db, settings):
    """Two accounts with cached rows in cn-north-4, and people holding a role for one account only.

    The first account (the environment's, `first`) and `team-b` (the simulator's second account, by its
    keys) each have a project, a gateway (`gateway_a`, `gateway_b`), a router and a link; `b_engineer` is an
    engineer for team-b only, `a_approver` an approver for the first account only, `b_approver` one for
    team-b only; `a_engineer` an engineer for the first account only.
    """
    import dcsim
    from peerlinks.models import CloudAccount, CloudProject

    settings.CLOUD_REGIONS = ["cn-north-4"]
    set_policy(approvals_create=1, approvals_update=1, approvals_delete=1)
    first = CloudAccount.objects.environment()
    team_b = CloudAccount.objects.create(
        name="team-b", access_key=dcsim.TEAM_B_AK, secret_key=dcsim.TEAM_B_SK, regions=["cn-north-4"]
    )
    project_a = make_project("cn-north-4")
    project_b = CloudProject.objects.create(
        account=team_b, region="cn-north-4", project_id=f"{next(_counter):032x}"
    )
    world = {
        "first": first,
        "team_b": team_b,
        "gateway_a": make_gateway(project=project_a, name="gw-a"),
        "gateway_b": make_gateway(project=project_b, name="gw-b"),
        "router_a": make_router(project=project_a, name="er-a"),
        "router_b": make_router(project=project_b, name="er-b"),
        "a_engineer": account_role(_user("a-engineer"), "Engineer", first),
        "b_engineer": account_role(_user("b-engineer"), "Engineer", team_b),
        "a_approver": account_role(_user("a-approver"), "Approver", first),
        "b_approver": account_role(_user("b-approver"), "Approver", team_b),
    }
    world["link_a"] = make_peer_link(gateway=world["gateway_a"], name="link-a")
    world["link_b"] = make_peer_link(gateway=world["gateway_b"], name="link-b")
    return world


# --- Mail ----------------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 Message accepted for delivery"


def smtp_settings(settings, port: int) -> None:
    """Send mail over SMTP, without TLS or login, to 127.0.0.1:`port`."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 1.0
    settings.SITE_URL = "https://dcportal.example.net"


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server (aiosmtpd) on a loopback port, and dcportal sending its mail there."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    with socket.create_server(("127.0.0.1", 0)) as probe:  # aiosmtpd needs a port number up front
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_settings(settings, port)
    yield inbox
    controller.stop()


# Test files whose answers do not depend on the database engine: they render pages and check who may see
# or do what (the queries are plain filters any engine answers alike), or they start processes on a
# SQLite file of their own. The PostgreSQL pass skips them; they ran in the SQLite pass.
# Not here, though they render pages: the files that lock rows, race, migrate, search text or JSON
# (labels), page by cursor, count in one upsert (API rate limits), store what a user typed (fuzzing,
# schemathesis: PostgreSQL refuses NUL characters) or sync (COPY on PostgreSQL).
SAME_ON_EVERY_DATABASE = {
    "test_accounts_admin.py",
    "test_admin.py",
    "test_attack.py",  # error pages, proxy addresses, CSV cells, cache headers, mail headers
    "test_cloud_reachability.py",  # the cloud banner and the live poll; the sync itself is test_sync's
    "test_demo_users.py",
    "test_error_pages.py",
    "test_forms.py",  # choices offered and rule breaks on the right field
    "test_health.py",
    "test_htmx.py",
    "test_i18n.py",
    "test_i18n_changes.py",
    "test_i18n_every_page.py",
    "test_i18n_links.py",
    "test_i18n_overview.py",
    "test_idor.py",
    "test_lifecycle.py",  # each control shown exactly when its guard allows the action
    "test_no_plaintext_credentials.py",
    "test_notifications.py",  # who is told what; mail after commit is Django's on_commit on both
    "test_permissions.py",
    "test_preferences.py",
    "test_run_dev.py",
    "test_secrets.py",
    "test_security.py",
    "test_settings.py",
    "test_sso.py",
    "test_topbar.py",
    "test_views_accounts_shown.py",
    "test_views_attachments.py",
    "test_views_audit.py",
    "test_views_dashboard.py",
    "test_views_gateways.py",
    "test_views_notices.py",
    "test_views_topology.py",
}


# The files holding the longest tests (10 to 40 s each on 2 cores, most of them starting real processes or
# following a change through the worker in a browser), longest first. They run before the others: pytest-xdist
# hands out tests from the front, so a run no longer ends with one process on a long test and the other idle.
LONGEST_FIRST = (
    "e2e/test_bulk.py",
    "test_run_dev.py",
    "e2e/test_cross_account.py",
    "e2e/test_dashboard_live.py",
    "test_i18n_every_page.py",
    "e2e/test_defects_seen.py",
    "test_health.py",
    "test_api_schema.py",
    "e2e/test_approvals_flow.py",
    "e2e/test_account_roles.py",
    "test_outage.py",
    "test_worker_killed.py",
    "test_migrations.py",
    "test_fuzz.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first. With DATABASE_TESTS_ONLY set (the PostgreSQL pass), only the tests
    whose answer can depend on the database: those that use it, minus the files in SAME_ON_EVERY_DATABASE.
    The others (the cloud client, the simulator, settings, fuzzing the wire models, pages and permissions)
    give the same answer whatever the database, and already ran in the SQLite pass."""
    import os

    tests = Path(__file__).parent
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(tests).as_posix(), len(rank)))
    if not os.environ.get("DATABASE_TESTS_ONLY"):
        return
    uses_database = [
        item
        for item in items
        if (item.get_closest_marker("django_db") is not None or "_django_db_helper" in item.fixturenames)
        and item.path.name not in SAME_ON_EVERY_DATABASE
    ]
    config.hook.pytest_deselected(items=[item for item in items if item not in uses_database])
    items[:] = uses_database
