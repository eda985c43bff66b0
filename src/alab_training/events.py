"""Progress events a trainer yields while it trains.

Hosts receive them (through the job runner, hooks or callbacks) to show progress bars and live logs.
"""

from __future__ import annotations

from typing import Union

import attrs

from alab_training.results import TrainedModel

__all__ = ["EpochFinished", "Evaluated", "LogLine", "TrainingEvent", "TrainingFailed", "TrainingFinished",
           "TrainingStarted"]


@attrs.frozen
class TrainingStarted:
    training_type: str
    #: Examples (tasks or sentences, as the trainer counts) on the training side.
    train_examples: int
    test_examples: int
    epochs: int


@attrs.frozen
class EpochFinished:
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
    model: TrainedModel


@attrs.frozen
class TrainingFailed:
    """Emitted by the runner (never yielded by a trainer) when training raised."""

    training_type: str
    message: str


TrainingEvent = Union[TrainingStarted, EpochFinished, Evaluated, LogLine, TrainingFinished, TrainingFailed]
