"""One real NerDL training through the runner: its own process, its own embedded Spark session."""

from __future__ import annotations

import json

import pytest

from alab_training import TrainingParams, load_project
from alab_training.lifecycle.jobs import JobRunner, JobStatus
from tests.conftest import REPO

pytestmark = pytest.mark.spark

EXPORT = REPO / "examples" / "ncbi_disease" / "export.json"
CONFIG = REPO / "examples" / "ncbi_disease" / "config.xml"


def test_a_small_ner_training_runs_to_the_end(tmp_path):
    tasks = json.loads(EXPORT.read_text())
    train_tasks = [t for t in tasks if not t.get("tags")][:15]
    test_tasks = [t for t in tasks if t.get("tags")][:5]
    project = load_project(train_tasks + test_tasks, config=CONFIG, name="ncbi")
    params = TrainingParams(training_type="ner", test_tags=("test",), epochs=2, learning_rate=0.01, batch_size=8)
    with JobRunner(tmp_path / "runner", max_concurrent=1, memory_per_job="3g") as runner:
        job = runner.wait(runner.submit(project, params).id, timeout=900)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert (job.progress.training_type, job.progress.epoch, job.progress.epochs) == ("ner", 2, 2)
    assert job.progress.loss is not None and "micro" in job.progress.metrics
    model = job.result.model("ner")
    assert model.path == tmp_path / "runner" / "models" / "ner_ncbi_annotation_manual"
    assert (model.path / "model.json").exists() and (model.path / "pipeline").is_dir()
    log = job.log_path.read_text()
    assert "driver memory 3g" in log and "epoch 2/2" in log and "Epoch 2/2" in log  # ours, and NerDL's line
