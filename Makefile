# Retention: the commands a newcomer needs. `make demo` and `make test` set up everything themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RETENTION := $(BIN)/retention
STAMP := $(VENV)/.installed

.PHONY: install demo test lint up down sql docs dbt-docs bench bench-ingest clean

install: $(STAMP)

# The venv is rebuilt only when the pinned dependencies change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==25.3"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: install
	$(RETENTION) demo

test: install
	$(BIN)/pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

up: install
	$(RETENTION) up

down: install
	$(RETENTION) down

sql: install
	$(RETENTION) sql --shell

# Great Expectations Data Docs of every run (paths.data_docs_dir), on http://127.0.0.1:8082
docs: install
	$(RETENTION) data-docs

# The dbt docs (lineage, columns, tests) of the last run on http://127.0.0.1:8081
dbt-docs: install
	$(RETENTION) dbt-docs

# `make bench NAME=ingest` or `make bench-ingest`: results in var/bench/NAME.json
bench: install
	$(RETENTION) bench $(NAME)

bench-%: install
	$(RETENTION) bench $*

clean:
	rm -rf var mlruns/mlflow.db mlruns/artifacts
