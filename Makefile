# Two commands do everything on a fresh Debian machine with Python 3.11+:
#   make demo   - create .venv, install, run the whole system on embedded defaults
#   make test   - install what the tests need (Python packages, Mosquitto, PostgreSQL,
#                 Chromium, front-end assets) and run everything CI runs
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all install system-deps demo-deps assets lint typecheck test test-fast demo bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

# Services the tests talk to for real; installed from Debian's packages when missing.
system-deps:
	bash scripts/install-system-deps.sh

# The demo needs no services installed: only venv support and npm for the chart library.
demo-deps:
	bash scripts/install-system-deps.sh demo

# Front-end libraries (charts) from the npm registry, pinned by package-lock.json, served locally.
assets:
	bash scripts/build-assets.sh

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src/hanport/protocol
	$(BIN)/lint-imports

test: system-deps install assets lint typecheck
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -x -q -m "not slow and not browser"

demo: demo-deps install assets
	$(BIN)/hanport demo

bench: install
	$(BIN)/python bench/decode.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
