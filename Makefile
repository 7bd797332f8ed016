# Karmo Admin tasks. Each target is one line and the same as CI runs.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
RUN := $(UV) run --frozen
# Test workers: twice the cores, as the suite spends most of its time waiting on subprocesses,
# browsers and loopback servers; worksteal keeps the long tests from ending on one worker.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

.PHONY: help install browsers demo test lint serve serve-prod emulator worker lint-docker

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install:  ## Install Python packages (uv, from uv.lock) and front-end packages (npm ci)
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	npm ci --no-audit --no-fund --silent

browsers:  ## Install Debian's chromium for the browser tests (once per machine)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install  ## Migrate, seed the sandbox, sync, create demo logins, serve on 127.0.0.1:8000
	$(RUN) python manage.py demo

test: install browsers  ## Run the whole test suite (DATABASE_URL picks the database)
	$(RUN) pytest -n $(TEST_WORKERS) --dist worksteal

lint:  ## ruff check and format check
	$(RUN) ruff check . && $(RUN) ruff format --check .

serve: install  ## Serve the app on 127.0.0.1:8000 with a task worker
	$(RUN) python manage.py demo --no-seed

serve-prod: install  ## gunicorn + 2 task workers on PostgreSQL (DATABASE_URL=postgres://…), after migrating
	$(RUN) python manage.py serve_prod --migrate

emulator: install  ## Serve the WorkOS emulator with demo data on 127.0.0.1:8765 (FLAVOR=stytch|zitadel)
	$(RUN) python manage.py run_emulator $(or $(FLAVOR),workos) --port 8765

worker:  ## Run a background task worker (with heartbeat and recovery of dead workers' tasks)
	$(RUN) python manage.py task_worker
