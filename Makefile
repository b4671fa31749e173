# Two commands on a fresh machine with Python 3.11+ and make:
#   make run   set up .venv and materialise the whole graph for the latest partition (offline)
#   make test  set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint setup dev bench clean browser services screenshots

# `make run` needs only the runtime; `make test` adds the test-only references and browser driver.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/synth run $(if $(PARTITION),--partition $(PARTITION),)

test: $(DEV_STAMP) browser services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint, format check and type check; rules and their reasons are in pyproject.toml.
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Debian's chromium for the browser test of the UI (Playwright never downloads a browser).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null || { echo "install chromium and set CHROMIUM=/path (used by the UI test)"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Debian's PostgreSQL and Redis for the service tests (synth_pipeline_tests/services.py starts them on loopback).
services:
	@command -v redis-server >/dev/null && { command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } || { \
	  command -v apt-get >/dev/null || { echo "install postgresql and redis-server (used by the service tests)"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server; }

# Refresh docs/screenshots/ from a real browser session against dagster dev.
screenshots: $(DEV_STAMP) browser
	SYNTH_CHROMIUM=$(CHROMIUM) SYNTH_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q -m browser synth_pipeline_tests/test_ui_browser.py

dev: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$$(pwd)/.synth/dagster} $(BIN)/dagster dev -w workspace.yaml

# Every benchmark prints its figures and the ratios against peers measured in the same run.
bench: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/e2e.py
	$(BIN)/python benchmarks/dedup.py
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/llm_throughput.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/partition_cost.py
	$(BIN)/python benchmarks/backfill.py
	$(BIN)/python benchmarks/collapse_probe.py --out $(VENV)/collapse_probe

clean:
	rm -rf $(VENV) .synth
