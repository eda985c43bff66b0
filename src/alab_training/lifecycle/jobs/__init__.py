"""Training jobs for host applications: a queue, bounded concurrency, one process per training, a history.

>>> with JobRunner("/var/lib/alab/jobs") as runner:          # doctest: +SKIP
...     job = runner.submit(project, TrainingParams(epochs=12))
...     runner.wait(job.id).status
<JobStatus.SUCCEEDED: 'succeeded'>

See ``docs/jobs.md``.
"""

from alab_training.errors import JobError, JobNotFoundError, JobTimeoutError, RunnerError
from alab_training.lifecycle.jobs.job import Job, JobProgress, JobStatus, JobStatusChanged
from alab_training.lifecycle.jobs.runner import JobRunner, Listener, default_max_concurrent, default_memory_per_job
from alab_training.lifecycle.jobs.store import JobStore

__all__ = [
    "Job",
    "JobError",
    "JobNotFoundError",
    "JobProgress",
    "JobRunner",
    "JobStatus",
    "JobStatusChanged",
    "JobStore",
    "JobTimeoutError",
    "Listener",
    "RunnerError",
    "default_max_concurrent",
    "default_memory_per_job",
]
