"""The one JSON form of a :class:`~alab_training.model.TrainedModel`: the ``model.json`` card beside every saved
model, and the same fields wherever a model crosses a process boundary (a job's events and result).

A card stores its paths relative to the model folder, so a model directory describes itself wherever it is moved;
elsewhere paths are absolute.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ModelCardError
from alab_training.files import write_atomically
from alab_training.model import TrainedModel

__all__ = ["CARD", "model_from_json", "model_to_json", "read_model_card", "write_model_card"]

CARD = "model.json"
_FORMAT_VERSION = 1


def model_to_json(model: TrainedModel, *, relative_to: Path | None = None) -> dict[str, Any]:
    """The model's fields as JSON values; with ``relative_to``, its paths relative to that folder."""
    data = attrs.asdict(model, recurse=False)
    if relative_to is None:
        path, log_path = str(model.path), str(model.log_path) if model.log_path else None
    else:
        path = os.path.relpath(model.path, relative_to)
        log_path = os.path.relpath(model.log_path, relative_to) if model.log_path else None
    data.update(path=path, log_path=log_path, labels=list(model.labels), created_at=model.created_at.isoformat())
    return data


def model_from_json(data: dict[str, Any], *, folder: Path | None = None) -> TrainedModel:
    """The model back from :func:`model_to_json`; relative paths are taken below ``folder``.

    Raises:
        KeyError, TypeError, ValueError: a field is missing or malformed.
    """
    base = folder if folder is not None else Path()
    return TrainedModel(
        name=data["name"],
        kind=data["kind"],
        path=base / data.get("path", "."),
        metrics=data.get("metrics", {}),
        labels=tuple(data.get("labels", ())),
        params=data.get("params", {}),
        log_path=base / data["log_path"] if data.get("log_path") else None,
        embeddings=data.get("embeddings"),
        trigger=data.get("trigger", "manual"),
        created_at=datetime.fromisoformat(data["created_at"]),
        project=data.get("project"),
        version=data.get("version"),
    )


def write_model_card(model: TrainedModel, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.json`` into ``model.path`` (paths inside are stored relative to it). Atomic."""
    card = {"format": _FORMAT_VERSION, **model_to_json(model, relative_to=model.path), "extra": extra or {}}
    return write_atomically(model.path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str))


def read_model_card(path: str | os.PathLike[str]) -> tuple[TrainedModel, dict[str, Any]]:
    """Read a model directory's card; returns the model (paths made absolute) and its ``extra`` section.

    Raises:
        ModelCardError: no card, or an unreadable one.
    """
    folder = Path(path)
    try:
        card = json.loads((folder / CARD).read_text())
        model = model_from_json({**card, "path": "."}, folder=folder)
    except FileNotFoundError as exc:
        raise ModelCardError(f"not a model directory (no {CARD})", path=folder) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelCardError(f"unreadable {CARD}: {exc}", path=folder) from exc
    return model, card.get("extra", {})
