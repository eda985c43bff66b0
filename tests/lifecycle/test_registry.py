from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alab_training.errors import AlabTrainingError, ModelNotFoundError, RegistryError
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import TrainedModel
from alab_training.model_card import CARD, write_model_card

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def add(root: Path, name: str, kind: str = "ner", project: str = "Demo", minutes: int = 0, **fields) -> TrainedModel:
    """A model folder the way train() leaves it: the folder named after the model, its card inside."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "training.log").write_text("log\n")
    model = TrainedModel(name=name, kind=kind, path=folder, project=project, created_at=T0 + timedelta(minutes=minutes),
                         labels=("PROBLEM",), embeddings="glove_6b_50d", log_path=folder / "training.log", **fields)
    write_model_card(model, {"from_name": "label"})
    return model


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    add(root, "ner_Demo_annotation_manual_v1", minutes=1, version=1)
    add(root, "ner_Demo_annotation_manual_v2", minutes=5, version=2, trigger="active_learning")
    add(root, "assertion_Demo_annotation_manual", kind="assertion", minutes=3)
    add(root, "classification_sentiment_annotation_manual", kind="classification", project="demo", minutes=4)
    add(root, "ner_democracy_annotation_manual", project="democracy", minutes=2)
    add(root, "ner_other_annotation_manual", project="other", minutes=6)
    return root


def names(models) -> list[str]:
    return [model.name for model in models]


def test_list_is_newest_first_and_reads_every_card_field(root):
    registry = ModelRegistry(root)
    assert names(registry.list()) == [
        "ner_other_annotation_manual", "ner_Demo_annotation_manual_v2", "classification_sentiment_annotation_manual",
        "assertion_Demo_annotation_manual", "ner_democracy_annotation_manual", "ner_Demo_annotation_manual_v1"]
    newest = registry.get("ner_Demo_annotation_manual_v2")
    assert (newest.kind, newest.project, newest.version, newest.trigger) == ("ner", "Demo", 2, "active_learning")
    assert newest.path == root / "ner_Demo_annotation_manual_v2"
    assert newest.log_path == newest.path / "training.log"
    assert newest.created_at == T0 + timedelta(minutes=5)
    assert (newest.labels, newest.embeddings) == (("PROBLEM",), "glove_6b_50d")


def test_project_matches_exactly_but_ignores_case(root):
    registry = ModelRegistry(root)
    assert names(registry.list(project="DEMO")) == [
        "ner_Demo_annotation_manual_v2", "classification_sentiment_annotation_manual",
        "assertion_Demo_annotation_manual", "ner_Demo_annotation_manual_v1"]
    assert registry.list(project="dem") == ()
    assert names(registry.list(project="demo", kind="ner")) == ["ner_Demo_annotation_manual_v2",
                                                                "ner_Demo_annotation_manual_v1"]
    assert names(registry.list(kind="assertion")) == ["assertion_Demo_annotation_manual"]


def test_search_finds_a_project_name_or_model_name_fragment(root):
    registry = ModelRegistry(root)
    assert names(registry.search("DEMO")) == [
        "ner_Demo_annotation_manual_v2", "classification_sentiment_annotation_manual",
        "assertion_Demo_annotation_manual", "ner_democracy_annotation_manual", "ner_Demo_annotation_manual_v1"]
    assert names(registry.search("sentiment")) == ["classification_sentiment_annotation_manual"]
    assert registry.search("nothing like it") == ()


def test_latest_of_a_project_and_kind(root):
    registry = ModelRegistry(root)
    assert registry.latest("demo", "ner").name == "ner_Demo_annotation_manual_v2"
    with pytest.raises(ModelNotFoundError) as error:
        registry.latest("demo", "relation")
    assert (error.value.project, error.value.kind, error.value.root) == ("demo", "relation", root)
    assert "no relation model of project 'demo'" in str(error.value)


def test_same_time_newer_version_first(tmp_path):
    add(tmp_path, "ner_x_v9", version=9)
    add(tmp_path, "ner_x_v10", version=10)
    assert names(ModelRegistry(tmp_path).list()) == ["ner_x_v10", "ner_x_v9"]


def test_names_and_get_with_the_model_suffix(root):
    registry = ModelRegistry(root)
    assert registry.names() == tuple(sorted(names(registry.list())))
    assert registry.get("assertion_Demo_annotation_manual.model").kind == "assertion"


@pytest.mark.parametrize("name", ["ner_missing", "../models", ".hidden", "/etc", "a/b", "", ".model"])
def test_get_refuses_what_is_not_a_model_of_the_registry(root, name):
    with pytest.raises(ModelNotFoundError) as error:
        ModelRegistry(root).get(name)
    assert error.value.name == name
    assert isinstance(error.value, AlabTrainingError) and isinstance(error.value, LookupError)


def test_remove_deletes_only_a_model(root):
    registry = ModelRegistry(root)
    removed = registry.remove("ner_Demo_annotation_manual_v1")
    assert removed.name == "ner_Demo_annotation_manual_v1"
    assert not (root / "ner_Demo_annotation_manual_v1").exists()
    assert "ner_Demo_annotation_manual_v1" not in registry.names()
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []

    keep = root / "notes"
    keep.mkdir()
    (keep / "todo.txt").write_text("mine")
    for name in ("notes", "..", "ner_Demo_annotation_manual_v1"):
        with pytest.raises(ModelNotFoundError):
            registry.remove(name)
    assert (keep / "todo.txt").read_text() == "mine"
    assert len(registry.list()) == 5


def test_unreadable_cards_are_skipped_with_a_warning(root, caplog):
    broken = root / "ner_broken"
    broken.mkdir()
    (broken / CARD).write_text("{not json")
    nameless = root / "ner_nameless"
    nameless.mkdir()
    (nameless / CARD).write_text(json.dumps({"kind": "ner"}))
    copy = root / "ner_copy"
    copy.mkdir()
    (copy / CARD).write_text((root / "ner_other_annotation_manual" / CARD).read_text())
    with caplog.at_level(logging.WARNING, logger="alab_training.lifecycle.registry"):
        listed = names(ModelRegistry(root).list())
    assert len(listed) == 6 and not {"ner_broken", "ner_nameless", "ner_copy"} & set(listed)
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "ner_broken" in warned and "ner_nameless" in warned and "renamed copy" in warned
    with pytest.raises(ModelNotFoundError, match="unreadable"):
        ModelRegistry(root).get("ner_broken")
    with pytest.raises(ModelNotFoundError, match="renamed"):
        ModelRegistry(root).get("ner_copy")


def test_other_tools_cards_still_sort(tmp_path):
    """A card without a time zone or with a version as text sorts among the others instead of failing."""
    add(tmp_path, "ner_zoned", minutes=30)
    naive = tmp_path / "ner_naive"
    naive.mkdir()
    (naive / CARD).write_text(json.dumps({"name": "ner_naive", "kind": "ner", "created_at": "2024-03-01T12:45:00",
                                          "version": "2"}))
    assert names(ModelRegistry(tmp_path).list()) == ["ner_naive", "ner_zoned"]


def test_staging_folders_files_and_folders_without_cards_are_not_models(root):
    (root / ".ner_Demo_annotation_manual_v3.abc123").mkdir()
    (root / ".ner_Demo_annotation_manual_v3.abc123" / CARD).write_text(
        (root / "ner_other_annotation_manual" / CARD).read_text())
    (root / "Demo_training_logs_20240301T120000.zip").write_bytes(b"PK")
    (root / "scratch").mkdir()
    assert len(ModelRegistry(root).list()) == 6


def test_a_missing_root_is_empty_and_a_file_root_is_an_error(tmp_path):
    assert ModelRegistry(tmp_path / "nowhere").list() == ()
    assert ModelRegistry(tmp_path / "nowhere").names() == ()
    afile = tmp_path / "models.txt"
    afile.write_text("")
    with pytest.raises(RegistryError) as error:
        ModelRegistry(afile).list()
    assert error.value.root == afile
