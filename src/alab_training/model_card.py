"""The one JSON form of a :class:`~alab_training.model.TrainedModel`: the ``model.json`` card beside every saved
model, and the same fields wherever a model crosses a process boundary (a job's events and result).

A card stores its paths relative to the model folder, so a model directory describes itself wherever it is moved;
elsewhere paths are absolute. Cards are also written by other tools and by hand, so reading one checks every
field: a field of the wrong kind (``"labels": "PROBLEM"`` would otherwise be seven one-letter labels) is a
:class:`~alab_training.errors.ModelCardError` naming it, and the JSON is read with
:mod:`alab_training.safe_json`, within :data:`MAX_CARD_BYTES`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training import safe_json
from alab_training.errors import FileError, FileMissingError, ModelCardError
from alab_training.files import read_bytes_bounded, write_atomically
from alab_training.model import TrainedModel

__all__ = ["CARD", "MAX_CARD_BYTES", "model_from_json", "model_to_json", "read_model_card", "write_model_card"]

CARD = "model.json"
#: A card holds names, scores and parameters: a few KB, a few MB for thousands of labels. More is not a card.
MAX_CARD_BYTES = 64 << 20
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


def _text(data: Mapping[str, Any], key: str, *, default: str | None = None, optional: bool = False) -> str | None:
    """A string field; ``name`` and ``kind`` (neither ``default`` nor ``optional``) must not be empty."""
    value = data.get(key)
    if value is None and (optional or default is not None):
        return default
    if not isinstance(value, str) or not (value or optional or default is not None):
        raise ModelCardError(f"expected a non-empty string, got {type(value).__name__}", field=key)
    return value


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise ModelCardError(f"expected a list of label names, got {type(value).__name__}", field="labels")
    return tuple(value)


def _metrics(value: Any) -> dict[str, dict[str, Any]]:
    """label (or ``micro``/``macro``) → figure → value; a figure may be more than a number (a confusion table),
    so only the two levels are checked, and a reader of a figure checks that it is a number."""
    if not isinstance(value, Mapping):
        raise ModelCardError(f"expected an object of scores, got {type(value).__name__}", field="metrics")
    for label, figures in value.items():
        if not isinstance(figures, Mapping):
            raise ModelCardError(f"expected an object of figures, got {type(figures).__name__}",
                                 field=f"metrics.{label}")
    return {label: dict(figures) for label, figures in value.items()}


def _moment(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ModelCardError("expected an ISO-8601 time", field="created_at") from exc


def _version(value: Any) -> int | None:
    """The ``N`` of ``_vN``; other tools write it as text at times, or as something that is no version."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def model_from_json(data: Any, *, folder: Path | None = None) -> TrainedModel:
    """The model back from :func:`model_to_json`; relative paths are taken below ``folder``.

    Raises:
        ModelCardError: a field is missing or of the wrong kind (``field`` names it, ``path`` is ``None``).
    """
    if not isinstance(data, Mapping):
        raise ModelCardError(f"expected an object, got {type(data).__name__}", field="$")
    base = folder if folder is not None else Path()
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise ModelCardError(f"expected an object, got {type(params).__name__}", field="params")
    log_path = _text(data, "log_path", optional=True)
    return TrainedModel(
        name=_text(data, "name"),
        kind=_text(data, "kind"),
        path=base / _text(data, "path", default="."),
        metrics=_metrics(data.get("metrics", {})),
        labels=_labels(data.get("labels", [])),
        params=dict(params),
        log_path=base / log_path if log_path else None,
        embeddings=_text(data, "embeddings", optional=True),
        trigger=_text(data, "trigger", default="manual"),
        created_at=_moment(data.get("created_at")),
        project=_text(data, "project", optional=True),
        version=_version(data.get("version")),
    )


def write_model_card(model: TrainedModel, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.json`` into ``model.path`` (paths inside are stored relative to it). Atomic."""
    card = {"format": _FORMAT_VERSION, **model_to_json(model, relative_to=model.path), "extra": extra or {}}
    return write_atomically(model.path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str))


def read_model_card(path: str | os.PathLike[str]) -> tuple[TrainedModel, dict[str, Any]]:
    """Read a model directory's card; returns the model (paths made absolute) and its ``extra`` section.

    Raises:
        ModelCardError: no card, or one that is unreadable (not a regular file, too large, not JSON, nested too
            deep) or has a field of the wrong kind (``field`` names it).
    """
    folder = Path(path)
    try:
        card = safe_json.loads(read_bytes_bounded(folder / CARD, MAX_CARD_BYTES))
    except FileMissingError as exc:
        raise ModelCardError(f"not a model directory (no {CARD})", path=folder) from exc
    except FileError as exc:
        raise ModelCardError(f"unreadable {CARD}: {exc.message}", path=folder) from exc
    except ValueError as exc:  # not JSON, not UTF-8, or refused by safe_json
        raise ModelCardError(f"unreadable {CARD}: {exc}", path=folder) from exc
    try:
        model = model_from_json({**card, "path": "."} if isinstance(card, Mapping) else card, folder=folder)
    except ModelCardError as exc:
        raise ModelCardError(f"unreadable {CARD}: {exc.message}", path=folder, field=exc.field) from exc
    extra = card.get("extra", {})
    if not isinstance(extra, Mapping):
        raise ModelCardError(f"unreadable {CARD}: expected an object", path=folder, field="extra")
    return model, dict(extra)
