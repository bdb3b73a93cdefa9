#!/usr/bin/env bash
# The whole check: Django's system checks, migrations in sync, lint, then the test suite.
# Runs on SQLite; with TEST_POSTGRES_URL set (or a PostgreSQL answering on 127.0.0.1:5432) once more on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG=1

$BIN/python manage.py check --fail-level WARNING
$BIN/python manage.py makemigrations --check --dry-run >/dev/null
$BIN/ruff check .
$BIN/ruff format --check .

echo "== tests on SQLite"
env -u DATABASE_URL $BIN/pytest "$@"

pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/dcportal}
if $BIN/python - "$pg_url" <<'PY'
import sys
import psycopg
url = sys.argv[1]
try:
    psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable ({exc.__class__.__name__}); skipping the PostgreSQL run")
    sys.exit(1)
PY
then
    echo "== tests on PostgreSQL"
    DATABASE_URL=$pg_url $BIN/pytest "$@"
fi
