# The README's two commands: `make demo` and `make test`. Each builds .venv from the project's own
# files (pyproject.toml, pinned by requirements.lock) when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint layers types unit chromium java bench spark-bench docs lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,sql,spark]'
	touch $(STAMP)

# The Spark engine's tests need Java 17+: Debian's headless JRE, installed when missing and we are root.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless \
	      >/dev/null) || echo "could not install openjdk-17: the Spark tests will be skipped"; \
	  else echo "no java and no apt-get as root: the Spark tests will be skipped" >&2; fi; }

demo: $(STAMP)
	$(BIN)/crm-ops demo

test: lint layers types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The layering contract (pyproject.toml [tool.importlinter]): which module may import which, and no
# import cycle inside a folder; its picture is docs/reference/layers.md.
layers: $(STAMP)
	$(BIN)/lint-imports --no-logo --no-cache

types: $(STAMP)
	$(BIN)/mypy

# The browser tests need Debian's chromium (the review app's also chromium-driver, which selenium
# drives), the Spark tests a Java 17+: each installed here
# when missing and apt is there (CI runs as root); elsewhere those tests are skipped, saying why.
unit: $(STAMP) chromium java
	$(BIN)/pytest

chromium:
	@(command -v chromium >/dev/null || command -v chromium-browser >/dev/null) && \
	  command -v chromedriver >/dev/null || \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	      echo "could not install chromium and chromium-driver: the browser tests will be skipped"; \
	  else echo "no chromium or chromium-driver and no apt-get as root: the browser tests will be skipped"; fi

# Every performance figure beside its target and its peer, in one table (benchmarks/bench.py). The
# peers come from the bench extra, installed here; BENCH_SIZE=100000 make bench for a quick try. On a
# shared machine: flock /work/.bench.lock make bench.
BENCH_SIZE ?= 1000000
# Soda Core pins DuckDB < 1.1 and MarkupSafe 2 (ours: DuckDB 2, MarkupSafe 3): a venv of its own, which
# benchmarks/soda_peer.py runs in.
SODA_VENV := .venv-soda
$(SODA_VENV)/.installed:
	test -x $(SODA_VENV)/bin/python || $(PYTHON) -m venv $(SODA_VENV)
	$(SODA_VENV)/bin/python -m pip install --quiet 'soda-core-duckdb==3.5.6'
	touch $@

bench: $(STAMP) $(SODA_VENV)/.installed
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[bench]'
	BENCH_SIZE=$(BENCH_SIZE) $(BIN)/python benchmarks/bench.py

# the rule library and dedupe on Spark local mode beside polars (1M contacts; SIZES="1000000 5000000",
# MASTERS="local[1] local[2]", SPARK_HEAP=14g: the local JVM's heap)
spark-bench: $(STAMP) java
	$(BIN)/python benchmarks/spark_bench.py --sizes $(or $(SIZES),1000000) \
		--masters $(or $(MASTERS),'local[1]' 'local[2]') --driver-memory $(or $(SPARK_HEAP),14g)

# The reference pages generated from the code (docs/reference/; a test fails when they are stale) and the
# Python API's reference from its docstrings (docs/api/index.html, by pdoc; not committed).
docs: $(STAMP)
	$(BIN)/python -m crm_ops.docs docs/reference
	$(BIN)/python -m crm_ops.docs --api docs/api

# Re-pin every dependency to what is installed now (after changing pyproject.toml).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^crm-ops' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
