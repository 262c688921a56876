# Set-up and everyday commands. Everything installs into .venv; nothing is downloaded at run time.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DATA_DIR ?= var/sample
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install lock system-packages serve sample test test-all lint bench clean

## The exact versions of requirements.lock, every file checked against its sha256 (`make lock` writes
## the lock from pyproject.toml), then the project itself with no dependencies of its own, built by
## the locked setuptools (no build isolation, so nothing unhashed is fetched).
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --require-hashes -r requirements.lock
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

install: $(BIN)/.installed

## Rewrite requirements.lock and requirements-lint.lock from pyproject.toml (needs the registries; keeps
## the locked versions unless asked): `make lock`, `make lock LOCK_ARGS='--upgrade-package flask'`.
lock:
	PYTHON=$(PYTHON) tools/lock.sh $(LOCK_ARGS)

## Load the sample catalogue (data/) into $(DATA_DIR) and build its indexes.
sample: install
	$(BIN)/matcher --data-dir $(DATA_DIR) init
	$(BIN)/matcher --data-dir $(DATA_DIR) ingest data/projects.csv --kind projects
	$(BIN)/matcher --data-dir $(DATA_DIR) ingest data/needs.csv --kind needs
	$(BIN)/matcher --data-dir $(DATA_DIR) index

## Install, load the sample data and serve the API on http://$(HOST):$(PORT)/.
serve: sample
	@echo
	@echo "techmatch is starting on http://$(HOST):$(PORT)/ (API docs: http://$(HOST):$(PORT)/api/docs)"
	@echo "Try:  curl -s http://$(HOST):$(PORT)/api/v1/needs/N001/matches?top_k=3"
	@echo "      curl -s -X POST http://$(HOST):$(PORT)/api/v1/match -H 'Content-Type: application/json' \\"
	@echo "           -d '{\"text\": \"laser welding of aluminium battery trays\", \"top_k\": 3}'"
	@echo
	$(BIN)/matcher --data-dir $(DATA_DIR) serve --host $(HOST) --port $(PORT)

## Debian packages the tests need, installed once: Chromium for the browser tests (Playwright drives
## it, nothing is downloaded by Playwright), redis-server for the rate limits kept in Redis, and nginx
## for the production layout (README "Deployment") under a slow-client attack.
system-packages:
	@{ command -v chromium && command -v redis-server && { command -v nginx || test -x /usr/sbin/nginx; }; } >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium redis-server nginx-light; }

## Run the test suite (unit, integration with the real model, end-to-end over HTTP and in a browser).
test: install system-packages
	$(BIN)/python -m pytest -q

## Also the slow tests.
test-all: install
	$(BIN)/python -m pytest -q -m ''

## The lint tools (the `lint` extra of pyproject.toml, locked with hashes in requirements-lint.lock) in the
## venv, installed once per change of the lock. Only the extra's own requirements are installed, so the
## venv's editable install of the project stays as it is.
$(BIN)/.lint-installed: requirements-lint.lock | install
	$(PIP_INSTALL) --require-hashes -r requirements-lint.lock
	touch $@

## Lint, format check, types and import layers (configured in pyproject.toml). Changes nothing;
## every check runs, even after one fails, so one run lists all the findings.
lint: install $(BIN)/.lint-installed
	@status=0; \
	echo "== ruff check"; $(BIN)/ruff check . || status=1; \
	echo "== ruff format --check"; $(BIN)/ruff format --check . || status=1; \
	echo "== mypy"; $(BIN)/mypy || status=1; \
	echo "== lint-imports"; $(BIN)/lint-imports || status=1; \
	exit $$status

bench: install
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) var
