# Two targets a new user needs: `make report` and `make test`. Both create .venv on first use.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin

.PHONY: report test bench docs install clean

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

test: install
	$(BIN)/python -m pytest -q

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
