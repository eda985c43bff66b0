"""The model card: ``model.json`` beside every saved model, so a model directory describes itself."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ModelCardError
from alab_training.files import write_atomically
from alab_training.results import TrainedModel

__all__ = ["CARD", "read_model_card", "write_model_card"]

CARD = "model.json"
_FORMAT_VERSION = 1


def write_model_card(model: TrainedModel, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.json`` into ``model.path`` (paths inside are stored relative to it). Atomic."""
    card = {
        "format": _FORMAT_VERSION,
        **{field.name: getattr(model, field.name) for field in attrs.fields(TrainedModel)},
        "created_at": model.created_at.isoformat(),
        "path": ".",
        "log_path": os.path.relpath(model.log_path, model.path) if model.log_path else None,
        "labels": list(model.labels),
        "extra": extra or {},
    }
    return write_atomically(model.path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str))


def read_model_card(path: str | os.PathLike[str]) -> tuple[TrainedModel, dict[str, Any]]:
    """Read a model directory's card; returns the model (paths made absolute) and its ``extra`` section.

    Raises:
        ModelCardError: no card, or an unreadable one.
    """
    folder = Path(path)
    try:
        card = json.loads((folder / CARD).read_text())
        model = TrainedModel(
            name=card["name"],
            kind=card["kind"],
            path=folder,
            metrics=card.get("metrics", {}),
            labels=tuple(card.get("labels", ())),
            params=card.get("params", {}),
            log_path=folder / card["log_path"] if card.get("log_path") else None,
            embeddings=card.get("embeddings"),
            trigger=card.get("trigger", "manual"),
            created_at=datetime.fromisoformat(card["created_at"]),
            project=card.get("project"),
            version=card.get("version"),
        )
    except FileNotFoundError as exc:
        raise ModelCardError(f"not a model directory (no {CARD})", path=folder) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelCardError(f"unreadable {CARD}: {exc}", path=folder) from exc
    return model, card.get("extra", {})
