# CareRelay: `make run` (embedded, no services needed) and `make test` (real PostgreSQL + Redis).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

# The test suite runs against the production engines.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/carerelay
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# Benchmarks use databases of their own (created and migrated by the scripts).
BENCH_POSTGRES ?= postgres://postgres@127.0.0.1:5432
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/8

.PHONY: run test lint bench-import bench-webhooks bench-queue bench-intake bench-api bench-campaign clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# A stamp per requirements file: reinstall only when the pins change.
$(VENV)/.base-installed: requirements/base.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/dev.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements/dev.txt
	touch $(VENV)/.base-installed $@

run: $(VENV)/.base-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	@DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m tests.preflight
	@bash scripts/ensure_chromium.sh
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

bench-import: $(VENV)/.dev-installed
	DATABASE_URL=$(BENCH_POSTGRES)/cr_contacts_bench $(PY) bench/import_contacts.py $(BENCH_ARGS)

bench-webhooks: $(VENV)/.dev-installed
	DATABASE_URL=$(BENCH_POSTGRES)/cr_webhooks_bench REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/webhooks.py $(BENCH_ARGS)

bench-queue: $(VENV)/.dev-installed
	DATABASE_URL=$(BENCH_POSTGRES)/cr_queue_bench REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/queue_messages.py $(BENCH_ARGS)

bench-intake: $(VENV)/.dev-installed
	DATABASE_URL=$(BENCH_POSTGRES)/cr_intake_bench REDIS_URL=redis://127.0.0.1:6379/9 $(PY) bench/intake.py $(BENCH_ARGS)

bench-api: $(VENV)/.dev-installed
	DATABASE_URL=$(BENCH_POSTGRES)/cr_api_bench REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/api.py $(BENCH_ARGS)

bench-campaign: $(VENV)/.dev-installed
	DATABASE_URL=$(BENCH_POSTGRES)/cr_campaign_bench REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/campaign.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
