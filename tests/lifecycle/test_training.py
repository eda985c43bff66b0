"""The training runner's choices that need no engine: which trainers, which names, which folders."""

from __future__ import annotations

import pytest

from alab_training import ParamsError, TrainingError, TrainingParams, load_project
from alab_training.lifecycle.training import _target, _trainers_for, iter_training
from alab_training.plugins.manager import create_plugin_manager
from tests.conftest import NER_CONFIG


def test_versioning_counts_up(tmp_path):
    assert _target(tmp_path, "ner_x_annotation_manual", versioning=True)[0] == "ner_x_annotation_manual_v1"
    for version in (1, 2, 7):
        folder = tmp_path / f"ner_x_annotation_manual_v{version}"
        folder.mkdir()
        (folder / "model.json").write_text("{}")
    assert _target(tmp_path, "ner_x_annotation_manual", versioning=True)[0] == "ner_x_annotation_manual_v8"
    assert _target(tmp_path, "ner_x_annotation_manual", versioning=False)[0] == "ner_x_annotation_manual"


def test_refuses_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "ner_x_annotation_manual").mkdir()
    with pytest.raises(TrainingError, match="left alone"):
        _target(tmp_path, "ner_x_annotation_manual", versioning=False)


def test_unknown_training_type_lists_the_available_ones():
    project = load_project([], config=NER_CONFIG)
    with pytest.raises(ParamsError, match="available: .*ner"):
        _trainers_for(project, TrainingParams(training_type="tagger"), create_plugin_manager(load_entry_points=False))


def test_nothing_to_train_fails_before_any_work(tmp_path):
    project = load_project([{"id": 1, "data": {"text": "Fever."}}], config=NER_CONFIG, name="p")
    with pytest.raises(Exception) as error:
        next(iter_training(project, TrainingParams(training_type="ner"), output_dir=tmp_path))
    assert "no task is left to train on" in str(error.value)
    assert list(tmp_path.iterdir()) == []  # no staging folder, no log bundle
