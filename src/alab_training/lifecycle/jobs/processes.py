"""One training process of the job runner: starting it, following its events, telling how it ended; and how
many such processes the machine can hold.

The process is ``python -m alab_training.lifecycle.jobs.worker`` in a process group of its own; it holds the job
folder's ``lock`` for as long as it lives and appends its events to ``events.jsonl``
(:mod:`~alab_training.lifecycle.jobs.worker`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from alab_training import safe_json
from alab_training.arguments import shown
from alab_training.errors import ParamsError, RunnerError
from alab_training.files import write_atomically
from alab_training.lifecycle.jobs.codec import event_from_json
from alab_training.lifecycle.jobs.job import MAX_PID, Job, JobProgress
from alab_training.lifecycle.jobs.worker import stamped
from alab_training.model import EpochFinished, Evaluated, Project, TrainingEvent, TrainingFinished, TrainingStarted
from alab_training.runtime.session import default_driver_memory, total_memory_bytes

__all__ = [
    "TrainingProcess",
    "Trouble",
    "advance",
    "append_log",
    "default_max_concurrent",
    "default_memory_per_job",
    "failure_text",
    "follow",
    "now",
    "signal_group",
    "size_bytes",
    "start_process",
    "take_root_lock",
    "worker_alive",
    "write_job_files",
]

_LOG = logging.getLogger(__name__)
_TAIL_LINES = 20
_GIB = 2**30
#: Matched in full, and with ASCII digits only: the JVM takes neither "4g\n" nor "４g"; nor 0, nor more digits
#: than a 64-bit size holds (a 5,000-digit one would not even convert).
_SIZE = re.compile(r"0*([1-9][0-9]{0,15})([kmgt])", re.IGNORECASE)
_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def size_bytes(size: str) -> int:
    """A JVM memory size (``4g``, ``3072m``) in bytes."""
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None or int(match.group(1)) * _UNITS[match.group(2).lower()] >= 2**63:
        raise ParamsError(f"expected a JVM memory size such as '4g' or '3072m', got {shown(size)}",
                          field="memory_per_job", value=size)
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def default_memory_per_job() -> str:
    """The Spark driver memory of each training: 4 GB, or the single-session default where that is smaller."""
    return min("4g", default_driver_memory(), key=size_bytes)


def _cores() -> int:
    """The cores this process may use (a container or ``taskset`` may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def default_max_concurrent(memory_per_job: str | None = None) -> int:
    """How many trainings may run at once: ``min(cores // 2, 0.75 × RAM // footprint)``, at least 1.

    A training keeps about two cores busy (Spark's tasks plus TensorFlow's threads), and its process needs its
    Java heap (``memory_per_job``) plus room outside it for TensorFlow, RocksDB and Python: half the heap, at
    least 1 GB. A quarter of the RAM is left to the host and the system.
    """
    heap = size_bytes(memory_per_job or default_memory_per_job())
    by_cores = max(1, _cores() // 2)
    total = total_memory_bytes()
    if total is None:
        return by_cores
    return max(1, min(by_cores, int(total * 0.75 // (heap + max(heap // 2, _GIB)))))


def take_root_lock(root: Path) -> Any:
    """The runner's folder made ready (``jobs/``) and locked for this runner; the open lock file.

    Raises:
        RunnerError: another runner holds it, or the folder cannot be made or locked.
    """
    try:
        (root / "jobs").mkdir(parents=True, exist_ok=True)
        lock = open(root / "runner.lock", "wb")  # held open for as long as the runner lives
    except OSError as exc:
        raise RunnerError(f"cannot use {root} as a job runner's folder: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        if isinstance(exc, BlockingIOError):
            raise RunnerError(f"{root} is used by another JobRunner (one runner per folder)") from None
        raise RunnerError(f"cannot lock {root / 'runner.lock'}: {exc.strerror or exc}") from exc
    return lock


class Trouble:
    """A failure that repeats at every look (a damaged or locked history) is logged once, with its traceback,
    and again only when it changes; its end is logged too."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._last: str | None = None

    def report(self, what: str, exc: BaseException) -> None:
        """Log ``exc`` unless it is the failure logged last."""
        text = f"{type(exc).__name__}: {exc}"
        if text != self._last:
            self._last = text
            self._log.error("%s: %s", what, text, exc_info=exc)

    def over(self, what: str) -> None:
        """The failure is over: say so, once."""
        if self._last is not None:
            self._last = None
            self._log.info(what)


def now() -> datetime:
    """The time, in UTC like every time of the runner."""
    return datetime.now(timezone.utc)


def append_log(job: Job, text: str) -> None:
    """Append ``text`` to the job's log, each line stamped with the time; best effort, never raises.

    The job's state is in the history; a log that cannot be written (its folder gone, a full disk, a record whose
    folder was edited by hand) must not stop the runner from recording it.
    """
    try:
        # backslashreplace: an error may quote task text, lone surrogates and all; the log must still be written
        with open(job.log_path, "a", encoding="utf-8", errors="backslashreplace") as log:
            log.write(stamped(text))
    except OSError as exc:
        _LOG.warning("cannot write to the log of job %s (%s): %s", job.id, job.log_path, exc.strerror or exc)


def drop_project_copy(job: Job) -> None:
    """Remove the job's copy of its project once it has ended; best effort, as :func:`append_log`."""
    with contextlib.suppress(OSError):
        (job.folder / "project.pickle").unlink(missing_ok=True)


def worker_alive(job: Job) -> bool:
    """Whether the job's training process still holds its lock (process ids can be reused; the lock cannot)."""
    try:
        with open(job.folder / "lock", "rb") as probe:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no lock file (or none that can be one): no process holds it
        return False
    return False


def signal_group(pid: int | None, signum: signal.Signals) -> None:
    """Signal the training process and everything it started (the JVM) at once."""
    # 0 would be our own group, 1 init's, a negative one no group: only a damaged record holds such a pid
    if pid is None or not isinstance(pid, int) or not 1 < pid < MAX_PID:
        return
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as output:
            output.seek(max(0, output.seek(0, os.SEEK_END) - 64 * 1024))
            lines = output.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-_TAIL_LINES:])


def advance(progress: JobProgress, event: TrainingEvent) -> JobProgress:
    """The job's progress after ``event``."""
    if isinstance(event, TrainingStarted):
        return JobProgress(training_type=event.training_type, epochs=event.epochs,
                           train_examples=event.train_examples, test_examples=event.test_examples,
                           models=progress.models)
    if isinstance(event, EpochFinished):
        return attrs.evolve(progress, epoch=event.epoch, epochs=event.epochs, loss=event.loss, seconds=event.seconds)
    if isinstance(event, Evaluated):
        return attrs.evolve(progress, metrics=event.metrics)
    if isinstance(event, TrainingFinished):
        return attrs.evolve(progress, models=(*progress.models, event.model.name))
    return progress


@attrs.define
class TrainingProcess:
    """The runner's own bookkeeping of one training process: where it is in its events, and how it is ending."""

    job: Job
    #: ``None`` for a process adopted from an earlier runner: not our child, so no exit code.
    process: subprocess.Popen | None
    offset: int = 0
    partial: bytes = b""
    #: The worker's last record: ``{"event": "result", …}`` or ``{"event": "error", …}``.
    outcome: dict[str, Any] | None = None
    cancel_requested: float | None = None
    killed: bool = False
    #: The trainings' scratch folders, which a process that dies cannot remove itself.
    scratch: list[Path] = attrs.Factory(list)


def write_job_files(job: Job, project: Project, plugins: Sequence[str]) -> None:
    """What the training process reads: ``spec.json`` (how to train) and ``project.pickle`` (what)."""
    spec = {"params": job.params, "output_dir": str(job.output_dir), "versioning": job.versioning,
            "trigger": job.trigger, "deploy": job.deploy, "plugins": list(plugins)}
    write_atomically(job.folder / "spec.json", json.dumps(spec, indent=1).encode())
    write_atomically(job.folder / "project.pickle", pickle.dumps(project))


def start_process(job: Job, memory: str) -> subprocess.Popen:
    """Start the training process of ``job`` with ``memory`` of Spark driver memory.

    Raises:
        OSError: the process could not be started.
    """
    # Unbuffered, so that the output's last lines are there to quote even when the process is killed.
    env = {**os.environ, "ALAB_TRAINING_DRIVER_MEMORY": memory, "PYTHONUNBUFFERED": "1"}
    # The runner takes the lock and hands it over, so there is no moment when the job looks dead.
    with open(job.folder / "lock", "wb") as lock, open(job.output_path, "ab") as output:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return subprocess.Popen(
            [sys.executable, "-m", "alab_training.lifecycle.jobs.worker", str(job.folder), "--lock-fd",
             str(lock.fileno())],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, pass_fds=(lock.fileno(),))


def follow(run: TrainingProcess) -> list[TrainingEvent]:
    """The events the process wrote since the last look; ``run.job``'s progress advances with them."""
    try:
        with open(run.job.folder / "events.jsonl", "rb") as source:
            source.seek(run.offset)
            chunk = source.read()
    except FileNotFoundError:
        return []
    run.offset += len(chunk)
    *lines, run.partial = (run.partial + chunk).split(b"\n")
    events = []
    for line in lines:
        try:
            record = safe_json.loads(line)
            if record.get("event") in ("result", "error"):
                run.outcome = record
                continue
            if record.get("event") == "scratch":
                run.scratch.append(Path(record["path"]))
                continue
            event = event_from_json(record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # one bad line must not stop the rest
            _LOG.warning("job %s: unreadable event %r (%s)", run.job.id, line[:200], exc)
            continue
        run.job = attrs.evolve(run.job, progress=advance(run.job.progress, event))
        events.append(event)
    return events


def failure_text(run: TrainingProcess, code: int | None, host_stopped: bool) -> str:
    """How a process that gave no result ended: its own error, or its exit code or signal and its last output."""
    outcome = run.outcome
    if outcome is not None and outcome.get("error") != "Terminated":
        return f"{outcome.get('error')}: {outcome.get('message')}"
    if outcome is not None:
        text = f"the training process was {outcome.get('message')}"
    elif code is None:
        text = "the training process ended without a result"
    elif code < 0:
        name = signal.Signals(-code).name
        text = f"the training process was killed by {name}"
        if -code == signal.SIGKILL:
            text += " (the kernel's out-of-memory killer sends this one)"
    else:
        text = f"the training process exited with code {code} without a result"
    if host_stopped:
        text = f"interrupted: the host stopped; {text}"
    tail = _tail(run.job.output_path)
    return f"{text}\nlast lines of its output:\n{tail}" if tail and outcome is None else text
