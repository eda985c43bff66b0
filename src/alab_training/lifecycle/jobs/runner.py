"""The job runner a host embeds: a queue, a bound on concurrent trainings, one process per training.

Each training runs in its own process (``python -m alab_training.lifecycle.jobs.worker``) and process group: a Spark
session belongs to a process, and a JVM that crashes or runs out of memory takes its process with it — here only
that job's. One thread of the runner follows the processes through their ``events.jsonl``, starts queued jobs
when there is room, and calls the listeners. See ``docs/jobs.md``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from alab_training.arguments import expect, expect_bool, expect_names, expect_number, expect_path, expect_text
from alab_training.errors import AlabTrainingError, JobTimeoutError, ParamsError, RunnerError
from alab_training.lifecycle.jobs.codec import result_from_json
from alab_training.lifecycle.jobs.job import Job, JobStatus, JobStatusChanged
from alab_training.lifecycle.jobs.processes import (
    TrainingProcess,
    Trouble,
    append_log,
    default_max_concurrent,
    default_memory_per_job,
    drop_project_copy,
    failure_text,
    follow,
    now,
    signal_group,
    size_bytes,
    start_process,
    take_root_lock,
    worker_alive,
    write_job_files,
)
from alab_training.lifecycle.jobs.store import JobStore
from alab_training.model import Project, TrainingEvent
from alab_training.params import TrainingParams, params_argument, params_to_dict

__all__ = ["JobRunner", "Listener", "default_max_concurrent", "default_memory_per_job"]

_LOG = logging.getLogger(__name__)
#: Seconds between two looks at the running processes and the queue.
_POLL = 0.2
_UNFINISHED, _MAX_GRACE = (JobStatus.QUEUED, JobStatus.RUNNING), 86400.0  # a day: far more than any JVM takes

Listener = Callable[[Job, "TrainingEvent | JobStatusChanged"], None]


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
        self.root = expect_path(root, "root").absolute()
        models = expect_path(models_dir, "models_dir", optional=True)
        self.models_dir = models.absolute() if models is not None else self.root / "models"
        self.memory_per_job = memory_per_job or os.environ.get("ALAB_TRAINING_DRIVER_MEMORY") \
            or default_memory_per_job()
        size_bytes(self.memory_per_job)
        if max_concurrent is None:
            max_concurrent = default_max_concurrent(self.memory_per_job)
        self.max_concurrent = expect_number(max_concurrent, "max_concurrent", integer=True, minimum=1)
        if not expect_number(grace, "grace", maximum=_MAX_GRACE) > 0:
            raise ParamsError(f"expected a number of seconds above 0, got {grace!r}", field="grace", value=grace)
        self.plugins = tuple(expect_names(plugins, "plugins"))
        self.grace = float(grace)
        self._root_lock = take_root_lock(self.root)
        self._cond = threading.Condition()
        self._running: dict[str, TrainingProcess] = {}
        self._listeners: list[Listener] = []
        self._notices: list[tuple[Job, Any]] = []
        self._accepting = True
        self._stopping = False
        self._trouble = Trouble(_LOG)
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
            ParamsError: invalid parameters, or an argument of the wrong type (the job is not created).
            RunnerError: the runner is closed.
        """
        expect(project, "project", Project, "a Project (load_project)")
        params = params_argument(params, dicts=True)
        expect_bool(deploy, "deploy")
        expect_bool(versioning, "versioning")
        expect_text(trigger, "trigger")
        self._check_open()
        job_id = uuid.uuid4().hex[:12]
        job = Job(id=job_id, project=project.name, params=params_to_dict(params), status=JobStatus.QUEUED,
                  created_at=now(), folder=self.root / "jobs" / job_id, output_dir=self.models_dir,
                  deploy=deploy, versioning=versioning, trigger=trigger)
        job.folder.mkdir()
        write_job_files(job, project, self.plugins)
        append_log(job, f"queued: project {job.project}, params {json.dumps(job.params, sort_keys=True)}")
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
        return bool(self._store.jobs(expect_text(project, "project"), _UNFINISHED))

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
        expect_number(timeout, "timeout", minimum=0, optional=True)
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
        expect(listener, "listener", Callable, "a function of (job, event)")
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
        wait, cancel = expect_bool(wait, "wait"), expect_bool(cancel, "cancel")
        try:
            with self._cond:
                if self._stopping:
                    return
                self._accepting = False
                # A history that cannot be read any more (damaged, locked) must not keep the runner open.
                try:
                    if cancel:
                        for job in self._store.jobs(status=JobStatus.QUEUED):
                            self._settle(job, JobStatus.CANCELLED)
                        for run in self._running.values():
                            self._request_stop(run)
                        self._cond.notify_all()
                    while (wait or cancel) and (self._running or self._store.jobs(status=JobStatus.QUEUED)):
                        self._cond.wait(_POLL)
                except AlabTrainingError as exc:
                    _LOG.error("closing the job runner without waiting for its queue: %s", exc)
                self._stopping = True
                self._cond.notify_all()
            self._thread.join()
        finally:
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
                    self._trouble.over("the job runner updates its jobs again")
                except Exception as exc:  # a full disk or a locked database must not end the runner's thread
                    self._trouble.report("the job runner could not update its jobs; it keeps trying", exc)
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
                ended, code = not worker_alive(run.job), None
            self._follow(run)
            if ended:
                self._finish(run, code)
            elif (run.cancel_requested is not None and not run.killed
                  and time.monotonic() - run.cancel_requested > self.grace):
                signal_group(run.job.pid, signal.SIGKILL)
                run.killed = True
                append_log(run.job, f"still running {self.grace:g} s after SIGTERM: killed")
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
        try:
            process = start_process(job, self.memory_per_job)
        except OSError as exc:
            self._settle(job, JobStatus.FAILED, error=f"the training process did not start: {exc}")
            return
        started = attrs.evolve(job, status=JobStatus.RUNNING, started_at=now(), pid=process.pid)
        self._store.put(started)
        append_log(started, f"started: process {process.pid}, driver memory {self.memory_per_job}")
        self._running[job.id] = TrainingProcess(started, process)
        self._notices.append((started, JobStatusChanged(JobStatus.RUNNING, JobStatus.QUEUED)))

    def _follow(self, run: TrainingProcess, *, notify: bool = True) -> None:
        """Take in the events the process wrote since the last look."""
        before = run.job
        for event in follow(run):
            if notify:
                self._notices.append((run.job, event))
        if run.job != before:
            self._store.put(run.job)

    def _finish(self, run: TrainingProcess, code: int | None, *, host_stopped: bool = False) -> None:
        """Record how a process ended. ``code`` is its exit status (``None`` for an adopted one)."""
        self._running.pop(run.job.id, None)
        outcome = run.outcome or {}
        if run.outcome is None or run.cancel_requested is not None:
            # Whatever the process left behind (its JVM) goes with it; an orderly end stops its own JVM.
            signal_group(run.job.pid, signal.SIGKILL)
        if outcome.get("event") == "result":
            self._settle(run.job, JobStatus.SUCCEEDED, result=result_from_json(outcome["result"]))
            return
        for folder in run.scratch:
            if folder.parent == run.job.output_dir and folder.name.startswith("."):  # what the training created
                shutil.rmtree(folder, ignore_errors=True)
        if run.cancel_requested is not None:
            self._settle(run.job, JobStatus.CANCELLED)
        else:
            self._settle(run.job, JobStatus.FAILED, error=failure_text(run, code, host_stopped))

    def _request_stop(self, run: TrainingProcess) -> None:
        if run.cancel_requested is None:
            run.cancel_requested = time.monotonic()
            signal_group(run.job.pid, signal.SIGTERM)
            append_log(run.job, "cancelling: SIGTERM sent")

    def _settle(self, job: Job, status: JobStatus, *, result: Any = None, error: str | None = None) -> Job:
        """Put a job in its final state, tell the log and the listeners, and drop the project's copy."""
        settled = attrs.evolve(job, status=status, finished_at=now(), result=result, error=error)
        self._store.put(settled)
        append_log(settled, status.value + (f": {error}" if error else ""))
        drop_project_copy(job)
        self._notices.append((settled, JobStatusChanged(status, job.status)))
        return settled

    def _recover(self) -> None:
        """Adopt the live trainings of an earlier runner; record how the others ended."""
        for job in self._store.jobs(status=JobStatus.RUNNING):
            run = TrainingProcess(job, None)
            self._follow(run, notify=False)
            if worker_alive(job):
                self._running[job.id] = run
                append_log(job, "adopted by a new runner")
            else:
                self._finish(run, None, host_stopped=True)
        self._notices.clear()  # nobody can have subscribed yet
