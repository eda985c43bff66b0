from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys

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
    small = [t for t in tasks if not t.get("tags")][:12] + [t for t in tasks if t.get("tags")][:3]
    export.write_text(json.dumps(small))
    code, text = run("train", str(export), "--config", str(REPO / "examples" / "ncbi_disease" / "config.xml"),
                     "--name", "cli", "--test-tags", "test", "--epochs", "2", "--output", str(tmp_path / "models"),
                     "--report", str(tmp_path / "training.html"))
    assert code == 0
    assert "ner_cli_annotation_manual (ner)" in text and "Disease" in text and "micro" in text
    assert f"model: {tmp_path / 'models' / 'ner_cli_annotation_manual'}" in text
    assert f"report: {tmp_path / 'training.html'}" in text
    assert 'data-metric="ner_cli_annotation_manual.micro.f1"' in (tmp_path / "training.html").read_text()
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


# -- failures are one line, never a traceback -------------------------------------------------------------------

def cli(*argv, timeout=30):
    """The command line run as a user runs it: its exit code, stdout and stderr."""
    done = subprocess.run([sys.executable, "-m", "alab_training", *map(str, argv)], capture_output=True,
                          timeout=timeout, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def one_line_failure(code: int, err: str, *expected: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert all(text in err for text in expected), err


def test_a_lone_surrogate_in_a_title_is_printed_escaped(tmp_path):
    export = tmp_path / "export.json"
    export.write_text('[{"id": 1, "data": {"text": "fever", "title": "\\ud800 odd \\udcff"}, "completions": '
                      '[{"id": 1, "submitted_at": "2024-01-01T00:00:00", "result": []}]}]')
    code, out, err = cli("select", export, "--config", NER_CONFIG_FILE)
    assert code == 0 and err == "" and "\\ud800 odd \\udcff" in out
    code, text = run("select", str(export), "--config", str(NER_CONFIG_FILE))
    assert code == 0 and "\\ud800 odd" in text


def test_reading_commands_on_missing_or_odd_folders_fail_in_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    for argv, expected in ((("models", tmp_path / "nowhere"), "does not exist"), (("models", tmp_path / "afile"),
                                                                                    "is not a folder"),
                           (("jobs", "--root", tmp_path / "nowhere"), "does not exist"),
                           (("jobs", "nope", "--root", tmp_path), "nope")):
        one_line_failure(*cli(*argv)[::2], expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing created by looking


def test_a_corrupt_or_broken_job_history_fails_in_one_line(tmp_path):
    (tmp_path / "jobs.sqlite").write_bytes(b"not a database" * 500)
    one_line_failure(*cli("jobs", "--root", tmp_path)[::2], "jobs.sqlite", "not a readable job history")
    other = tmp_path / "other"
    other.mkdir()
    from alab_training.lifecycle.jobs import JobStore
    from tests.lifecycle.jobs.test_damaged_store import job

    store = JobStore(other / "jobs.sqlite")
    store.add(job("good"))
    store.add(job("bad"))
    with sqlite3.connect(other / "jobs.sqlite") as db:
        db.execute("UPDATE jobs SET data = '{broken' WHERE id = 'bad'")
    code, out, err = cli("jobs", "--root", other)
    assert code == 0 and out.startswith("good ") and "bad" in err and "Traceback" not in err
    one_line_failure(*cli("jobs", "bad", "--root", other)[::2], "unreadable")


def test_a_bad_status_filter_and_other_usage_errors_are_one_line(tmp_path):
    one_line_failure(*cli("jobs", "--root", tmp_path, "--status", "done")[::2], "invalid choice")
    one_line_failure(*cli("select")[::2], "required")
    one_line_failure(*cli("models", "--nonsense")[::2], "unrecognized")


def test_models_with_odd_scores_are_listed(tmp_path):
    (tmp_path / "ner_odd").mkdir()
    (tmp_path / "ner_odd" / "model.json").write_text(json.dumps({
        "name": "ner_odd", "kind": "ner", "created_at": "2024-01-01T00:00:00",
        "metrics": {"micro": {"f1": "high"}, "x": {"f1": None, "precision": [1]}}}))
    (tmp_path / "ner_deep").mkdir()
    (tmp_path / "ner_deep" / "model.json").write_text("[" * 50_000 + "]" * 50_000)
    code, out, err = cli("models", tmp_path)
    assert code == 0 and "ner_odd" in out and "not scored" in out
    assert "ner_deep" in err and "Traceback" not in err


def test_an_unexpected_error_is_still_one_line(monkeypatch, capsys):
    from alab_training.cli import models

    monkeypatch.setattr(models, "_models", lambda args, out: 1 / 0)
    assert main(["models", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected ZeroDivisionError" in err


def test_an_export_that_is_a_fifo_or_a_device_fails_at_once(tmp_path):
    os.mkfifo(tmp_path / "export.json")
    for export in (tmp_path / "export.json", "/dev/zero"):
        one_line_failure(*cli("select", export, "--config", NER_CONFIG_FILE, timeout=20)[::2], "not a regular file")


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the command as another user: needs root")
def test_a_folder_this_user_may_not_enter_fails_in_one_line(tmp_path):
    shut = tmp_path / "shut"
    shut.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    for argv in (("models", shut), ("jobs", "--root", shut)):
        done = subprocess.run([*nobody, sys.executable, "-m", "alab_training", *map(str, argv)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "cannot be read (Permission denied)" in done.stderr


def test_an_error_the_system_reports_is_one_line_and_not_called_a_bug(monkeypatch, capsys):
    from alab_training.cli import models

    def full(args, out):
        raise OSError(28, "No space left on device", "/models/x")

    monkeypatch.setattr(models, "_models", full)
    assert main(["models", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert err == "alab-training: error: No space left on device: /models/x\n"


def test_a_score_far_outside_its_range_is_shown_short(tmp_path):
    (tmp_path / "ner_big").mkdir()
    (tmp_path / "ner_big" / "model.json").write_text(json.dumps({
        "name": "ner_big", "kind": "ner", "created_at": "2024-01-01T00:00:00", "metrics": {"micro": {"f1": 1e308}}}))
    code, out, _ = cli("models", tmp_path)
    assert code == 0 and "F1 1e+308" in out and len(out.splitlines()[0]) < 120
