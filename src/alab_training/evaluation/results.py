"""What :func:`~alab_training.evaluate` returns: each model's figures on the evaluated tasks, and the error table.

What every figure means is in ``docs/evaluation.md``; the scoring itself is :mod:`.scoring`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from alab_training.evaluation.errors_table import ErrorTable
from alab_training.evaluation.matching import SCHEMES, EntityScores
from alab_training.metrics import ClassificationScores, NerScores

__all__ = ["KINDS", "NO_ANSWER", "Evaluation", "ModelEvaluation"]

#: The kinds of model :func:`~alab_training.evaluate` scores, in the order ``predict()`` runs them.
KINDS = ("ner", "assertion", "classification")
#: The answer scored for a model that gave none (a gold span it left without status, a text it left unclassified).
NO_ANSWER = "(none)"

TaskCounts = Mapping[str, tuple[int, int, int]]


@attrs.frozen
class ModelEvaluation:
    """How one model scored on the evaluated tasks.

    Attributes:
        name: the model's name.
        kind: ``ner``, ``assertion`` or ``classification``.
        examples: what was scored: gold entity spans (ner), gold spans with a status (assertion), tasks with a
            gold answer (classification).
        scores: the headline figures per label, micro and macro: exact entity matches (ner), statuses of the
            gold spans (assertion, with a confusion matrix), classes (classification; a confusion matrix for
            a single-choice control).
        schemes: ner only: nervaluate's four schemes per label and overall.
        tokens: ner only: token-level scores per label.
        control: classification only: the ``<Choices>`` scored.
        per_task: for each evaluated task, in order, ``{label: (tp, fp, fn)}`` of the headline figures: what
            :func:`~alab_training.compare` resamples (left out of :meth:`as_dict`).
    """

    name: str
    kind: str
    examples: int
    scores: NerScores | ClassificationScores
    schemes: EntityScores | None = None
    tokens: ClassificationScores | None = None
    control: str | None = None
    per_task: tuple[TaskCounts, ...] = attrs.field(default=(), repr=False, eq=False)

    @property
    def micro_f1(self) -> float:
        """The headline micro F1 (for a single-label classifier and for assertion: the accuracy)."""
        return self.scores.micro.f1

    @property
    def confusion(self) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]] | None:
        """``(labels, matrix)`` of a single-label model (rows: gold, columns: predicted), else None."""
        matrix = getattr(self.scores, "confusion", None)
        return (tuple(self.scores.per_label), matrix) if matrix is not None else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: name, kind, examples, ``scores`` (as :mod:`alab_training.metrics` writes them), and
        ``confusion``, ``schemes``, ``tokens``, ``control`` where they apply."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "examples": self.examples,
                                "scores": self.scores.as_dict()}
        if self.confusion is not None:
            labels, matrix = self.confusion
            data["confusion"] = {"labels": list(labels), "matrix": [list(row) for row in matrix]}
        if self.schemes is not None:
            data["schemes"] = self.schemes.as_dict()
        if self.tokens is not None:
            data["tokens"] = self.tokens.as_dict()
        if self.control is not None:
            data["control"] = self.control
        return data

    def table(self) -> str:
        """The figures as plain text: the headline table, then nervaluate's overall schemes and token level."""
        what = {"ner": "exact entity match", "assertion": "status of each gold span",
                "classification": f"classes of <Choices name={self.control!r}>"}[self.kind]
        parts = [f"{self.name} ({self.kind}): {self.examples} examples; {what}", self.scores.table()]
        if self.schemes is not None:
            rows = [f"  {scheme:<8}  P {self.schemes.overall[scheme].precision:.4f}  "
                    f"R {self.schemes.overall[scheme].recall:.4f}  F1 {self.schemes.overall[scheme].f1:.4f}"
                    for scheme in SCHEMES]
            counts = self.schemes.overall.strict
            parts.append("nervaluate schemes, overall (strict: "
                         f"{counts.correct} correct, {counts.incorrect} incorrect, {counts.missed} missed, "
                         f"{counts.spurious} spurious; partial: {self.schemes.overall.partial.partial} partial)\n"
                         + "\n".join(rows))
        if self.tokens is not None:
            parts.append("token level\n" + self.tokens.table().split("\n\naccuracy")[0])
        return "\n\n".join(parts)


@attrs.frozen
class Evaluation:
    """The outcome of :func:`~alab_training.evaluate`.

    Attributes:
        project: the project's name.
        side: ``"test"`` (the held-out side of ``test_tags`` / ``validation_split``) or ``"all"`` (every
            selected task, when the params hold nothing out).
        tasks: the ids of the evaluated tasks, in project order.
        models: each model's figures, in the order ``predict()`` ran them.
        errors: every false positive, false negative and confusion of every model, with context.
        seconds: wall time of ``predict`` and of ``scoring`` (not compared, not in :meth:`as_dict`).
    """

    project: str
    side: str
    tasks: tuple[int | str, ...]
    models: tuple[ModelEvaluation, ...]
    errors: ErrorTable = ErrorTable()
    seconds: dict[str, float] = attrs.field(factory=dict, eq=False, repr=False)

    def model(self, key: str) -> ModelEvaluation:
        """The figures of the model with this name, or of this kind.

        Raises:
            KeyError: no such model (lists the models there are).
        """
        for found in self.models:
            if key in (found.name, found.kind):
                return found
        raise KeyError(f"no model {key!r} in this evaluation (it has: "
                       f"{', '.join(f'{m.name} ({m.kind})' for m in self.models)})")

    def as_dict(self) -> dict[str, Any]:
        """Every figure and error row, JSON-ready."""
        return {
            "project": self.project,
            "side": self.side,
            "tasks": len(self.tasks),
            "task_ids": list(self.tasks),
            "models": [model.as_dict() for model in self.models],
            "errors": {"counts": self.errors.counts(), "rows": [row.as_dict() for row in self.errors]},
        }

    def table(self) -> str:
        """Every model's figures as plain text, then the error counts."""
        header = f"{self.project}: {len(self.tasks)} task(s) evaluated ({self.side} side)"
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.errors.counts().items())) or "none"
        return "\n\n".join([header, *(model.table() for model in self.models), f"error rows: {counts}"])

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the error table as CSV (see :meth:`ErrorTable.to_csv`); returns the path."""
        return self.errors.to_csv(path)
