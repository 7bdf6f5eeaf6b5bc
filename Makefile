# The two commands of the README's quick start: `make run` and `make test`.
# Each sets up what it needs first (a virtualenv in .venv), so both work on a fresh clone:
# `make run` installs the package alone, `make test` adds the test, benchmark and docs tools.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of dependencies: each is redone when pyproject.toml changes.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_WORKERS ?= 3

.PHONY: install system-deps run test lint typecheck docs docs-screenshot unit bench lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[examples]'
	touch $(RUN_STAMP)

# The test extra, the bench extra too (mypy checks bench/ and tests/bench runs it), the docs
# extra (`make docs`, tests/docs) and the postgres extra (the ledger's tests on PostgreSQL). It
# includes the package, so `make run` has nothing left to install afterwards.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench,examples,docs,postgres,otel]'
	touch $(DEV_STAMP) $(RUN_STAMP)

# Everything a developer needs: the package, the test, benchmark and docs tools.
install: $(DEV_STAMP)

# Programs the test suite starts for real (a load generator, Prometheus, a browser), from
# Debian's packages. Installed when missing and this user may; otherwise the tests that need
# them say what is missing.
system-deps:
	@./scripts/system-deps.sh

# make runs this line without a shell: the server is make's own child and gets the signal
# that stops make (Ctrl-C, SIGTERM); it exits with status 0 after a graceful shutdown, so make
# reports nothing.
run: $(RUN_STAMP)
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

# The package's layers (pyproject.toml, [tool.importlinter]) are part of the lint: an import
# that runs back up a layer fails `make test` like a style error.
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The docs' generator and screenshot tool are loaded by path, not imported as packages: mypy
# checks them in a run of their own (one run cannot take both packages and files).
typecheck: $(DEV_STAMP)
	$(BIN)/mypy
	$(BIN)/mypy docs/hooks/reference.py docs/tools/dashboard_screenshot.py

# The docs site from docs/ into site/, strictly: a broken link, anchor or included file, or a
# reference page that cannot be generated, fails the build. Material for MkDocs prints a notice
# about its own future on every build; docs/development.md says what it means for this site.
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# docs/dashboard.png: the dashboard of the example, as `make run` serves it, at 1280 px, from
# Debian's chromium (a minute or so).
docs-screenshot: $(DEV_STAMP) system-deps
	$(BIN)/python docs/tools/dashboard_screenshot.py

# pytest under coverage; then the data of every process is combined and gateway/ must be
# covered at the floor set in pyproject.toml ([tool.coverage.report] fail_under).
# The tests run in TEST_WORKERS processes (pytest-xdist), which coverage follows like any other
# subprocess. Most of a test's time is spent waiting on the servers it starts, so two cores
# keep more than two workers busy. A test file stays whole on one worker (--dist loadfile): the
# servers a module shares start once.
unit: $(DEV_STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -n $(TEST_WORKERS) --dist loadfile
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

test: system-deps lint typecheck docs unit

bench: $(DEV_STAMP) system-deps
	$(BIN)/python -m bench.run

# The container's dependencies, pinned and hashed (the Dockerfile installs only these): the
# runtime, PostgreSQL's driver for the ledger, the example apps and the Kubernetes client, plus
# setuptools to build the package.
# Resolved for the Python running make (3.11, as the image's default base). Existing pins are
# kept; to move them all to the newest releases: make lock LOCK_FLAGS=--upgrade
lock: $(DEV_STAMP)
	$(BIN)/pip-compile --quiet $(LOCK_FLAGS) --generate-hashes --allow-unsafe --strip-extras \
		--all-build-deps --no-emit-find-links --no-emit-index-url --no-emit-trusted-host \
		--extra postgres --extra examples --extra kubernetes --output-file requirements.lock \
		pyproject.toml
