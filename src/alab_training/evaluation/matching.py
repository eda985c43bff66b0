"""Gold versus predicted spans of one text: nervaluate's four schemes, exact-match counts, typed differences.

A span is ``(start, end, label)``: code-point offsets into the text, ``end`` exclusive (``0 <= start < end``),
as :class:`alab_training.Span` holds them. Each function takes the spans of **one** text; results of several
texts add up (``EntityScores`` supports ``+``; count tuples are summed by the caller).

The four schemes (:func:`compare_spans`) count exactly what nervaluate 1.2.1's ``Evaluator`` reports for the
same spans (its entities have an inclusive end, ours ``end - 1``), including its greedy, first-come pairing:

- Both lists are first sorted by ``(start, end, label)``, so the figures never depend on the order spans are
  given in. Predictions are then taken in that order; each one is paired with at most one gold span not yet
  paired, and gold spans left over are **missed**.
- Two spans *overlap* when they share at least ``min_overlap_percentage`` percent of the gold span's code
  points (nervaluate's rule; its default, 1.0, means any shared code point for gold spans of up to 100 code
  points).
- ``strict``: the first gold span with the same boundaries and label makes the prediction **correct**;
  otherwise the first overlapping gold span makes it **incorrect**; otherwise it is **spurious**.
- ``exact``: as ``strict`` but the label is ignored (same boundaries = correct).
- ``partial``: same boundaries (label ignored) = correct; else the first overlapping gold span = **partial**.
- ``ent_type``: among overlapping gold spans of the same label, the one with the closest boundaries (smallest
  ``|start difference| + |end difference|``, the first on ties) makes it correct; else the first overlapping
  gold span of another label makes it incorrect; else spurious.
- Per label, each scheme is run on the spans of that label alone (so per-label ``strict``/``exact`` never have
  an *incorrect* of another type, and the per-label rows need not add up to ``overall``), as nervaluate does.
- precision = (correct + ½ partial) / actual, recall = (correct + ½ partial) / possible, where actual =
  correct + incorrect + partial + spurious and possible = correct + incorrect + partial + missed; a zero
  denominator gives 0.0.

Because pairing is first-come, a prediction may take a gold span that a later prediction matches exactly (gold
``(0, 5, A)``, predictions ``(0, 3, A)`` and ``(0, 5, A)``: strict counts one incorrect and one spurious). That
is nervaluate's figure; :func:`exact_counts` gives the order-free exact-match counts (conlleval's) instead.

**Differences** (:attr:`SpanComparison.differences`, the rows of the error table) are the ``strict`` outcome
over all labels, one per non-correct item, so they reconcile with ``overall.strict``: a spurious prediction is
a ``false_positive``, a missed gold span a ``false_negative``, and an incorrect pair is ``wrong_type`` (same
boundaries, other label), ``wrong_boundary`` (same label, other boundaries) or ``wrong_type_and_boundary``.

Token-level scores are in :mod:`alab_training.evaluation.tokens`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs

from alab_training.errors import ParamsError

__all__ = [
    "DIFFERENCE_KINDS",
    "SCHEMES",
    "Difference",
    "EntityScores",
    "SchemeCounts",
    "SchemeScores",
    "SpanComparison",
    "checked_spans",
    "compare_spans",
    "exact_counts",
]

#: nervaluate's evaluation schemes, in the order tables show them.
SCHEMES = ("strict", "exact", "partial", "ent_type")
#: The kinds of :class:`Difference`.
DIFFERENCE_KINDS = ("false_positive", "false_negative", "wrong_type", "wrong_boundary", "wrong_type_and_boundary")

SpanTuple = tuple[int, int, str]


@attrs.frozen
class SchemeCounts:
    """nervaluate's five counts for one scheme, and the figures derived from them.

    Attributes:
        correct: predictions the scheme accepts.
        incorrect: predictions paired with a gold span but not accepted.
        partial: (``partial`` scheme only) predictions overlapping a gold span without its exact boundaries.
        missed: gold spans no prediction was paired with.
        spurious: predictions paired with no gold span.
    """

    correct: int = 0
    incorrect: int = 0
    partial: int = 0
    missed: int = 0
    spurious: int = 0

    @property
    def actual(self) -> int:
        """The number of predictions."""
        return self.correct + self.incorrect + self.partial + self.spurious

    @property
    def possible(self) -> int:
        """The number of gold spans."""
        return self.correct + self.incorrect + self.partial + self.missed

    @property
    def precision(self) -> float:
        """``(correct + partial / 2) / actual``, 0.0 without predictions."""
        return (self.correct + 0.5 * self.partial) / self.actual if self.actual else 0.0

    @property
    def recall(self) -> float:
        """``(correct + partial / 2) / possible``, 0.0 without gold spans."""
        return (self.correct + 0.5 * self.partial) / self.possible if self.possible else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall, 0.0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: SchemeCounts) -> SchemeCounts:
        return SchemeCounts(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True)))

    def as_dict(self) -> dict[str, int | float]:
        """The counts and figures, JSON-ready."""
        return {**attrs.asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@attrs.frozen
class SchemeScores:
    """The counts of the four schemes for one label, or over all labels."""

    strict: SchemeCounts = SchemeCounts()
    exact: SchemeCounts = SchemeCounts()
    partial: SchemeCounts = SchemeCounts()
    ent_type: SchemeCounts = SchemeCounts()

    def __getitem__(self, scheme: str) -> SchemeCounts:
        if scheme not in SCHEMES:
            raise KeyError(scheme)
        return getattr(self, scheme)

    def __add__(self, other: SchemeScores) -> SchemeScores:
        return SchemeScores(*(self[s] + other[s] for s in SCHEMES))

    def as_dict(self) -> dict[str, dict[str, int | float]]:
        """``{scheme: counts and figures}``, JSON-ready."""
        return {scheme: self[scheme].as_dict() for scheme in SCHEMES}


@attrs.frozen
class EntityScores:
    """The four schemes per label and overall; scores of several texts add up with ``+``.

    Attributes:
        per_label: label → its scheme counts, sorted by label; labels found on either side only are included.
        overall: the schemes run on all spans at once (not the sum of ``per_label``, see the module docs).
    """

    per_label: dict[str, SchemeScores] = attrs.field(factory=dict)
    overall: SchemeScores = SchemeScores()

    def __add__(self, other: EntityScores) -> EntityScores:
        labels = sorted(self.per_label.keys() | other.per_label.keys())
        zero = SchemeScores()
        return EntityScores(
            {label: self.per_label.get(label, zero) + other.per_label.get(label, zero) for label in labels},
            self.overall + other.overall,
        )

    def as_dict(self) -> dict[str, dict[str, dict[str, int | float]]]:
        """``{label | "overall": {scheme: counts and figures}}``, JSON-ready."""
        return {**{label: s.as_dict() for label, s in self.per_label.items()}, "overall": self.overall.as_dict()}

    def table(self) -> str:
        """A plain-text table: one row per label and scheme, then the overall rows."""
        header = ("label", "scheme", "correct", "incorrect", "partial", "missed", "spurious", "precision", "recall",
                  "f1")
        body = []
        for label, scores in [*self.per_label.items(), ("overall", self.overall)]:
            for scheme in SCHEMES:
                c = scores[scheme]
                counts = (c.correct, c.incorrect, c.partial, c.missed, c.spurious)
                body.append((label, scheme, *map(str, counts), *(f"{v:.4f}" for v in (c.precision, c.recall, c.f1))))
        widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                 for row in (header, *body)]
        return "\n".join(line.rstrip() for line in lines)


@attrs.frozen
class Difference:
    """One way the prediction differs from the gold (the ``strict`` scheme's verdict on one item).

    Attributes:
        kind: one of :data:`DIFFERENCE_KINDS`.
        gold: the gold span, ``None`` for a false positive.
        predicted: the predicted span, ``None`` for a false negative.
    """

    kind: str
    gold: SpanTuple | None
    predicted: SpanTuple | None

    @property
    def start(self) -> int:
        """Where the region covered by the spans involved begins."""
        return min(span[0] for span in (self.gold, self.predicted) if span is not None)

    @property
    def end(self) -> int:
        """Where the region covered by the spans involved ends (exclusive)."""
        return max(span[1] for span in (self.gold, self.predicted) if span is not None)


@attrs.frozen
class SpanComparison:
    """The comparison of one text's spans: scheme counts and typed differences (in text order)."""

    scores: EntityScores
    differences: tuple[Difference, ...]


def compare_spans(
    gold: Sequence[SpanTuple], predicted: Sequence[SpanTuple], *, min_overlap_percentage: float = 1.0
) -> SpanComparison:
    """Score one text's predicted spans against its gold spans with nervaluate's four schemes.

    Args:
        gold: the reference ``(start, end, label)`` spans.
        predicted: the model's spans.
        min_overlap_percentage: how much of a gold span (in percent of its code points, 1 to 100) a prediction
            must share to overlap it; nervaluate's ``min_overlap_percentage``.

    Returns:
        The counts per label and overall, and the differences of the ``strict`` scheme.

    Raises:
        ParamsError: a span is malformed, or ``min_overlap_percentage`` is out of range.
    """
    if isinstance(min_overlap_percentage, bool) or not isinstance(min_overlap_percentage, (int, float)) or not (
        1.0 <= min_overlap_percentage <= 100.0
    ):
        raise ParamsError("expected a number from 1 to 100", field="min_overlap_percentage",
                          value=min_overlap_percentage)
    gold_spans, predicted_spans = checked_spans(gold, "gold"), checked_spans(predicted, "predicted")
    runs = {scheme: _run(scheme, gold_spans, predicted_spans, min_overlap_percentage) for scheme in SCHEMES}
    differences = _differences(gold_spans, predicted_spans, runs["strict"][1])
    per_label = {}
    for label in sorted({span[2] for span in (*gold_spans, *predicted_spans)}):
        gold_of, predicted_of = ([s for s in spans if s[2] == label] for spans in (gold_spans, predicted_spans))
        per_label[label] = SchemeScores(
            *(_run(scheme, gold_of, predicted_of, min_overlap_percentage)[0] for scheme in SCHEMES)
        )
    overall = SchemeScores(**{scheme: counts for scheme, (counts, _) in runs.items()})
    return SpanComparison(EntityScores(per_label, overall), differences)


def exact_counts(gold: Sequence[SpanTuple], predicted: Sequence[SpanTuple]) -> dict[str, tuple[int, int, int]]:
    """Exact-match ``(tp, fp, fn)`` per label: a prediction counts when a gold span has its boundaries and label.

    Spans are a multiset: two identical gold spans need two identical predictions. This is conlleval's (and
    :func:`alab_training.metrics.entity_scores`') definition on offsets, and the input of
    :func:`alab_training.evaluation.bootstrap.paired_bootstrap`.

    Args:
        gold: the reference ``(start, end, label)`` spans.
        predicted: the model's spans.

    Returns:
        label → ``(tp, fp, fn)``, sorted by label, for every label on either side.

    Raises:
        ParamsError: a span is malformed.
    """
    gold_counts = Counter(checked_spans(gold, "gold"))
    predicted_counts = Counter(checked_spans(predicted, "predicted"))
    hits = gold_counts & predicted_counts
    labels = sorted({span[2] for span in (*gold_counts, *predicted_counts)})
    result = {}
    for label in labels:
        tp = sum(n for span, n in hits.items() if span[2] == label)
        n_predicted = sum(n for span, n in predicted_counts.items() if span[2] == label)
        n_gold = sum(n for span, n in gold_counts.items() if span[2] == label)
        result[label] = (tp, n_predicted - tp, n_gold - tp)
    return result


def _run(
    scheme: str, gold: list[SpanTuple], predicted: list[SpanTuple], min_overlap: float
) -> tuple[SchemeCounts, list[tuple[str, int | None]]]:
    """One scheme over sorted spans: the counts, and per prediction its outcome and gold index."""
    taken: set[int] = set()
    outcome: list[tuple[str, int | None]] = []
    counts = Counter()
    for pred in predicted:
        if scheme == "ent_type":
            verdict, index = _ent_type_pick(gold, pred, taken, min_overlap)
        else:
            verdict, index = _first_come_pick(scheme, gold, pred, taken, min_overlap)
        if index is not None:
            taken.add(index)
        counts[verdict] += 1
        outcome.append((verdict, index))
    counts["missed"] = len(gold) - len(taken)
    return SchemeCounts(**counts), outcome


def _first_come_pick(
    scheme: str, gold: list[SpanTuple], pred: SpanTuple, taken: set[int], min_overlap: float
) -> tuple[str, int | None]:
    """``strict``, ``exact`` and ``partial``: the first exact match wins, else the first overlapping gold span."""
    candidate = None
    for index, true in enumerate(gold):
        if index in taken:
            continue
        same_bounds = pred[0] == true[0] and pred[1] == true[1]
        if same_bounds and (scheme != "strict" or pred[2] == true[2]):
            return "correct", index
        if candidate is None and _overlaps(pred, true, min_overlap):
            candidate = index
    if candidate is None:
        return "spurious", None
    return ("partial" if scheme == "partial" else "incorrect"), candidate


def _ent_type_pick(
    gold: list[SpanTuple], pred: SpanTuple, taken: set[int], min_overlap: float
) -> tuple[str, int | None]:
    """``ent_type``: the closest overlapping gold span of the same label, else the first of another label."""
    best, best_distance, other = None, None, None
    for index, true in enumerate(gold):
        if index in taken or not _overlaps(pred, true, min_overlap):
            continue
        if pred[2] == true[2]:
            distance = abs(pred[0] - true[0]) + abs(pred[1] - true[1])
            if best_distance is None or distance < best_distance:
                best, best_distance = index, distance
        elif other is None:
            other = index
    if best is not None:
        return "correct", best
    return ("incorrect", other) if other is not None else ("spurious", None)


def _overlaps(pred: SpanTuple, true: SpanTuple, min_overlap: float) -> bool:
    shared = min(pred[1], true[1]) - max(pred[0], true[0])
    # The same float expression as nervaluate's, so a threshold lands on the same side.
    return shared > 0 and (shared / (true[1] - true[0])) * 100.0 >= min_overlap


def _differences(
    gold: list[SpanTuple], predicted: list[SpanTuple], outcome: list[tuple[str, int | None]]
) -> tuple[Difference, ...]:
    found = []
    for pred, (verdict, index) in zip(predicted, outcome, strict=True):
        if verdict == "spurious":
            found.append(Difference("false_positive", None, pred))
        elif verdict == "incorrect":
            true = gold[index]
            same_bounds, same_label = true[:2] == pred[:2], true[2] == pred[2]
            kind = "wrong_type" if same_bounds else "wrong_boundary" if same_label else "wrong_type_and_boundary"
            found.append(Difference(kind, true, pred))
    paired = {index for _, index in outcome if index is not None}
    found.extend(Difference("false_negative", true, None) for i, true in enumerate(gold) if i not in paired)
    return tuple(sorted(found, key=lambda d: (d.start, d.end, DIFFERENCE_KINDS.index(d.kind), repr(d))))


def checked_spans(spans: Sequence[SpanTuple], field: str) -> list[SpanTuple]:
    """The spans as sorted ``(start, end, label)`` tuples.

    Args:
        spans: ``(start, end, label)`` items with integer offsets, ``0 <= start < end``, and a string label.
        field: what errors call the list (``gold``); a bad item is reported as ``field[index]``.

    Raises:
        ParamsError: the list or one of its items is malformed.
    """
    if isinstance(spans, str) or not isinstance(spans, Sequence):
        raise ParamsError(f"expected a list of (start, end, label), got {type(spans).__name__}", field=field,
                          value=spans)
    result = []
    for index, span in enumerate(spans):
        if not (isinstance(span, Sequence) and not isinstance(span, str) and len(span) == 3):
            raise ParamsError("expected (start, end, label)", field=f"{field}[{index}]", value=span)
        start, end, label = span
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) or not 0 <= start < end:
            raise ParamsError("expected integer offsets with 0 <= start < end", field=f"{field}[{index}]",
                              value=span)
        if not isinstance(label, str):
            raise ParamsError("expected a string label", field=f"{field}[{index}]", value=span)
        result.append((start, end, label))
    return sorted(result)
