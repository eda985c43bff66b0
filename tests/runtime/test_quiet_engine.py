"""Library code prints nothing: a notebook-like script that trains sees no Spark, Spark NLP or log4j line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import DATA, REPO

SCRIPT = f"""
import logging
from alab_training import TrainingParams, load_project, train
from alab_training.exports.iob import iob_to_tasks, read_iob

handler = logging.StreamHandler(open({{log!r}}, "w"))
logging.getLogger("alab_training.runtime.session.engine").addHandler(handler)
logging.getLogger("alab_training.runtime.session.engine").setLevel(logging.DEBUG)
tasks = iob_to_tasks(read_iob({str(DATA / "ncbi_disease" / "train_300.tsv")!r})[:120], sentences_per_task=4)
config = open({str(REPO / "examples" / "ncbi_disease" / "config.xml")!r}).read()
project = load_project(tasks, config=config, name="quiet")
result = train(project, TrainingParams(training_type="ner", epochs=2, validation_split=0.2), output_dir={{out!r}})
"""


@pytest.mark.spark
def test_training_prints_nothing_to_stdout(tmp_path):
    log = tmp_path / "engine.log"
    script = SCRIPT.replace("{log!r}", repr(str(log))).replace("{out!r}", repr(str(tmp_path / "models")))
    env = {**os.environ, "ALAB_TRAINING_DRIVER_MEMORY": "3g", "ALAB_TRAINING_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == ""
    # What the engine said went to logging instead: Spark NLP's own epoch lines among it.
    assert "Epoch" in log.read_text() or "Training started" in log.read_text()
    assert "WARN" not in done.stderr and "log4j" not in done.stderr.lower()
