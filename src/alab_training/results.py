"""What training produces."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

__all__ = ["TrainedModel", "TrainingResult"]


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
    #: With ``train(..., deploy=True)``: the :class:`~alab_training.config.deploy.DeployResult` (the new config).
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
