"""Errors of the job runner, under the library's one base class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alab_training.errors import AlabTrainingError

if TYPE_CHECKING:
    from alab_training.jobs.model import Job

__all__ = ["JobError", "JobNotFoundError", "JobTimeoutError", "RunnerError"]


class JobError(AlabTrainingError):
    """Base class of the job runner's errors.

    Attributes:
        job_id: the job concerned, when there is one.
    """

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        self.message = message
        self.job_id = job_id
        super().__init__(f"job {job_id}: {message}" if job_id else message)


class JobNotFoundError(JobError, LookupError):
    """No job has this id in the runner's store."""


class JobTimeoutError(JobError, TimeoutError):
    """``wait`` ran out of time before the job finished.

    Attributes:
        job: the job as it was when the time ran out.
    """

    def __init__(self, message: str, *, job: Job) -> None:
        self.job = job
        super().__init__(message, job_id=job.id)


class RunnerError(JobError, RuntimeError):
    """The runner cannot do what was asked: it is closed, or another runner already uses its root folder."""
