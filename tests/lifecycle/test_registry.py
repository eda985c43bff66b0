from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alab_training.errors import AlabTrainingError, ModelNotFoundError, ParamsError, RegistryError
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


# -- odd cards, odd folders, odd arguments ----------------------------------------------------------------------

def card(root: Path, folder_name: str, **fields) -> Path:
    folder = root / folder_name
    folder.mkdir(parents=True)
    (folder / CARD).write_text(json.dumps({"name": folder_name, "kind": "ner", "created_at": "2024-03-01T12:00:00",
                                           **fields}))
    return folder


@pytest.mark.parametrize("fields, field", [
    ({"labels": "PROBLEM"}, "labels"), ({"labels": ["A", 3]}, "labels"), ({"metrics": [0.5]}, "metrics"),
    ({"metrics": {"micro": 0.5}}, "metrics.micro"), ({"params": "fast"}, "params"), ({"name": ["x"]}, "name"),
    ({"created_at": 20240301}, "created_at"), ({"created_at": "yesterday"}, "created_at"), ({"kind": ""}, "kind"),
    ({"project": 5}, "project"), ({"embeddings": {"a": 1}}, "embeddings"),
])
def test_a_card_field_of_the_wrong_kind_skips_the_model_and_names_the_field(tmp_path, caplog, fields, field):
    add(tmp_path, "ner_good")
    card(tmp_path, "ner_odd", **fields)
    with caplog.at_level(logging.WARNING, logger="alab_training.lifecycle.registry"):
        assert names(ModelRegistry(tmp_path).list()) == ["ner_good"]
    assert f"(at {field})" in caplog.text
    with pytest.raises(ModelNotFoundError, match=field):
        ModelRegistry(tmp_path).get("ner_odd")


def test_a_card_nested_too_deep_or_too_large_or_not_a_file_is_skipped_at_once(tmp_path, monkeypatch):
    from alab_training import model_card

    add(tmp_path, "ner_good")
    (card(tmp_path, "ner_deep") / CARD).write_text("[" * 100_000 + "]" * 100_000)
    (card(tmp_path, "ner_huge") / CARD).write_text(json.dumps({"name": "ner_huge", "pad": "x" * 2000}))
    fifo = card(tmp_path, "ner_fifo") / CARD
    fifo.unlink()
    os.mkfifo(fifo)
    monkeypatch.setattr(model_card, "MAX_CARD_BYTES", 1000)
    assert names(ModelRegistry(tmp_path).list()) == ["ner_good"]


def test_odd_figures_and_versions_are_kept_as_they_are_read(tmp_path):
    card(tmp_path, "ner_odd", metrics={"micro": {"f1": "high", "support": None}, "confusion": {"A": {"A": 3}}},
         version="v2")
    (model,) = ModelRegistry(tmp_path).list()
    assert model.metrics["micro"]["f1"] == "high" and model.version is None


@pytest.mark.parametrize("call", [
    lambda: ModelRegistry(None), lambda: ModelRegistry(5), lambda: ModelRegistry("mod\0els"),
    lambda: ModelRegistry(""), lambda: ModelRegistry("models").list(project=5),
    lambda: ModelRegistry("models").list(kind=["ner"]), lambda: ModelRegistry("models").search(None),
    lambda: ModelRegistry("models").latest(None, "ner"), lambda: ModelRegistry("models").get(None),
    lambda: ModelRegistry("models").remove(b"ner_x"),
])
def test_wrong_arguments_are_params_errors(call):
    with pytest.raises(ParamsError):
        call()


def test_remove_refuses_a_symlinked_model_and_touches_nothing(tmp_path):
    outside = tmp_path / "elsewhere"
    model = add(outside, "ner_linked")
    root = tmp_path / "models"
    root.mkdir()
    (root / "ner_linked").symlink_to(model.path)
    registry = ModelRegistry(root)
    with pytest.raises(RegistryError, match="link"):
        registry.remove("ner_linked")
    assert registry.names() == ("ner_linked",) and (model.path / CARD).is_file()


def immutable(path: Path, on: bool) -> bool:
    return subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True).returncode == 0


def test_remove_of_a_model_that_cannot_be_deleted_whole_deletes_nothing(tmp_path):
    model = add(tmp_path, "ner_stuck")
    (model.path / "stages").mkdir()
    stuck = model.path / "stages" / "weights.bin"
    stuck.write_bytes(b"w")
    if not immutable(stuck, True):
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(RegistryError, match="immutable") as error:
            ModelRegistry(tmp_path).remove("ner_stuck")
        assert "nothing was removed" in str(error.value)
        assert ModelRegistry(tmp_path).get("ner_stuck").name == "ner_stuck"
        assert sorted(p.name for p in model.path.rglob("*")) == ["model.json", "stages", "training.log",
                                                                  "weights.bin"]
    finally:
        immutable(stuck, False)
    ModelRegistry(tmp_path).remove("ner_stuck")
    assert list(tmp_path.iterdir()) == []


def test_remove_that_fails_midway_leaves_no_model_that_still_lists(tmp_path, monkeypatch, caplog):
    import shutil

    add(tmp_path, "ner_half")
    real = shutil.rmtree
    monkeypatch.setattr(shutil, "rmtree", lambda path, *a, **k: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with caplog.at_level(logging.WARNING, logger="alab_training.lifecycle.registry"):
        assert ModelRegistry(tmp_path).remove("ner_half").name == "ner_half"
    assert "not all of its files" in caplog.text
    assert ModelRegistry(tmp_path).names() == () and not (tmp_path / "ner_half").exists()
    monkeypatch.setattr(shutil, "rmtree", real)
    add(tmp_path, "ner_half")
    ModelRegistry(tmp_path).remove("ner_half")  # and the next removal of that name takes the remnant along
    assert list(tmp_path.iterdir()) == []
