"""Learning curves: real (assertion status) trainings on growing, nested shares of the NegEx sample."""

from __future__ import annotations

import json
import sys

import pytest

from alab_training import ParamsError, TrainingParams, load_project
from alab_training.lifecycle.learning_curve import (
    LearningCurve,
    MissingDependencyError,
    _nested_subsets,
    learning_curve,
    plot_learning_curve,
)
from alab_training.model import TrainingStarted
from alab_training.selection import select_completions
from tests.corpora import NEGEX_CONFIG, negex_export

PARAMS = TrainingParams(training_type="assertion", test_tags=("test",), unannotated_label="Affirmed")


@pytest.fixture(scope="module")
def project():
    return load_project(negex_export(), config=NEGEX_CONFIG, name="negex")


@pytest.fixture(scope="module")
def curve(project, spark, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("scratch")
    started = []

    def on_event(event):
        if isinstance(event, TrainingStarted):
            started.append(event)

    result = learning_curve(project, PARAMS, fractions=(1.0, 0.3), spark=spark, output_dir=scratch,
                            on_event=on_event)
    return result, started, scratch


@pytest.mark.spark
def test_subsets_are_nested_and_drawn_from_the_training_side(curve, project):
    result, _, _ = curve
    selection = select_completions(project, PARAMS)
    train_ids = [task.id for task, _ in selection.train]
    small, full = result.of("assertion")
    assert (small.fraction, full.fraction) == (0.3, 1.0)
    assert full.train_tasks == tuple(train_ids)
    assert len(small.train_tasks) == -(-len(train_ids) * 3 // 10)
    assert set(small.train_tasks) < set(full.train_tasks)
    assert result.available_train_tasks == len(train_ids)


@pytest.mark.spark
def test_every_point_is_scored_on_the_same_test_side(curve, project):
    result, started, _ = curve
    test_ids = tuple(task.id for task, _ in select_completions(project, PARAMS).test)
    assert result.test_tasks == test_ids and len(test_ids) >= 190
    assert not set(test_ids) & set(result.points[-1].train_tasks)
    assert len({event.test_examples for event in started}) == 1
    assert started[0].train_examples < started[1].train_examples
    supports = {(label, row["support"]) for point in result.points for label, row in point.metrics.items()
                if label != "accuracy"}
    assert len(supports) == len(result.points[0].metrics) - 1  # the same gold counts at every point
    for point in result.points:
        assert 0 < point.macro_f1 <= 1 and point.seconds > 0
        assert set(point.per_label_f1()) == {"Affirmed", "Negated"}


@pytest.mark.spark
def test_no_model_is_left_behind(curve):
    _, _, scratch = curve
    assert list(scratch.iterdir()) == []


@pytest.mark.spark
def test_table_json_and_png(curve, tmp_path):
    result, _, _ = curve
    table = result.table().splitlines()
    assert table[0].split() == ["kind", "fraction", "train", "tasks", "micro", "F1", "macro", "F1", "gain", "seconds"]
    assert table[2].startswith("assertion") and " 0.30 " in table[2]
    gain = result.points[1].micro_f1 - result.points[0].micro_f1
    assert f"{gain:+.4f}" in table[3]
    data = json.loads(json.dumps(result.as_dict()))
    assert [p["fraction"] for p in data["points"]] == [0.3, 1.0] and data["params"]["training_type"] == "assertion"
    png = plot_learning_curve(result, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_the_same_seed_draws_the_same_nested_subsets():
    ids = list(range(1, 201))
    quarter, half, full = _nested_subsets(ids, (0.25, 0.5, 1.0), seed=42)
    assert (len(quarter), len(half), len(full)) == (50, 100, 200)
    assert quarter < half < full == frozenset(ids)
    assert _nested_subsets(ids, (0.25,), seed=42) == [quarter]
    assert _nested_subsets(ids, (0.25,), seed=7) != [quarter]
    assert _nested_subsets(list(reversed(ids)), (0.25,), seed=42) == [quarter]  # file order plays no part
    assert _nested_subsets([str(i) for i in ids], (0.25,), seed=42) == [frozenset(map(str, quarter))]


def test_a_curve_needs_an_evaluation_side(project):
    with pytest.raises(ParamsError) as error:
        learning_curve(project, TrainingParams(training_type="assertion"))
    assert error.value.field == "validation_split"
    with pytest.raises(ParamsError, match="no task falls on the evaluation side") as error:
        learning_curve(project, TrainingParams(training_type="assertion", test_tags=("no-such-tag",)))
    assert error.value.field == "test_tags"


@pytest.mark.parametrize("fractions", [(), (0.0, 1.0), (0.5, 1.5), (0.5, 0.5), (True,), ("half",), 2])
def test_bad_fractions_are_refused(project, fractions):
    with pytest.raises(ParamsError) as error:
        learning_curve(project, PARAMS, fractions=fractions)
    assert error.value.field == "fractions"


def test_plotting_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # what an uninstalled package looks like
    curve = LearningCurve(project="p", test_tasks=(1,), available_train_tasks=1, points=())
    with pytest.raises(MissingDependencyError, match=r"alab-training\[plot\]") as error:
        plot_learning_curve(curve, tmp_path / "curve.png")
    assert (error.value.package, error.value.extra) == ("matplotlib", "plot")
    assert isinstance(error.value, ImportError)
    assert not (tmp_path / "curve.png").exists()
