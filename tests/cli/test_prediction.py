"""``predict`` and ``deploy`` on the command line: pre-annotations written as tasks to import (with a real NER
model), the config pointed at models (cards only), and every refusal as one line with exit code 2."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from alab_training import TrainingParams, load_config, load_project, train
from alab_training.cli import main
from alab_training.model import TrainedModel
from alab_training.model_card import write_model_card
from tests.conftest import REPO

NCBI = REPO / "examples" / "ncbi_disease"
NCBI_CONFIG = NCBI / "config.xml"
DEMO_CONFIG = REPO / "examples" / "alab_demo" / "config.xml"
PRETRAINED_CONFIG = REPO / "tests" / "data" / "configs" / "pretrained_labels.xml"
NER = "ner_cli_annotation_manual"


def run(*argv: object) -> tuple[int, str]:
    out = io.StringIO()
    code = main([str(arg) for arg in argv], out=out)
    return code, out.getvalue()


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("alab-training: error: ") and err.count("\n") == 1, err
    return err


def ncbi_tasks(count: int) -> list[dict]:
    return [task for task in json.loads((NCBI / "export.json").read_text()) if not task.get("tags")][:count]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """Three NCBI tasks; the first one's data has a key no reader uses, which predict must keep."""
    tasks = ncbi_tasks(3)
    tasks[0]["data"]["source"] = "PubMed"
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path


# -- predict ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ner_models(spark, tmp_path_factory) -> Path:
    """A registry folder with one NER model trained on 20 NCBI tasks (what it predicts is checked, not its F1)."""
    root = tmp_path_factory.mktemp("models")
    project = load_project(ncbi_tasks(20), config=NCBI_CONFIG, name="cli")
    train(project, TrainingParams(training_type="ner", epochs=4, learning_rate=0.01, batch_size=8), spark=spark,
          output_dir=root)
    return root


@pytest.mark.spark
def test_predict_writes_tasks_with_their_data_and_predictions_to_import(ner_models, export, tmp_path):
    output = tmp_path / "predictions.json"
    code, text = run("predict", NER, export, "-o", output, "--config", NCBI_CONFIG, "--models", ner_models)
    assert code == 0
    source, written = json.loads(export.read_text()), json.loads(output.read_text())
    assert f"3 task(s) pre-annotated by {NER}: " in text and f"predictions: {output}" in text
    assert [t["id"] for t in written] == [t["id"] for t in source]
    assert [t["data"] for t in written] == [t["data"] for t in source]  # "source" and "title" too
    for task in written:
        assert set(task) == {"id", "data", "predictions"} and len(task["predictions"]) == 1
        prediction = task["predictions"][0]
        assert set(prediction) == {"model_version", "score", "result"} and prediction["model_version"] == NER
        assert isinstance(prediction["score"], float)
        for item in prediction["result"]:
            value = item["value"]
            assert (item["from_name"], item["to_name"], item["type"], value["labels"]) == (
                "label", "text", "labels", ["Disease"])
            assert task["data"]["text"][value["start"]:value["end"]] == value["text"]
    assert sum(len(task["predictions"][0]["result"]) for task in written) > 0
    # Importable: the library's own reader takes every prediction back, none left out.
    again = load_project(output, config=NCBI_CONFIG)
    assert again.warnings == ()
    assert [len(task.predictions[0].spans) for task in again.tasks] == [
        len(task["predictions"][0]["result"]) for task in written]


@pytest.mark.spark
def test_predict_from_csv_rows_writes_the_text_and_title_as_data(ner_models, tmp_path):
    task = ncbi_tasks(1)[0]
    export = tmp_path / "rows.csv"
    export.write_text('id,text,title\n7,"{}",{}\n'.format(task["data"]["text"].replace('"', '""'),
                                                       task["data"]["title"]))
    output = tmp_path / "predictions.json"
    code, _ = run("predict", ner_models / NER, export, "-o", output, "--config", NCBI_CONFIG)
    assert code == 0
    (written,) = json.loads(output.read_text())
    assert written["id"] == 7 and written["data"] == task["data"]
    assert written["predictions"][0]["model_version"] == NER


# -- predict: refusals, before any model is loaded -------------------------------------------------------------


def test_predict_refuses_to_write_over_its_export_or_config(export, tmp_path, capsys):
    before = export.read_bytes()
    config = tmp_path / "config.xml"
    shutil.copyfile(NCBI_CONFIG, config)
    (tmp_path / "link.json").symlink_to(export)
    for output in (export, tmp_path / "link.json", config):
        code, _ = run("predict", NER, export, "-o", output, "--config", config, "--models", tmp_path / "models")
        assert code == 2
        assert f"--output: {output} is the " in one_error_line(capsys)
    assert export.read_bytes() == before and config.read_bytes() == NCBI_CONFIG.read_bytes()


def test_predict_with_a_missing_model_folder_or_an_unknown_name_fails_in_one_line(export, tmp_path, capsys):
    output = tmp_path / "predictions.json"
    code, _ = run("predict", tmp_path / "no_such_model", export, "-o", output, "--config", NCBI_CONFIG)
    assert code == 2 and "no such model folder" in one_error_line(capsys)
    (tmp_path / "empty").mkdir()
    code, _ = run("predict", tmp_path / "empty", export, "-o", output, "--config", NCBI_CONFIG)
    assert code == 2 and "not a model folder (it holds no model.json)" in one_error_line(capsys)
    code, _ = run("predict", "ner_nobody_trained", export, "-o", output, "--config", NCBI_CONFIG,
                  "--models", tmp_path / "models")
    assert code == 2 and "no model 'ner_nobody_trained' in the registry" in one_error_line(capsys)
    code, _ = run("predict", NER, export, "-o", tmp_path / "no" / "such" / "folder.json", "--config", NCBI_CONFIG)
    assert code == 2 and "is not a folder" in one_error_line(capsys)
    assert not output.exists()


# -- deploy ----------------------------------------------------------------------------------------------------


def card(root: Path, name: str, kind: str, labels: tuple[str, ...], extra: dict | None = None) -> Path:
    """A model folder as train() leaves it, but for the Spark pipeline deploy never reads."""
    folder = root / name
    folder.mkdir(parents=True)
    write_model_card(TrainedModel(name=name, kind=kind, path=folder, labels=labels, project="demo",
                                  embeddings="glove_6b_50d"), extra or {})
    return folder


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    card(root, "ner_demo_annotation_manual", "ner", ("PROBLEM", "TEST"), {"from_name": "label"})
    card(root, "classification_sentiment_annotation_manual", "classification", ("Female", "Male"),
         {"from_name": "sentiment"})
    return root


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.xml"
    shutil.copyfile(DEMO_CONFIG, path)
    return path


def test_deploy_points_the_config_at_the_models_and_says_what_changed(config, models):
    code, text = run("deploy", config, "ner_demo_annotation_manual", "classification_sentiment_annotation_manual",
                     "--models", models)
    assert code == 0
    assert "/Labels[@name='label']/Label[@value='PROBLEM'] (line 6): none -> ner_demo_annotation_manual\n" in text
    assert "/Choices[@name='sentiment']" in text and "-> classification_sentiment_annotation_manual" in text
    assert f"deployed: 3 model attribute(s) set; config written to {config}" in text
    deployed = load_config(config)
    assert {label.value: label.model for label in deployed.labels_controls[0].labels} == {
        "DATE": None, "PROBLEM": "ner_demo_annotation_manual", "TEST": "ner_demo_annotation_manual",
        "TREATMENT": None, "ABSENT": None}
    after = config.read_bytes()
    code, text = run("deploy", config, "ner_demo_annotation_manual", "--models", models)
    assert code == 0 and "deployed: 0 model attribute(s) set; config written to nowhere" in text
    assert config.read_bytes() == after


def test_deploy_a_folder_as_a_dry_run_writes_nothing(config, tmp_path):
    folder = card(tmp_path / "elsewhere", "ner_other_annotation_manual", "ner", ("DATE",))
    before = config.read_bytes()
    code, text = run("deploy", config, folder, "--dry-run", "--models", tmp_path / "models")
    assert code == 0
    assert "Label[@value='DATE'] (line 5): none -> ner_other_annotation_manual" in text
    assert "config written to nowhere (--dry-run)" in text and config.read_bytes() == before


def test_deploy_keeps_pretrained_labels_the_user_names(tmp_path, capsys):
    config = tmp_path / "pretrained.xml"
    shutil.copyfile(PRETRAINED_CONFIG, config)
    root = tmp_path / "models"
    card(root, "ner_demo_annotation_manual_v2", "ner", ("PROBLEM", "TEST", "TREATMENT", "DATE"))
    code, _ = run("deploy", config, "ner_demo_annotation_manual_v2", "--models", root)
    assert code == 2 and "neither the registry nor known_models has it" in one_error_line(capsys)
    assert config.read_bytes() == PRETRAINED_CONFIG.read_bytes()
    code, text = run("deploy", config, "ner_demo_annotation_manual_v2", "--models", root,
                     "--known-models", "ner_clinical", "ner_demo_al=glove_6b_50d")
    assert code == 0
    assert "Label[@value='PROBLEM'] (line 4): kept ner_clinical" in text
    assert "Label[@value='TREATMENT'] (line 6): kept ner_demo_al" in text
    assert "ner_demo_annotation_manual_v1.model -> ner_demo_annotation_manual_v2" in text
    assert "deployed: 2 model attribute(s) set" in text


def test_deploy_with_a_missing_model_or_config_fails_in_one_line(config, models, tmp_path, capsys):
    before = config.read_bytes()
    code, _ = run("deploy", config, "ner_nobody_trained", "--models", models)
    assert code == 2 and "no model 'ner_nobody_trained' in the registry" in one_error_line(capsys)
    code, _ = run("deploy", config, tmp_path / "no_such_model", "--models", models)
    assert code == 2 and "no such model folder" in one_error_line(capsys)
    code, _ = run("deploy", config, "ner_demo_annotation_manual", "--known-models", "=x", "--models", models)
    assert code == 2 and "--known-models: expected NAME or NAME=EMBEDDINGS" in one_error_line(capsys)
    code, _ = run("deploy", tmp_path / "missing.xml", "ner_demo_annotation_manual", "--models", models)
    assert code == 2
    one_error_line(capsys)
    assert config.read_bytes() == before
