# Supply Store. `make run` starts everything; `make test` runs the whole suite against real servers.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := python3 deploy/local/stack
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export SUPPLY_REPO_ROOT := $(CURDIR)
# E2E=0 leaves the end-to-end suite out of `make test` (run it with `make test-e2e`).
E2E ?= 1

.PHONY: help setup stack stack-down run stop status test test-unit test-e2e lint deps fmt schema bench compose-check test-compose

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/\1\t\2/' | expand -t 16 | sed 's/^/make /'

setup: ## install uv if missing and sync every workspace member
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	@$(UV) sync --all-packages --frozen --quiet

stack: ## start MariaDB, Kafka, FerretDB and Prometheus (deploy/local/stack up)
	@$(STACK) up

stack-down: ## stop the servers that make stack started
	@$(STACK) down

run: setup stack ## start the servers and every service; prints the URL
	@deploy/local/run up

stop: ## stop what make run started
	@deploy/local/run down || true
	@$(STACK) down

status: ## what runs: the servers and the services
	@$(STACK) status
	@deploy/local/run status || true

test: setup stack ## the whole suite against real servers (E2E=0 leaves tests/e2e out)
	@set -a; eval "$$($(STACK) env)"; set +a; $(UV) run --frozen python deploy/run_tests.py $(if $(filter 0,$(E2E)),--without tests/e2e) -- $(PYTEST_ARGS)

test-unit: setup ## only the tests that need no server
	@$(UV) run --frozen python deploy/run_tests.py -- -m "not integration and not e2e and not browser" $(PYTEST_ARGS)

test-e2e: setup stack ## only the end-to-end suite (services as processes, fault scenarios)
	@set -a; eval "$$($(STACK) env)"; set +a; $(UV) run --frozen python deploy/run_tests.py --suite tests/e2e -- $(PYTEST_ARGS)

lint: setup ## ruff, format check, mypy, contract drift, .env.example drift, declared dependencies
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy
	@$(UV) run --frozen supply-contract schema --check
	@$(UV) run --frozen python deploy/env_example.py --check
	@$(MAKE) --no-print-directory deps

# deptry fails on an import that only another member declares (DEP003), an undeclared one (DEP001) and a
# declared dependency nothing imports (DEP002); the reasoned exceptions sit in each pyproject.toml.
deps: setup ## each workspace member declares exactly what it imports (deptry)
	@for member in libs/common services/*; do \
		out=$$(cd $$member && $(UV) run --frozen deptry src 2>&1) || { echo "$$member:"; echo "$$out"; exit 1; }; \
	done; echo "deps: every workspace member declares what it imports"

fmt: setup ## ruff format and ruff's fixes
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

schema: setup ## regenerate the event contract's JSON Schema
	@$(UV) run --frozen supply-contract schema

compose-check: ## validate docker-compose.yml with a real compose parser
	@deploy/compose-check

test-compose: ## run docker-compose.yml for real on podman with images built here (root; see deploy/compose/test)
	@deploy/compose/test

bench: setup stack ## benchmarks (QUICK=1 for a smoke run, RECORD=1 to record it in docs/)
	@set -a; eval "$$($(STACK) env)"; set +a; $(UV) run --frozen python -m bench $(if $(QUICK),--quick) $(if $(RECORD),--record)
