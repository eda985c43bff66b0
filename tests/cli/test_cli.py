from __future__ import annotations

import io
import json

import pytest

from alab_training.cli import main
from tests.conftest import ALAB_DEMO, LABEL_STUDIO, REPO

NER_EXPORT = LABEL_STUDIO / "ner_assertion_export_all_tasks.json"
NER_CONFIG_FILE = LABEL_STUDIO / "ner_assertion_config.xml"


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_select_prints_used_and_excluded_with_counts():
    code, text = run("select", str(NER_EXPORT), "--config", str(NER_CONFIG_FILE))
    assert code == 0
    assert "only_skipped: 1" in text and "only_drafts: 1" in text and "no_completions: 1" in text
    assert "used 11 task(s): 11 train, 0 test; excluded 3" in text


def test_select_json_with_filters():
    code, text = run("select", str(NER_EXPORT), "--config", str(NER_CONFIG_FILE), "--reviewed-only", "--json")
    assert code == 0
    outcome = json.loads(text)
    assert outcome["used"] == []  # nobody reviewed anything in this project
    assert {e["reason"] for e in outcome["excluded"]} >= {"not_reviewed"}


def test_select_tags_and_test_tags(tmp_path):
    export = json.loads(ALAB_DEMO.read_text())
    export[0]["tags"], export[1]["meta"] = ["batch1"], {"tags": ["test"]}
    path = tmp_path / "tagged.json"
    path.write_text(json.dumps(export))
    config = REPO / "examples" / "alab_demo" / "config.xml"
    code, text = run("select", str(path), "--config", str(config), "--tags", "batch1", "--test-tags", "test")
    assert code == 0
    assert "used 2 task(s): 1 train, 1 test; excluded 1" in text and "tag_filtered: 1" in text


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    code, _ = run("select", str(broken), "--config", str(NER_CONFIG_FILE))
    assert code == 2
    assert "not valid JSON" in capsys.readouterr().err


@pytest.mark.spark
def test_train_prints_scores_and_paths(spark, tmp_path, capsys):
    tasks = json.loads((REPO / "examples" / "ncbi_disease" / "export.json").read_text())
    export = tmp_path / "small.json"
    export.write_text(json.dumps([t for t in tasks if not t.get("tags")][:12] + [t for t in tasks if t.get("tags")][:3]))
    code, text = run("train", str(export), "--config", str(REPO / "examples" / "ncbi_disease" / "config.xml"),
                     "--name", "cli", "--test-tags", "test", "--epochs", "2", "--output", str(tmp_path / "models"))
    assert code == 0
    assert "ner_cli_annotation_manual (ner)" in text and "Disease" in text and "micro" in text
    assert f"model: {tmp_path / 'models' / 'ner_cli_annotation_manual'}" in text
    progress = capsys.readouterr().err
    assert "training ner:" in progress and "epoch 2/2" in progress


def test_models_lists_a_folder_newest_first(tmp_path):
    from datetime import datetime, timedelta, timezone

    from alab_training.model import TrainedModel
    from alab_training.model_card import write_model_card

    now = datetime.now(timezone.utc)
    for age, name, kind in ((2, "ner_fevers_annotation_manual", "ner"), (1, "classification_mood_annotation_manual",
                                                                        "classification")):
        (tmp_path / name).mkdir()
        write_model_card(TrainedModel(name=name, kind=kind, path=tmp_path / name, project="fevers",
                                      metrics={"micro": {"f1": 0.5}}, created_at=now - timedelta(hours=age)))
    code, text = run("models", str(tmp_path))
    assert code == 0
    assert [line.split()[3] for line in text.splitlines()] == ["classification_mood_annotation_manual",
                                                               "ner_fevers_annotation_manual"]
    assert "F1 0.500" in text
    assert run("models", str(tmp_path), "--kind", "ner")[1].count("\n") == 1


def test_jobs_of_an_empty_runner_folder_and_an_unknown_id(tmp_path, capsys):
    assert run("jobs", "--root", str(tmp_path)) == (0, "")
    code, _ = run("jobs", "nope", "--root", str(tmp_path))
    assert code == 2 and "nope" in capsys.readouterr().err
