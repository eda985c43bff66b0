"""evaluate, compare and the registry's previous version on real trained models: NCBI-disease NER (two versions),
a mixed NegEx project (NER + assertion + classification in one predict), SMS spam classification."""

from __future__ import annotations

import csv
import json

import attrs
import pytest

from alab_training import (
    ModelNotFoundError,
    ModelRegistry,
    ParamsError,
    TrainingParams,
    compare,
    compare_with_previous,
    evaluate,
    load_model,
    load_project,
    predict,
    train,
)
from alab_training.cli import main
from alab_training.evaluation.matching import compare_spans
from alab_training.metrics import classification_scores
from alab_training.trainers.text import entity_spans
from tests.browser import page_metrics, render
from tests.conftest import REPO
from tests.corpora import negex_export
from tests.trainers.classification.test_trainer import DEEP, sms_project

pytestmark = pytest.mark.spark

EXPORT = REPO / "examples" / "ncbi_disease" / "export.json"
CONFIG = REPO / "examples" / "ncbi_disease" / "config.xml"
NEGEX_CHOICES_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text"><Label value="CONDITION"/><Label value="Negated" assertion="true"/></Labels>
  <Choices name="temporality" toName="text" choice="single">
    <Choice value="Recent"/><Choice value="Historical"/><Choice value="Hypothetical"/>
  </Choices>
</View>"""
TEST_SIDE = TrainingParams(test_tags=("test",))


def ncbi_tasks(train_tasks: int) -> list[dict]:
    tasks = json.loads(EXPORT.read_text())
    return [t for t in tasks if not t.get("tags")][:train_tasks] + [t for t in tasks if t.get("tags")][:10]


@pytest.fixture(scope="module")
def ncbi(spark, tmp_path_factory):
    """Two versions of one NER model: v1 from 2 tasks, v2 from 40 (both 2 epochs); the 10 test tasks hold 100
    devel sentences."""
    root = tmp_path_factory.mktemp("models")
    params = TrainingParams(training_type="ner", test_tags=("test",), epochs=2, learning_rate=0.01, batch_size=8)
    for count in (2, 40):
        project = load_project(ncbi_tasks(count), config=CONFIG, name="ncbi")
        train(project, params, spark=spark, output_dir=root, versioning=True)
    return load_project(ncbi_tasks(40), config=CONFIG, name="ncbi"), ModelRegistry(root)


@pytest.fixture(scope="module")
def ncbi_evaluation(ncbi, spark):
    project, registry = ncbi
    return evaluate(registry.get("ner_ncbi_annotation_manual_v2"), project, TEST_SIDE, spark=spark)


def test_ner_scores_agree_with_training_and_with_the_matching(ncbi, ncbi_evaluation):
    project, registry = ncbi
    model = registry.get("ner_ncbi_annotation_manual_v2")
    scored = ncbi_evaluation.model("ner")
    assert ncbi_evaluation.side == "test" and len(ncbi_evaluation.tasks) == 10
    # The same held-out side, scored entity by entity: training's conlleval figures on tokens, ours on offsets
    # (NCBI's texts are its tokens joined by spaces, so both see the same entities).
    assert scored.scores.micro.f1 == pytest.approx(model.metrics["micro"]["f1"], abs=0.01)
    assert scored.scores.micro.support == model.metrics["micro"]["support"] == scored.examples
    # nervaluate's strict scheme is exact matching too.
    strict = scored.schemes.overall.strict
    assert strict.correct == scored.scores.micro.tp and strict.possible == scored.examples
    assert scored.tokens.per_label["Disease"].support > scored.examples  # tokens, not entities
    assert len(scored.per_task) == 10


def test_error_table_rows_reconcile_and_have_context(ncbi, ncbi_evaluation, tmp_path):
    strict = ncbi_evaluation.model("ner").schemes.overall.strict
    assert len(ncbi_evaluation.errors) == strict.incorrect + strict.missed + strict.spurious > 0
    written = ncbi_evaluation.to_csv(tmp_path / "errors.csv")
    rows = list(csv.DictReader(written.open(encoding="utf-8")))
    assert len(rows) == len(ncbi_evaluation.errors)
    tasks = {task.id: task for task in ncbi[0].tasks}
    for row in rows:
        assert row["model"] == "ner_ncbi_annotation_manual_v2" and int(row["task_id"]) in tasks
        assert row["completion_id"] and row["kind"] in {"false_positive", "false_negative", "wrong_boundary"}
        assert len(row["left_context"].split()) <= 20 and len(row["right_context"].split()) <= 20
        text = tasks[int(row["task_id"])].text
        assert text[int(row["start"]):int(row["end"])] in (row["gold_text"], row["predicted_text"]) or \
            row["kind"].startswith("wrong")


def test_evaluate_costs_little_more_than_predict(ncbi, spark):
    # The budget is 1.2 x predict() (benchmarks/evaluate_speed.py measures it on 1,000 sentences); here only
    # that scoring adds no second pass: it is a small share of the prediction it follows.
    project, registry = ncbi
    loaded = load_model(registry.get("ner_ncbi_annotation_manual_v2"), spark=spark)
    evaluation = evaluate(loaded, project, TEST_SIDE, spark=spark)
    assert evaluation.seconds["scoring"] < 0.2 * evaluation.seconds["predict"]


def test_compare_finds_the_better_version_and_no_difference_with_itself(ncbi, spark):
    project, registry = ncbi
    better = compare_with_previous("ner_ncbi_annotation_manual_v2", project, TEST_SIDE, registry=registry.root,
                                   spark=spark)
    assert (better.baseline.name, better.candidate.name) == ("ner_ncbi_annotation_manual_v1",
                                                               "ner_ncbi_annotation_manual_v2")
    assert better.verdict == "better" and better.deltas.micro.low > 0
    assert better.deltas.resamples == 1000 and better.deltas.tasks == 10
    same = compare(registry.get("ner_ncbi_annotation_manual_v2"), registry.get("ner_ncbi_annotation_manual_v2"),
                   project, TEST_SIDE, spark=spark)
    assert same.verdict == "no detectable difference"
    assert (same.deltas.micro.delta, same.deltas.micro.low, same.deltas.micro.high) == (0.0, 0.0, 0.0)
    again = compare_with_previous("ner_ncbi_annotation_manual_v2", project, TEST_SIDE, registry=registry,
                                  spark=spark)
    assert again.deltas == better.deltas  # seeded


def test_the_registry_knows_the_previous_version(ncbi):
    _, registry = ncbi
    assert registry.previous("ner_ncbi_annotation_manual_v2").name == "ner_ncbi_annotation_manual_v1"
    with pytest.raises(ModelNotFoundError, match="no version"):
        registry.previous("ner_ncbi_annotation_manual_v1")


def test_refusals(ncbi, spark):
    project, registry = ncbi
    v2 = registry.get("ner_ncbi_annotation_manual_v2")
    with pytest.raises(ParamsError, match="two ner models"):
        evaluate([v2, registry.get("ner_ncbi_annotation_manual_v1")], project, spark=spark)
    with pytest.raises(ParamsError, match="no task to evaluate") as caught:
        evaluate(v2, project, TrainingParams(test_tags=("nowhere",)), spark=spark)
    assert caught.value.field == "test_tags"
    with pytest.raises(ParamsError, match="at least 1000"):
        compare(v2, v2, project, TEST_SIDE, resamples=10, spark=spark)


def test_the_cli_evaluates_and_compares(ncbi, tmp_path, capsys):
    project, registry = ncbi
    export = tmp_path / "export.json"
    export.write_text(json.dumps(ncbi_tasks(40)))
    common = [str(export), "--config", str(CONFIG), "--name", "ncbi", "--test-tags", "test",
              "--models", str(registry.root)]
    assert main(["evaluate", "ner_ncbi_annotation_manual_v2", *common, "--errors", str(tmp_path / "e.csv"),
                 "--report", str(tmp_path / "evaluation.html")]) == 0
    shown = capsys.readouterr().out
    assert "exact entity match" in shown and "errors: " in shown and (tmp_path / "e.csv").is_file()
    assert main(["compare", "ner_ncbi_annotation_manual_v2", *common, "--previous", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "better"
    assert main(["compare", "ner_ncbi_annotation_manual_v2", *common]) == 2
    assert "expected two models" in capsys.readouterr().err


def test_the_evaluation_report_shows_the_api_figures_in_a_browser(ncbi_evaluation, tmp_path):
    from alab_training import write_report

    path = write_report(ncbi_evaluation, tmp_path / "evaluation.html")
    shown = page_metrics(render(path, tmp_path))
    scored = ncbi_evaluation.model("ner")
    for label, score in scored.scores.rows().items():
        for figure in ("precision", "recall", "f1"):
            assert shown[f"{scored.name}.{label}.{figure}"] == f"{getattr(score, figure):.4f}"
    assert shown[f"{scored.name}.schemes.partial.f1"] == f"{scored.schemes.overall.partial.f1:.4f}"



def test_the_comparison_report_shows_the_deltas_and_the_verdict_in_a_browser(ncbi, spark, tmp_path):
    from alab_training import write_report

    project, registry = ncbi
    comparison = compare_with_previous("ner_ncbi_annotation_manual_v2", project, TEST_SIDE, registry=registry,
                                       spark=spark)
    shown = page_metrics(render(write_report(comparison, tmp_path / "comparison.html"), tmp_path))
    assert shown["delta.micro.verdict"] == comparison.verdict == "better"
    for label, delta in {**comparison.deltas.per_label, "micro": comparison.deltas.micro}.items():
        for field in ("baseline", "candidate", "delta", "low", "high"):
            assert shown[f"delta.{label}.{field}"] == f"{getattr(delta, field):.4f}", (label, field)

# -- a mixed project: NER, assertion and classification predicted together ---------------------------------------


@pytest.fixture(scope="module")
def negex(spark, tmp_path_factory):
    project = load_project(negex_export(with_choices=True), config=NEGEX_CHOICES_CONFIG, name="negex")
    params = TrainingParams(test_tags=("test",), epochs=1, unannotated_label="Affirmed", **DEEP)
    result = train(project, params, spark=spark, output_dir=tmp_path_factory.mktemp("models"))
    return project, result


@pytest.fixture(scope="module")
def negex_evaluation(negex, spark):
    project, result = negex
    return evaluate(result, project, TEST_SIDE, spark=spark)


def test_mixed_project_scores_every_kind_from_one_predict(negex, negex_evaluation):
    project, result = negex
    assert [m.kind for m in negex_evaluation.models] == ["ner", "assertion", "classification"]
    test_items = [t for t in project.tasks if "test" in t.tags]
    assertion = negex_evaluation.model("assertion")
    # Every gold entity span of the test side has a status (Negated, or the model's own unannotated label).
    assert assertion.examples == sum(len(entity_spans(t.completions[0], project.config)[0]) for t in test_items)
    labels, matrix = assertion.confusion
    assert set(labels) <= {"Affirmed", "Negated", "(none)"} and sum(map(sum, matrix)) == assertion.examples
    assert assertion.scores.micro.f1 == pytest.approx(assertion.scores.accuracy)
    # Assertion is scored on the gold spans, so its figures are those of the trainer's own evaluation side.
    assert assertion.scores.as_dict()["macro"]["f1"] == pytest.approx(
        result.model("assertion").metrics["macro"]["f1"], abs=0.02)
    classification = negex_evaluation.model("classification")
    # A task counts when its gold answers the control (the reader drops the few answers outside the config).
    answered = [t for t in test_items if any(c.from_name == "temporality" for c in t.completions[0].choices)]
    assert classification.control == "temporality" and classification.examples == len(answered) > 0
    kinds = {row.kind for row in negex_evaluation.errors}
    assert kinds <= {"false_positive", "false_negative", "wrong_boundary", "wrong_type", "wrong_type_and_boundary",
                     "wrong_status", "wrong_class"}
    assert {"wrong_class", "wrong_status"} & kinds


def test_assertion_alone_scores_as_in_the_mixed_run(negex, negex_evaluation, spark):
    project, result = negex
    alone = evaluate(result.model("assertion"), project, TEST_SIDE, spark=spark).model("assertion")
    assert alone.scores == negex_evaluation.model("assertion").scores


def test_classification_figures_are_those_of_predict(spark, tmp_path):
    project = sms_project()
    params = TrainingParams(training_type="classification", test_tags=("test",), learning_rate=0.005,
                            batch_size=16, **DEEP)
    model = train(project, params, spark=spark, output_dir=tmp_path).model("classification")
    scored = evaluate(model, project, TEST_SIDE, spark=spark).model("classification")
    test = [t for t in project.tasks if "test" in t.tags and t.completions[0].choices]
    found = predict(load_model(model, spark=spark), test)
    gold = [t.completions[0].choices[0].choices[0] for t in test]
    answers = [p["result"][0]["value"]["choices"][0] if p["result"] else "(none)" for p in found]
    assert scored.scores == classification_scores(gold, answers)
    assert scored.scores.accuracy == pytest.approx(model.metrics["accuracy"]["accuracy"])


def test_ner_matching_is_the_one_of_the_statistics_core(ncbi, ncbi_evaluation, spark):
    project, registry = ncbi
    tests = [t for t in project.tasks if "test" in t.tags]
    found = predict(load_model(registry.get("ner_ncbi_annotation_manual_v2"), spark=spark), tests)
    total = None
    for task, prediction in zip(tests, found):
        spans = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in prediction["result"]]
        scores = compare_spans(entity_spans(task.completions[0], project.config)[0], spans).scores
        total = scores if total is None else total + scores
    assert attrs.asdict(total) == attrs.asdict(ncbi_evaluation.model("ner").schemes)
