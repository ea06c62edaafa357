# traffy-etl: `make run` syncs the district from the live Traffy API,
# `make test` runs the whole test suite. Both create .venv when needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run demo test lint format types schemas bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with dev tools

run: $(STAMP) ## Sync the configured district from the live Traffy API into output/
	$(BIN)/etl sync

demo: $(STAMP) ## Sync offline from a local server with the sample tickets into output/
	$(BIN)/etl demo

test: $(STAMP) ## Run the whole test suite
	$(BIN)/pytest

lint: $(STAMP) ## ruff, formatting, mypy and the schema check
	$(BIN)/ruff check etl tests
	$(BIN)/ruff format --check etl tests
	$(BIN)/mypy
	$(BIN)/etl schemas --check

format: $(STAMP) ## Format the code
	$(BIN)/ruff format etl tests
	$(BIN)/ruff check --fix etl tests

schemas: $(STAMP) ## Regenerate schemas/ from the models
	$(BIN)/etl schemas

bench: $(STAMP) ## Benchmarks (not yet)
	@echo "make bench: not yet; see issue 7."

clean: ## Remove the virtual environment and outputs
	rm -rf $(VENV) output .pytest_cache .mypy_cache .ruff_cache
