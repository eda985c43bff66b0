"""agreement() of an export with several annotators per task and known (hand-computed) agreement values: read
from a file (streamed), filtered by tags, through the command line, in the report, and in bounded memory."""

from __future__ import annotations

import gc
import json
import tracemalloc

import numpy as np
import pytest
from krippendorff import alpha as reference_alpha
from sklearn.metrics import cohen_kappa_score

from alab_training import Agreement, ParamsError, TrainingParams, agreement, iter_tasks, load_project
from alab_training.cli import main
from tests.browser import page_metrics, render

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text"><Label value="PROBLEM"/><Label value="Absent" assertion="true"/></Labels>
  <Choices name="sentiment" toName="text" choice="single"><Choice value="pos"/><Choice value="neg"/></Choices>
</View>"""
TEXT = "fever and cough, then a rash and pain in the left knee"


def labels(start: int, end: int, label: str) -> dict:
    return {"type": "labels", "from_name": "label", "to_name": "text",
            "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [label]}}


def completion(who: str, number: int, spans=(), absent=(), sentiment=None, *, draft=False) -> dict:
    result = [labels(s, e, "PROBLEM") for s, e in spans] + [labels(s, e, "Absent") for s, e in absent]
    if sentiment:
        result.append({"type": "choices", "from_name": "sentiment", "to_name": "text",
                       "value": {"choices": [sentiment]}})
    done = {} if draft else {"submitted_at": f"2024-01-0{number % 9 + 1}T00:00:00Z"}
    return {"id": number, "created_username": who, "result": result, **done}


#: Four "batch" tasks with three annotators each (a fourth one's draft never counts), one "other" task, one task
#: annotated once. Hand-computed below.
TASKS = [
    {"id": 1, "tags": ["batch"], "data": {"text": TEXT}, "completions": [
        completion("ann", 11, [(0, 5)], [(0, 5)], "pos"), completion("bob", 12, [(0, 5)], [(0, 5)], "pos"),
        completion("cat", 13, [(0, 5)], (), "pos"), completion("dan", 14, [(6, 9)], (), "neg", draft=True)]},
    {"id": 2, "tags": ["batch"], "data": {"text": TEXT}, "completions": [
        completion("ann", 21, [(0, 5)], (), "pos"), completion("bob", 22, [(0, 4)], (), "neg"),
        completion("cat", 23, (), (), "pos")]},
    {"id": 3, "tags": ["batch"], "data": {"text": TEXT}, "completions": [
        completion("ann", 31, (), (), "neg"), completion("bob", 32, (), (), "neg"), completion("cat", 33)]},
    {"id": 4, "tags": ["batch"], "data": {"text": TEXT}, "completions": [
        completion("ann", 41, [(10, 15)], (), "neg"), completion("bob", 42, [(10, 15), (24, 28)], (), "neg"),
        completion("cat", 43, [(10, 15)], (), "neg")]},
    {"id": 5, "tags": ["other"], "data": {"text": TEXT}, "completions": [
        completion("ann", 51, [(0, 5)], (), "pos"), completion("bob", 52, [(34, 38)], (), "neg")]},
    {"id": 6, "tags": ["batch"], "data": {"text": TEXT}, "completions": [completion("ann", 61, [(0, 5)])]},
]
BATCH = TrainingParams(tags=("batch",))


@pytest.fixture
def export(write_json):
    return write_json(TASKS)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text(CONFIG)
    return path


def pairs(question) -> dict[str, float | None]:
    return {"/".join(p.annotators): p.kappa for p in question.pairs}


def test_known_values_from_a_streamed_export(export, config):
    result = agreement(export, BATCH, config=config)
    assert isinstance(result, Agreement)
    assert result.tasks_compared == 4 and result.annotators == ("ann", "bob", "cat")
    spans = result.spans
    # ann/bob: 3 and 4 spans, 2 exact (tasks 1, 4), 3 overlapping (task 2's too); ann/cat: 3 and 2, 2 and 2;
    # bob/cat: 4 and 2, 2 and 2. Micro over pairs: 6 exact and 7 overlapping of 18 spans.
    by_pair = {"/".join(p.annotators): p.overall for p in spans.pairs}
    assert (by_pair["ann/bob"].exact_f1, by_pair["ann/bob"].overlap_f1) == pytest.approx((4 / 7, 6 / 7))
    assert (by_pair["ann/cat"].exact_f1, by_pair["ann/cat"].overlap_f1) == pytest.approx((0.8, 0.8))
    assert (by_pair["bob/cat"].exact_f1, by_pair["bob/cat"].overlap_f1) == pytest.approx((4 / 6, 4 / 6))
    assert (spans.overall.exact_f1, spans.overall.overlap_f1) == pytest.approx((12 / 18, 14 / 18))
    sentiment = result.choices["sentiment"].overall
    # Kappa by hand: ann/bob (4 tasks, 3 alike) 0.5; ann/cat (3 tasks: cat left task 3 unanswered) 1.0;
    # bob/cat 0.4. Alpha: coincidences pos-pos 4, pos-neg 1 + 1, neg-neg 5: 1 - 10 * 2 / (2 * 5 * 6) = 2/3.
    assert pairs(sentiment) == pytest.approx({"ann/bob": 0.5, "ann/cat": 1.0, "bob/cat": 0.4})
    assert sentiment.alpha == pytest.approx(2 / 3) and sentiment.units == 4 and sentiment.values == 11
    # Statuses on the offsets two or more annotators marked: (0, 5) of task 1 (Absent, Absent, none) and
    # (10, 15) of task 4 (none throughout). Kappa 1, 0, 0; alpha 1 - 5 * 2 / (2 * 2 * 4) = 0.375.
    statuses = result.assertion.overall
    assert pairs(statuses) == pytest.approx({"ann/bob": 1.0, "ann/cat": 0.0, "bob/cat": 0.0})
    assert statuses.alpha == pytest.approx(0.375) and statuses.units == 2
    # Worst: task 2 (Dice 0, 2/3, 0), task 3 (1, 0, 0), then tasks 1 and 4 (0.8667 each, export order).
    assert [(t.task_id, round(t.score, 4)) for t in result.worst_tasks] == [
        (2, 0.2222), (3, 0.3333), (1, 0.8667), (4, 0.8667)]


def test_the_known_values_are_the_reference_libraries(export, config):
    # The same answers coded for scikit-learn and the krippendorff package (pos 1, neg 0, missing NaN).
    ann, bob, cat = [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, np.nan, 0]
    result = agreement(export, BATCH, config=config).choices["sentiment"].overall
    assert pairs(result)["ann/bob"] == pytest.approx(cohen_kappa_score(ann, bob))
    assert pairs(result)["bob/cat"] == pytest.approx(cohen_kappa_score([1, 0, 0], [1, 1, 0]))
    assert result.alpha == pytest.approx(reference_alpha(reliability_data=[ann, bob, cat],
                                                         level_of_measurement="nominal"))


def test_tags_filter_and_the_project_give_the_same(export, config):
    everything = agreement(export, config=config)
    assert everything.tasks_compared == 5  # the "other" task too; task 6 has one annotator
    project = load_project(export, config=config)
    assert agreement(project, BATCH).as_dict() == agreement(export, BATCH, config=config).as_dict()
    assert agreement(iter_tasks(export, config=config), BATCH, config=config).as_dict() == \
        agreement(project, BATCH).as_dict()
    with pytest.raises(ParamsError, match="config is needed"):
        agreement(export)


def test_the_cli_prints_writes_json_and_the_report(export, config, tmp_path, capsys):
    assert main(["agreement", str(export), "--config", str(config), "--tags", "batch", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["choices"]["sentiment"]["overall"]["alpha"] == pytest.approx(2 / 3)
    report = tmp_path / "agreement.html"
    assert main(["agreement", str(export), "--config", str(config), "--tags", "batch", "--report", str(report)]) == 0
    assert "tasks compared: 4" in capsys.readouterr().out and report.is_file()
    assert main(["select", str(export), "--config", str(config), "--agreement"]) == 0
    assert "annotator agreement" in capsys.readouterr().out


def test_the_report_shows_the_known_values_in_a_browser(export, config, tmp_path):
    from alab_training import write_report

    result = agreement(export, BATCH, config=config)
    shown = page_metrics(render(write_report(result, tmp_path / "agreement.html"), tmp_path))
    assert shown["tasks_compared"] == "4"
    assert shown["spans.overall.exact_f1"] == f"{12 / 18:.4f}" and shown["spans.PROBLEM.overlap_f1"] == "0.7778"
    assert shown["pair.ann/bob.exact_f1"] == f"{4 / 7:.4f}"
    assert shown["choices.sentiment.overall.alpha"] == "0.6667"
    assert shown["choices.sentiment.kappa.bob/cat"] == "0.4000"
    assert shown["assertion.assertion.overall.alpha"] == "0.3750"


def test_a_streamed_export_is_never_held_whole(tmp_path, config):
    # Per task only its id is kept (the reader refuses duplicate ids): agreement's peak (tracemalloc) grows by a
    # small fraction of what json.load's does as the export grows fourfold, and stays far below it.
    def export_of(count: int):
        path = tmp_path / f"tasks_{count}.json"
        path.write_text(json.dumps([{**TASKS[index % 4], "id": index + 1} for index in range(count)]))
        return path

    def peak(work) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            work()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = export_of(3000), export_of(12000)
    loaded_small, loaded_large = (peak(lambda path=path: json.loads(path.read_text())) for path in (small, large))
    streamed_small, streamed_large = (peak(lambda path=path: agreement(path, config=config)) for path in (small, large))
    assert streamed_large - streamed_small < 0.05 * (loaded_large - loaded_small), (streamed_small, streamed_large)
    assert streamed_large < 0.25 * loaded_large, (streamed_large, loaded_large)
