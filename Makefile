# Supply Store. `make run` starts everything; `make test` runs the whole suite against real servers.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := python3 deploy/local/stack
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export SUPPLY_REPO_ROOT := $(CURDIR)
# E2E=0 leaves the end-to-end suite out of `make test` (run it with `make test-e2e`).
E2E ?= 1

.PHONY: help setup stack stack-down run stop status test test-unit test-integration test-e2e lint fmt schema bench compose-check test-compose

help:
	@echo "make run       start MariaDB, Kafka, FerretDB and every service; prints the URL"
	@echo "make stop      stop what make run started"
	@echo "make test      the whole suite against real servers (provisions what it needs)"
	@echo "make lint      ruff, mypy, contract drift, compose validation"
	@echo "make test-compose  docker-compose.yml run for real on podman (root; builds its images here)"
	@echo "make bench     benchmarks (QUICK=1 for a smoke run, RECORD=1 to record it in docs/)"

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	@$(UV) sync --all-packages --frozen --quiet

stack:
	@$(STACK) up

stack-down:
	@$(STACK) down

run: setup stack
	@deploy/local/run up

stop:
	@deploy/local/run down || true
	@$(STACK) down

status:
	@$(STACK) status
	@deploy/local/run status || true

test: setup stack
	@set -a; eval "$$($(STACK) env)"; set +a; $(UV) run --frozen python deploy/run_tests.py $(if $(filter 0,$(E2E)),--without tests/e2e) -- $(PYTEST_ARGS)

test-unit: setup
	@$(UV) run --frozen python deploy/run_tests.py -- -m "not integration and not e2e and not browser" $(PYTEST_ARGS)

test-e2e: setup stack
	@set -a; eval "$$($(STACK) env)"; set +a; $(UV) run --frozen python deploy/run_tests.py --suite tests/e2e -- $(PYTEST_ARGS)

lint: setup
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy
	@$(UV) run --frozen supply-contract schema --check
	@$(UV) run --frozen python deploy/env_example.py --check

fmt: setup
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

schema: setup
	@$(UV) run --frozen supply-contract schema

compose-check:
	@deploy/compose-check

# docker-compose.yml started for real (podman, local images; see deploy/compose/test). Needs root.
test-compose:
	@deploy/compose/test

bench: setup stack
	@set -a; eval "$$($(STACK) env)"; set +a; $(UV) run --frozen python -m bench $(if $(QUICK),--quick) $(if $(RECORD),--record)
