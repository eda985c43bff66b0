"""A blocking Spark fit, run in a worker thread, with the engine's log lines handed over as they are written.

Spark NLP's deep-learning annotators train inside one blocking ``fit`` call and write their progress to a log
file. :class:`FitInThread` runs that call in a worker thread and hands the file's new lines to the trainer's
generator as they appear, so epochs become events while training is still under way.

A fit cannot be stopped from Python once the JVM runs it: when the generator driving :meth:`FitInThread.lines`
is closed, the thread keeps waiting for the JVM, which finishes the fit in the background. Only ending the
process (what a job runner's cancel does) stops it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alab_training.errors import TrainingError

__all__ = ["FitInThread", "java_message"]


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
        """The engine log's new lines, until the fit has ended."""
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


