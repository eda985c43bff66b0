"""JSON forms of training events and results: what crosses from a job's training process to the host and the store.

A model inside an event or a result takes the model card's JSON form (:mod:`alab_training.model_card`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from alab_training import model as values
from alab_training.model_card import model_from_json, model_to_json

__all__ = ["event_from_json", "event_to_json", "result_from_json", "result_to_json"]

_EVENTS: dict[str, type] = {cls.__name__: cls for cls in (
    values.TrainingStarted, values.EpochFinished, values.Evaluated, values.LogLine, values.TrainingFinished,
    values.TrainingFailed)}


def event_to_json(event: values.TrainingEvent) -> dict[str, Any]:
    """``{"event": "<class name>", <fields>…}``."""
    if isinstance(event, values.TrainingFinished):
        return {"event": "TrainingFinished", "model": model_to_json(event.model)}
    return {"event": type(event).__name__, **attrs.asdict(event)}


def event_from_json(data: dict[str, Any]) -> values.TrainingEvent:
    """The event back from :func:`event_to_json`.

    Raises:
        ValueError: not an event this version knows.
    """
    fields = dict(data)
    cls = _EVENTS.get(fields.pop("event", None))
    if cls is None:
        raise ValueError(f"not a training event: {data!r}")
    if cls is values.TrainingFinished:
        return values.TrainingFinished(model_from_json(fields["model"]))
    return cls(**fields)


def result_to_json(result: values.TrainingResult) -> dict[str, Any]:
    """The result's project, models and log bundle (its deployment stays with the process that deployed)."""
    return {"project": result.project, "models": [model_to_json(m) for m in result.models],
            "log_bundle": str(result.log_bundle) if result.log_bundle else None}


def result_from_json(data: dict[str, Any]) -> values.TrainingResult:
    """The result back from :func:`result_to_json`."""
    return values.TrainingResult(project=data["project"], models=tuple(model_from_json(m) for m in data["models"]),
                                 log_bundle=Path(data["log_bundle"]) if data.get("log_bundle") else None)
