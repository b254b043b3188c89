# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
DBT_MANIFEST := dbt/target/manifest.json

.PHONY: install run test dev docs bench sample lint clean help

help:
	@echo "make run    install into .venv, then load, check, build and publish every month in data/raw/"
	@echo "make test   install into .venv if needed, then run the test suite"
	@echo "make dev    the Dagster UI on http://127.0.0.1:3000"
	@echo "make bench  the performance benchmark (bench/README.md)"
	@echo "make sample regenerate the bundled sample in data/raw/ (deterministic)"

install: $(STAMP)

# uv is installed into the venv itself; `--inexact` keeps it there across syncs.
$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv sync --frozen --inexact --extra test --python $(BIN)/python
	@touch $(STAMP)

run: install
	$(BIN)/customs-kpi run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

dev: install
	$(BIN)/customs-kpi dev

bench: install
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

sample: install
	$(BIN)/customs-kpi generate --sample

clean:
	rm -rf data/work data/dagster_home dbt/target dbt/logs
	find data/marts -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
