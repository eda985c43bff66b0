"""The job runner a host embeds: a queue, a bound on concurrent trainings, one process per training.

Each training runs in its own process (``python -m alab_training.jobs.worker``) and process group: a Spark
session belongs to a process, and a JVM that crashes or runs out of memory takes its process with it — here only
that job's. One thread of the runner follows the processes through their ``events.jsonl``, starts queued jobs
when there is room, and calls the listeners. See ``docs/jobs.md``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from alab_training import events
from alab_training.domain import Project
from alab_training.engine.session import default_driver_memory, total_memory_bytes
from alab_training.errors import ParamsError
from alab_training.files import write_atomically
from alab_training.jobs.codec import event_from_json, result_from_json
from alab_training.jobs.errors import JobTimeoutError, RunnerError
from alab_training.jobs.model import Job, JobProgress, JobStatus, JobStatusChanged
from alab_training.jobs.store import JobStore
from alab_training.jobs.worker import stamped
from alab_training.params import TrainingParams, params_from_dict, params_to_dict

__all__ = ["JobRunner", "Listener", "default_max_concurrent", "default_memory_per_job"]

_LOG = logging.getLogger(__name__)
#: Seconds between two looks at the running processes and the queue.
_POLL = 0.2
_TAIL_LINES = 20
_GIB = 2**30
_SIZE = re.compile(r"^(\d+)([kmgt])$", re.IGNORECASE)
_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

Listener = Callable[[Job, "events.TrainingEvent | JobStatusChanged"], None]


def _size_bytes(size: str) -> int:
    match = _SIZE.match(size) if isinstance(size, str) else None
    if match is None:
        raise ParamsError(f"expected a JVM memory size such as '4g' or '3072m', got {size!r}",
                          field="memory_per_job", value=size)
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def default_memory_per_job() -> str:
    """The Spark driver memory of each training: 4 GB, or the single-session default where that is smaller."""
    return min("4g", default_driver_memory(), key=_size_bytes)


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
    heap = _size_bytes(memory_per_job or default_memory_per_job())
    by_cores = max(1, _cores() // 2)
    total = total_memory_bytes()
    if total is None:
        return by_cores
    return max(1, min(by_cores, int(total * 0.75 // (heap + max(heap // 2, _GIB)))))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _append_log(job: Job, text: str) -> None:
    with open(job.log_path, "a", encoding="utf-8") as log:
        log.write(stamped(text))


def _worker_alive(job: Job) -> bool:
    """Whether the job's training process still holds its lock (process ids can be reused; the lock cannot)."""
    try:
        with open(job.folder / "lock", "rb") as probe:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return False
    return False


def _signal_group(pid: int | None, signum: signal.Signals) -> None:
    """Signal the training process and everything it started (the JVM) at once."""
    if pid is None:
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


def _advance(progress: JobProgress, event: events.TrainingEvent) -> JobProgress:
    if isinstance(event, events.TrainingStarted):
        return JobProgress(training_type=event.training_type, epochs=event.epochs,
                           train_examples=event.train_examples, test_examples=event.test_examples,
                           models=progress.models)
    if isinstance(event, events.EpochFinished):
        return attrs.evolve(progress, epoch=event.epoch, epochs=event.epochs, loss=event.loss, seconds=event.seconds)
    if isinstance(event, events.Evaluated):
        return attrs.evolve(progress, metrics=event.metrics)
    if isinstance(event, events.TrainingFinished):
        return attrs.evolve(progress, models=(*progress.models, event.model.name))
    return progress


@attrs.define
class _Running:
    """The runner's own bookkeeping of one training process."""

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


class JobRunner:
    """Runs training jobs in child processes, at most ``max_concurrent`` at once, and keeps their history.

    Args:
        root: the runner's folder: ``jobs.sqlite`` (the history), ``jobs/<id>/`` (each job's log, events and
            process output) and, by default, ``models/``. One runner per root at a time.
        models_dir: where trained models go (default ``root/models``).
        max_concurrent: trainings running at once; default :func:`default_max_concurrent`.
        memory_per_job: each training's Spark driver memory (``"4g"``), given to the training process as
            ``ALAB_TRAINING_DRIVER_MEMORY``; default: ``$ALAB_TRAINING_DRIVER_MEMORY``, else
            :func:`default_memory_per_job`.
        plugins: modules to register as plugins in every training process. The host's in-process
            registrations stay in the host; installed (entry-point) plugins load in the training process as usual.
        grace: seconds a cancelled training has to stop after SIGTERM before it is killed.

    Raises:
        RunnerError: another runner uses ``root``.
        ParamsError: ``max_concurrent``, ``memory_per_job`` or ``grace`` is invalid.

    Jobs found ``running`` in the history are adopted when their process is still alive (it runs on and is
    followed as before) and otherwise failed as "interrupted: the host stopped" — unless they had already
    finished, which their events tell. Queued jobs wait for their turn as before.
    """

    def __init__(self, root: str | os.PathLike[str], *, models_dir: str | os.PathLike[str] | None = None,
                 max_concurrent: int | None = None, memory_per_job: str | None = None,
                 plugins: Sequence[str] = (), grace: float = 10.0) -> None:
        self.root = Path(root).absolute()
        self.models_dir = Path(models_dir).absolute() if models_dir is not None else self.root / "models"
        self.memory_per_job = memory_per_job or os.environ.get("ALAB_TRAINING_DRIVER_MEMORY") \
            or default_memory_per_job()
        _size_bytes(self.memory_per_job)
        if max_concurrent is None:
            max_concurrent = default_max_concurrent(self.memory_per_job)
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ParamsError(f"expected a whole number of at least 1, got {max_concurrent!r}",
                              field="max_concurrent", value=max_concurrent)
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not grace > 0:
            raise ParamsError(f"expected a number of seconds above 0, got {grace!r}", field="grace", value=grace)
        self.max_concurrent = max_concurrent
        self.plugins = tuple(plugins)
        self.grace = float(grace)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self._root_lock = open(self.root / "runner.lock", "wb")
        try:
            fcntl.flock(self._root_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._root_lock.close()
            raise RunnerError(f"{self.root} is used by another JobRunner (one runner per folder)") from None
        self._cond = threading.Condition()
        self._running: dict[str, _Running] = {}
        self._listeners: list[Listener] = []
        self._notices: list[tuple[Job, Any]] = []
        self._accepting = True
        self._stopping = False
        try:
            self._store = JobStore(self.root / "jobs.sqlite")
            self._recover()
        except BaseException:
            self._root_lock.close()
            raise
        self._thread = threading.Thread(target=self._loop, name=f"alab-training-jobs {self.root}", daemon=True)
        self._thread.start()

    # -- the host's API ------------------------------------------------------------------------------------------

    def submit(self, project: Project, params: TrainingParams | dict[str, Any] | None = None, *,
               deploy: bool = False, versioning: bool = False, trigger: str = "manual") -> Job:
        """Queue a training of ``project``; it starts when a slot is free and no other job of the project runs.

        ``params`` may be a dict (``params_from_dict``: unknown keys are an error). ``deploy`` rewrites the
        project's config file once the training succeeded (``train(..., deploy=True)``).

        Raises:
            ParamsError: invalid parameters (the job is not created).
            TypeError: ``project`` is not a :class:`~alab_training.Project`.
            RunnerError: the runner is closed.
        """
        if not isinstance(project, Project):
            raise TypeError(f"submit(project=…) expects a Project (load_project), got {type(project).__name__}")
        if params is None:
            params = TrainingParams()
        elif isinstance(params, dict):
            params = params_from_dict(params)
        elif not isinstance(params, TrainingParams):
            raise TypeError(f"submit(params=…) expects TrainingParams or a dict, got {type(params).__name__}")
        self._check_open()
        job_id = uuid.uuid4().hex[:12]
        job = Job(id=job_id, project=project.name, params=params_to_dict(params), status=JobStatus.QUEUED,
                  created_at=_now(), folder=self.root / "jobs" / job_id, output_dir=self.models_dir,
                  deploy=bool(deploy), versioning=bool(versioning), trigger=trigger)
        job.folder.mkdir()
        spec = {"params": job.params, "output_dir": str(job.output_dir), "versioning": job.versioning,
                "trigger": job.trigger, "deploy": job.deploy, "plugins": list(self.plugins)}
        write_atomically(job.folder / "spec.json", json.dumps(spec, indent=1).encode())
        write_atomically(job.folder / "project.pickle", pickle.dumps(project))
        _append_log(job, f"queued: project {job.project}, params {json.dumps(job.params, sort_keys=True)}")
        with self._cond:
            self._check_open()
            self._store.add(job)
            self._notices.append((job, JobStatusChanged(JobStatus.QUEUED)))
            self._cond.notify_all()
        return job

    def get(self, job_id: str) -> Job:
        """The job as it is now.

        Raises:
            JobNotFoundError: no job has this id.
        """
        return self._store.get(job_id)

    def jobs(self, project: str | None = None,
             status: JobStatus | str | Iterable[JobStatus | str] | None = None) -> list[Job]:
        """The history, newest first; optionally of one project, of one status or of several."""
        return self._store.jobs(project, status)

    def is_training(self, project: str) -> bool:
        """Whether a training of this project is queued or running ("can I press Train Now?" — not if true)."""
        return bool(self._store.jobs(project, _UNFINISHED))

    def cancel(self, job_id: str) -> Job:
        """Stop a job and return it as it ends.

        A queued job is cancelled at once. A running one is sent SIGTERM (with its JVM), then SIGKILL after
        ``grace`` seconds; this waits until it has stopped — except from a listener, where it returns the job
        still running (its ``JobStatusChanged`` follows). A finished job is returned unchanged — also one that
        finished while the cancel was on its way (a model already published stays published).

        Raises:
            JobNotFoundError: no job has this id.
            RunnerError: the runner is closed.
        """
        with self._cond:
            if self._stopping:  # but while close() waits for the jobs, they can still be cancelled
                raise RunnerError("the runner is closed", job_id=job_id)
            job = self._store.get(job_id)
            if job.status is JobStatus.QUEUED:
                return self._settle(job, JobStatus.CANCELLED)
            if job.status is not JobStatus.RUNNING:
                return job
            self._request_stop(self._running[job_id])
            self._cond.notify_all()
            if threading.current_thread() is self._thread:
                return job  # a listener cannot wait for the thread it runs on
        return self.wait(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished and return it.

        Raises:
            JobNotFoundError: no job has this id.
            JobTimeoutError: ``timeout`` seconds passed first (``.job`` is the job as it was).
            RunnerError: the runner is closed and the job has not finished; or called from a listener (which
                runs on the thread that finishes jobs).
        """
        if threading.current_thread() is self._thread:
            raise RunnerError("wait() cannot be called from a listener: listeners run on the runner's thread")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                job = self._store.get(job_id)
                if job.finished:
                    return job
                if self._stopping:
                    raise RunnerError("the runner is closed; the job has not finished", job_id=job_id)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise JobTimeoutError(f"still {job.status.value} after {timeout} s", job=job)
                self._cond.wait(_POLL if remaining is None else min(_POLL, remaining))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(job, event)`` for every training event and every :class:`JobStatusChanged`.

        Listeners run one after another on the runner's thread, in the order things happened; an exception in one
        is logged and ignored. Returns a function that unsubscribes the listener.
        """
        with self._cond:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._cond:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def close(self, wait: bool = True, *, cancel: bool = False) -> None:
        """Stop accepting jobs and stop the runner's thread; the history stays in ``root``.

        Args:
            wait: first let every queued and running job finish.
            cancel: first cancel every queued and running job.

        With neither, running trainings go on by themselves and queued jobs stay queued: the next runner on
        this root adopts the former (or records how they ended) and starts the latter.
        """
        if threading.current_thread() is self._thread:
            raise RunnerError("close() cannot be called from a listener: listeners run on the runner's thread")
        with self._cond:
            if self._stopping:
                return
            self._accepting = False
            if cancel:
                for job in self._store.jobs(status=JobStatus.QUEUED):
                    self._settle(job, JobStatus.CANCELLED)
                for run in self._running.values():
                    self._request_stop(run)
                self._cond.notify_all()
            while (wait or cancel) and (self._running or self._store.jobs(status=JobStatus.QUEUED)):
                self._cond.wait(_POLL)
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        for run in self._running.values():
            if run.process is not None:  # reap it when it ends, without keeping anyone waiting
                threading.Thread(target=run.process.wait, daemon=True).start()
        self._running.clear()
        self._root_lock.close()

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the runner's thread -------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._accepting:
            raise RunnerError("the runner is closed")

    def _loop(self) -> None:
        while True:
            with self._cond:
                try:
                    self._tick()
                except Exception:  # a full disk or a locked database must not end the runner's thread
                    _LOG.exception("the job runner could not update its jobs; trying again")
                notices, self._notices = self._notices, []
                stopping = self._stopping
                self._cond.notify_all()
            for job, event in notices:
                for listener in list(self._listeners):
                    try:
                        listener(job, event)
                    except Exception:
                        _LOG.exception("a job listener failed on %s", type(event).__name__)
            if stopping:
                return
            with self._cond:
                if not self._notices and not self._stopping:
                    self._cond.wait(_POLL)

    def _tick(self) -> None:
        for run in list(self._running.values()):
            # Whether it ended is known before reading: once the process is gone its last events are on file.
            if run.process is not None:
                ended, code = run.process.poll() is not None, run.process.returncode
            else:
                ended, code = not _worker_alive(run.job), None
            self._follow(run)
            if ended:
                self._finish(run, code)
            elif (run.cancel_requested is not None and not run.killed
                  and time.monotonic() - run.cancel_requested > self.grace):
                _signal_group(run.job.pid, signal.SIGKILL)
                run.killed = True
                _append_log(run.job, f"still running {self.grace:g} s after SIGTERM: killed")
        if not self._stopping:  # close(wait=True) lets the queue run dry first
            self._start_queued()

    def _start_queued(self) -> None:
        busy = {run.job.project for run in self._running.values()}
        for job in reversed(self._store.jobs(status=JobStatus.QUEUED)):
            if len(self._running) >= self.max_concurrent:
                return
            if job.project not in busy:  # two trainings of one project would publish models of the same name
                busy.add(job.project)
                self._start(job)

    def _start(self, job: Job) -> None:
        # Unbuffered, so that the output's last lines are there to quote even when the process is killed.
        env = {**os.environ, "ALAB_TRAINING_DRIVER_MEMORY": self.memory_per_job, "PYTHONUNBUFFERED": "1"}
        try:
            # The runner takes the lock and hands it over, so there is no moment when the job looks dead.
            with open(job.folder / "lock", "wb") as lock, open(job.output_path, "ab") as output:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                process = subprocess.Popen(
                    [sys.executable, "-m", "alab_training.jobs.worker", str(job.folder), "--lock-fd",
                     str(lock.fileno())],
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True, pass_fds=(lock.fileno(),))
        except OSError as exc:
            self._settle(job, JobStatus.FAILED, error=f"the training process did not start: {exc}")
            return
        started = attrs.evolve(job, status=JobStatus.RUNNING, started_at=_now(), pid=process.pid)
        self._store.put(started)
        _append_log(started, f"started: process {process.pid}, driver memory {self.memory_per_job}")
        self._running[job.id] = _Running(started, process)
        self._notices.append((started, JobStatusChanged(JobStatus.RUNNING, JobStatus.QUEUED)))

    def _follow(self, run: _Running, *, notify: bool = True) -> None:
        """Read the events the process wrote since the last look."""
        try:
            with open(run.job.folder / "events.jsonl", "rb") as source:
                source.seek(run.offset)
                chunk = source.read()
        except FileNotFoundError:
            return
        run.offset += len(chunk)
        *lines, run.partial = (run.partial + chunk).split(b"\n")
        before = run.job
        for line in lines:
            try:
                record = json.loads(line)
                if record.get("event") in ("result", "error"):
                    run.outcome = record
                    continue
                if record.get("event") == "scratch":
                    run.scratch.append(Path(record["path"]))
                    continue
                event = event_from_json(record)
            except (ValueError, TypeError, KeyError) as exc:
                _LOG.warning("job %s: unreadable event %r (%s)", run.job.id, line[:200], exc)
                continue
            run.job = attrs.evolve(run.job, progress=_advance(run.job.progress, event))
            if notify:
                self._notices.append((run.job, event))
        if run.job != before:
            self._store.put(run.job)

    def _finish(self, run: _Running, code: int | None, *, host_stopped: bool = False) -> None:
        """Record how a process ended. ``code`` is its exit status (``None`` for an adopted one)."""
        self._running.pop(run.job.id, None)
        outcome = run.outcome or {}
        if run.outcome is None or run.cancel_requested is not None:
            # Whatever the process left behind (its JVM) goes with it; an orderly end stops its own JVM.
            _signal_group(run.job.pid, signal.SIGKILL)
        if outcome.get("event") == "result":
            self._settle(run.job, JobStatus.SUCCEEDED, result=result_from_json(outcome["result"]))
            return
        for folder in run.scratch:
            # Only what the training itself created: a dot-folder directly in the models folder.
            if folder.parent == run.job.output_dir and folder.name.startswith("."):
                shutil.rmtree(folder, ignore_errors=True)
        if run.cancel_requested is not None:
            self._settle(run.job, JobStatus.CANCELLED)
        else:
            self._settle(run.job, JobStatus.FAILED, error=self._failure(run, code, host_stopped))

    def _failure(self, run: _Running, code: int | None, host_stopped: bool) -> str:
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

    def _request_stop(self, run: _Running) -> None:
        if run.cancel_requested is None:
            run.cancel_requested = time.monotonic()
            _signal_group(run.job.pid, signal.SIGTERM)
            _append_log(run.job, "cancelling: SIGTERM sent")

    def _settle(self, job: Job, status: JobStatus, *, result: Any = None, error: str | None = None) -> Job:
        """Put a job in its final state, tell the log and the listeners, and drop the project's copy."""
        settled = attrs.evolve(job, status=status, finished_at=_now(), result=result, error=error)
        self._store.put(settled)
        _append_log(settled, status.value + (f": {error}" if error else ""))
        (job.folder / "project.pickle").unlink(missing_ok=True)
        self._notices.append((settled, JobStatusChanged(status, job.status)))
        return settled

    def _recover(self) -> None:
        """Adopt the live trainings of an earlier runner; record how the others ended."""
        for job in self._store.jobs(status=JobStatus.RUNNING):
            run = _Running(job, None)
            self._follow(run, notify=False)
            if _worker_alive(job):
                self._running[job.id] = run
                _append_log(job, "adopted by a new runner")
            else:
                self._finish(run, None, host_stopped=True)
        self._notices.clear()  # nobody can have subscribed yet
