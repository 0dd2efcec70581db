# The README's two commands: `make demo` and `make test`. Each builds .venv from the project's own
# files (pyproject.toml, pinned by requirements.lock) when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit bench spark-bench lock clean java

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark]'
	touch $(STAMP)

# The Spark engine's tests need Java 17+: Debian's headless JRE, installed when missing and we are root.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	  else echo "java not found: install a JRE 17+ (openjdk-17-jre-headless) for the Spark tests" >&2; fi; }

demo: $(STAMP)
	$(BIN)/crm-ops demo

test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) java
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/pull_bench.py
	$(BIN)/python benchmarks/rules_bench.py
	$(BIN)/python benchmarks/match_bench.py
	$(BIN)/python benchmarks/apply_bench.py

# the rule library and dedupe on Spark local mode beside polars (1M contacts; SIZES=1000000,5000000)
spark-bench: $(STAMP) java
	$(BIN)/python benchmarks/spark_bench.py

# Re-pin every dependency to what is installed now (after changing pyproject.toml).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^crm-ops' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
