# Set-up and everyday commands. Everything installs into .venv; nothing is downloaded at run time.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DATA_DIR ?= var/sample
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install system-packages serve sample test test-all lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(BIN)/.installed

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
## it, nothing is downloaded by Playwright) and redis-server for the rate limits kept in Redis.
system-packages:
	@{ command -v chromium && command -v redis-server; } >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium redis-server; }

## Run the test suite (unit, integration with the real model, end-to-end over HTTP and in a browser).
test: install system-packages
	$(BIN)/python -m pytest -q

## Also the slow tests.
test-all: install
	$(BIN)/python -m pytest -q -m ''

## The lint tools (the `lint` extra of pyproject.toml, pinned) in the venv, installed once per change of pyproject.toml.
## Only the extra's own requirements are installed, so the venv's editable install of the project stays as it is.
$(BIN)/.lint-installed: pyproject.toml | install
	$(BIN)/python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['lint']))" \
	  | $(BIN)/python -m pip install --quiet --disable-pip-version-check -r /dev/stdin
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
