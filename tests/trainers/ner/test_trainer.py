"""Real NerDL training through the public API, on real NCBI-disease data."""

from __future__ import annotations

import json
import zipfile

import pytest
from seqeval.metrics import f1_score

from alab_training import (
    ParamsError,
    TrainingError,
    TrainingParams,
    load_model,
    load_project,
    predict,
    train,
)
from alab_training.model import EpochFinished, Evaluated, LogLine, TrainingFinished, TrainingStarted
from tests.conftest import REPO

pytestmark = pytest.mark.spark

EXPORT = REPO / "examples" / "ncbi_disease" / "export.json"
CONFIG = REPO / "examples" / "ncbi_disease" / "config.xml"


@pytest.fixture(scope="module")
def project():
    tasks = json.loads(EXPORT.read_text())
    train_tasks = [t for t in tasks if not t.get("tags")][:40]  # 400 sentences
    test_tasks = [t for t in tasks if t.get("tags")][:10]       # 100 held-apart devel sentences
    return load_project(train_tasks + test_tasks, config=CONFIG, name="ncbi")


@pytest.fixture(scope="module")
def trained(project, spark, tmp_path_factory):
    events = []
    params = TrainingParams(test_tags=("test",), epochs=5, learning_rate=0.01, batch_size=8)
    result = train(project, params, spark=spark, output_dir=tmp_path_factory.mktemp("models"),
                   on_event=events.append)
    return result, events


def test_beats_the_all_outside_baseline_by_a_wide_margin(trained):
    result, _ = trained
    model = result.model("ner")
    # Tagging nothing scores 0; a model that learned scores well above it on sentences it never saw (measured
    # 0.49–0.60 over runs: NerDL's seed does not pin every source of randomness).
    assert model.metrics["micro"]["f1"] >= 0.40, model.metrics
    assert model.metrics["Disease"]["support"] > 50


def test_model_folder_card_and_log(trained):
    result, _ = trained
    model = result.model("ner")
    assert model.name == "ner_ncbi_annotation_manual"
    assert model.path.name == model.name and (model.path / "model.json").exists()
    assert model.labels == ("Disease",) and model.embeddings == "glove_6b_50d" and model.trigger == "manual"
    log = model.log_path.read_text()
    for expected in ("parameters:", "Name of the selected graph: ", "blstm_21_50_128_200.pb", "Epoch 5/5",
                     "entity-level scores", "Disease", "selection: 40 task(s) train, 10 test"):
        assert expected in log
    assert (model.path / "data" / "train.conll").exists()
    assert not list(model.path.parent.glob(".ner_ncbi*"))  # no staging folder left behind
    with zipfile.ZipFile(result.log_bundle) as bundle:
        assert sorted(bundle.namelist()) == ["ner_ncbi_annotation_manual.log", "summary.txt"]
        assert "ner_ncbi_annotation_manual (ner): micro F1" in bundle.read("summary.txt").decode()


def test_events_arrive_in_order(trained):
    _, events = trained
    kinds = [type(e) for e in events if not isinstance(e, LogLine)]
    assert kinds[0] is TrainingStarted
    assert kinds[1:6] == [EpochFinished] * 5
    assert kinds[-2:] == [Evaluated, TrainingFinished]
    losses = [e.loss for e in events if isinstance(e, EpochFinished)]
    assert losses[-1] < losses[0]


def test_entity_scores_equal_seqeval_on_the_same_predictions(trained, spark):
    from sparknlp.training import CoNLL

    model = trained[0].model("ner")
    loaded = load_model(model.path, spark=spark)
    embeddings, ner = loaded.pipeline.stages[3], loaded.pipeline.stages[4]
    test = CoNLL().readDataset(spark, str(model.path / "data" / "test.conll"))
    rows = ner.transform(embeddings.transform(test)).select("label.result", "ner.result").collect()
    gold, predicted = [r[0] for r in rows], [r[1] for r in rows]
    assert model.metrics["micro"]["f1"] == pytest.approx(f1_score(gold, predicted), abs=1e-9)


def test_reloaded_model_predicts_offsets_in_the_original_text(trained, project, spark):
    loaded = load_model(trained[0].model("ner").path, spark=spark)
    tasks = [t for t in project.tasks if "test" in t.tags][:3]
    texts = tasks + ["Patients with 😷 cystic fibrosis and breast cancer."]
    predictions = predict(loaded, texts)
    assert [p["task"] for p in predictions] == [t.id for t in tasks] + [3]
    found = 0
    for prediction, task in zip(predictions, texts):
        text = task if isinstance(task, str) else task.text
        for item in prediction["result"]:
            value = item["value"]
            assert text[value["start"]:value["end"]] == value["text"]
            assert value["labels"] == ["Disease"] and 0 <= value["confidence"] <= 1
            assert (item["from_name"], item["to_name"], item["type"]) == ("label", "text", "labels")
            found += 1
        assert prediction["model_version"] == "ner_ncbi_annotation_manual"
    assert found >= 3


def test_user_supplied_session_is_used_as_it_is(trained, spark):
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is spark
    assert spark.conf.get("spark.app.name") == "alab-training-tests"


def test_config_without_entities_fails_before_spark(tmp_path):
    xml = '<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="x"/></Choices></View>'
    project = load_project([{"id": 1, "data": {"text": "x"}}], config=xml)
    with pytest.raises(ParamsError):
        train(project, TrainingParams(training_type="ner"), output_dir=tmp_path)


def test_never_overwrites_a_folder_that_is_not_a_model(project, tmp_path):
    precious = tmp_path / "ner_ncbi_annotation_manual"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="left alone"):
        train(project, TrainingParams(test_tags=("test",), epochs=1), output_dir=tmp_path)
    assert (precious / "notes.txt").read_text() == "mine"
