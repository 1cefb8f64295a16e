# Two entry points: `make run` (install + start the dashboard) and `make test` (install + test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT ?= 8501
# Localhost only unless a team address is given explicitly (ADDRESS=0.0.0.0 make run).
ADDRESS ?= 127.0.0.1

.PHONY: run test install browser postgres java demo bench-quality bench-speed bench-spark

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# Debian's Chromium for the real-browser test (Playwright's own download is not available).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL server for the workspace tests (they start a throwaway cluster of their own).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "Installing Debian's postgresql for the workspace tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Java 17 for the Spark engine's tests (pyspark runs Spark in a JVM), from Debian when missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "Installing Debian's openjdk-17-jre-headless for the Spark tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

run: $(STAMP)
	$(PY) -m streamlit run dashboard.py --server.port $(PORT) --server.address $(ADDRESS)

test: $(STAMP) browser postgres java
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) -m core demo-data demo.csv --rows 5000

bench-quality: $(STAMP)
	$(PY) -m bench.quality

bench-speed: $(STAMP)
	$(PY) -m bench.speed

bench-spark: $(STAMP) java
	$(PY) -m bench.spark
