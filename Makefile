# dcportal: `make run` starts the product, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The OpenID Connect provider the single sign-on tests start (tests/oidc, Node).
IDP_STAMP := tests/oidc/node_modules/.installed

.PHONY: setup run serve test test-postgres test-fast test-e2e test-slow bench bench-all chaos lint format messages clean

setup: $(STAMP) $(IDP_STAMP)

# Reinstall only when the pinned requirements change.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Only the tests need it (make test): without npm the single sign-on tests skip (with CI set they fail);
# .ci/run installs Node. make run and the others need only the Python environment.
$(IDP_STAMP): tests/oidc/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/oidc && npm ci --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the single sign-on tests will skip (apt-get install nodejs npm)"; fi

run: $(STAMP)
	./scripts/run-dev.sh

# Production-style serving on this host (docs/deploy.md): migrate, collect static files, then gunicorn
# configured from the environment by gunicorn.conf.py. Needs DEBUG=0 and a SECRET_KEY like production.
serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/gunicorn -c gunicorn.conf.py dcportal.wsgi

test: setup
	./scripts/test.sh

# The tests whose answer can depend on the database, again on PostgreSQL (TEST_POSTGRES_URL); CI runs it
# after make test.
test-postgres: setup
	./scripts/test.sh --postgres

# Everything but the browser tests, on SQLite only: the quick loop while working.
test-fast: setup
	DATABASE_URL= $(BIN)/pytest -m "not e2e"

# Only the browser tests (need Debian's chromium: apt-get install chromium).
test-e2e: setup
	DATABASE_URL= $(BIN)/pytest -m e2e

# The long browser matrices make test leaves out: axe-core on every page (en/zh-Hans, light/dark), every
# page at phone and tablet widths, the pages in Chinese (about as long as make test on 2 cores).
test-slow: setup
	DEBUG=1 DATABASE_URL= E2E_REQUIRED=1 $(BIN)/pytest -m "e2e and slow" -n 2

# Speed side by side (bench/speed.py, ~3 minutes); bench-all adds the fault run and the load run
# (PostgreSQL on 127.0.0.1:5432, ~5 more minutes). Figures and ratios are printed; README, Benchmarks.
# The chaos run (`make chaos`, ~5 minutes, SQLite then a PostgreSQL cluster of its own) is not part of
# bench-all: it stops and kills the product's processes and its database on purpose.
bench: $(STAMP)
	$(BIN)/python bench/speed.py $(BENCH_ARGS)

bench-all: bench
	$(BIN)/python bench/fault_run.py $(BENCH_ARGS)
	$(BIN)/python bench/load_run.py $(BENCH_ARGS)

chaos: $(STAMP)
	$(BIN)/python bench/chaos_run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The translations (locale/): collect every marked text into the Simplified Chinese catalog, then compile
# it. Needs GNU gettext (apt-get install gettext); the compiled .mo is committed, so running does not.
messages: $(STAMP)
	$(BIN)/python manage.py makemessages --locale zh_Hans --add-location file --no-obsolete \
		--ignore .venv --ignore var --ignore dcsim --ignore bench --ignore tests --ignore scripts
	$(BIN)/python manage.py compilemessages --locale zh_Hans --ignore .venv --ignore var

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
