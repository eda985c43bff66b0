"""Real classification training through the public API, on real SMS spam and GoEmotions data: the default linear
head on the MiniLM sentence encoder, and ClassifierDL / MultiClassifierDL on averaged GloVe vectors."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from alab_training import ParamsError, SelectionError, TrainingParams, load_model, load_project, predict, train
from alab_training.metrics import classification_scores, multilabel_scores
from alab_training.model import EpochFinished, Evaluated, LogLine, TrainingFinished, TrainingStarted
from alab_training.model_card import read_model_card
from tests.conftest import DATA

pytestmark = pytest.mark.spark

SMS = DATA / "sms_spam" / "sms_spam_200.tsv"
GOEMOTIONS = DATA / "goemotions" / "goemotions_400.csv"


def choices_config(name: str, values: list[str], *, multiple: bool = False) -> str:
    choices = "".join(f'<Choice value="{value}"/>' for value in values)
    return (f'<View><Text name="text" value="$text"/><Choices name="{name}" toName="text" '
            f'choice="{"multiple" if multiple else "single"}">{choices}</Choices></View>')


def choices_export(rows: list[tuple[str, list[str], list[str]]], from_name: str) -> list[dict]:
    """Annotation Lab tasks, one per ``(text, answers, tags)``; no answers gives a completion without one."""
    tasks = []
    for index, (text, answers, tags) in enumerate(rows, 1):
        result = [{"id": f"r{index}", "type": "choices", "from_name": from_name, "to_name": "text",
                   "value": {"choices": answers}}] if answers else []
        tasks.append({"id": index, "data": {"text": text}, "tags": tags,
                      "completions": [{"id": 1000 + index, "created_username": "annotator",
                                       "created_ago": "2024-01-01T00:00:00Z",
                                       "submitted_at": "2024-01-01T00:00:00", "result": result}]})
    return tasks


def sms_rows() -> list[tuple[str, str]]:
    with SMS.open(encoding="utf-8") as handle:
        next(handle)
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in handle]  # (label, text)


def sms_project():
    """Every 4th message (37 ham, 13 spam) is held apart with the ``test`` tag; two tasks have no answer."""
    rows = [(text, [label], ["test"] if index % 4 == 0 else []) for index, (label, text) in enumerate(sms_rows())]
    rows += [("no answer given here", [], []), ("nor here", [], ["test"])]
    return load_project(choices_export(rows, "spam"), config=choices_config("spam", ["ham", "spam"]), name="sms")


def goemotions_project():
    with GOEMOTIONS.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    labels = sorted({label for record in records for label in record["labels"].split(";")})
    rows = [(r["text"], r["labels"].split(";"), ["test"] if r["split"] == "test" else []) for r in records]
    return load_project(choices_export(rows, "emotion"), config=choices_config("emotion", labels, multiple=True),
                        name="goemotions")


#: The deep head on averaged GloVe vectors, what these tests measured before the encoder became the default.
DEEP = {"embeddings": "glove_6b_50d", "options": {"classification": {"head": "classifierdl"}}}


@pytest.fixture(scope="module")
def sms_trained(spark, tmp_path_factory):
    events = []
    params = TrainingParams(training_type="classification", test_tags=("test",), learning_rate=0.005, batch_size=16,
                            **DEEP)
    result = train(sms_project(), params, spark=spark, output_dir=tmp_path_factory.mktemp("models"),
                   on_event=events.append)
    return result.model("classification"), events


def test_sms_spam_beats_the_majority_class_by_a_wide_margin(sms_trained):
    model, _ = sms_trained
    gold = [label for index, (label, _) in enumerate(sms_rows()) if index % 4 == 0]
    majority = classification_scores(gold, [Counter(gold).most_common(1)[0][0]] * len(gold))
    assert majority.macro.f1 == pytest.approx(0.43, abs=0.01)
    # Measured (seed 42): macro F1 0.87, accuracy 0.90 on the 50 held-apart messages (majority: 0.74).
    assert model.metrics["macro"]["f1"] >= 0.8, model.metrics
    assert model.metrics["accuracy"]["accuracy"] >= 0.85
    assert model.metrics["spam"]["support"] == 13 and model.metrics["ham"]["support"] == 37


def test_sms_model_folder_card_and_log(sms_trained, spark):
    model, _ = sms_trained
    assert model.name == "classification_spam_annotation_manual" and model.kind == "classification"
    assert model.labels == ("ham", "spam") and model.embeddings == "glove_6b_50d"
    card = load_model(model.path, spark=spark).extra
    assert (card["from_name"], card["to_name"], card["multi_label"], card["classes"]) == (
        "spam", "text", False, ["ham", "spam"])
    assert (model.path / "pipeline").is_dir() and (model.path / "data" / "train.jsonl").exists()
    assert not (model.path / "data" / "engine_logs").exists()
    log = model.log_path.read_text()
    for expected in ("parameters:", "ClassifierDL", "selection: 151 task(s) train, 51 test",
                     "examples: 150 train, 50 test",
                     "left out no_answer: 2 (the chosen completion has no answer for the <Choices>)",
                     "Epoch 1/30 ", "Epoch 30/30 ", "confusion matrix", "accuracy"):
        assert expected in log, expected
    assert "Epoch 0/" not in log  # the engine's file counts from 0; the log from 1
    assert card["left_out"] == {"no_answer": 2}


def test_sms_events_arrive_in_order(sms_trained):
    _, events = sms_trained
    kinds = [type(e) for e in events if not isinstance(e, LogLine)]
    assert kinds[0] is TrainingStarted and kinds[1:31] == [EpochFinished] * 30
    assert kinds[-2:] == [Evaluated, TrainingFinished]
    epochs = [e.epoch for e in events if isinstance(e, EpochFinished)]
    assert epochs == list(range(1, 31))
    started = next(e for e in events if isinstance(e, TrainingStarted))
    assert (started.train_examples, started.test_examples, started.epochs) == (150, 50, 30)


def test_reloaded_sms_model_predicts_choices(sms_trained, spark):
    model, _ = sms_trained
    loaded = load_model(model.path, spark=spark)
    texts = ["WINNER!! You have won a £1000 cash prize. Call 09061701461 now to claim, T&C apply",
             "Ok, I'll see you at home later for dinner"]
    predictions = predict(loaded, texts)
    assert [p["result"][0]["value"]["choices"] for p in predictions] == [["spam"], ["ham"]]
    for prediction in predictions:
        (item,) = prediction["result"]
        assert (item["from_name"], item["to_name"], item["type"]) == ("spam", "text", "choices")
        assert 0.5 <= item["value"]["confidence"] <= 1 and prediction["score"] == item["value"]["confidence"]
        assert prediction["model_version"] == model.name


@pytest.fixture(scope="module")
def goemotions_trained(spark, tmp_path_factory):
    params = TrainingParams(training_type="classification", test_tags=("test",), epochs=30, learning_rate=0.005,
                            batch_size=16, **DEEP)
    result = train(goemotions_project(), params, spark=spark, output_dir=tmp_path_factory.mktemp("models"))
    return result.model("classification")


def test_goemotions_multilabel_beats_always_the_most_frequent_label(goemotions_trained):
    model = goemotions_trained
    with GOEMOTIONS.open(newline="", encoding="utf-8") as handle:
        gold = [r["labels"].split(";") for r in csv.DictReader(handle) if r["split"] == "test"]
    frequent = Counter(label for labels in gold for label in labels).most_common(1)[0][0]
    baseline = multilabel_scores(gold, [[frequent]] * len(gold))
    assert baseline.micro.f1 == pytest.approx(0.27, abs=0.02)
    # Measured (seed 42): micro F1 0.50, macro 0.50 on the 100 held-apart comments. (Reloading a saved
    # MultiClassifierDL model takes ~100 s in Spark NLP 5.5.3, so its predictions are not exercised here.)
    assert model.metrics["micro"]["f1"] >= baseline.micro.f1 + 0.12, model.metrics
    assert model.labels == ("admiration", "amusement", "gratitude", "love", "neutral")
    assert "MultiClassifierDL" in model.log_path.read_text()
    # The engine's fixed 0.5 predicts almost nothing here; the threshold is tuned on the training side.
    _, extra = read_model_card(model.path)
    assert 0.05 <= extra["threshold"] <= 0.5
    assert f"decision threshold {extra['threshold']:.2f} (the best micro F1 on the training side" in \
        model.log_path.read_text()


def _fails_before_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    import alab_training.runtime

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark was started")

    monkeypatch.setattr(alab_training.runtime, "start_session", no_spark)


def test_one_class_fails_before_spark(monkeypatch, tmp_path):
    _fails_before_spark(monkeypatch)
    rows = [(f"message {i}", ["ham"], []) for i in range(5)]
    project = load_project(choices_export(rows, "spam"), config=choices_config("spam", ["ham", "spam"]))
    with pytest.raises(ParamsError, match="1 distinct answer"):
        train(project, TrainingParams(training_type="classification"), output_dir=tmp_path)


def test_config_without_choices_fails_before_spark(monkeypatch, tmp_path):
    _fails_before_spark(monkeypatch)
    xml = '<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="X"/></Labels></View>'
    project = load_project([{"id": 1, "data": {"text": "x"}}], config=xml)
    with pytest.raises(ParamsError, match="no <Choices>"):
        train(project, TrainingParams(training_type="classification"), output_dir=tmp_path)
    assert not list(Path(tmp_path).iterdir())


def test_no_answer_at_all_fails_before_spark(monkeypatch, tmp_path):
    _fails_before_spark(monkeypatch)
    project = load_project(choices_export([("a", [], []), ("b", [], [])], "spam"),
                           config=choices_config("spam", ["ham", "spam"]))
    with pytest.raises(SelectionError, match="2 selected task"):
        train(project, TrainingParams(training_type="classification"), output_dir=tmp_path)
