# Two commands on a fresh machine with Python 3.11+ and make:
#   make run   set up .venv and materialise the whole graph for the latest partition (offline)
#   make test  set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup dev bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/synth run $(if $(PARTITION),--partition $(PARTITION),)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

dev: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$$(pwd)/.synth/dagster} $(BIN)/dagster dev -w workspace.yaml

bench: $(STAMP)
	$(BIN)/python benchmarks/e2e.py

clean:
	rm -rf $(VENV) .synth
