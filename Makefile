# Holdfast: `make run` serves the demo shop, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
export PORT
ifdef DATABASE_URL
export DATABASE_URL
endif
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format migrate seed tools clean worker cron audit

setup: $(STAMP) app/static/vendor/htmx.min.js

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

app/static/vendor/htmx.min.js: assets/package.json assets/package-lock.json | $(STAMP)
	$(BIN)/python scripts/install_assets.py

migrate: setup
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) demo seed

run: seed
	@echo "Holdfast demo shop on http://$(HOST):$(PORT)"
	$(FLASK) run --host $(HOST) --port $(PORT)

worker: setup
	$(BIN)/python worker.py

cron: setup
	@test -n "$(REDIS_URL)" || { echo "REDIS_URL is not set"; exit 2; }
	$(BIN)/rq cron cron_config --url "$(REDIS_URL)"

tools:
	@bash scripts/ensure_tools.sh

test: setup tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/code_shape.py
	$(BIN)/python scripts/run_tests.py $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/code_shape.py

# Known vulnerabilities in every pinned dependency (constraints.txt), from PyPI's advisory
# database: needs the network. --strict fails when a package cannot be checked, so an offline
# run fails instead of passing with nothing audited. pip-audit lives in a venv of its own.
AUDIT_VENV := .venv-audit
audit:
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && \
		$(AUDIT_VENV)/bin/python -m pip install -q pip-audit==2.10.1; }
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip -r constraints.txt

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(AUDIT_VENV) assets/node_modules app/static/vendor .pytest_cache .ruff_cache
