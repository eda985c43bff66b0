"""JSON forms of training events and results: what crosses from the training process to the host and the store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training import events
from alab_training.results import TrainedModel, TrainingResult

__all__ = ["event_from_json", "event_to_json", "result_from_json", "result_to_json"]

_EVENTS: dict[str, type] = {cls.__name__: cls for cls in (
    events.TrainingStarted, events.EpochFinished, events.Evaluated, events.LogLine, events.TrainingFinished,
    events.TrainingFailed)}


def _model_to_json(model: TrainedModel) -> dict[str, Any]:
    data = attrs.asdict(model, recurse=False)
    data.update(path=str(model.path), log_path=str(model.log_path) if model.log_path else None,
                labels=list(model.labels), created_at=model.created_at.isoformat())
    return data


def _model_from_json(data: dict[str, Any]) -> TrainedModel:
    return TrainedModel(**{**data, "path": Path(data["path"]),
                           "log_path": Path(data["log_path"]) if data.get("log_path") else None,
                           "labels": tuple(data.get("labels", ())),
                           "created_at": datetime.fromisoformat(data["created_at"])})


def event_to_json(event: events.TrainingEvent) -> dict[str, Any]:
    """``{"event": "<class name>", <fields>…}``."""
    if isinstance(event, events.TrainingFinished):
        return {"event": "TrainingFinished", "model": _model_to_json(event.model)}
    return {"event": type(event).__name__, **attrs.asdict(event)}


def event_from_json(data: dict[str, Any]) -> events.TrainingEvent:
    """The event back from :func:`event_to_json`.

    Raises:
        ValueError: not an event this version knows.
    """
    fields = dict(data)
    cls = _EVENTS.get(fields.pop("event", None))
    if cls is None:
        raise ValueError(f"not a training event: {data!r}")
    if cls is events.TrainingFinished:
        return events.TrainingFinished(_model_from_json(fields["model"]))
    return cls(**fields)


def result_to_json(result: TrainingResult) -> dict[str, Any]:
    return {"project": result.project, "models": [_model_to_json(m) for m in result.models],
            "log_bundle": str(result.log_bundle) if result.log_bundle else None}


def result_from_json(data: dict[str, Any]) -> TrainingResult:
    return TrainingResult(project=data["project"], models=tuple(_model_from_json(m) for m in data["models"]),
                          log_bundle=Path(data["log_bundle"]) if data.get("log_bundle") else None)
