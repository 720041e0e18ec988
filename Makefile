# Customer data platform pipeline: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON    ?= $(shell command -v python3.11 || command -v python3)
VENV      := .venv
BIN       := $(VENV)/bin
UV        ?= $(shell command -v uv || echo .tools/bin/uv)
CUSTOMERS ?= 10000
SEED      ?= 42
# Yesterday (UTC), as a nightly run covers a day that has ended: the sample data is stamped up to the
# end of RUN_DATE, and the store source quarantines rows stamped more than an hour after it reads them.
RUN_DATE  ?= $(shell date -u -d yesterday +%F)

export DO_NOT_TRACK := 1
# airflow standalone starts its components as `airflow ...`: the venv must be on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AIRFLOW_HOME ?= $(CURDIR)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# Small machines: few concurrent tasks; the DAG itself runs one task at a time (one DuckDB writer).
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS ?= True
export AIRFLOW__API__PORT ?= 8080

.PHONY: help install demo generate airflow-init test test-fast lint format docs airflow summary clean bench

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	@# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) every process,
	@# e.g. each Airflow task, would otherwise recompile Great Expectations/Airflow on import (5-30 s).
	$(UV) sync --frozen --python 3.11 --compile-bytecode
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the locked stack (uv)

data/landing/.generated: | $(VENV)/.installed
	$(BIN)/cdp generate --customers $(CUSTOMERS) --seed $(SEED) --run-date $(RUN_DATE) --out data/landing
	@echo $(RUN_DATE) > $@

generate: data/landing/.generated ## Generate sample data once (CUSTOMERS=10000 SEED=42)

$(AIRFLOW_HOME)/airflow.db: | $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -30 $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow pools set duckdb_writer 1 "DuckDB allows one writing process" > /dev/null

airflow-init: $(AIRFLOW_HOME)/airflow.db ## Create the project-local Airflow metadata DB and the duckdb_writer pool

demo: install generate airflow-init ## Install, generate sample data, run cdp_nightly through Airflow, print a summary
	@echo "Running cdp_nightly for $(RUN_DATE) through Airflow (log: $(AIRFLOW_HOME)/demo.log) ..."
	@CDP_TASK_RETRIES=0 $(BIN)/airflow dags test cdp_nightly $(RUN_DATE) > $(AIRFLOW_HOME)/demo.log 2>&1 \
	  || (grep -E "ERROR|error|Traceback|Error:" $(AIRFLOW_HOME)/demo.log | tail -40; echo "cdp_nightly failed: see $(AIRFLOW_HOME)/demo.log"; exit 1)
	@$(BIN)/cdp summary --run-date $(RUN_DATE)

summary: ## Print what the latest run did
	@$(BIN)/cdp summary

test: install lint ## Lint, then run the whole test suite (DAG integrity and end-to-end included)
	$(BIN)/pytest

test-fast: install ## Run the tests that are not marked slow
	$(BIN)/pytest -m "not slow"

lint: install ## ruff (with the Airflow rules) and sqlfluff on the dbt models
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests --disable-progress-bar --nocolor

format: install ## Auto-fix lint findings where the tools can
	$(BIN)/ruff check --fix .
	$(BIN)/sqlfluff fix dbt_project/models dbt_project/tests --disable-progress-bar --nocolor

docs: install ## Build the dbt docs site (data/dbt/target/static_index.html)
	$(BIN)/cdp docs

airflow: install airflow-init ## Start Airflow (UI and API on http://localhost:8080, no login needed locally)
	$(BIN)/airflow standalone

clean: ## Remove generated data, the Airflow home, dbt artefacts and caches (keeps .venv)
	rm -rf data $(AIRFLOW_HOME) dbt_project/target dbt_project/logs logs .pytest_cache .ruff_cache

bench: SCALE ?= 1000000
bench: install ## Time every nightly stage at scale next to DuckDB/Splink/dbt (SCALE=1000000 SEED=42; data/bench/)
	$(BIN)/python -m cdp.benchmark --scale $(SCALE) --seed $(SEED) --out data
