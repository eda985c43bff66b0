"""What every Spark NLP trainer needs while it runs: the training log, and a fit that reports as it goes.

Spark NLP's deep-learning annotators train inside one blocking ``fit`` call and write their progress to a log
file. ``FitInThread`` runs that call in a worker thread and hands the file's new lines to the trainer's
generator as they appear, so epochs become events while training is still under way.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from alab_training.embeddings import EmbeddingsSource
from alab_training.errors import SelectionError, TrainingError
from alab_training.events import LogLine, TrainingEvent, TrainingFinished
from alab_training.model_io import write_model_card
from alab_training.params import params_to_dict
from alab_training.results import TrainedModel
from alab_training.selection import REASONS
from alab_training.trainers.base import TrainingRequest

__all__ = ["FitInThread", "TrainerRun", "TrainingLog", "java_message", "selection_lines"]


class TrainingLog:
    """The training log file; every line written also becomes a :class:`LogLine` event."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("w", encoding="utf-8")

    def write(self, *lines: str) -> list[LogLine]:
        for line in lines:
            self._handle.write(line + "\n")
        self._handle.flush()
        return [LogLine(line) for line in lines]

    def close(self) -> None:
        self._handle.close()


def selection_lines(request: TrainingRequest) -> list[str]:
    """How many tasks train, test and were left out (with the reasons), for the log."""
    selection = request.selection
    lines = [f"selection: {len(selection.train)} task(s) train, {len(selection.test)} test, "
             f"{len(selection.excluded)} excluded"]
    lines += [f"  excluded {code}: {count} ({REASONS[code]})"
              for code, count in sorted(selection.excluded_counts().items())]
    if request.project.warnings:
        lines.append(f"  {len(request.project.warnings)} item(s) left out while loading the export")
    return lines


class _FileTail:
    """New complete lines of a file another thread (the JVM) is writing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""

    def lines(self) -> list[str]:
        try:
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return []
        *complete, self._partial = (self._partial + chunk).split("\n")
        return [line.rstrip("\r") for line in complete]


class FitInThread:
    """``estimator.fit(frame)`` in a worker thread, with the engine's log lines as they are written.

    Iterate :meth:`lines` to the end, then take the fitted model from :meth:`result`.
    """

    def __init__(self, estimator: Any, frame: Any, engine_log: Path, poll_seconds: float = 0.5) -> None:
        self._outcome: dict[str, Any] = {}
        self._tail = _FileTail(engine_log)
        self._poll = poll_seconds
        self._worker = threading.Thread(target=self._fit, args=(estimator, frame), daemon=True,
                                        name=f"fit-{getattr(estimator, 'uid', 'estimator')}")
        self._worker.start()

    def _fit(self, estimator: Any, frame: Any) -> None:
        try:
            self._outcome["model"] = estimator.fit(frame)
        except Exception as exc:  # handed to the generator's thread by result()
            self._outcome["error"] = exc

    def lines(self) -> Iterator[str]:
        while self._worker.is_alive():
            self._worker.join(timeout=self._poll)
            yield from self._tail.lines()
        yield from self._tail.lines()

    def result(self, training_type: str) -> Any:
        """The fitted model; raises :class:`TrainingError` with the engine's own message if fitting failed."""
        self._worker.join()
        error = self._outcome.get("error")
        if error is not None:
            raise TrainingError("the engine could not train the model", training_type=training_type,
                                detail=java_message(error)) from error
        return self._outcome["model"]


def check_selection(request: TrainingRequest) -> None:
    """Refuse, before anything starts, a training whose selection left nothing on the training side."""
    if not request.selection.train:
        counts = ", ".join(f"{code} {n}" for code, n in sorted(request.selection.excluded_counts().items()))
        raise SelectionError(f"no task is left to train on ({counts or 'the project has no tasks'}); see "
                             f"the reason codes: {', '.join(REASONS)}")


def epoch_loss(text: str) -> float | None:
    """An engine log's loss figure; ``None`` for NaN or an infinity."""
    value = float(text)
    return value if math.isfinite(value) else None


def java_message(error: BaseException) -> str:
    """The Java exception's own message, without the Py4J stack dump."""
    java = getattr(error, "java_exception", None)
    if java is not None:
        try:
            return str(java.toString())
        except Exception:  # the JVM may be gone; the Python text still says something
            pass
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class TrainerRun:
    """One training's working state — its folders and its log — shared by the Spark trainers.

    Subclasses set :attr:`title` and implement ``_events``, ending with :meth:`finish`; :meth:`events` closes the
    log however it ends.
    """

    title = "training"
    #: Engine scratch in the data folder, dropped once the model is saved (the training data files stay).
    scratch: tuple[str, ...] = ("test.parquet", "engine_logs")

    def __init__(self, request: TrainingRequest, source: EmbeddingsSource | None) -> None:
        self.started = time.monotonic()
        self.request = request
        self.params = request.params
        self.source = source
        self.out = request.output_dir
        self.work = self.out / "data"
        self.work.mkdir(parents=True, exist_ok=True)
        self.log = TrainingLog(self.out / "training.log")

    def events(self) -> Iterator[TrainingEvent]:
        try:
            yield from self._events()
        finally:
            self.log.close()

    def _events(self) -> Iterator[TrainingEvent]:
        raise NotImplementedError

    def spark(self) -> Any:
        """The request's session, or the embedded one."""
        from alab_training.engine import start_session

        return self.request.spark if self.request.spark is not None else start_session()

    def header(self) -> list[str]:
        """The log's first lines: what trains, with which parameters and embeddings."""
        source = self.source
        lines = [f"{self.title} of {self.request.model_name} (project {self.request.project.name})",
                 f"parameters: {params_to_dict(self.params)}"]
        if source is not None:
            lines.append(f"embeddings: {source.name} ({source.dimension}d, {source.format}, {source.location})")
        return lines

    def finish(self, *, kind: str, labels: Iterable[str], metrics: dict[str, Any],
               extra: dict[str, Any]) -> Iterator[TrainingEvent]:
        """Close the log, drop the scratch, write the model card and announce the model."""
        if not metrics and not self.request.selection.test:
            yield from self.log.write("", "no test side: set validation_split or test_tags to get scores")
        elapsed = time.monotonic() - self.started
        yield from self.log.write("", f"finished in {elapsed:.1f}s")
        for name in self.scratch:
            shutil.rmtree(self.work / name, ignore_errors=True)
        model = TrainedModel(name=self.request.model_name, kind=kind, path=self.out, metrics=metrics,
                             labels=tuple(labels), params=params_to_dict(self.params), log_path=self.log.path,
                             embeddings=self.source.name if self.source else None, trigger=self.request.trigger,
                             project=self.request.project.name)
        write_model_card(model, extra={"pipeline": "pipeline", **extra, "seconds": round(elapsed, 1)})
        yield TrainingFinished(model)
