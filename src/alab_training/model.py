"""The domain, as frozen value objects: what an annotation team produced, and what training made of it.

- the project: :class:`Task` s with their :class:`Completion` s (spans, choices, relations, reviews), the labeling
  config (:class:`~alab_training.config.LabelingConfig`) and what loading left out (:class:`LoadWarning`);
- the outcome: :class:`TrainedModel` and :class:`TrainingResult`;
- the progress events a trainer yields while it trains (:data:`TrainingEvent`).

These classes hold data only. Reading exports lives in :mod:`alab_training.exports`, reading configs in
:mod:`alab_training.config`, choosing completions in :mod:`alab_training.selection`, the model card's JSON in
:mod:`alab_training.model_card`. Change a value with ``attrs.evolve``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

import attrs

from alab_training.config.controls import LabelingConfig

__all__ = [
    "ChoiceAnswer",
    "Completion",
    "CompletionStatus",
    "EpochFinished",
    "Evaluated",
    "LoadWarning",
    "LogLine",
    "Prediction",
    "Project",
    "Relation",
    "Review",
    "Span",
    "Task",
    "TrainedModel",
    "TrainingEvent",
    "TrainingFailed",
    "TrainingFinished",
    "TrainingResult",
    "TrainingStarted",
]


# -- the project ------------------------------------------------------------------------------------------------


class CompletionStatus(str, enum.Enum):
    """Where a completion is in its life: only ``SUBMITTED`` ones are ever trained on."""

    SUBMITTED = "submitted"
    DRAFT = "draft"
    #: Label Studio's "skipped" (``was_cancelled: true``).
    CANCELLED = "cancelled"


@attrs.frozen
class Span:
    """A labelled region of the task text (a ``labels`` result item).

    ``start``/``end`` are code-point offsets, ``end`` exclusive, so ``task.text[start:end] == text``.
    One region may carry several labels (e.g. ``("PROBLEM", "Absent")``); an assertion label on the same
    offsets as an NER label is how Annotation Lab writes assertion status.
    """

    start: int
    end: int
    text: str
    labels: tuple[str, ...]
    region_id: str | None = None
    from_name: str = "label"
    to_name: str = "text"
    confidence: float | None = None


@attrs.frozen
class ChoiceAnswer:
    """The choices picked in one ``<Choices>`` control (a ``choices`` result item)."""

    from_name: str
    choices: tuple[str, ...]
    to_name: str = "text"


@attrs.frozen
class Relation:
    """A relation between two spans of the same completion; kept for later trainers, not trained yet."""

    from_id: str
    to_id: str
    labels: tuple[str, ...] = ()
    direction: str = "right"


@attrs.frozen
class Review:
    """A reviewer's verdict on a completion.

    Read from our documented ``review_status`` field or from Label Studio Enterprise ``reviews`` (latest wins).
    """

    approved: bool
    reviewer: str | None = None
    comment: str | None = None
    reviewed_at: datetime | None = None


@attrs.frozen
class Completion:
    """One annotator's answer for a task (Annotation Lab "completion", Label Studio "annotation")."""

    id: int | str
    status: CompletionStatus
    annotator: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    created_at: datetime | None = None
    #: Annotation Lab ``honeypot`` / Label Studio ``ground_truth``: the annotator starred it.
    starred: bool = False
    review: Review | None = None
    spans: tuple[Span, ...] = ()
    choices: tuple[ChoiceAnswer, ...] = ()
    relations: tuple[Relation, ...] = ()
    lead_time: float | None = None

    @property
    def accepted(self) -> bool:
        """A reviewer accepted it."""
        return self.review is not None and self.review.approved

    @property
    def rejected(self) -> bool:
        """A reviewer rejected it: it is never trained on."""
        return self.review is not None and not self.review.approved


@attrs.frozen
class Prediction:
    """A model's pre-annotation of a task; never trained on."""

    id: int | str | None
    model_version: str | None = None
    score: float | None = None
    spans: tuple[Span, ...] = ()
    choices: tuple[ChoiceAnswer, ...] = ()


@attrs.frozen
class Task:
    """One document to annotate, with everything the team did on it."""

    id: int | str
    text: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    completions: tuple[Completion, ...] = ()
    #: Label Studio keeps drafts apart from annotations; they are never trained on.
    drafts: tuple[Completion, ...] = ()
    predictions: tuple[Prediction, ...] = ()
    #: The task's ``data`` as the export holds it (the text, the title and any other variable a config may use),
    #: so that what is written back for import (pre-annotations) keeps it whole. Not part of equality.
    data: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


@attrs.frozen
class LoadWarning:
    """A per-item data problem found while loading; the item was left out.

    Attributes:
        path: JSON path of the item, e.g. ``$[12].completions[0].result[3].value.end``.
        message: what is wrong, for people.
        code: a stable string for programs (``offset_out_of_range``, ``text_mismatch``, ``unknown_label`` …).
    """

    path: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@attrs.frozen
class Project:
    """An export plus its labeling config: the input of selection and training."""

    name: str
    tasks: tuple[Task, ...]
    config: LabelingConfig
    warnings: tuple[LoadWarning, ...] = ()
    #: The export file, when loaded from one.
    source: str | None = None
    #: ``annotation_lab``, ``label_studio`` or ``label_studio_min`` (JSON_MIN / CSV rows).
    export_format: str = "annotation_lab"


# -- what training made -------------------------------------------------------------------------------------


@attrs.frozen
class TrainedModel:
    """One trained model, saved on disk, with what it was trained from and how well it scores.

    Attributes:
        name: e.g. ``ner_<project>_annotation_manual``.
        kind: the training type that made it (``ner``, ``assertion``, ``classification``, a plugin's type).
        path: the saved model directory.
        metrics: label (or ``micro``/``macro``) → figures (``precision``, ``recall``, ``f1``, ``support``).
        labels: the labels the model predicts.
        params: the training parameters, as a JSON-ready dict.
        log_path: the training log, when the trainer writes one.
        embeddings: the embeddings' storage reference, when the model depends on embeddings.
        trigger: ``manual`` or ``active_learning``.
        project: the project it was trained on.
        version: the ``N`` of a ``_vN`` name when trained with versioning.
    """

    name: str
    kind: str
    path: Path
    metrics: dict[str, dict[str, float]] = attrs.field(factory=dict)
    labels: tuple[str, ...] = ()
    params: dict[str, Any] = attrs.field(factory=dict)
    log_path: Path | None = None
    embeddings: str | None = None
    trigger: str = "manual"
    created_at: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))
    project: str | None = None
    version: int | None = None


@attrs.frozen
class TrainingResult:
    """What one ``train()`` call produced: a model per trained type, in training order."""

    project: str
    models: tuple[TrainedModel, ...]
    #: A zip of every model's training log plus ``summary.txt`` (the "download all logs" of a mixed project).
    log_bundle: Path | None = None
    #: With ``train(..., deploy=True)``: the :class:`~alab_training.lifecycle.deploy.DeployResult` (the new config).
    deployment: Any = None

    def model(self, kind: str) -> TrainedModel:
        """The model of one training type.

        Raises:
            KeyError: no model of that kind was trained (lists the kinds there are).
        """
        for model in self.models:
            if model.kind == kind:
                return model
        raise KeyError(f"no {kind!r} model in this result (it has: {', '.join(m.kind for m in self.models)})")


# -- progress events ---------------------------------------------------------------------------------------------


@attrs.frozen
class TrainingStarted:
    """A trainer has its data ready and starts fitting: how much it trains on and for how long."""

    training_type: str
    #: Examples (tasks or sentences, as the trainer counts) on the training side.
    train_examples: int
    test_examples: int
    epochs: int


@attrs.frozen
class EpochFinished:
    """One pass over the training data is done (``epoch`` counts from 1); ``loss`` when the engine reports one."""

    epoch: int
    epochs: int
    loss: float | None = None
    seconds: float | None = None


@attrs.frozen
class Evaluated:
    """Scores on the evaluation side: ``metrics`` maps a label (or ``micro``/``macro``) to its figures."""

    metrics: dict[str, dict[str, float]] = attrs.field(factory=dict)


@attrs.frozen
class LogLine:
    """A line of the training log, as it is written (for live logs)."""

    text: str


@attrs.frozen
class TrainingFinished:
    """The last event of a training: the model is saved (in its final place, once the host announces it)."""

    model: TrainedModel


@attrs.frozen
class TrainingFailed:
    """Emitted by the runner (never yielded by a trainer) when training raised."""

    training_type: str
    message: str


#: Any of the events above; a trainer yields all but ``TrainingFailed``, which the host emits when training raised.
TrainingEvent = Union[TrainingStarted, EpochFinished, Evaluated, LogLine, TrainingFinished, TrainingFailed]
