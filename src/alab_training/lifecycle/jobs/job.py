"""What a host sees of a training job: frozen snapshots, replaced (never changed) as the job moves on."""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ParamsError
from alab_training.model import TrainingResult

__all__ = ["MAX_PID", "Job", "JobProgress", "JobStatus", "JobStatusChanged"]

#: One more than Linux's largest possible process id (``pid_max`` is at most 2**22).
MAX_PID = 2**22 + 1


class JobStatus(str, enum.Enum):
    """Where a job is in its life: ``QUEUED`` → ``RUNNING`` → one of the three final states."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """A final state: the job will not change any more."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@attrs.frozen
class JobProgress:
    """How far the current training has got (a mixed project trains its types one after another).

    Attributes:
        training_type: the type training now (``ner`` …), ``None`` before the first one starts.
        epoch: epochs finished of the current training.
        epochs: epochs it will run.
        loss: the loss of the last finished epoch, when the trainer reports one.
        seconds: how long the last epoch took.
        metrics: the last scores (label, ``micro`` or ``macro`` → figures).
        train_examples: examples on the training side of the current training.
        test_examples: examples on the evaluation side.
        models: names of the models finished so far, in order.
    """

    training_type: str | None = None
    epoch: int = 0
    epochs: int | None = None
    loss: float | None = None
    seconds: float | None = None
    metrics: dict[str, Any] = attrs.field(factory=dict)
    train_examples: int | None = None
    test_examples: int | None = None
    models: tuple[str, ...] = ()


def _storable(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """The history (SQLite) and the log hold UTF-8: a lone surrogate in a name could be stored in neither."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParamsError(f"{value!r} holds a lone surrogate ({exc.object[exc.start]!r}), which the job history "
                          "cannot store", field=attribute.name, value=value) from exc


@attrs.frozen
class Job:
    """One training request and what became of it.

    Attributes:
        id: a short unique id (12 hex digits).
        project: the project's name.
        params: the training parameters, as a JSON-ready dict (``params_to_dict``).
        status: see :class:`JobStatus`.
        created_at: when it was submitted (UTC, like every time here).
        folder: the job's own folder (its log, events, process output).
        started_at: when its training process started.
        finished_at: when it reached a final state.
        progress: see :class:`JobProgress`.
        result: the models and log bundle, once ``SUCCEEDED``.
        error: for ``FAILED``: the training's error (``SelectionError: …``), or how the process ended (exit code or
            signal) followed by the last lines of its output.
        deploy, versioning, trigger: as given to ``submit``.
        output_dir: where the models go.
        pid: the training process (also its process group), while and after it runs.
    """

    id: str
    project: str = attrs.field(validator=_storable)
    params: dict[str, Any]
    status: JobStatus
    created_at: datetime
    folder: Path
    output_dir: Path
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress = JobProgress()
    result: TrainingResult | None = None
    error: str | None = None
    deploy: bool = False
    versioning: bool = False
    trigger: str = attrs.field(default="manual", validator=_storable)
    pid: int | None = None

    @property
    def log_path(self) -> Path:
        """The job's log: its status changes and every line and event of its training, as they happen."""
        return self.folder / "job.log"

    @property
    def output_path(self) -> Path:
        """Everything the training process printed (the engine's chatter, tracebacks)."""
        return self.folder / "output.log"

    @property
    def finished(self) -> bool:
        """Whether the job is in a final state."""
        return self.status.finished


@attrs.frozen
class JobStatusChanged:
    """Sent to listeners beside the training events when a job changes status (``previous`` is ``None`` on submit)."""

    status: JobStatus
    previous: JobStatus | None = None
