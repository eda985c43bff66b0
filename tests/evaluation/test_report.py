"""The report of a training and of a learning curve in a real headless Chromium, what makes it self-contained,
and the scores a serving layer hands out (served_metrics), all without the engine."""

from __future__ import annotations

import re

import pytest

from alab_training import ParamsError, TrainedModel, TrainingResult, write_report
from alab_training.evaluation.served import served_metrics
from alab_training.lifecycle.learning_curve import CurvePoint, LearningCurve
from alab_training.model_card import write_model_card
from tests.browser import page_metrics, render


def scores(f1: float, support: int) -> dict[str, float]:
    return {"precision": f1, "recall": f1, "f1": f1, "support": support}


METRICS = {"Disease": scores(0.8125, 32), "Chemical": scores(0.5, 8), "micro": scores(0.75, 40),
           "macro": scores(0.65625, 40)}


def trained(folder, name: str, metrics=METRICS) -> TrainedModel:
    folder.mkdir(parents=True, exist_ok=True)
    model = TrainedModel(name=name, kind="ner", path=folder, metrics=metrics, labels=("Chemical", "Disease"))
    write_model_card(model)
    return model


def test_the_training_report_shows_each_models_scores_in_a_browser(tmp_path):
    unscored = TrainedModel(name="classification_x_annotation_manual", kind="classification", path=tmp_path / "c")
    result = TrainingResult(project="x", models=(trained(tmp_path / "ner", "ner_x_annotation_manual"), unscored))
    page = write_report(result, tmp_path / "training.html")
    shown = page_metrics(render(page, tmp_path))
    for label, row in METRICS.items():
        assert shown[f"ner_x_annotation_manual.{label}.f1"] == f"{row['f1']:.4f}"
        assert shown[f"ner_x_annotation_manual.{label}.support"] == str(row["support"])
    assert "not scored: nothing was held out" in page.read_text()


def test_the_learning_curve_report_shows_every_point_in_a_browser(tmp_path):
    points = tuple(CurvePoint("ner", fraction, tuple(range(tasks)),
                              {"micro": scores(micro, 40), "macro": scores(micro - 0.1, 40)}, 1.5)
                   for fraction, tasks, micro in ((0.25, 10, 0.4), (0.5, 20, 0.6125), (1.0, 40, 0.7)))
    curve = LearningCurve(project="x", test_tasks=(100, 101), available_train_tasks=40, points=points)
    shown = page_metrics(render(write_report(curve, tmp_path / "curve.html"), tmp_path))
    for point in points:
        assert shown[f"curve.ner.{point.fraction:g}.micro_f1"] == f"{point.micro_f1:.4f}"
        assert shown[f"curve.ner.{point.fraction:g}.macro_f1"] == f"{point.macro_f1:.4f}"


def test_the_page_needs_nothing_from_outside(tmp_path):
    html = write_report(TrainingResult(project="x", models=(trained(tmp_path / "m", "ner_x"),)),
                        tmp_path / "r.html").read_text()
    # No script, no stylesheet or image fetched, no font: it opens offline, from a mail attachment too.
    assert "<script" not in html and "<link" not in html and "@import" not in html and "<img" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html) and "url(" not in html
    assert "<svg" in html


def test_only_results_have_a_report(tmp_path):
    with pytest.raises(ParamsError, match="expected an Evaluation") as caught:
        write_report({"micro": 1.0}, tmp_path / "r.html")
    assert caught.value.field == "result" and not (tmp_path / "r.html").exists()


def test_served_metrics_gives_each_served_versions_scores(tmp_path):
    trained(tmp_path / "ner_x_v1", "ner_x_v1", {"micro": scores(0.5, 10)})
    trained(tmp_path / "ner_x_v2", "ner_x_v2", {"micro": scores(0.75, 10)})
    projects = [{"name": "x", "versions": ["ner_x_v1", "ner_x_gone"], "model_version": "ner_x_v2"},
                {"name": "y", "versions": []}]
    assert served_metrics(projects, tmp_path) == {
        "x": {"ner_x_v1": {"ner_x_v1": {"micro": scores(0.5, 10)}}, "ner_x_gone": {"ner_x_gone": None},
              "ner_x_v2": {"ner_x_v2": {"micro": scores(0.75, 10)}}},
        "y": {},
    }
