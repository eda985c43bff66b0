"""The background work behind webhooks: one thread, per-project coalescing, persisted across restarts.

A webhook is answered at once (Label Studio waits one second and never retries); what it asks for — fetch the
project's annotations, then queue a training or ask active learning — is put here and done by one worker
thread. Work for a project that is already waiting merges into the waiting item (ten annotation events in a
burst cost one export), and a project's items are done in the order they came. Pending items are written to
``pending.json`` (atomically), and an item leaves it only once done, so a service killed mid-way does it again
after a restart — harmless, since both trainings and active learning refuse to train twice on the same data.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import attrs

from alab_training import safe_json
from alab_training.files import read_bytes_bounded, write_atomically

__all__ = ["Work", "WorkQueue"]

_LOG = logging.getLogger(__name__)
#: Pending work is a few bytes per project.
_MAX_PENDING_BYTES = 16 << 20


@attrs.frozen
class Work:
    """What is to be done for one project.

    Attributes:
        train: ``START_TRAINING`` asked for a training.
        update: annotations changed: active learning should count them.
    """

    train: bool = False
    update: bool = False

    def merge(self, other: Work) -> Work:
        """Both items' work in one."""
        return Work(train=self.train or other.train, update=self.update or other.update)


class WorkQueue:
    """Pending work per project, done by one thread in arrival order.

    Args:
        path: the file pending work is kept in (``<root>/serving/pending.json``).
        handler: ``handler(project_id, work)``; an exception it raises is logged, and the item is dropped.
    """

    def __init__(self, path: str | os.PathLike[str], handler: Callable[[int, Work], None]) -> None:
        self.path = Path(path)
        self._handler = handler
        self._cond = threading.Condition()
        self._pending: dict[int, Work] = {}  # insertion order = arrival order
        self._current: tuple[int, Work] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        for project_id, work in self._read():
            self._pending[project_id] = self._pending.get(project_id, Work()).merge(work)

    def start(self) -> None:
        """Start the worker thread (it resumes what a previous run left pending)."""
        self._thread = threading.Thread(target=self._loop, name="alab-training-serve-work", daemon=True)
        self._thread.start()

    def put(self, project_id: int, work: Work) -> None:
        """Add work; it merges into the project's waiting item, if there is one."""
        with self._cond:
            self._pending[project_id] = self._pending.get(project_id, Work()).merge(work)
            self._save()
            self._cond.notify_all()

    def pending(self) -> dict[int, Work]:
        """The waiting items (not the one being done)."""
        with self._cond:
            return dict(self._pending)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or being done; ``False`` if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and self._current is None, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the item being done (what is still pending stays in the file for the next run)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                project_id = next(iter(self._pending))
                self._current = (project_id, self._pending.pop(project_id))
            try:
                self._handler(*self._current)
            except Exception:  # one project's failure must not stop the others' work
                _LOG.exception("background work for Label Studio project %s failed", project_id)
            with self._cond:
                self._current = None
                self._save()
                self._cond.notify_all()

    def _save(self) -> None:
        items = ([self._current] if self._current else []) + list(self._pending.items())
        data = [{"project": project_id, **attrs.asdict(work)} for project_id, work in items]
        try:
            write_atomically(self.path, json.dumps(data))
        except OSError as exc:  # the work itself can go on; only its survival of a restart is at risk
            _LOG.error("cannot save the pending work to %s: %s", self.path, exc)

    def _read(self) -> list[tuple[int, Work]]:
        try:
            # Bounded, and never from a FIFO or a device (FileError is an OSError): the service must start.
            data = safe_json.loads(read_bytes_bounded(self.path, _MAX_PENDING_BYTES))
            return [(int(item["project"]), Work(train=bool(item.get("train")), update=bool(item.get("update"))))
                    for item in data]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            _LOG.error("unreadable pending work in %s (%s); starting with none", self.path, exc)
            return []
