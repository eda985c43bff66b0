"""The script trainer: real scripts in real processes — tiny ones for the contract, the example for a real model."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import time
from pathlib import Path

import pytest

from alab_training import (
    ParamsError,
    TrainingError,
    TrainingParams,
    iter_training,
    load_model,
    load_project,
    predict,
    train,
)
from alab_training.model import EpochFinished, Evaluated, LogLine, TrainingFailed, TrainingFinished, TrainingStarted
from alab_training.model_card import read_model_card
from alab_training.plugins.manager import available_trainers
from alab_training.trainers.script import ScriptTrainer
from alab_training.trainers.script.trainer import read_metrics
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "custom_script" / "train_ner.py"
NCBI = REPO / "examples" / "ncbi_disease"
CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text"><Label value="PROBLEM"/><Label value="TEST"/></Labels>
</View>"""
TEXTS = [
    ("The patient had a fever. An x-ray was done.", [("fever", "PROBLEM"), ("x-ray", "TEST")]),
    ("No cough today.", [("cough", "PROBLEM")]),
    ("Blood pressure was checked. It was fine.", [("Blood pressure", "TEST")]),
    ("She reports chest pain.", [("chest pain", "PROBLEM")]),
    ("A CT scan showed a mass.", [("CT scan", "TEST"), ("mass", "PROBLEM")]),
    ("Headache again.", [("Headache", "PROBLEM")]),
]
#: Parses the contract's arguments; every tiny script below starts with it.
PREAMBLE = """\
import argparse, json, os, subprocess, sys, time
parser = argparse.ArgumentParser()
for name in ("--train", "--test", "--selection", "--params", "--model-dir", "--metrics"):
    parser.add_argument(name, required=True)
args = parser.parse_args()

def write_outputs(metrics):
    os.makedirs(args.model_dir)
    with open(os.path.join(args.model_dir, "weights.txt"), "w") as out:
        out.write("0.5")
    with open(args.metrics, "w") as out:
        json.dump(metrics, out)

SCORES = {"PROBLEM": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
          "micro": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
          "macro": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}}
"""


def _task(number: int, text: str, entities: list[tuple[str, str]], tags: list[str]) -> dict:
    result = [{"id": f"r{number}-{i}", "from_name": "label", "to_name": "text", "type": "labels",
               "value": {"start": text.index(phrase), "end": text.index(phrase) + len(phrase), "text": phrase,
                         "labels": [label]}} for i, (phrase, label) in enumerate(entities)]
    return {"id": number, "data": {"text": text}, "tags": tags,
            "completions": [{"id": 100 + number, "created_username": "ann", "submitted_at": "2024-01-02T00:00:00Z",
                             "result": result}]}


@pytest.fixture(scope="module")
def project():
    tasks = [_task(n, text, entities, ["test"] if n > 4 else []) for n, (text, entities) in enumerate(TEXTS, 1)]
    return load_project(tasks, config=CONFIG, name="tiny")


@pytest.fixture
def script(tmp_path):
    def write(body: str, name: str = "train.py") -> Path:
        path = tmp_path / name
        path.write_text(PREAMBLE + textwrap.dedent(body))
        return path

    return write


def _train(project, script: Path, output: Path, spark, **params):
    events = []
    params = TrainingParams(training_type="script", script=str(script), **{"test_tags": ("test",), **params})
    try:
        result = train(project, params, spark, output_dir=output, on_event=events.append)
    except TrainingError as exc:
        return exc, events
    return result, events


def _dead(pid: int, within: float = 10.0) -> bool:
    """Gone or a zombie (whoever adopted it may not reap it at once)."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


# -- checked before anything runs -----------------------------------------------------------------------------


def test_registered_as_a_built_in_trainer():
    assert isinstance(available_trainers()["script"], ScriptTrainer)


@pytest.mark.parametrize("script, message", [(None, "needs script="), ("nowhere/train.py", "does not exist"),
                                             (".", "is not a file")])
def test_script_path_is_checked_before_anything_runs(project, tmp_path, script, message):
    events = []
    with pytest.raises(ParamsError, match=message) as caught:
        train(project, TrainingParams(training_type="script", script=script), output_dir=tmp_path / "models",
              on_event=events.append)
    assert caught.value.field == "script"
    assert [type(e) for e in events] == [TrainingFailed]
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("text, problem", [
    ('{"micro": {"precision": 1, "recall": 1, "f1": 1.5, "support": 3}}', r"\$.micro.f1: 1.5 is outside"),
    ('{"micro": {"precision": 1, "recall": 1, "f1": "high", "support": 3}}', r"\$.micro.f1: expected a number"),
    ('{"micro": {"precision": 1, "recall": 1, "f1": NaN, "support": 3}}', r"\$.micro.f1: expected a number"),
    ('{"micro": {"precision": 1, "recall": 1, "support": 3}}', r"\$.micro: missing f1"),
    ('{"micro": {"precision": 1, "recall": 1, "f1": 1, "support": 2.5}}', r"\$.micro.support: expected a count"),
    ('{"PROBLEM": {"precision": 1, "recall": 1, "f1": 1, "support": 2}}', r'no "micro" row'),
    ('[1, 2]', r"\$: expected an object of rows"),
    ('{"micro": ', "not readable JSON"),
])
def test_metrics_schema_violations_are_named(tmp_path, text, problem):
    (tmp_path / "metrics.json").write_text(text)
    with pytest.raises(ValueError, match=problem):
        read_metrics(tmp_path / "metrics.json")


def test_metrics_may_be_empty_and_rows_may_carry_counts(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    assert read_metrics(tmp_path / "metrics.json") == {}
    row = {"precision": 0.5, "recall": 1, "f1": 0.6667, "support": 2, "tp": 2, "fp": 2, "fn": 0}
    (tmp_path / "metrics.json").write_text(json.dumps({"micro": row}))
    assert read_metrics(tmp_path / "metrics.json") == {"micro": row}


# -- tiny scripts in real processes (the data conversion needs Spark) -------------------------------------------


@pytest.fixture(scope="module")
def good_run(project, spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    script = folder / "good.py"
    script.write_text(PREAMBLE + textwrap.dedent("""\
        print("hello from the script")
        print("PROGRESS " + json.dumps({"epoch": 1, "epochs": 2, "loss": 0.5, "seconds": 0.25}))
        print("PROGRESS not json at all")
        sys.stderr.write("a warning on stderr\\n")
        print("PROGRESS " + json.dumps({"epoch": 2, "epochs": 2, "loss": 0.25}))
        write_outputs(SCORES)
        received = {"args": vars(args), "cwd": os.getcwd(), "gateway": "PYSPARK_GATEWAY_PORT" in os.environ}
        with open(os.path.join(args.model_dir, "received.json"), "w") as out:
            json.dump(received, out)
        """))
    result, events = _train(project, script, folder / "models", spark, epochs=2)
    return script, result, events


@pytest.mark.spark
def test_progress_lines_become_epoch_events_and_other_lines_log_lines(good_run):
    events = good_run[2]
    assert [type(e) for e in events if not isinstance(e, LogLine)] == [
        TrainingStarted, EpochFinished, EpochFinished, Evaluated, TrainingFinished]
    started = events[[type(e) for e in events].index(TrainingStarted)]
    assert (started.training_type, started.train_examples, started.test_examples, started.epochs) == \
        ("script", 6, 2, 2)
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    assert epochs == [EpochFinished(1, 2, 0.5, 0.25), EpochFinished(2, 2, 0.25, None)]
    lines = [e.text for e in events if isinstance(e, LogLine)]
    assert "hello from the script" in lines and "stderr: a warning on stderr" in lines
    assert "PROGRESS not json at all" in lines
    assert any(line.startswith("  (ignored: not a progress line: not JSON") for line in lines)


@pytest.mark.spark
def test_the_script_output_becomes_a_registered_ner_model(good_run):
    script, result, events = good_run
    model = result.model("ner")
    assert (model.name, model.kind, model.labels, model.project) == \
        ("ner_tiny_annotation_manual", "ner", ("PROBLEM", "TEST"), "tiny")
    assert model.path == model.path.parent / model.name and not list(model.path.parent.glob(".ner_tiny*"))
    assert model.metrics["micro"]["f1"] == 0.6667 and Evaluated(model.metrics) in events
    card, extra = read_model_card(model.path)
    assert card.kind == "ner" and card.metrics == model.metrics and card.params["script"] == str(script)
    assert extra["script_sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert (extra["script"], extra["pipeline"], extra["train_sentences"], extra["test_sentences"]) == \
        (str(script), "model", 6, 2)
    assert (model.path / "model" / "weights.txt").read_text() == "0.5"
    log = model.log_path.read_text()
    for expected in ("script: " + str(script), "time limit: 7200s", "selection: 4 task(s) train, 2 test",
                     "hello from the script", "stderr: a warning on stderr", "the script exited with code 0",
                     "micro: precision 1"):
        assert expected in log


@pytest.mark.spark
def test_the_script_receives_the_documented_inputs(good_run):
    _, result, _ = good_run
    folder = result.model("ner").path
    received = json.loads((folder / "model" / "received.json").read_text())
    staging = Path(received["cwd"])  # the folder the model was built in, before it was moved into place
    assert received["args"] == {
        "train": str(staging / "data" / "train.conll"), "test": str(staging / "data" / "test.conll"),
        "selection": str(staging / "data" / "selection.json"), "params": str(staging / "data" / "params.json"),
        "model_dir": str(staging / "model"), "metrics": str(staging / "metrics.json")}
    assert received["gateway"] is False
    train_conll = (folder / "data" / "train.conll").read_text()
    assert train_conll.startswith("-DOCSTART- -X- -X- O\n\n")
    assert "fever NN NN B-PROBLEM\n" in train_conll and "Blood NN NN B-TEST\npressure NN NN I-TEST\n" in train_conll
    assert "chest NN NN B-PROBLEM\npain NN NN I-PROBLEM\n" in train_conll
    assert "CT NN NN B-TEST\n" in (folder / "data" / "test.conll").read_text()
    selection = json.loads((folder / "data" / "selection.json").read_text())
    assert (selection["format"], selection["project"], selection["entity_labels"]) == (1, "tiny", ["PROBLEM", "TEST"])
    assert [(t["id"], t["split"], t["sentences"]) for t in selection["tasks"]] == [
        (1, "train", 2), (2, "train", 1), (3, "train", 2), (4, "train", 1), (5, "test", 1), (6, "test", 1)]
    first = selection["tasks"][0]
    assert first["text"] == TEXTS[0][0] and first["completion"]["id"] == 101
    assert first["completion"]["spans"][0] == {"id": "r1-0", "start": 18, "end": 23, "text": "fever",
                                               "labels": ["PROBLEM"], "from_name": "label"}
    assert selection["excluded"] == []
    params = json.loads((folder / "data" / "params.json").read_text())
    assert (params["training_type"], params["epochs"], params["test_tags"]) == ("script", 2, ["test"])


@pytest.mark.spark
def test_a_crash_fails_with_the_stderr_tail(project, spark, script, tmp_path):
    crash = script("""\
        print("about to fail")
        raise RuntimeError("the GPU is on fire")
        """)
    error, events = _train(project, crash, tmp_path / "models", spark)
    assert isinstance(error, TrainingError) and error.training_type == "script"
    assert "failed with exit code 1" in str(error)
    assert "RuntimeError: the GPU is on fire" in error.detail and "Traceback" in error.detail
    assert "stderr: RuntimeError: the GPU is on fire" in [e.text for e in events if isinstance(e, LogLine)]
    assert isinstance(events[-1], TrainingFailed) and "the GPU is on fire" in events[-1].message
    assert list((tmp_path / "models").iterdir()) == []  # nothing published, no staging left


@pytest.mark.spark
def test_a_timeout_stops_the_script_and_everything_it_started(project, spark, script, tmp_path):
    pid_file = tmp_path / "child.pid"
    slow = script(f"""\
        # A child that ignores SIGTERM: only the group's SIGKILL ends it.
        child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                  "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("PROGRESS " + json.dumps({{"epoch": 1, "epochs": 100}}), flush=True)
        time.sleep(600)
        """)
    started = time.monotonic()
    error, events = _train(project, slow, tmp_path / "models", spark, script_timeout=2)
    assert time.monotonic() - started < 30  # conversion + 2 s + the grace period at most
    assert isinstance(error, TrainingError) and "longer than its time limit (2s)" in str(error)
    assert EpochFinished(1, 100) in events
    assert _dead(int(pid_file.read_text()))


@pytest.mark.spark
def test_stopping_the_training_stops_the_script(project, spark, script, tmp_path):
    pids = tmp_path / "pids"
    slow = script(f"""\
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        print("PROGRESS " + json.dumps({{"epoch": 1, "epochs": 100}}), flush=True)
        time.sleep(600)
        """)
    params = TrainingParams(training_type="script", script=str(slow), test_tags=("test",))
    events = iter_training(project, params, spark, output_dir=tmp_path / "models")
    assert next(e for e in events if isinstance(e, EpochFinished)) == EpochFinished(1, 100)
    events.close()  # what a job runner does to cancel
    assert all(_dead(int(pid)) for pid in pids.read_text().split())
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.spark
def test_a_leftover_background_process_neither_hangs_nor_survives(project, spark, script, tmp_path):
    pid_file = tmp_path / "child.pid"
    leaves = script(f"""\
        # The child inherits stdout and stderr: reading them to the end would wait for it.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        write_outputs(SCORES)
        """)
    started = time.monotonic()
    result, _ = _train(project, leaves, tmp_path / "models", spark)
    assert time.monotonic() - started < 30
    assert result.model("ner").metrics["micro"]["f1"] == 0.6667
    assert _dead(int(pid_file.read_text()))


@pytest.mark.spark
def test_a_flood_of_stderr_does_not_deadlock(project, spark, script, tmp_path):
    chatty = script("""\
        for i in range(20000):
            sys.stderr.write(f"noise {i} " + "x" * 100 + "\\n")
        print("done")
        write_outputs({})
        """)
    result, events = _train(project, chatty, tmp_path / "models", spark, test_tags=(), validation_split=0.0)
    lines = [e.text for e in events if isinstance(e, LogLine)]
    assert "done" in lines and sum(line.startswith("stderr: noise") for line in lines) == 20000
    model = result.model("ner")
    assert model.metrics == {} and not any(isinstance(e, Evaluated) for e in events)
    assert "no test side" in model.log_path.read_text()


@pytest.mark.spark
@pytest.mark.parametrize("body, problem", [
    ("write_outputs(SCORES); import shutil; shutil.rmtree(args.model_dir)", "without writing its model directory"),
    ("write_outputs(SCORES); os.remove(os.path.join(args.model_dir, 'weights.txt'))", "model directory empty"),
    ("write_outputs(SCORES); os.remove(args.metrics)", r"metrics\.json is unusable: missing"),
    ("write_outputs(SCORES); open(args.metrics, 'w').write('{')", r"metrics\.json is unusable: not readable JSON"),
    ("write_outputs({'micro': {'precision': 2, 'recall': 1, 'f1': 1, 'support': 1}})",
     r"unusable: \$.micro.precision: 2 is outside \[0, 1\]"),
    ("sys.stderr.write('giving up\\n'); sys.exit(3)", "failed with exit code 3"),
])
def test_missing_or_invalid_outputs_fail_the_training(project, spark, script, tmp_path, body, problem):
    error, _ = _train(project, script(body + "\n"), tmp_path / "models", spark)
    assert isinstance(error, TrainingError)
    assert error.message.startswith("the script") and re.search(problem, str(error)), str(error)
    assert list((tmp_path / "models").iterdir()) == []


# -- the example script: a real NerDL model ---------------------------------------------------------------------


@pytest.mark.spark
def test_example_script_trains_a_real_ner_model(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("ALAB_TRAINING_DRIVER_MEMORY", "3g")  # the script's own JVM, beside the tests' one
    tasks = [t for t in json.loads((NCBI / "export.json").read_text()) if not t.get("tags")][:30]
    project = load_project(tasks, config=NCBI / "config.xml", name="ncbi")
    events = []
    params = TrainingParams(training_type="script", script=str(EXAMPLE), validation_split=0.3, epochs=2,
                            learning_rate=0.01, batch_size=8)
    result = train(project, params, spark, output_dir=tmp_path, on_event=events.append)

    model = result.model("ner")
    card, extra = read_model_card(tmp_path / "ner_ncbi_annotation_manual")
    assert (card.kind, card.name, card.labels) == ("ner", "ner_ncbi_annotation_manual", ("Disease",))
    assert card.metrics["micro"]["f1"] > 0 and card.metrics["Disease"]["support"] > 30, card.metrics
    assert card.metrics == model.metrics and extra["script"] == str(EXAMPLE)
    assert [(e.epoch, e.epochs) for e in events if isinstance(e, EpochFinished)] == [(1, 2), (2, 2)]
    losses = [e.loss for e in events if isinstance(e, EpochFinished)]
    assert losses[1] < losses[0]
    # The saved pipeline reads raw text: the NER trainer's predict() serves it like its own models.
    loaded = load_model(model.path, spark=spark)
    prediction = predict(loaded, ["Patients with cystic fibrosis and breast cancer were included."])[0]
    for item in prediction["result"]:
        assert item["value"]["labels"] == ["Disease"] and item["from_name"] == "label"
