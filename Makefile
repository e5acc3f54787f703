# Every target creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

run: $(VENV)/.installed-runtime
	$(BIN)/arb-bot run

# scan, funding, size and a chart against local fake venues (tests/fakes): no keys, token or
# internet. From the clone, not `arb-bot demo`: the fakes are test code, not in the package.
demo: $(VENV)/.installed-runtime
	$(BIN)/python -m tests.demo

# The suite mostly waits (fake servers, pacing, subprocesses), so it runs in more workers than
# cores; a file's tests share a worker (measured fastest). Bytecode is written even if
# PYTHONDONTWRITEBYTECODE is set: otherwise every worker re-compiles and re-rewrites every
# test module (seconds each).
TEST_WORKERS ?= 4

test: $(VENV)/.installed-dev
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(VENV)/.installed-bench
	$(BIN)/python -m tests.bench

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The container image (Dockerfile), tagged as compose.yaml runs it.
CONTAINER ?= docker
IMAGE     ?= arb-bot:latest

.PHONY: image
image:
	$(CONTAINER) build -t $(IMAGE) .

clean:
	rm -rf $(VENV) build *.egg-info
