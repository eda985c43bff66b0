"""What the service remembers per Label Studio project, kept in memory and persisted under ``--root``.

One JSON file per project (``serving/projects/<id>.json``), rewritten atomically whenever something that matters
changes — its labeling config, the models it serves, the last training it asked for — and read back at start, so
a restarted service serves the models it served before. ``/setup`` and ``/health`` read the copy in memory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import attrs

from alab_training import safe_json
from alab_training.files import read_bytes_bounded, write_atomically

__all__ = ["ProjectState", "StateStore", "project_name"]

_LOG = logging.getLogger(__name__)
_NAME = re.compile(r"[^A-Za-z0-9_]+")
#: A project's state is a few KB.
_MAX_STATE_BYTES = 16 << 20
#: Versions kept per project for ``/versions``.
_HISTORY = 20


def project_name(project_id: int, title: Any, taken: set[str]) -> str:
    """The name a Label Studio project trains under (it goes into model names: ``ner_<name>_annotation_manual``).

    The title made safe (letters, digits, ``_``); ``ls_<id>`` when that leaves nothing or another project of
    this service already has the name.
    """
    cleaned = _NAME.sub("_", title).strip("_") if isinstance(title, str) else ""
    if cleaned and cleaned not in taken:
        return cleaned
    name, number = f"ls_{project_id}", 1
    while name in taken:  # a project titled "ls_7" came first
        number += 1
        name = f"ls_{project_id}_{number}"
    return name


@attrs.frozen
class ProjectState:
    """One Label Studio project as the service knows it.

    Attributes:
        id: the project's id in Label Studio.
        name: the name it trains under; chosen once (see :func:`project_name`) so that renaming the project in
            Label Studio does not start a new line of models or reset active learning's count.
        label_config: the labeling config Label Studio last sent.
        served_job: the job whose models are served.
        served_models: the names of the served models (folders of the models directory).
        model_version: what ``/setup`` reports: the served models' names joined by commas, as ``predict()``
            writes it.
        versions: the versions served so far, oldest first (``/versions``).
        trained_fingerprint: what the last training the service queued (either trigger) learns from: a digest
            of the submitted annotations, the config and the parameters.
        trained_job: the job of that training.
    """

    id: int
    name: str | None = None
    label_config: str | None = None
    served_job: str | None = None
    served_models: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    model_version: str | None = None
    versions: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    trained_fingerprint: str | None = None
    trained_job: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = attrs.asdict(self)
        data["served_models"], data["versions"] = list(self.served_models), list(self.versions)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProjectState:
        """The inverse of :meth:`to_json`; unknown keys are ignored (a newer service may have added some)."""
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def serving(self, job_id: str, models: tuple[str, ...]) -> ProjectState:
        """This state with ``models`` (of ``job_id``) served."""
        version = ",".join(models)
        versions = tuple(v for v in self.versions if v != version)[-(_HISTORY - 1):] + (version,)
        return attrs.evolve(self, served_job=job_id, served_models=models, model_version=version,
                            versions=versions)


class StateStore:
    """The projects' states: a dict in memory, one file each on disk.

    Args:
        folder: where the files go (``<root>/serving``); created if missing.

    A file that cannot be read is logged and left aside (renamed ``*.unreadable``): the project then starts
    afresh rather than keeping the service from starting.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder) / "projects"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._states: dict[int, ProjectState] = {}
        for path in sorted(self.folder.glob("*.json")):
            try:
                # Bounded, and never from a FIFO or a device (FileError is an OSError): the service must start.
                state = ProjectState.from_json(safe_json.loads(read_bytes_bounded(path, _MAX_STATE_BYTES)))
            except (OSError, ValueError, TypeError) as exc:
                _LOG.error("unreadable project state %s (%s); starting that project afresh", path, exc)
                path.replace(path.with_suffix(".unreadable"))
                continue
            self._states[state.id] = state

    def get(self, project_id: int) -> ProjectState | None:
        """The project's state, or ``None`` for a project never seen."""
        return self._states.get(project_id)

    def all(self) -> list[ProjectState]:
        """Every known project, by id."""
        with self._lock:  # a webhook may add a project meanwhile
            return [self._states[key] for key in sorted(self._states)]

    def by_name(self, name: str) -> ProjectState | None:
        """The project that trains under ``name`` (a job's ``project``)."""
        with self._lock:
            return next((state for state in self._states.values() if state.name == name), None)

    def update(self, project_id: int, **changes: Any) -> ProjectState:
        """Change (or create) a project's state; written to disk only when something changed."""
        with self._lock:
            before = self._states.get(project_id) or ProjectState(id=project_id)
            after = attrs.evolve(before, **changes)
            if after != before or project_id not in self._states:
                self._write(after)
                self._states[project_id] = after
            return after

    def serve(self, project_id: int, job_id: str, models: tuple[str, ...]) -> ProjectState:
        """Record that the project now serves ``models`` of ``job_id`` (see :meth:`ProjectState.serving`)."""
        with self._lock:
            before = self._states.get(project_id) or ProjectState(id=project_id)
            after = before.serving(job_id, tuple(models))
            self._write(after)
            self._states[project_id] = after
            return after

    def name_for(self, project_id: int, title: Any) -> str:
        """The project's name, chosen and saved now if it has none yet (see :func:`project_name`)."""
        with self._lock:
            state = self._states.get(project_id) or ProjectState(id=project_id)
            if state.name is not None:
                return state.name
            taken = {other.name for other in self._states.values() if other.name}
            state = attrs.evolve(state, name=project_name(project_id, title, taken))
            self._write(state)
            self._states[project_id] = state
            return state.name

    def _write(self, state: ProjectState) -> None:
        write_atomically(self.folder / f"{state.id}.json", json.dumps(state.to_json(), indent=1))
