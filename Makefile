# The two commands of the README's quick start: `make run` and `make test`.
# Each sets up what it needs first (a virtualenv in .venv), so both work on a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install system-deps run test lint typecheck unit bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,examples]'
	touch $(STAMP)

install: $(STAMP)

# Programs the test suite starts for real (a load generator, Prometheus, a browser), from
# Debian's packages. Installed when missing and this user may; otherwise the tests that need
# them say what is missing.
system-deps:
	@./scripts/system-deps.sh

run: install
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: system-deps lint typecheck unit

bench: install system-deps
	$(BIN)/python -m bench.run
