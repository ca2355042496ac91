# Hamafza: `make demo` runs the whole job locally; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: chaos-failover install demo test test-fast test-unit lint typecheck check bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hamafza demo

# Everything, as CI runs it.
test: $(STAMP)
	$(BIN)/pytest -q

# For development: everything but the `slow` chaos and fuzz runs.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# The pure-logic tests alone: no Redis, no sandbox, seconds.
test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# 1,000 items × X and Telegram, 3 worker processes, 10 SIGKILLs, a Redis SIGKILL + AOF restart, faults.
CHAOS_ARGS ?= --items 1000 --workers 3 --kills 10
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

# Sentinel failover: 1 primary, 2 replicas, 3 sentinels on loopback; the primary SIGKILLed 5 times.
FAILOVER_ARGS ?= --items 300 --workers 2 --failovers 5
chaos-failover: $(STAMP)
	$(BIN)/python -m tests.chaos --failover $(FAILOVER_ARGS)

# Throughput, latency and memory against the references of the same run (bench/README.md);
# BENCH_ARGS="--quick" for a one-minute run, "--profile" adds a cProfile of the worker.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
