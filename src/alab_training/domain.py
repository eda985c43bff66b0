"""The domain: what an annotation team produced, as frozen value objects.

These classes hold data only. Reading exports lives in :mod:`alab_training.export`, reading configs in
:mod:`alab_training.config`, choosing completions in :mod:`alab_training.selection`. Change a value with
``attrs.evolve``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from alab_training.config import LabelingConfig

__all__ = [
    "ChoiceAnswer",
    "Completion",
    "CompletionStatus",
    "LoadWarning",
    "Prediction",
    "Project",
    "Relation",
    "Review",
    "Span",
    "Task",
]


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
        return self.review is not None and self.review.approved

    @property
    def rejected(self) -> bool:
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
