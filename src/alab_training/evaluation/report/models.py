"""The report's sections about models: an evaluation, a comparison, a training's models, a learning curve.

Each figure is printed with a ``data-metric`` key (:mod:`.html`) built the same way everywhere:
``<model>.<label>.<figure>`` for a model's scores (``label`` also ``micro``/``macro``),
``<model>.schemes.<scheme>.<figure>``, ``<model>.tokens.<label>.f1``, ``delta.<label>.<field>`` for a
comparison, ``curve.<kind>.<fraction>.<micro_f1|macro_f1>`` for a learning curve.
"""

from __future__ import annotations

import html as markup
from collections.abc import Mapping
from typing import Any

from alab_training.evaluation.errors_table import ErrorTable
from alab_training.evaluation.matching import SCHEMES
from alab_training.evaluation.report.charts import bar_chart, heatmap, interval_chart, line_chart
from alab_training.evaluation.report.html import Cell, figure, number, section, table, text
from alab_training.metrics import LabelScore

__all__ = ["ERROR_ROWS_SHOWN", "comparison_sections", "curve_sections", "evaluation_sections",
           "training_sections"]

#: The error rows the page shows (all of them are in the CSV).
ERROR_ROWS_SHOWN = 300
_FIGURES = ("precision", "recall", "f1")


def _score_rows(model: str, rows: Mapping[str, LabelScore | Mapping[str, Any]]) -> list[list[Cell]]:
    """One table row per label: precision, recall, F1 and support, each carrying its key."""
    body = []
    for label, score in rows.items():
        values = score.as_dict() if isinstance(score, LabelScore) else score
        if not isinstance(values, Mapping) or "f1" not in values:
            continue
        body.append([text(label), *(number(values[f], f"{model}.{label}.{f}") for f in _FIGURES),
                     number(int(values.get("support", 0)), f"{model}.{label}.support")])
    return body


def _f1(values: LabelScore | Mapping[str, Any]) -> float | None:
    return values.f1 if isinstance(values, LabelScore) else values.get("f1")


def _scores_block(model: str, rows: Mapping[str, Any], *, what: str) -> str:
    """Per-label F1 bars and the table of figures."""
    labels = {label: values for label, values in rows.items() if label not in ("micro", "macro", "accuracy")}
    chart = bar_chart([(label, [_f1(values)]) for label, values in labels.items()]
                      + [(average, [_f1(rows[average])]) for average in ("micro", "macro") if average in rows],
                      ["F1"], title=f"{model}: F1 per label")
    averages = sum(1 for key in ("micro", "macro") if key in rows)
    return (figure(chart, f"F1 per {what}, then the micro and macro averages")
            + table(("label", "precision", "recall", "F1", "support"), _score_rows(model, rows),
                    summary_rows=averages))


def evaluation_sections(evaluation: Any) -> list[str]:
    """An :class:`~alab_training.Evaluation`: per model its scores, charts, schemes; then the errors."""
    sections = [section("What was evaluated",
                        f"<p>{len(evaluation.tasks)} task(s) of {markup.escape(evaluation.project)}"
                        f" ({'the held-out side' if evaluation.side == 'test' else 'every selected task'}); "
                        f"models: {markup.escape(', '.join(m.name for m in evaluation.models))}.</p>")]
    for model in evaluation.models:
        sections.append(_model_section(model))
    sections.append(errors_section(evaluation.errors))
    return sections


def _model_section(model: Any) -> str:
    what = {"ner": "entity type (exact match)", "assertion": "status", "classification": "class"}[model.kind]
    parts = [_scores_block(model.name, model.scores.rows(), what=what)]
    if model.confusion is not None:
        labels, matrix = model.confusion
        parts.append(figure(heatmap(labels, matrix, title=f"{model.name}: confusion matrix"),
                            "confusion matrix: rows are the gold answer, columns the model's; shade = share of "
                            "the row"))
    if model.schemes is not None:
        rows = [[text(scheme), *(number(getattr(model.schemes.overall[scheme], f), f"{model.name}.schemes.{scheme}.{f}")
                                 for f in _FIGURES),
                 *(number(getattr(model.schemes.overall[scheme], c)) for c in ("correct", "incorrect", "partial",
                                                                                "missed", "spurious"))]
                for scheme in SCHEMES]
        parts.append("<h3>nervaluate's schemes, all labels</h3>" + table(
            ("scheme", "precision", "recall", "F1", "correct", "incorrect", "partial", "missed", "spurious"), rows))
    if model.tokens is not None:
        rows = [[text(label), *(number(getattr(score, f), f"{model.name}.tokens.{label}.{f}") for f in _FIGURES),
                 number(score.support)] for label, score in model.tokens.rows().items()]
        parts.append("<h3>Token level</h3>" + table(("label", "precision", "recall", "F1", "tokens"), rows,
                                                    summary_rows=2))
    control = f", <Choices name={model.control}>" if model.control else ""
    return section(f"{model.name} ({model.kind}{control})", *parts,
                   note=f"{model.examples} example(s) scored")


def errors_section(errors: ErrorTable) -> str:
    """The error table's first rows, each with its context and the region marked."""
    counts = ", ".join(f"{kind}: {n}" for kind, n in sorted(errors.counts().items())) or "none"
    rows = []
    for row in list(errors)[:ERROR_ROWS_SHOWN]:
        region = row.predicted_text if row.gold_text is None else row.gold_text
        context = (f"{markup.escape(row.left_context)} <mark>{markup.escape(region or '')}</mark> "
                   f"{markup.escape(row.right_context)}")
        cells = [text(row.task_id), text(row.completion_id), text(row.model), text(row.kind),
                 text(row.gold_label), text(row.predicted_label)]
        rendered = "".join(('<td class="label">' if i == 0 else "<td>") + markup.escape(c.text) + "</td>"
                           for i, c in enumerate(cells))
        rows.append(f'<tr>{rendered}<td class="wrap">{context}</td></tr>')
    more = len(errors) - ERROR_ROWS_SHOWN
    note = f"{len(errors)} row(s) ({counts})" + (f"; the first {ERROR_ROWS_SHOWN} shown, all in the CSV" if more > 0
                                                   else "")
    head = "".join(f"<th>{h}</th>" for h in ("task", "completion", "model", "kind", "gold", "predicted", "context"))
    return section("Errors", f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
                   note=note)


def comparison_sections(comparison: Any) -> list[str]:
    """A :class:`~alab_training.Comparison`: the verdict, the deltas as a forest plot, both models' F1."""
    deltas = comparison.deltas
    verdict_class = {"better": "better", "worse": "worse"}.get(comparison.verdict, "same")
    micro = deltas.micro
    lead = (f'<p>{markup.escape(comparison.candidate.name)} against {markup.escape(comparison.baseline.name)} on '
            f"{len(comparison.tasks)} task(s): micro F1 {micro.baseline:.4f} → {micro.candidate:.4f} "
            f'<span class="verdict {verdict_class}" data-metric="delta.micro.verdict">{comparison.verdict}</span>'
            "</p>")
    rows = [*deltas.per_label.items(), ("micro", micro)]
    chart = interval_chart([(label, d.delta, d.low, d.high) for label, d in rows],
                           title="F1 delta per label with its bootstrap interval")
    body = [[text(label), *(number(getattr(d, field), f"delta.{label}.{field}")
                            for field in ("baseline", "candidate", "delta", "low", "high")),
             Cell(d.verdict, metric=f"delta.{label}.verdict")] for label, d in rows]
    interval = f"{deltas.confidence:.0%}"
    bars = bar_chart([(label, [d.baseline, d.candidate]) for label, d in rows],
                     [comparison.baseline.name, comparison.candidate.name], title="F1 of both models")
    note = (f"{deltas.resamples} paired bootstrap resamples of the tasks, seed {deltas.seed}; a verdict needs the "
            f"whole {interval} interval on one side of 0")
    return [section("Verdict", lead, figure(chart, f"delta = candidate − baseline, {interval} interval"),
                    table(("label", "baseline F1", "candidate F1", "delta", "low", "high", "verdict"), body,
                          summary_rows=1), note=note),
            section("Both models", figure(bars, "F1 per label, baseline then candidate"))]


def training_sections(result: Any) -> list[str]:
    """A :class:`~alab_training.TrainingResult`: each model's scores on the held-out side."""
    sections = []
    for model in result.models:
        if model.metrics:
            body = _scores_block(model.name, model.metrics, what="label")
        else:
            body = '<p class="note">not scored: nothing was held out</p>'
        sections.append(section(f"{model.name} ({model.kind})", body, note=f"saved in {model.path}"))
    return sections


def curve_sections(curve: Any) -> list[str]:
    """A :class:`~alab_training.LearningCurve`: per kind micro and macro F1 against the training tasks."""
    sections = []
    for kind in curve.kinds:
        points = curve.of(kind)
        series = {"micro F1": [(len(p.train_tasks), p.micro_f1) for p in points],
                  "macro F1": [(len(p.train_tasks), p.macro_f1) for p in points]}
        chart = line_chart(series, title=f"{kind}: learning curve", x_label="training tasks",
                           y_label="F1 on the evaluation side")
        rows = [[number(p.fraction, digits=2), number(len(p.train_tasks)),
                 number(p.micro_f1, f"curve.{kind}.{p.fraction:g}.micro_f1"),
                 number(p.macro_f1, f"curve.{kind}.{p.fraction:g}.macro_f1"), number(p.seconds, digits=1)]
                for p in points]
        sections.append(section(f"{kind}", figure(chart, "each point: a model trained on that many tasks, scored "
                                                         "on the same evaluation tasks"),
                                table(("fraction", "train tasks", "micro F1", "macro F1", "seconds"), rows),
                                note=f"{len(curve.test_tasks)} evaluation task(s), "
                                     f"{curve.available_train_tasks} training task(s) in all"))
    return sections

