#!/usr/bin/env bash
# The whole check on the default database: Django's system checks, migrations in sync, lint, then
#   1. everything but the browser tests on SQLite,
#   2. the browser tests (marked e2e, but not the long matrices marked slow) on SQLite, driving Debian's
#      chromium.
# With --postgres instead (make test-postgres, which CI runs after make test): the tests whose answer can
# depend on the database, again on PostgreSQL (TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/dcportal).
# Locally a missing PostgreSQL or chromium skips that run with a warning; with CI set both are required.
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
postgres=0
if [[ ${1:-} == --postgres ]]; then
    postgres=1
    shift
fi
user_args=$(( $# > 0 ))

if [[ $postgres == 1 ]]; then
    pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/dcportal}
    if ! $BIN/python - "$pg_url" <<'PY'
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
        if [[ -n "${CI:-}" ]]; then
            echo "ERROR: CI is set and PostgreSQL is required; set TEST_POSTGRES_URL or start one (.ci/run does)." >&2
            exit 1
        fi
        echo "WARNING: skipping the PostgreSQL run (set TEST_POSTGRES_URL, or CI=1 to make it required)."
        exit 0
    fi
    # Only the tests that use the database: the others answer the same on any database (tests/conftest.py).
    step "tests on PostgreSQL"
    DATABASE_URL=$pg_url DATABASE_TESTS_ONLY=1 run_pytest -m "not e2e" -n "$WORKERS" "$@"
    echo
    echo "== all green on PostgreSQL in $((SECONDS - started)) s"
    exit 0
fi

step "checks and lint"
$BIN/python manage.py check --fail-level WARNING
$BIN/python manage.py makemigrations --check --dry-run >/dev/null
$BIN/ruff check .
$BIN/ruff format --check .

step "tests on SQLite"
DATABASE_URL="" run_pytest -m "not e2e" -n "$WORKERS" "$@"

if [[ -x "$CHROMIUM" ]]; then
    # Each xdist process has its own live server, simulator, worker and file database. The long matrices
    # (axe on every page in both languages and schemes, every page at phone widths, the pages in Chinese)
    # are marked slow and left to `make test-slow`.
    step "browser tests (e2e) on SQLite with $($CHROMIUM --version 2>/dev/null | head -n1)"
    DATABASE_URL="" CHROMIUM="$CHROMIUM" E2E_REQUIRED=1 run_pytest -m "e2e and not slow" -n "$WORKERS" "$@"
elif [[ -n "${CI:-}" ]]; then
    echo "ERROR: CI is set and $CHROMIUM is missing (.ci/run installs Debian's chromium)." >&2
    exit 1
else
    echo "WARNING: skipping the browser tests: $CHROMIUM not found (apt-get install chromium)."
fi

echo
echo "== all green in $((SECONDS - started)) s"
