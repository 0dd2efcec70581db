# The README's two commands: `make demo` and `make test`. Each builds .venv from the project's own
# files (pyproject.toml, pinned by requirements.lock) when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit bench docs lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/crm-ops demo

test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/pull_bench.py
	$(BIN)/python benchmarks/rules_bench.py
	$(BIN)/python benchmarks/match_bench.py
	$(BIN)/python benchmarks/apply_bench.py

# The reference pages generated from the code (docs/reference/); a test fails when they are stale.
docs: $(STAMP)
	$(BIN)/python -m crm_ops.docs docs/reference

# Re-pin every dependency to what is installed now (after changing pyproject.toml).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^crm-ops' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
