"""Active learning: one training per N new completions, across restarts, and failed trainings retried."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import attrs
import pytest

from alab_training import TrainingParams, load_project
from alab_training.errors import ActiveLearningError, ParamsError, SelectionError
from alab_training.lifecycle.active_learning import (
    ActiveLearning,
    ActiveLearningPolicy,
    rank_by_uncertainty,
    submitted_completions,
)
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.plugins.manager import get_plugin_manager
from tests.conftest import NER_CONFIG

GAZETTEER_SOURCE = Path(__file__).parents[2] / "examples" / "plugins" / "alab-training-gazetteer" / "src"
POLICY = ActiveLearningPolicy(every=3, params=TrainingParams(training_type="gazetteer", validation_split=0.3))


@pytest.fixture(autouse=True)
def gazetteer():
    """The example third-party trainer (real, and fast: no Spark), registered in this process."""
    sys.path.insert(0, str(GAZETTEER_SOURCE))
    module = importlib.import_module("alab_training_gazetteer")
    manager = get_plugin_manager()
    manager.register(module, name="gazetteer-test")
    yield
    manager.unregister(name="gazetteer-test")
    sys.path.remove(str(GAZETTEER_SOURCE))


def project_with(completed: int, total: int = 12):
    """``total`` tasks on fevers, the first ``completed`` with a submitted completion."""
    tasks = []
    for index in range(total):
        text = f"Patient {index} had a fever and a cough."
        task = {"id": index + 1, "data": {"text": text}, "completions": []}
        if index < completed:
            start = text.index("fever")
            task["completions"].append({
                "id": 100 + index, "submitted_at": f"2024-01-01T00:00:{index:02d}",
                "result": [{"id": f"r{index}", "type": "labels", "from_name": "label", "to_name": "text",
                            "value": {"start": start, "end": start + 5, "text": "fever", "labels": ["PROBLEM"]}}]})
        tasks.append(task)
    return load_project(tasks, config=NER_CONFIG, name="fevers")


def test_trains_once_per_n_new_completions_across_a_restart(tmp_path):
    models = tmp_path / "models"
    learning = ActiveLearning(tmp_path / "state", output_dir=models)
    learning.set_policy("fevers", POLICY)

    assert learning.update(project_with(2)) is None  # 2 of 3
    result = learning.update(project_with(3))
    assert result.models[0].trigger == "active_learning"
    assert learning.update(project_with(3)) is None  # asked twice: no second training

    restarted = ActiveLearning(tmp_path / "state", output_dir=models)  # the host restarts
    assert restarted.update(project_with(5)) is None  # 2 new since the trigger at 3
    assert restarted.check(project_with(5)).new == 2
    assert restarted.update(project_with(6)) is not None
    assert restarted.update(project_with(7)) is None

    trained = ModelRegistry(models).list(project="fevers")
    assert len(trained) == 2 and {m.trigger for m in trained} == {"active_learning"}
    assert restarted.state("fevers").trainings == 2 and restarted.state("fevers").counted == 6


def test_a_failed_training_does_not_use_up_its_completions(tmp_path):
    learning = ActiveLearning(tmp_path / "state", output_dir=tmp_path / "models")
    # NER refuses before Spark starts: the tag filter leaves nothing to train on.
    broken = attrs.evolve(POLICY, params=TrainingParams(training_type="ner", tags=("nothing-has-it",)))
    learning.set_policy("fevers", broken)
    with pytest.raises(SelectionError, match="no task is left"):
        learning.update(project_with(4))
    assert learning.state("fevers").counted == 0
    learning.set_policy("fevers", POLICY)
    assert learning.update(project_with(4)) is not None


def test_off_until_a_policy_is_set_and_policies_persist(tmp_path):
    learning = ActiveLearning(tmp_path / "state")
    assert learning.check(project_with(10)).due is False
    learning.set_policy("fevers", attrs.evolve(POLICY, every=100, deploy=True))
    assert ActiveLearning(tmp_path / "state").policy("fevers") == attrs.evolve(POLICY, every=100, deploy=True)
    assert submitted_completions(project_with(10)) == 10
    learning.set_policy("fevers", None)
    assert learning.policy("fevers") is None


@pytest.mark.parametrize("every", [0, -5, 2.5, True])
def test_the_interval_must_be_a_positive_count(every):
    with pytest.raises(ParamsError, match="positive"):
        ActiveLearningPolicy(every=every)


def test_a_damaged_state_file_is_a_clear_error(tmp_path):
    learning = ActiveLearning(tmp_path)
    learning.set_policy("fevers", POLICY)
    (tmp_path / "fevers.state.json").write_text(json.dumps({"counted": "many"}))
    with pytest.raises(ActiveLearningError, match="fevers.state.json"):
        learning.check(project_with(4))


@pytest.mark.spark
def test_ranks_unlabelled_tasks_by_uncertainty(spark, tmp_path):
    from alab_training import load_model, train
    from tests.trainers.classification.test_trainer import sms_project

    project = sms_project()
    result = train(project, TrainingParams(training_type="classification", epochs=5), spark=spark,
                   output_dir=tmp_path)
    unlabelled = attrs.evolve(project, tasks=tuple(attrs.evolve(t, completions=()) for t in project.tasks[:30]))
    ranked = rank_by_uncertainty(load_model(result.models[0], spark), unlabelled, limit=25)
    assert len(ranked) == 25 and {r.task_id for r in ranked} <= {t.id for t in unlabelled.tasks}
    scores = [r.uncertainty for r in ranked]
    assert None not in scores and scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 0.5
    assert scores[0] > scores[-1]  # a trained model is not equally sure of every message
