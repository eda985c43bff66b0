"""The scores of served model versions, for a host to show: the body of a serving layer's ``GET /metrics``.

Plain dicts in, plain dicts out, and nothing but the models' cards is read (no Spark, no model loaded), so a
request handler can call :func:`served_metrics` on its thread at any time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alab_training.errors import ModelNotFoundError
from alab_training.lifecycle.registry import ModelRegistry

__all__ = ["served_metrics"]

_LOG = logging.getLogger(__name__)
#: Models already reported missing: a host polls ``/metrics``, and one warning per removed model is enough.
_REPORTED_MISSING: set[tuple[Path, str]] = set()


def served_metrics(projects: Iterable[Mapping[str, Any]],
                   models: ModelRegistry | str | os.PathLike[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{project: {model_version: {model name: metrics}}}`` for every version each project served.

    Args:
        projects: one mapping per project, as a serving layer keeps them: ``name``, ``versions`` (the model
            versions served so far, oldest first) and ``model_version`` (the one served now); a model version
            is the served models' names joined by commas, as ``predict()`` writes it.
        models: the registry the served models are in, or its folder.

    Returns:
        For each project (by name) and model version, each model's ``metrics`` as its card holds them
        (``{label | "micro" | "macro": {"precision", "recall", "f1", "support"}}``); ``None`` for a model no
        longer in the registry. Versions keep the order served, the current one last.
    """
    registry = models if isinstance(models, ModelRegistry) else ModelRegistry(models)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for project in projects:
        name = str(project.get("name") or project.get("id"))
        versions = [*project.get("versions", ()), project.get("model_version")]
        per_version: dict[str, dict[str, Any]] = {}
        for version in dict.fromkeys(v for v in versions if isinstance(v, str) and v):
            per_version[version] = {model: _metrics(registry, model) for model in version.split(",") if model}
        found[name] = per_version
    return found


def _metrics(registry: ModelRegistry, name: str) -> dict[str, Any] | None:
    try:
        return registry.get(name).metrics
    except ModelNotFoundError as exc:
        if (registry.root, name) not in _REPORTED_MISSING:
            _REPORTED_MISSING.add((registry.root, name))
            _LOG.warning("no scores for %s (reported once): %s", name, exc)
        return None
