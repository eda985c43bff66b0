"""The value objects :func:`alab_training.evaluation.agreement.agreement` returns, with JSON and text renderings.

What every figure means (and how empty sides and missing answers count) is in the docstring of
:mod:`alab_training.evaluation.agreement`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from alab_training.evaluation.nominal import AlphaCounter, KappaCounter

__all__ = [
    "Agreement",
    "NominalAgreement",
    "PairKappa",
    "PairSpans",
    "QuestionAgreement",
    "SpanAgreement",
    "SpanCounts",
    "TaskAgreement",
]

Pair = tuple[str, str]


def _f1(matched: int, first: int, second: int) -> float | None:
    return 2 * matched / (first + second) if first + second else None


@attrs.frozen
class SpanCounts:
    """Span counts of one annotator pair (or pooled over pairs) for one label (or all labels).

    Attributes:
        first: spans of the pair's first annotator (alphabetically).
        second: spans of the second annotator.
        exact: spans both gave with the same start, end and label.
        overlap: pairs of same-label spans that share a code point, matched one-to-one (a maximum matching).
    """

    first: int = 0
    second: int = 0
    exact: int = 0
    overlap: int = 0

    @property
    def exact_f1(self) -> float | None:
        """``2·exact / (first + second)``; None when neither annotator has a span."""
        return _f1(self.exact, self.first, self.second)

    @property
    def overlap_f1(self) -> float | None:
        """``2·overlap / (first + second)``; None when neither annotator has a span."""
        return _f1(self.overlap, self.first, self.second)

    def __add__(self, other: SpanCounts) -> SpanCounts:
        return SpanCounts(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True)))

    def as_dict(self) -> dict[str, int | float | None]:
        """The counts and both F1 figures, JSON-ready."""
        return {**attrs.asdict(self), "exact_f1": self.exact_f1, "overlap_f1": self.overlap_f1}


@attrs.frozen
class PairSpans:
    """Span agreement of one annotator pair over the tasks both annotated.

    Attributes:
        annotators: the pair, alphabetically.
        tasks: the tasks both annotated (each counts, even when both completions are empty).
        per_label: label → counts, for every entity label of the config (all zero when neither used it).
        overall: the counts pooled over the labels.
    """

    annotators: Pair
    tasks: int
    per_label: dict[str, SpanCounts]
    overall: SpanCounts


@attrs.frozen
class SpanAgreement:
    """Span-level F1 per annotator pair, and micro-averaged over pairs (counts pooled, then F1).

    Attributes:
        pairs: every pair that shared a task, sorted.
        per_label: label → counts pooled over the pairs.
        overall: counts pooled over pairs and labels.
    """

    pairs: tuple[PairSpans, ...]
    per_label: dict[str, SpanCounts]
    overall: SpanCounts

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"labels": {label: counts}, "overall": counts, "pairs": [...]}``."""
        return {
            "labels": {label: counts.as_dict() for label, counts in self.per_label.items()},
            "overall": self.overall.as_dict(),
            "pairs": [
                {
                    "annotators": list(pair.annotators),
                    "tasks": pair.tasks,
                    "labels": {label: counts.as_dict() for label, counts in pair.per_label.items()},
                    "overall": pair.overall.as_dict(),
                }
                for pair in self.pairs
            ],
        }


@attrs.frozen
class PairKappa:
    """Cohen's kappa of one annotator pair on one question.

    Attributes:
        annotators: the pair, alphabetically.
        units: the units both answered.
        observed: the share of those answered alike (None without units).
        kappa: Cohen's kappa (None where undefined).
    """

    annotators: Pair
    units: int
    observed: float | None
    kappa: float | None


@attrs.frozen
class NominalAgreement:
    """Agreement on one question (or one yes/no item of it): kappa per pair, alpha over all annotators.

    Attributes:
        units: units at least two annotators answered (alpha's pairable units).
        values: the answers given in those units (alpha's ``n``).
        alpha: nominal Krippendorff's alpha (None where undefined).
        pairs: Cohen's kappa of every pair that answered a unit together, sorted.
    """

    units: int
    values: int
    alpha: float | None
    pairs: tuple[PairKappa, ...]

    @classmethod
    def from_counters(cls, kappas: Mapping[Pair, KappaCounter], alpha: AlphaCounter) -> NominalAgreement:
        """The figures of filled counters."""
        pairs = tuple(
            PairKappa(pair, counter.units, counter.observed, counter.kappa) for pair, counter in sorted(kappas.items())
        )
        return cls(units=alpha.units, values=alpha.values, alpha=alpha.alpha, pairs=pairs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: units, values, alpha and ``pairs: [{annotators, units, observed, kappa}]``."""
        return {
            "units": self.units,
            "values": self.values,
            "alpha": self.alpha,
            "pairs": [{**attrs.asdict(p), "annotators": list(p.annotators)} for p in self.pairs],
        }


@attrs.frozen
class QuestionAgreement:
    """Agreement on one ``<Choices>`` control, or on the assertion statuses of shared spans.

    Attributes:
        kind: ``"choices"`` or ``"assertion"``.
        name: the control's name (``"assertion"`` for statuses).
        multi_label: a multi-choice control: ``overall`` pools its per-value yes/no items.
        overall: single choice and assertion: agreement on the whole answer (the set of values given);
            multi-choice: on the pooled yes/no items.
        per_value: value → agreement on the yes/no item "gave this value", for every value of the control
            (or assertion label of the config), plus any other value found.
    """

    kind: str
    name: str
    multi_label: bool
    overall: NominalAgreement
    per_value: dict[str, NominalAgreement]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"multi_label", "overall", "values": {value: ...}}``."""
        return {
            "kind": self.kind,
            "multi_label": self.multi_label,
            "overall": self.overall.as_dict(),
            "values": {value: agreement.as_dict() for value, agreement in self.per_value.items()},
        }


@attrs.frozen
class TaskAgreement:
    """One of the worst-agreeing tasks.

    Attributes:
        task_id: the task.
        score: the mean over the task's annotator pairs of their Dice agreement (0 to 1).
        annotators: the annotators compared on it, sorted.
    """

    task_id: int | str
    score: float
    annotators: tuple[str, ...]


@attrs.frozen
class Agreement:
    """Inter-annotator agreement of a project (see :mod:`alab_training.evaluation.agreement`).

    Attributes:
        tasks_compared: tasks with two or more annotators' submitted completions.
        annotators: every annotator on those tasks, sorted.
        spans: entity span agreement.
        choices: control name → agreement, for every ``<Choices>`` of the config.
        assertion: agreement on assertion statuses of shared spans; None when the config has no assertion
            labels.
        worst_tasks: the tasks agreed on least (score below 1), worst first.
    """

    tasks_compared: int
    annotators: tuple[str, ...]
    spans: SpanAgreement
    choices: dict[str, QuestionAgreement]
    assertion: QuestionAgreement | None
    worst_tasks: tuple[TaskAgreement, ...]

    def as_dict(self) -> dict[str, Any]:
        """Every figure, JSON-ready (undefined figures are ``None``)."""
        return {
            "tasks_compared": self.tasks_compared,
            "annotators": list(self.annotators),
            "spans": self.spans.as_dict(),
            "choices": {name: question.as_dict() for name, question in self.choices.items()},
            "assertion": self.assertion.as_dict() if self.assertion is not None else None,
            "worst_tasks": [{**attrs.asdict(t), "annotators": list(t.annotators)} for t in self.worst_tasks],
        }

    def table(self) -> str:
        """A plain-text report: span F1, per-pair F1, each question's alpha and kappas, the worst tasks."""
        parts = [f"tasks compared: {self.tasks_compared}; annotators: {', '.join(self.annotators) or '-'}"]
        span_rows = [
            (label, str(c.first + c.second), _fmt(c.exact_f1), _fmt(c.overlap_f1))
            for label, c in [*self.spans.per_label.items(), ("overall", self.spans.overall)]
        ]
        parts.append("spans (micro over pairs)\n" + _grid(("label", "spans", "exact F1", "overlap F1"), span_rows))
        pair_rows = [
            (" / ".join(p.annotators), str(p.tasks), _fmt(p.overall.exact_f1), _fmt(p.overall.overlap_f1))
            for p in self.spans.pairs
        ]
        parts.append("spans per annotator pair\n" + _grid(("pair", "tasks", "exact F1", "overlap F1"), pair_rows))
        questions = [*self.choices.values(), *([self.assertion] if self.assertion is not None else [])]
        parts.extend(_question_table(question) for question in questions)
        worst_rows = [(str(t.task_id), f"{t.score:.4f}", ", ".join(t.annotators)) for t in self.worst_tasks]
        parts.append("worst-agreeing tasks\n" + _grid(("task", "score", "annotators"), worst_rows))
        return "\n\n".join(parts)


def _question_table(question: QuestionAgreement) -> str:
    if question.kind == "assertion":
        title = "assertion statuses of shared spans"
    else:
        title = f"choices {question.name} ({'multiple' if question.multi_label else 'single'} choice)"
    rows = [
        (value, str(a.units), _fmt(a.alpha))
        for value, a in [("overall", question.overall), *question.per_value.items()]
    ]
    pairs = [(" / ".join(p.annotators), str(p.units), _fmt(p.observed), _fmt(p.kappa)) for p in question.overall.pairs]
    return (f"{title}\n" + _grid(("item", "units", "alpha"), rows) + "\n"
            + _grid(("pair", "units", "observed", "kappa"), pairs))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _grid(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, the first left-aligned, the rest right-aligned."""
    widths = [max(len(row[column]) for row in (header, *body)) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), "-" * (sum(widths) + 2 * (len(widths) - 1)), *map(line, body)])

