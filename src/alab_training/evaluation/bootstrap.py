"""Comparing two models on the same tasks: F1 deltas with paired bootstrap intervals, and a verdict.

**Input.** For each task, each model's ``{label: (tp, fp, fn)}`` on it (e.g.
:func:`alab_training.evaluation.matching.exact_counts` of the task's gold and predicted spans; a label missing
from a task's mapping counts ``(0, 0, 0)``). Both lists are aligned: item ``i`` of each is the same task, scored
against the same gold, so ``tp + fn`` must agree between the two models for every task and label.

**Figures.** F1 of a label is ``2·tp / (2·tp + fp + fn)`` over the counts pooled across tasks (0.0 when that is
0/0, as :mod:`alab_training.metrics` does); micro F1 pools the labels too. ``delta = candidate - baseline``.

**Paired bootstrap.** Each resample draws as many tasks as there are, with replacement, from a
``numpy.random.default_rng(seed)`` (the *same* draw for both models, which is what makes it paired), pools their
counts and computes every delta. The interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
percentiles of the resampled deltas (numpy's linear interpolation). Resampling tasks, not spans, keeps each
document's correlated errors together.

**Verdict**, on the candidate: ``"better"`` when the whole interval is above 0, ``"worse"`` when it is below 0,
``"no detectable difference"`` otherwise (an interval touching 0 included). With the same seed, the same inputs
give the same intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from alab_training.errors import ParamsError

__all__ = ["VERDICTS", "BootstrapComparison", "Delta", "paired_bootstrap"]

#: The verdicts, for the candidate against the baseline.
VERDICTS = ("better", "worse", "no detectable difference")
_MIN_RESAMPLES = 1000
#: Weights held at once (resamples × tasks): 4 M float64 cells, 32 MB.
_BLOCK_CELLS = 4_000_000

TaskCounts = Mapping[str, tuple[int, int, int]]


@attrs.frozen
class Delta:
    """How the candidate's F1 on one label (or micro) differs from the baseline's.

    Attributes:
        baseline: the baseline's F1 on all tasks.
        candidate: the candidate's F1 on all tasks.
        delta: ``candidate - baseline``.
        low: the lower end of the bootstrap interval of ``delta``.
        high: the upper end.
        verdict: one of :data:`VERDICTS`.
    """

    baseline: float
    candidate: float
    delta: float
    low: float
    high: float
    verdict: str

    def as_dict(self) -> dict[str, float | str]:
        """The figures, JSON-ready."""
        return attrs.asdict(self)


@attrs.frozen
class BootstrapComparison:
    """The outcome of :func:`paired_bootstrap`.

    Attributes:
        per_label: label → its delta, sorted by label.
        micro: the delta of micro F1.
        tasks: the number of tasks compared.
        resamples: bootstrap resamples drawn.
        seed: the seed of the draws.
        confidence: the interval's coverage, e.g. 0.95.
    """

    per_label: dict[str, Delta]
    micro: Delta
    tasks: int
    resamples: int
    seed: int
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        """``{label | "micro": delta figures}`` plus the run's settings, JSON-ready."""
        return {
            "per_label": {label: delta.as_dict() for label, delta in self.per_label.items()},
            "micro": self.micro.as_dict(),
            "tasks": self.tasks,
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": self.confidence,
        }

    def table(self) -> str:
        """A plain-text table: one row per label, then micro."""
        interval = f"{self.confidence:.0%} interval"
        header = ("label", "baseline F1", "candidate F1", "delta", interval, "verdict")
        body = [
            (label, f"{d.baseline:.4f}", f"{d.candidate:.4f}", f"{d.delta:+.4f}", f"[{d.low:+.4f}, {d.high:+.4f}]",
             d.verdict)
            for label, d in [*self.per_label.items(), ("micro", self.micro)]
        ]
        widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) if i in (0, 5) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in (header, *body)
        ]
        footer = f"{self.tasks} tasks, {self.resamples} paired bootstrap resamples of tasks, seed {self.seed}"
        return "\n".join(line.rstrip() for line in lines) + "\n" + footer


def paired_bootstrap(
    baseline: Sequence[TaskCounts],
    candidate: Sequence[TaskCounts],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapComparison:
    """Compare a candidate model with a baseline on the same tasks (see the module docs).

    Args:
        baseline: per task, the baseline's ``{label: (tp, fp, fn)}``.
        candidate: per task, the candidate's counts, aligned with ``baseline``.
        resamples: bootstrap resamples, at least 1000 (fewer make the interval's ends too noisy for a verdict).
        seed: seeds ``numpy.random.default_rng``.
        confidence: the interval's coverage, strictly between 0 and 1.

    Returns:
        Per-label and micro deltas with their intervals and verdicts.

    Raises:
        ParamsError: the inputs are empty, differ in length, hold malformed counts or disagree on the gold, or a
            setting is out of range.
    """
    _check_settings(resamples, seed, confidence)
    labels, counts = _counts_array(baseline, candidate)
    observed = _f1_deltas(counts.sum(axis=0))
    rng = np.random.default_rng(seed)
    n_tasks = counts.shape[0]
    flat = counts.reshape(n_tasks, -1).astype(np.float64)  # exact: counts stay far below 2**53
    resampled = np.empty((resamples, len(labels) + 1))
    # A resample is a weight per task (how often it was drawn); a block of them makes one matrix product. The
    # draws are made one resample at a time, so the block size never changes the result.
    block = max(1, min(resamples, _BLOCK_CELLS // n_tasks))
    for first in range(0, resamples, block):
        rows = range(first, min(first + block, resamples))
        weights = np.stack([np.bincount(rng.integers(0, n_tasks, size=n_tasks), minlength=n_tasks) for _ in rows])
        pooled = (weights.astype(np.float64) @ flat).reshape(len(rows), *counts.shape[1:])
        for offset, index in enumerate(rows):
            resampled[index] = _f1_deltas(pooled[offset])[2]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail], axis=0)
    deltas = [
        Delta(float(observed[0][i]), float(observed[1][i]), float(observed[2][i]), float(low[i]), float(high[i]),
              _verdict(float(low[i]), float(high[i])))
        for i in range(len(labels) + 1)
    ]
    return BootstrapComparison(dict(zip(labels, deltas[:-1])), deltas[-1], n_tasks, resamples, seed, confidence)


def _f1_deltas(pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled counts ``[model, label, (tp, fp, fn)]`` → each model's F1 per label then micro, and the deltas."""
    with_micro = np.concatenate([pooled, pooled.sum(axis=1, keepdims=True)], axis=1)
    tp, fp, fn = with_micro[..., 0], with_micro[..., 1], with_micro[..., 2]
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
    return f1[0], f1[1], f1[1] - f1[0]


def _verdict(low: float, high: float) -> str:
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no detectable difference"


def _check_settings(resamples: object, seed: object, confidence: object) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < _MIN_RESAMPLES:
        raise ParamsError(f"expected an integer of at least {_MIN_RESAMPLES}", field="resamples", value=resamples)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError("expected a non-negative integer", field="seed", value=seed)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ParamsError("expected a number strictly between 0 and 1", field="confidence", value=confidence)


def _counts_array(baseline: Sequence[TaskCounts], candidate: Sequence[TaskCounts]) -> tuple[list[str], np.ndarray]:
    """The labels, sorted, and the counts as an array ``[task, model, label, (tp, fp, fn)]``."""
    for field, side in (("baseline", baseline), ("candidate", candidate)):
        if isinstance(side, (str, Mapping)) or not isinstance(side, Sequence):
            raise ParamsError(f"expected a list with one mapping per task, got {type(side).__name__}", field=field)
    if len(baseline) != len(candidate):
        raise ParamsError(f"{len(candidate)} tasks for the candidate but {len(baseline)} for the baseline",
                          field="candidate", value=len(candidate))
    if not baseline:
        raise ParamsError("there are no tasks to compare on", field="baseline", value=0)
    for field, side in (("baseline", baseline), ("candidate", candidate)):
        for index, task in enumerate(side):
            if not isinstance(task, Mapping):
                raise ParamsError(f"expected a mapping of label to (tp, fp, fn), got {type(task).__name__}",
                                  field=f"{field}[{index}]", value=task)
    labels = sorted({label for side in (baseline, candidate) for task in side for label in task}, key=str)
    position = {label: i for i, label in enumerate(labels)}
    rows = []
    for field, side in (("baseline", baseline), ("candidate", candidate)):
        for index, task in enumerate(side):
            row = [0] * (3 * len(labels))
            for label, triple in task.items():
                at = 3 * position[label]
                row[at:at + 3] = _triple(triple, label, f"{field}[{index}][{label!r}]")
            rows.append(row)
    # Built as plain lists and converted once: item-by-item array writes would cost more than the bootstrap.
    counts = np.array(rows, dtype=np.int64).reshape(2, len(baseline), len(labels), 3).transpose(1, 0, 2, 3)
    gold = counts[..., 0] + counts[..., 2]
    mismatch = np.argwhere(gold[:, 0] != gold[:, 1])
    if mismatch.size:
        index, label = int(mismatch[0][0]), labels[int(mismatch[0][1])]
        raise ParamsError(
            f"task {index}, label {label!r}: tp + fn is {gold[index, 0, position[label]]} for the baseline but "
            f"{gold[index, 1, position[label]]} for the candidate; both must be scored against the same gold",
            field=f"candidate[{index}]", value=label)
    return labels, counts


def _triple(value: object, label: object, field: str) -> tuple[int, int, int]:
    # The plain case first: the general checks (abstract base classes) would cost more than the bootstrap.
    if type(value) is tuple and len(value) == 3 and type(label) is str:
        tp, fp, fn = value
        if type(tp) is int and type(fp) is int and type(fn) is int and tp >= 0 and fp >= 0 and fn >= 0:
            return value
    ok = isinstance(label, str) and isinstance(value, Sequence) and len(value) == 3 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in value)
    if not ok:
        raise ParamsError("expected label: (tp, fp, fn) with non-negative integers", field=field, value=value)
    return tuple(int(v) for v in value)
