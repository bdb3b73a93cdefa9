"""Browser tests: Playwright driving Debian's chromium against the live server, the simulator and a real
task worker.

The worker is `manage.py db_worker` in a subprocess, exactly as `make run` starts it. To share the test
database with it, these tests use a file-based SQLite test database (an in-memory one lives in this
process only). Run them on their own (`pytest -m e2e`, as scripts/test.sh does): in a run that also holds
the other tests, the test database may already be in memory, and the browser tests then skip.
"""

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import on_postgresql, on_sqlite, skip_disk_flushes

# Playwright's sync API keeps an event loop in this thread; the ORM calls in the tests are still plain
# synchronous code, so Django's guard against async contexts would be a false alarm here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGION = "cn-north-4"
PASSWORD = "pw-for-e2e-only"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A file-based SQLite test database, so the worker subprocess can open it too (not flushed to disk at
    each commit: tests/conftest.py)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if on_sqlite(db):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("e2e-db") / "e2e.sqlite3")
    skip_disk_flushes(db)


def _database_url() -> str:
    """The URL of the test database as it is now (after pytest-django renamed it)."""
    from django.db import connection

    db = connection.settings_dict
    if on_sqlite(db):
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            message = "browser tests need a file database: run them on their own (pytest -m e2e)"
            if os.environ.get("E2E_REQUIRED"):
                pytest.fail(message)
            pytest.skip(message)
        return f"sqlite:///{name}"
    if on_postgresql(db):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    pytest.skip(f"no worker support for {db['ENGINE']}")


POLL = 0.5  # seconds between two looks of a polling element in these tests
FAST_POLL = 0.25  # seconds between two looks of a page's poll while it shows a pending badge


@pytest.fixture(autouse=True)
def _fast_polling(settings) -> None:
    """Pages poll every POLL_INTERVAL (LIVE_FAST_POLL_INTERVAL while a badge is pending); the live server
    runs in this process, so this reaches the browser."""
    settings.POLL_INTERVAL = POLL
    settings.LIVE_FAST_POLL_INTERVAL = FAST_POLL


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} not found: apt-get install chromium"
        if os.environ.get("E2E_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def cloud(simulator, settings, transactional_db) -> dict:
    """A small world in the simulator, synced into the cache: one gateway and three enterprise routers."""
    from django.core.management import call_command

    sim = simulator.sim
    sim.set_config(transition_delay=1.0)  # long enough to see a link pending before it settles
    gateway = sim.add_gateway(name="gdgw-e2e", region=REGION, quota=10)
    names = ("er-e2e-ok", "er-e2e-doomed", "er-e2e-3")
    routers = {name: sim.add_router(name=name, region=REGION)["id"] for name in names}
    settings.CLOUD_ENDPOINT = simulator.base_url
    settings.CLOUD_REGIONS = [REGION]
    settings.PENDING_RECHECK_INTERVAL = 0.25
    call_command("sync_peerlinks", stdout=io.StringIO())
    return {"simulator": simulator, "gateway_id": gateway["id"], "routers": routers}


def _manage(settings, log: Path, *args: str, **env: str) -> subprocess.Popen:
    """`manage.py ARGS` in its own process, on the test database and the simulator, writing to `log`."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CLOUD_ENDPOINT": settings.CLOUD_ENDPOINT,
        "CLOUD_REGIONS": ",".join(settings.CLOUD_REGIONS),
        "PENDING_RECHECK_INTERVAL": "0.25",
        "DEBUG": "1",
        "TASKS_BACKEND": "database",
        **env,
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen, log: Path) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.returncode not in (0, -15):
        print(log.read_text()[-4000:])


@pytest.fixture
def worker(cloud, settings, tmp_path) -> Iterator[subprocess.Popen]:
    """`manage.py db_worker` in its own process, on the test database and the simulator."""
    log = tmp_path / "worker.log"
    process = _manage(settings, log, "db_worker", "--no-reload", "--no-startup-delay", "--interval=0.2")
    yield process
    _stop(process, log)


@pytest.fixture
def scheduler(cloud, settings, tmp_path) -> Iterator[subprocess.Popen]:
    """`manage.py run_scheduler` in its own process, as `make run` starts it, with short intervals: change
    upkeep (releasing what waits for the change window) every 0.25 s, a full sync once a minute."""
    log = tmp_path / "scheduler.log"
    process = _manage(settings, log, "run_scheduler", SYNC_INTERVAL="60")
    yield process
    _stop(process, log)


def person(username: str, *roles: str, **flags: object) -> str:
    """A user with these roles (and flags such as is_staff), who logs in with PASSWORD; their username."""
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user = get_user_model().objects.create_user(username, password=PASSWORD, **flags)
    user.groups.set([ensure_role(role) for role in roles])
    return username


@pytest.fixture
def login_as(browser, live_server) -> Iterator[Callable[[str], object]]:
    """A fresh browser context per person, logged in through the login form."""
    from playwright.sync_api import expect

    contexts = []

    def login(username: str):
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".whoami")).to_have_text(username)
        return page

    yield login
    for context in contexts:
        context.close()


@pytest.fixture
def policy(transactional_db):
    """The default policy (a create needs one approval), as a flushed database may have lost its row."""
    from tests.conftest import set_policy

    return set_policy(approvals_create=1, window_enabled=False)


@pytest.fixture
def fast_cloud(cloud: dict, policy) -> dict:
    """The browser tests' world, with links that settle quickly once created."""
    cloud["simulator"].sim.set_config(transition_delay=0.5)
    return cloud


@pytest.fixture
def engineer_login(transactional_db) -> str:
    from django.contrib.auth import get_user_model

    from peerlinks.permissions import ensure_role

    user = get_user_model().objects.create_user("e2e-engineer", password=PASSWORD)
    user.groups.set([ensure_role("Engineer")])
    return user.username


@pytest.fixture
def logged_in(page, engineer_login):
    """The page, after logging in through the login form."""
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_label("Username").fill(engineer_login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(engineer_login, exact=True)).to_be_visible()
    return page


@pytest.fixture
def make_active_link(cloud, sim_clock):
    """Make a link directly in the cloud (as if done elsewhere), let it settle (the simulator's clock moves
    past the transition delay), and sync it into the cache."""
    from django.core.management import call_command

    import dcsim
    from peerlinks import cloud as api

    def make(name: str, router: str, *, description: str = "") -> str:
        result = api.create_peer_link(
            region=REGION,
            gateway_id=cloud["gateway_id"],
            name=name,
            description=description,
            peer_gateway_id=cloud["routers"][router],
            peer_region=REGION,
            peer_project_id=dcsim.project_id_for(REGION),
        )
        sim_clock.settle()
        call_command("sync_peerlinks", stdout=io.StringIO())
        return result.peer_link.id

    return make


def request_link(page, cloud: dict, *, router: str, name: str, description: str = "") -> int:
    """Fill in the create form as a person does and land on the new change's page; its id.

    Each of the first three choices reloads the peer list through htmx (queued: the last one asked for
    is answered last): the peer is chosen once no reload is in flight, so a late answer cannot reset it.
    """
    from playwright.sync_api import expect

    page.goto("/links/new/")
    page.get_by_label("Gateway").select_option(cloud["gateway_id"])
    page.get_by_label("Peer type").select_option("ER")
    page.get_by_label("Peer region").select_option(REGION)
    expect(page.locator("#create-form .htmx-request")).to_have_count(0)
    peer = page.locator("#field-peer select")
    router_id = cloud["routers"][router]
    expect(peer.locator(f'option[value="{router_id}"]')).to_be_attached()
    peer.select_option(router_id)
    expect(peer).to_have_value(router_id)
    page.get_by_label("Name", exact=True).fill(name)
    if description:
        page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Request this link").click()
    expect(page).to_have_url(re.compile(r"/changes/\d+/$"))
    return int(re.search(r"/changes/(\d+)/$", page.url).group(1))


# The short runs of Chinese (2-4 characters: a word such as 创建) that a table cell breaks over lines: a range
# over a run has a box per line it stands on.
_BROKEN_WORDS = """() => {
    const broken = [];
    const cells = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
    for (let node = cells.nextNode(); node; node = cells.nextNode()) {
        if (!node.parentElement.closest("td")) continue;
        for (const run of node.data.matchAll(/[\\u4e00-\\u9fff]{2,4}/g)) {
            const range = document.createRange();
            range.setStart(node, run.index);
            range.setEnd(node, run.index + run[0].length);
            if (range.getClientRects().length > 1) broken.push(run[0]);
        }
    }
    return broken;
}"""


def words_broken_in_tables(page) -> list[str]:
    """The short runs of Chinese that the page's tables break over lines (a column squeezed to a character
    a line): none should be, on any screen."""
    return page.evaluate(_BROKEN_WORDS)
