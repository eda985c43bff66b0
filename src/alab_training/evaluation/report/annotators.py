"""The report's sections about annotator agreement.

Keys (``data-metric``): ``tasks_compared``; ``spans.<label>.<exact_f1|overlap_f1>`` (micro over pairs, label
also ``overall``); ``pair.<first>/<second>.<exact_f1|overlap_f1>``; ``<kind>.<name>.<item>.alpha`` for each
question (kind ``choices`` or ``assertion``, item ``overall`` or a value) and
``<kind>.<name>.kappa.<first>/<second>`` for each pair's kappa on the whole question.
"""

from __future__ import annotations

import html as markup
from typing import Any

from alab_training.evaluation.report.charts import bar_chart
from alab_training.evaluation.report.html import figure, metric, number, section, table, text

__all__ = ["agreement_sections"]


def agreement_sections(result: Any) -> list[str]:
    """An :class:`~alab_training.Agreement`: span F1 per label and pair, each question's alpha and kappas."""
    lead = (f"<p>{metric(result.tasks_compared, 'tasks_compared')} task(s) with two or more annotators; "
            f"annotators: {markup.escape(', '.join(result.annotators) or '-')}.</p>")
    sections = [section("What was compared", lead), _spans_section(result.spans)]
    questions = [*result.choices.values(), *([result.assertion] if result.assertion is not None else [])]
    sections.extend(_question_section(question) for question in questions)
    worst = [[text(t.task_id), number(t.score), text(", ".join(t.annotators))] for t in result.worst_tasks]
    sections.append(section("Worst-agreeing tasks", table(("task", "agreement (Dice)", "annotators"), worst),
                            note="mean over the task's annotator pairs of the Dice agreement of everything they "
                                 "marked; 1 = identical"))
    return sections


def _spans_section(spans: Any) -> str:
    labelled = [*spans.per_label.items(), ("overall", spans.overall)]
    chart = bar_chart([(label, [c.exact_f1, c.overlap_f1]) for label, c in labelled], ["exact F1", "overlap F1"],
                      title="span agreement per label")
    rows = [[text(label), number(c.first + c.second), number(c.exact_f1, f"spans.{label}.exact_f1"),
             number(c.overlap_f1, f"spans.{label}.overlap_f1")] for label, c in labelled]
    pairs = [[text(" / ".join(p.annotators)), number(p.tasks),
              number(p.overall.exact_f1, f"pair.{'/'.join(p.annotators)}.exact_f1"),
              number(p.overall.overlap_f1, f"pair.{'/'.join(p.annotators)}.overlap_f1")] for p in spans.pairs]
    return section("Entity spans", figure(chart, "F1 between annotators, micro over every pair (exact: same "
                                                 "offsets and label; overlap: a shared character, one-to-one)"),
                   table(("label", "spans", "exact F1", "overlap F1"), rows, summary_rows=1),
                   "<h3>Per annotator pair</h3>", table(("pair", "tasks", "exact F1", "overlap F1"), pairs))


def _question_section(question: Any) -> str:
    where = f"{question.kind}.{question.name}"
    items = [("overall", question.overall), *question.per_value.items()]
    chart = bar_chart([(value, [a.alpha]) for value, a in items], ["Krippendorff's alpha"],
                      title=f"{question.name}: alpha per item")
    rows = [[text(value), number(a.units), number(a.alpha, f"{where}.{value}.alpha")] for value, a in items]
    pairs = [[text(" / ".join(p.annotators)), number(p.units), number(p.observed),
              number(p.kappa, f"{where}.kappa.{'/'.join(p.annotators)}")] for p in question.overall.pairs]
    if question.kind == "assertion":
        title, note = "Assertion statuses of shared spans", "units: offsets two or more annotators marked"
    else:
        kind = "multiple" if question.multi_label else "single"
        title, note = f"Choices {question.name} ({kind} choice)", "units: tasks (multiple choice: task and value)"
    return section(title, figure(chart, "alpha below 0 is worse than chance, 1 is perfect; no bar: undefined"),
                   table(("item", "units", "alpha"), rows),
                   "<h3>Cohen's kappa per pair</h3>", table(("pair", "units", "observed", "kappa"), pairs),
                   note=note)
