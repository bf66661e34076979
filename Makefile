# SyncPortal: `make run` starts the whole portal, `make test` runs the suite.
# Both work on a fresh machine with Python 3.11+: the first call creates .venv and installs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
PYTEST_ARGS ?=
# Test processes of `make test` (pytest-xdist; each has its own test database and Redis database).
TEST_PROCESSES ?= 2

.PHONY: run test test-fast lint format check-deploy install clean bench wrk help

help:
	@echo "make run            start the portal (web, worker, beat, embedded Redis, sandbox S3)"
	@echo "make test           run the test suite"
	@echo "make test-fast      the suite without Celery workers and browsers (the edit loop)"
	@echo "make lint           ruff, the import contracts, manage.py check, makemigrations --check"
	@echo "make check-deploy   manage.py check --deploy with a production-like environment"
	@echo "make bench          run the benchmark harness (BENCH_ARGS=--quick for a short run)"

# Install with uv (from PyPI, a few seconds for the whole tree) and fall back to pip when uv
# cannot be had; either way into the project's own .venv.
define pip_install
	@if $(PY) -m pip install --quiet --disable-pip-version-check 'uv>=0.5,<1' 2>/dev/null; then \
		echo "Installing with uv: $(1)"; \
		$(PY) -m uv pip install --quiet --python $(PY) $(1); \
	else \
		echo "Installing with pip: $(1)"; \
		$(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet $(1); \
	fi
endef

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call pip_install,-e '.[dev]')
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m syncportal.devstack

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

# The edit loop: no Celery worker, no browser (the suite's worker and e2e markers).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not worker and not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	DEBUG=1 $(PY) manage.py check
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# A production-like environment: DEBUG off, real-looking secrets, PostgreSQL URL (not used).
check-deploy: $(STAMP)
	DEBUG=0 \
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	FIELD_ENCRYPTION_KEYS=k1:$$($(PY) -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())') \
	AUDIT_HMAC_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))') \
	ALLOWED_HOSTS=syncportal.example.com \
	DATABASE_URL=postgres://syncportal@db.example.com:5432/syncportal \
	REDIS_URL=redis://redis.example.com:6379/0 \
	$(PY) manage.py check --deploy --fail-level WARNING

$(BENCH_STAMP): $(STAMP)
	$(call pip_install,-e '.[dev,bench]')
	touch $(BENCH_STAMP)

# Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/syncportal_bench,
# dropped and recreated). HTTP load comes from wrk, installed here with apt-get when it is
# missing and make runs as root; otherwise the harness falls back to httpx (and says so).
bench: $(BENCH_STAMP) wrk
	$(PY) -m bench $(BENCH_ARGS)

wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q wrk || { apt-get update -q && apt-get install -y -q wrk; }; \
	  else \
	    echo "wrk is not installed (apt-get install wrk as root): HTTP load will come from httpx"; \
	  fi; }

clean:
	rm -rf var/test.sqlite3* var/staticfiles .pytest_cache .ruff_cache
