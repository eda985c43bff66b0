"""The job history: one SQLite file, so it survives the host and can be read while a runner writes it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import JobError, JobNotFoundError
from alab_training.lifecycle.jobs.codec import result_from_json, result_to_json
from alab_training.lifecycle.jobs.job import Job, JobProgress, JobStatus

__all__ = ["JobStore", "statuses"]

_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: history is listed newest first
    id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL                      -- the rest of the job, as JSON
);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, status);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
"""


def statuses(status: JobStatus | str | Iterable[JobStatus | str] | None) -> tuple[JobStatus, ...]:
    """One status or several, as ``JobStatus`` values.

    Raises:
        ValueError: a name that is no status (the message lists them).
    """
    if status is None:
        return ()
    wanted = (status,) if isinstance(status, str) else tuple(status)
    try:
        return tuple(JobStatus(s) for s in wanted)
    except ValueError as exc:
        raise ValueError(f"status: {exc}; expected one of {', '.join(s.value for s in JobStatus)}") from exc


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _to_json(job: Job) -> str:
    data: dict[str, Any] = {
        "params": job.params, "created_at": _time(job.created_at), "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at), "folder": str(job.folder), "output_dir": str(job.output_dir),
        "progress": {**attrs.asdict(job.progress), "models": list(job.progress.models)},
        "result": result_to_json(job.result) if job.result is not None else None, "error": job.error,
        "deploy": job.deploy, "versioning": job.versioning, "trigger": job.trigger, "pid": job.pid,
    }
    return json.dumps(data, sort_keys=True)


def _from_row(job_id: str, project: str, status: str, text: str) -> Job:
    data = json.loads(text)
    progress = data["progress"]
    return Job(
        id=job_id, project=project, params=data["params"], status=JobStatus(status),
        created_at=_parse_time(data["created_at"]), folder=Path(data["folder"]), output_dir=Path(data["output_dir"]),
        started_at=_parse_time(data["started_at"]), finished_at=_parse_time(data["finished_at"]),
        progress=JobProgress(**{**progress, "models": tuple(progress["models"])}),
        result=result_from_json(data["result"]) if data["result"] is not None else None, error=data["error"],
        deploy=data["deploy"], versioning=data["versioning"], trigger=data["trigger"], pid=data["pid"],
    )


class JobStore:
    """Jobs by id, in submission order. Every call is its own transaction, so readers never see half a change.

    A :class:`~alab_training.lifecycle.jobs.JobRunner` owns the store of its root folder; other processes (a CLI, a
    dashboard) may open the same file to read the history while it runs.

    Raises:
        JobError: the file was written by a newer, incompatible version.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > _VERSION:
                raise JobError(f"{self.path} holds job history of format {version}; this version reads up to "
                               f"{_VERSION}")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {_VERSION}")
        with closing(sqlite3.connect(self.path)) as db:
            # Readers in other processes then never block the runner, nor it them.
            db.execute("PRAGMA journal_mode = WAL")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def add(self, job: Job) -> None:
        """Record a new job."""
        with self._transaction() as db:
            db.execute("INSERT INTO jobs (id, project, status, data) VALUES (?, ?, ?, ?)",
                       (job.id, job.project, job.status.value, _to_json(job)))

    def put(self, job: Job) -> None:
        """Record the job's new state.

        Raises:
            JobNotFoundError: the job was never added.
        """
        with self._transaction() as db:
            changed = db.execute("UPDATE jobs SET project = ?, status = ?, data = ? WHERE id = ?",
                                 (job.project, job.status.value, _to_json(job), job.id)).rowcount
        if not changed:
            raise JobNotFoundError("no such job", job_id=job.id)

    def get(self, job_id: str) -> Job:
        """
        Raises:
            JobNotFoundError: no job has this id.
        """
        with self._transaction() as db:
            row = db.execute("SELECT id, project, status, data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError("no such job", job_id=job_id)
        return _from_row(*row)

    def jobs(self, project: str | None = None,
             status: JobStatus | str | Iterable[JobStatus | str] | None = None) -> list[Job]:
        """Jobs newest first, optionally of one project and of one or several statuses."""
        where, values = [], []
        if project is not None:
            where.append("project = ?")
            values.append(project)
        wanted = statuses(status)
        if wanted:
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            values += [s.value for s in wanted]
        query = "SELECT id, project, status, data FROM jobs"
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._transaction() as db:
            rows = db.execute(query + " ORDER BY seq DESC", values).fetchall()
        return [_from_row(*row) for row in rows]
