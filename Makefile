# squall — the two commands a fresh clone needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SQUALL := $(BIN)/squall
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: run test test-unit test-local test-integration install infra-deps infra-up infra-down bench bench-deps bench-e2e lint clean

# --- Python environment (no JVM needed) --------------------------------------------------------------
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# --- The main job: the reference IoT topology on the embedded default (simulator -> SQLite), no JVM ---
# Each run starts from an empty embedded store (.state/squall.db), so its summary is this run's own.
run: $(STAMP)
	rm -f .state/squall.db .state/squall.db-wal .state/squall.db-shm
	$(SQUALL) run iot_pipeline -e local --until-idle 3
	$(SQUALL) report -e local

# --- Tests: unit + local runner + integration against real ZooKeeper/Kafka/Cassandra/Storm -------------
infra-deps: $(STAMP)
	$(SQUALL) infra install

infra-up: infra-deps
	$(SQUALL) infra up

infra-down: $(STAMP)
	$(SQUALL) infra down -e secure
	$(SQUALL) infra down

test: infra-deps
	@set -o pipefail; rc=0; \
	$(SQUALL) infra up || rc=$$?; \
	if [ $$rc -eq 0 ]; then $(BIN)/pytest tests -p no:cacheprovider || rc=$$?; fi; \
	$(SQUALL) infra down -e secure || true; \
	$(SQUALL) infra down || true; \
	exit $$rc

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/local

# Quix Streams, for the end-to-end comparison only: its own virtualenv, pinned, never a project dependency.
$(BENCH_STAMP): bench/requirements-quix.lock
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements-quix.lock
	@touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

bench: $(STAMP) bench-deps
	$(BIN)/python -m bench

# Kafka -> squall run -> Cassandra beside Quix Streams, on the running services (`make infra-up`): ~2 min.
bench-e2e: $(STAMP) bench-deps
	$(BIN)/python -m bench.end_to_end

lint: $(STAMP)
	$(BIN)/ruff check squall spouts bolts topologies tests bench
	$(BIN)/ruff format --check squall spouts bolts topologies tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(BENCH_VENV) _build _resources .pytest_cache
