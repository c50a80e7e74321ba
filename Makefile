# Two commands do everything on a fresh Debian machine with Python 3.11+:
#   make demo   - create .venv, install, run the whole system on embedded defaults
#                 (options: make demo DEMO_ARGS="--speed 1" or DEMO_ARGS=--reset)
#   make test   - install what the tests need (Python packages, Mosquitto, PostgreSQL,
#                 Chromium, front-end assets) and run everything CI runs
PYTHON    ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
RUNTIME   := $(VENV)/.installed-runtime
TESTING   := $(VENV)/.installed-test
# The versions the tests ran with (pip-compile of every extra): `make install*` and CI install
# through it, so a new release of a dependency cannot break a fresh clone. `make lock` renews it.
LOCK      := requirements/constraints.txt
LOCK_ARGS ?=
DEMO_ARGS ?=

.PHONY: all install install-test lock dist catalogs messages system-deps demo-deps bench-deps assets oidc-provider lint typecheck test test-fast demo compiled bench bench-api clean

all: test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The demo needs the port service and the demo's mailbox (extra `demo`, which includes
# `portal`); the tests every extra plus pytest, Playwright, linters, build tools and amshan.
$(RUNTIME): pyproject.toml $(LOCK) | $(VENV)/bin/python
	$(BIN)/pip install --quiet -c $(LOCK) --build-constraint $(LOCK) -e '.[demo]'
	touch $@

$(TESTING): pyproject.toml $(LOCK) | $(VENV)/bin/python
	$(BIN)/pip install --quiet -c $(LOCK) --build-constraint $(LOCK) \
	  -e '.[test,postgres,portal,demo]'
	touch $@ $(RUNTIME)

install: $(RUNTIME) catalogs

install-test: $(TESTING) catalogs

# After changing a dependency in pyproject.toml: resolve every extra and the build's own
# requirements (hatchling, Babel) again from the registry, keeping the pinned versions that
# still fit (`make lock LOCK_ARGS=--upgrade` takes the newest).
lock: | $(VENV)/bin/python
	$(BIN)/pip install --quiet 'pip-tools>=7.4,<8'
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --strip-extras \
	  --extra test,postgres,portal,demo --all-build-deps --unsafe-package hanport \
	  --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) -o $(LOCK) pyproject.toml

# The sdist and the wheel in dist/ (the build hook runs npm for the dashboard's assets and
# compiles the catalogs; installing the wheel needs neither).
dist: install-test
	rm -rf dist
	PIP_CONSTRAINT=$(abspath $(LOCK)) $(BIN)/python -m build
	$(BIN)/twine check --strict dist/*

# The texts' translations (.po) compiled for gettext (.mo, gitignored); Babel is the build tool.
catalogs: | $(VENV)/bin/python
	$(BIN)/python -c 'import babel' 2>/dev/null || $(BIN)/pip install --quiet -c $(LOCK) 'Babel>=2.14'
	$(BIN)/python scripts/compile_catalogs.py

# After changing texts: extract them and merge them into every language's catalog, then
# translate the new entries (tests/test_catalogs.py fails until every one is).
messages: catalogs
	mkdir -p build
	for domain in portal reader; do \
	  $(BIN)/pybabel --quiet extract -F babel-$$domain.cfg --no-location --sort-output \
	    -k NC_:1c,2 -k tr \
	    --project=hanport --copyright-holder="hanport contributors" \
	    -o build/$$domain.pot src/hanport/$$domain && \
	  $(BIN)/pybabel --quiet update -D $$domain -i build/$$domain.pot \
	    -d src/hanport/$$domain/locale --no-fuzzy-matching --ignore-obsolete \
	    || exit 1; \
	done

# Services the tests talk to for real; installed from Debian's packages when missing.
system-deps:
	bash scripts/install-system-deps.sh

# The demo needs no services installed: only venv support and npm for the chart library.
demo-deps:
	bash scripts/install-system-deps.sh demo

# Front-end libraries (charts) from the npm registry, pinned by package-lock.json, served locally.
assets:
	bash scripts/build-assets.sh

lint: install-test
	$(BIN)/ruff check src tests bench scripts hatch_build.py
	$(BIN)/ruff format --check src tests bench scripts hatch_build.py

typecheck: install-test
	$(BIN)/mypy src
	$(BIN)/lint-imports

# The OpenID provider the sign-in tests run against (oidc-provider, pinned by its lock).
OIDC_PROVIDER := tests/oidc/node_modules/.package-lock.json
$(OIDC_PROVIDER): tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund
	touch $@

oidc-provider: $(OIDC_PROVIDER)

test: system-deps install-test assets oidc-provider lint typecheck
	$(BIN)/pytest

test-fast: install-test
	$(BIN)/pytest -x -q -m "not slow and not browser"

demo: demo-deps install assets oidc-provider
	$(BIN)/hanport demo $(DEMO_ARGS)

# The wheel with the protocol core compiled by mypyc, installed apart (pip --target) so
# bench/decode.py measures it beside the editable, pure install. HANPORT_PURE=1 make dist
# builds the pure wheel.
compiled: install-test
	rm -rf build/compiled build/compiled-dist
	PIP_CONSTRAINT=$(abspath $(LOCK)) $(BIN)/python -m build --wheel --outdir build/compiled-dist
	$(BIN)/python -m pip install --quiet --no-deps --target build/compiled build/compiled-dist/*.whl

bench: install-test compiled
	$(BIN)/python bench/decode.py --compiled build/compiled

# The benchmarks' own tools (not the tests'): wrk, the HTTP load generator of bench/reader_api.py.
bench-deps:
	bash scripts/install-system-deps.sh bench

# The reader's API on a year of 10 s readings (made once into build/bench-year, about 3 min),
# at concurrency 1 and 20 beside a bare endpoint; BENCH_API_ARGS="--workers 2" for two processes.
BENCH_YEAR := build/bench-year/reader.sqlite3
BENCH_API_ARGS ?=
$(BENCH_YEAR): | $(RUNTIME)
	rm -rf build/bench-year
	$(BIN)/python bench/reader_import.py --workdir build/bench-year

bench-api: bench-deps install $(BENCH_YEAR)
	$(BIN)/python bench/reader_api.py --db sqlite:///$(abspath $(BENCH_YEAR)) $(BENCH_API_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
