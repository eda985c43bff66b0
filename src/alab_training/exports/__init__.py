"""Loading a project: an export (Annotation Lab or Label Studio) plus its labeling config.

:func:`load_project` is the entry point. Below it: :mod:`.files` reads export files (streamed JSON, CSV/TSV),
:mod:`.tasks` reads tasks and completions, :mod:`.rows` Label Studio's row formats, :mod:`.items` checks spans,
choices and relations against the config, :mod:`.values` holds what they share (the warning codes among it), and
:mod:`.iob` turns token-per-line corpora into exports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from alab_training.arguments import expect, expect_bool, expect_path, expect_text
from alab_training.config import LabelingConfig, load_config
from alab_training.exports.files import iter_export_file, read_export_file, read_export_stream
from alab_training.exports.tasks import ExportReader
from alab_training.model import Project, Task

__all__ = ["iter_tasks", "load_project"]


def _default_name(export: Any) -> str:
    if isinstance(export, (str, os.PathLike)):
        return re.sub(r"[^A-Za-z0-9_]+", "_", Path(export).stem).strip("_") or "project"
    return "project"


def load_project(
    export: str | os.PathLike[str] | list[Any] | dict[str, Any] | IO[Any],
    *,
    config: str | bytes | os.PathLike[str] | LabelingConfig,
    name: str | None = None,
    strict: bool = False,
) -> Project:
    """Read an export and its labeling config into a :class:`~alab_training.model.Project`.

    Args:
        export: a path to a ``.json`` export (Annotation Lab, Label Studio JSON, API task list, snapshot,
            JSON_MIN) or a Label Studio ``.csv``/``.tsv`` export; or the parsed JSON (a list of task dicts); or
            an open stream (binary or text) of an export, read whole (CSV/TSV when its ``name`` ends so). A
            file holding a list of tasks is read one task at a time: memory holds the tasks, never the whole
            parsed file. A path must name a regular file: a FIFO or a device is refused at once.
        config: the labeling config: a path, XML text, or an already loaded :class:`LabelingConfig`.
        name: the project's name, used in model names (``ner_<name>_annotation_manual``); defaults to the
            export's file name.
        strict: raise on the first per-item data problem instead of collecting it in ``project.warnings``.

    Raises:
        ExportError: the export is unreadable (also: not a regular file, or larger than
            :data:`~alab_training.exports.files.MAX_EXPORT_BYTES`) or structurally wrong (or any item is, with
            ``strict``); the error's ``path`` says where, e.g. ``$[12].completions[0].result[3].value.end``.
        ConfigError: the labeling config is unreadable, unsafe or invalid.
        ParamsError: an argument of the wrong type (``field`` names it).
    """
    stream = callable(getattr(export, "read", None))
    if not stream:
        expect(export, "export", (str, os.PathLike, list, dict), "an export's path, an open stream, or its tasks")
    expect_text(name, "name", optional=True)
    expect_bool(strict, "strict")
    labeling_config = load_config(config)
    source = str(export) if isinstance(export, (str, os.PathLike)) else None
    reader = ExportReader(labeling_config, strict=strict, source=source)
    if stream:
        tasks = read_export_stream(export, reader)
    else:
        tasks = read_export_file(export, reader) if source is not None else reader.read(export)
    return Project(
        name=name if name is not None else _default_name(export),
        tasks=tasks,
        config=labeling_config,
        warnings=tuple(reader.warnings),
        source=source,
        export_format=reader.export_format,
    )


def iter_tasks(
    export: str | os.PathLike[str],
    *,
    config: str | bytes | os.PathLike[str] | LabelingConfig,
    strict: bool = False,
) -> Iterator[Task]:
    """The tasks of an export file one at a time, read as :func:`load_project` reads them but never all kept.

    For work that looks at each task once (annotator agreement over a large export): a JSON array of tasks is
    decoded task by task, so memory holds one task, not the export. Items left out are not reported here
    (use :func:`load_project` to see its warnings), unless ``strict`` makes the first one raise.

    Args:
        export: the export file's path (any format :func:`load_project` reads).
        config: the labeling config, as for :func:`load_project`.
        strict: raise on the first per-item data problem.

    Raises:
        ExportError: the export is unreadable or structurally wrong, raised where reading reaches it.
        ConfigError: the labeling config is unreadable, unsafe or invalid.
        ParamsError: an argument of the wrong type (``field`` names it).
    """
    expect_path(export, "export")
    expect_bool(strict, "strict")
    labeling_config = load_config(config)
    reader = ExportReader(labeling_config, strict=strict, source=str(export))
    return iter_export_file(export, reader)
