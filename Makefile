# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
# The demo (make run, make dev) publishes with a generated pseudonym key kept under the data dir
# when CUSTOMS_KPI_SECRET is not set; `CUSTOMS_KPI_DEMO=0 make run` refuses instead.
DEMO_ENV = CUSTOMS_KPI_DEMO=$${CUSTOMS_KPI_DEMO:-1}
MARTS_DIR = $${CUSTOMS_KPI_DATA_DIR:-data}/marts
DOCS_PORT ?= 8080

.PHONY: install run test dev docs sample bench lint clean help chromium java

help:
	@echo "make run    install into .venv, then load, check, build and publish every month in data/raw/"
	@echo "make test   install into .venv if needed, then run the test suite"
	@echo "make lint   ruff (lint and format check) and sqlfluff (the dbt models); make test runs it first"
	@echo "make dev    the Dagster UI on http://127.0.0.1:3000"
	@echo "make docs   serve the data dictionary and the scorecard report on http://127.0.0.1:$(DOCS_PORT)"
	@echo "make sample regenerate the bundled sample in data/raw/ (deterministic)"
	@echo "make bench  benchmark one month of 1M declarations (project vs bare DuckDB vs pandas) and the cost of history (BENCH_ARGS=...)"

install: $(STAMP)

# uv is installed into the venv itself; `--inexact` keeps it there across syncs.
# `--compile-bytecode` writes the .pyc files at install time: where PYTHONDONTWRITEBYTECODE is
# set, Python never caches them itself and every process would recompile Dagster and dbt (~7 s).
$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv sync --frozen --inexact --extra test --extra spark --compile-bytecode --python $(BIN)/python
	@touch $(STAMP)

run: install
	$(DEMO_ENV) $(BIN)/customs-kpi run

# Headless Chromium for the report test (Debian's package).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# Java for the Spark engine's test (CUSTOMS_KPI_ENGINE=spark; Debian's package).
java:
	@command -v java >/dev/null || (apt-get update && apt-get install -y openjdk-17-jre-headless)

# ruff: lint (pyflakes, pycodestyle errors) and the formatter's check; config in pyproject.toml.
# sqlfluff: the dbt models and data tests (DuckDB dialect, jinja templater with a shim of dbt's
# context in dbt/sqlfluff_libs, no warehouse needed); config in .sqlfluff. `sqlfluff fix` fixes
# most of the layout.
lint: install
	$(BIN)/ruff check dagster_project tests bench dbt/sqlfluff_libs
	$(BIN)/ruff format --check dagster_project tests bench dbt/sqlfluff_libs
	$(BIN)/sqlfluff lint dbt/models dbt/tests

# The modules run in parallel workers, one per core (at most 4), the long ones first;
# `PYTEST_ARGS=-n0` runs them in this process, one after the other (tests/conftest.py groups them).
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist loadgroup --no-loadscope-reorder
test: install chromium java lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

dev: install
	$(DEMO_ENV) $(BIN)/customs-kpi dev

# The data dictionary (marts/docs/) and the scorecard report (marts/report/), published by a run.
docs: install
	@test -f "$(MARTS_DIR)/docs/index.html" || { echo "no data dictionary in $(MARTS_DIR)/docs yet: run 'make run' first"; exit 1; }
	@echo "data dictionary: http://127.0.0.1:$(DOCS_PORT)/docs/   scorecard: http://127.0.0.1:$(DOCS_PORT)/report/"
	$(BIN)/python -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory "$(MARTS_DIR)"

# Figures and how to read them: bench/README.md. BENCH_ARGS="--declarations 10000000" for the full size.
bench: install
	$(DEMO_ENV) $(BIN)/python bench/bench.py $(BENCH_ARGS)

sample: install
	$(BIN)/customs-kpi generate --sample

clean:
	rm -rf data/work data/lake data/dagster_home dbt/target dbt/logs
	find data/marts -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
