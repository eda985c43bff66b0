# Two entry points, both safe on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Every install step lives here: the virtualenv, the Python packages, and the Spark NLP jars (fetched once
# from Maven Central into ~/.cache/alab-training, then reused offline).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup engine test demo clean

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "installing a Java runtime (Spark needs Java 17)"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	@command -v mvn >/dev/null || { echo "installing Maven (fetches the Spark NLP jars once)"; \
	  apt-get update -qq && apt-get install -y -qq maven; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,graphs]'
	touch $(STAMP)

setup: $(STAMP)

engine: setup
	$(BIN)/alab-training engine

test: engine
	$(BIN)/python -m pytest

demo: engine
	$(BIN)/alab-training select examples/alab_demo/export.json --config examples/alab_demo/config.xml

clean:
	rm -rf $(VENV)
