#!/usr/bin/env bash
# The whole check: Django's system checks, migrations in sync, lint, then the test suite:
#   1. everything but the browser tests on SQLite,
#   2. the browser tests (marked e2e) once, on SQLite, driving Debian's chromium, and beside them (they
#      mostly wait) those that use the database again on PostgreSQL (TEST_POSTGRES_URL, default
#      postgres://postgres@127.0.0.1:5432/dcportal).
# Locally a missing PostgreSQL or chromium skips that step with a warning; with CI set both are required.
# Extra arguments go to every pytest run, e.g. `./scripts/test.sh -k topology`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG=1
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
# pytest-xdist processes for each run.
WORKERS=${PYTEST_WORKERS:-2}
started=$SECONDS

step() { echo; echo "== $1 ($((SECONDS - started)) s so far)"; }

# pytest exits 5 when it collected nothing: a failure for the full suite (something is badly wrong),
# but expected when extra arguments select tests that live in another step.
run_pytest() {
    local rc=0
    $BIN/pytest "$@" || rc=$?
    if [[ $rc == 5 ]]; then
        if [[ $user_args == 1 ]]; then
            echo "(no tests selected in this step)"
            return 0
        fi
        echo "ERROR: pytest collected no tests in this step" >&2
    fi
    return $rc
}
user_args=$(( $# > 0 ))

step "checks and lint"
$BIN/python manage.py check --fail-level WARNING
$BIN/python manage.py makemigrations --check --dry-run >/dev/null
$BIN/ruff check .
$BIN/ruff format --check .

step "tests on SQLite"
DATABASE_URL="" run_pytest -m "not e2e" -n "$WORKERS" "$@"

pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/dcportal}
have_pg=0
if $BIN/python - "$pg_url" <<'PY'
import sys
import psycopg
url = sys.argv[1]
try:
    psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable at {url.split('@')[-1]} ({exc.__class__.__name__})")
    sys.exit(1)
PY
then
    have_pg=1
elif [[ -n "${CI:-}" ]]; then
    echo "ERROR: CI is set and PostgreSQL is required; set TEST_POSTGRES_URL or start one (.ci/run does)." >&2
    exit 1
else
    echo "WARNING: skipping the PostgreSQL run (set TEST_POSTGRES_URL, or CI=1 to make it required)."
fi
have_browser=0
if [[ -x "$CHROMIUM" ]]; then
    have_browser=1
elif [[ -n "${CI:-}" ]]; then
    echo "ERROR: CI is set and $CHROMIUM is missing (.ci/run installs Debian's chromium)." >&2
    exit 1
else
    echo "WARNING: skipping the browser tests: $CHROMIUM not found (apt-get install chromium)."
fi

# Only the tests that use the database: the others answer the same on any database (tests/conftest.py).
pg_tests() { DATABASE_URL=$pg_url DATABASE_TESTS_ONLY=1 run_pytest -m "not e2e" "$@"; }
# Each xdist process has its own live server, simulator, worker and file database. The long matrices (axe
# on every page in both languages and schemes, every page at phone widths, the pages in Chinese) are marked
# slow and left to `make test-slow`.
browser_tests() { DATABASE_URL="" CHROMIUM="$CHROMIUM" E2E_REQUIRED=1 run_pytest -m "e2e and not slow" "$@"; }

if [[ $have_pg == 1 && $have_browser == 1 ]]; then
    step "browser tests (e2e) on SQLite with $($CHROMIUM --version 2>/dev/null | head -n1), beside the tests on PostgreSQL"
    # The browser tests mostly wait (for polls, the worker, the simulator's delays): the PostgreSQL pass
    # runs beside them in one process, its report printed when both are done.
    pg_log=$(mktemp)
    pg_tests -n 1 -p no:cacheprovider "$@" >"$pg_log" 2>&1 &
    pg_pid=$!
    browser_rc=0
    browser_tests -n "$WORKERS" "$@" || browser_rc=$?
    pg_rc=0
    wait "$pg_pid" || pg_rc=$?
    step "tests on PostgreSQL (ran beside the browser tests)"
    cat "$pg_log"
    rm -f "$pg_log"
    if [[ $browser_rc != 0 || $pg_rc != 0 ]]; then
        echo "ERROR: browser tests exit $browser_rc, PostgreSQL tests exit $pg_rc" >&2
        exit 1
    fi
else
    if [[ $have_pg == 1 ]]; then
        step "tests on PostgreSQL"
        pg_tests -n "$WORKERS" "$@"
    fi
    if [[ $have_browser == 1 ]]; then
        step "browser tests (e2e) on SQLite with $($CHROMIUM --version 2>/dev/null | head -n1)"
        browser_tests -n "$WORKERS" "$@"
    fi
fi

echo
echo "== all green in $((SECONDS - started)) s"
