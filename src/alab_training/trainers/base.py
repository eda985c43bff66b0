"""The trainer contract every trainer follows, built-in or third-party.

A trainer is a stateless object registered through the ``register_trainers`` hook. Its ``train`` is a
generator of :mod:`progress events <alab_training.events>` so that a job runner can drive it, report its
progress and cancel it between events; its last event is :class:`~alab_training.events.TrainingFinished`
carrying the :class:`~alab_training.results.TrainedModel`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from alab_training.domain import Project
from alab_training.events import TrainingEvent
from alab_training.params import TrainingParams
from alab_training.selection import Selection

__all__ = ["Trainer", "TrainingRequest"]


@attrs.frozen
class TrainingRequest:
    """Everything one training run gets.

    Attributes:
        project: the loaded project.
        selection: the chosen completions, with their train/test sides.
        params: the validated parameters.
        output_dir: an empty directory the trainer owns; the model and its log go here.
        model_name: the name to give the model (``ner_<project>_annotation_manual``, maybe with ``_v2``).
        spark: the SparkSession to use, for trainers that need Spark; ``None`` lets a Spark trainer start the
            embedded session.
        trigger: ``manual`` or ``active_learning``, recorded in the model.
    """

    project: Project
    selection: Selection
    params: TrainingParams
    output_dir: Path
    model_name: str = "model"
    spark: Any = None
    trigger: str = "manual"


@runtime_checkable
class Trainer(Protocol):
    """What ``register(trainer)`` accepts.

    A trainer may also define ``model_name(project, params) -> str`` to name its models (without it they are
    called ``<training_type>_<project>_annotation_manual``), and ``predict(spark, model, items)`` — given a
    :class:`~alab_training.prediction.LoadedModel` and a list of
    :class:`~alab_training.prediction.PredictionInput` — returning, per item, a list of export result items;
    :func:`alab_training.predict` calls it for models of the trainer's type.
    """

    #: The key users select with ``TrainingParams(training_type=…)``.
    training_type: str

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Train, yielding progress events; the last one is ``TrainingFinished``."""
        ...
