"""Loading a project: an export (Annotation Lab or Label Studio) plus its labeling config.

:func:`load_project` is the entry point. Below it: :mod:`.files` reads export files (streamed JSON, CSV/TSV),
:mod:`.tasks` reads tasks and completions, :mod:`.rows` Label Studio's row formats, :mod:`.items` checks spans,
choices and relations against the config, :mod:`.values` holds what they share (the warning codes among it), and
:mod:`.iob` turns token-per-line corpora into exports.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from alab_training.config import LabelingConfig, load_config
from alab_training.errors import ExportError
from alab_training.exports.files import read_export_file
from alab_training.exports.tasks import ExportReader
from alab_training.model import Project

__all__ = ["load_project"]


def _default_name(export: Any) -> str:
    if isinstance(export, (str, os.PathLike)):
        return re.sub(r"[^A-Za-z0-9_]+", "_", Path(export).stem).strip("_") or "project"
    return "project"


def load_project(
    export: str | os.PathLike[str] | list[Any] | dict[str, Any],
    *,
    config: str | bytes | os.PathLike[str] | LabelingConfig,
    name: str | None = None,
    strict: bool = False,
) -> Project:
    """Read an export and its labeling config into a :class:`~alab_training.model.Project`.

    Args:
        export: a path to a ``.json`` export (Annotation Lab, Label Studio JSON, API task list, snapshot,
            JSON_MIN) or a Label Studio ``.csv``/``.tsv`` export; or the parsed JSON (a list of task dicts).
            A file holding a list of tasks is read one task at a time: memory holds the tasks, never the
            whole parsed file.
        config: the labeling config: a path, XML text, or an already loaded :class:`LabelingConfig`.
        name: the project's name, used in model names (``ner_<name>_annotation_manual``); defaults to the
            export's file name.
        strict: raise on the first per-item data problem instead of collecting it in ``project.warnings``.

    Raises:
        ExportError: the export is unreadable or structurally wrong (or any item is, with ``strict``); the
            error's ``path`` says where, e.g. ``$[12].completions[0].result[3].value.end``.
        ConfigError: the labeling config is unreadable, unsafe or invalid.
    """
    labeling_config = load_config(config)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ExportError(f"the project name must be a non-empty string, got {name!r}")
    source = str(export) if isinstance(export, (str, os.PathLike)) else None
    reader = ExportReader(labeling_config, strict=strict, source=source)
    if source is not None:
        tasks = read_export_file(export, reader)
    elif isinstance(export, (list, dict)):
        tasks = reader.read(export)
    else:
        raise ExportError(f"expected a path or a list of task dicts, got {type(export).__name__}")
    return Project(
        name=name if name is not None else _default_name(export),
        tasks=tasks,
        config=labeling_config,
        warnings=tuple(reader.warnings),
        source=source,
        export_format=reader.export_format,
    )
