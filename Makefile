# One vocabulary for people and CI. `make run` and `make test` are the README's first commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run test lint format typecheck pytest serve ui bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required: make PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]'
	@touch $@

install: $(STAMP) ## create/update .venv with the locked dependencies

run: $(STAMP) ## train on the bundled data, log to MLflow, promote if the gate passes
	$(BIN)/bcml train

test: $(STAMP) lint typecheck pytest ## lint, type-check and run the whole test suite

lint: $(STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy (strict) on src/
	$(BIN)/mypy

pytest: $(STAMP) ## the pytest suite (exit 5, "no tests ran", is a failure)
	$(BIN)/pytest

ui: $(STAMP) ## open the MLflow UI on mlflow.db
	$(BIN)/bcml ui

bench: $(STAMP) ## training benchmark (see benchmarks/)
	$(BIN)/python benchmarks/bench_train.py

lock: ## re-resolve requirements/constraints.txt from pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check \
	  | sed '/^breast-cancer-ml/d' > $(CONSTRAINTS)
	rm -rf .lock-venv

clean: ## remove generated state (.venv, mlflow.db, mlruns/, models/)
	rm -rf $(VENV) mlflow.db mlruns mlartifacts models .pytest_cache .mypy_cache .ruff_cache

.PHONY: selection
selection: $(STAMP) ## regenerate MODEL_SELECTION.md: nested CV of every model (~15 min on 2 cores)
	$(BIN)/bcml compare --tune --target-recall 0.98 --repeats 5 --report-file MODEL_SELECTION.md \
	  --output-dir docs/model_selection --notes-file docs/model_selection/notes.md
