# Every target creates .venv when missing and installs the project into it,
# so a fresh clone needs nothing but Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test browser postgres java bench lint docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Byte-compiled once, as an installed package is: a machine that sets
	# PYTHONDONTWRITEBYTECODE would otherwise compile every module in every process
	# (30-40 ms of each `socialrating check`).
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/socialrating demo

test: $(STAMP) browser postgres java
	$(BIN)/python -m pytest -n auto --maxschedchunk=1 --durations=25

# The browser tests render pages in Debian's chromium (Playwright's own browser download
# does not work offline): installed here when missing and running as root, as CI does.
browser:
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends chromium >/dev/null; } || \
	  echo "note: no chromium: the browser tests will fail (apt-get install chromium)"

# The PostgreSQL tests start a server of their own (tests/pgserver.py) from Debian's
# binaries: installed here when missing and running as root, as CI does.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { test "$$(id -u)" = 0 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends postgresql >/dev/null; } || \
	  echo "note: no PostgreSQL server: the postgres tests will fail (apt-get install postgresql)"

# The Spark tests start a local Spark session, which runs on a Java runtime: installed
# here when missing and running as root, as CI does.
java:
	@command -v java >/dev/null || { test "$$(id -u)" = 0 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends default-jre-headless >/dev/null; } || \
	  echo "note: no Java runtime: the spark tests will fail (apt-get install default-jre-headless)"

bench: $(STAMP)
	$(BIN)/python bench/score.py
	$(BIN)/python bench/contagion_cost.py
	$(BIN)/python bench/decide.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/small_batches.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/lookup.py
	$(BIN)/python bench/preview.py
	$(BIN)/python bench/compile.py

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
