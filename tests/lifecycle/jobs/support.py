"""Projects, plugins and gates shared by the job tests (also imported by a host process a test starts)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alab_training import Project, TrainingParams, load_project
from tests.conftest import NER_CONFIG, REPO

GAZETTEER_SRC = REPO / "examples" / "plugins" / "alab-training-gazetteer" / "src"
#: Registered in every training process: the example third-party trainer and the gated one built on it.
PLUGINS = ("alab_training_gazetteer", "tests.lifecycle.jobs.gated_plugin")
GAZETTEER = TrainingParams(training_type="gazetteer", validation_split=0.3)
GATED = TrainingParams(training_type="gated", validation_split=0.3)


def child_environment() -> dict[str, str]:
    """Variables the training processes need to import the test plugins."""
    paths = [str(REPO), str(GAZETTEER_SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def fevers(name: str, tasks: int = 20) -> Project:
    """Every task marks both mentions of "fever" as PROBLEM: a gazetteer learns it perfectly."""
    text = "Fever and cough. No fever today."
    spans = [(0, 5), (20, 25)]
    export = [{"id": i, "data": {"text": text}, "completions": [{
        "id": i, "submitted_at": "2024-01-01T00:00:00",
        "result": [{"type": "labels", "from_name": "label", "to_name": "text",
                    "value": {"start": start, "end": end, "text": text[start:end], "labels": ["PROBLEM"]}}
                   for start, end in spans]}]} for i in range(tasks)]
    return load_project(export, config=NER_CONFIG, name=name)


def unannotated(name: str) -> Project:
    """Tasks nobody submitted a completion for: nothing to train on."""
    return load_project([{"id": i, "data": {"text": "Fever and cough."}} for i in range(5)], config=NER_CONFIG,
                        name=name)


def gates_in(tmp_path: Path, monkeypatch: Any) -> Gates:
    """A fresh gates folder the training processes find (``$ALAB_TRAINING_TEST_GATE``), with the test plugins on
    their path."""
    folder = tmp_path / "gates"
    folder.mkdir()
    monkeypatch.setenv("ALAB_TRAINING_TEST_GATE", str(folder))
    for name, value in child_environment().items():
        monkeypatch.setenv(name, value)
    return Gates(folder)


class Gates:
    """Opens the gated trainer's gates (written atomically, so the trainer never reads half a file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _write(self, project: str, text: str) -> None:
        partial = self.folder / f".{project}.tmp"
        partial.write_text(text)
        partial.replace(self.folder / project)

    def open(self, project: str) -> None:
        self._write(project, "open")

    def crash(self, project: str) -> None:
        self._write(project, "crash")


def eventually(condition: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)
