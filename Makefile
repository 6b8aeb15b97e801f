# What a new user needs: `make report` and `make test`. Each creates .venv on first use.
#   make test       ruff and mypy, then the unit and contract tests (pytest -m "not slow"): a few minutes on 2 cores
#   make test-all   ruff and mypy, then every test, the integration tier (marked slow) too
#   make test-slow  the integration tier alone (what .ci/run runs after make test)
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
LINTED := src tests benchmarks validation

.PHONY: report test test-all test-slow lint bench docs install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: a bare `torch` would fetch a multi-GB CUDA build.
	$(BIN)/pip install -q "$(TORCH)"

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

report: install
	$(BIN)/reslimit report --quick --out results/report

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy  # the public API's types: [tool.mypy] in pyproject.toml

test: lint
	$(BIN)/python -m pytest -q -m "not slow"

test-all: lint
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

bench: install
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/engine_parts.py
	$(BIN)/python benchmarks/limits.py
	$(BIN)/python benchmarks/studies.py
	$(BIN)/python benchmarks/checks.py
	$(BIN)/python benchmarks/training.py

docs: install
	$(BIN)/mkdocs build --strict  # the API reference, into results/site (mkdocs.yml)

clean:
	rm -rf $(VENV) results
