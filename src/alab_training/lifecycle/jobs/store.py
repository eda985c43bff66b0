"""The job history: one SQLite file, so it survives the host and can be read while a runner writes it.

The file is shared with other processes and may be damaged, locked or hand-edited, so every use of it is
guarded: a SQLite error (not a database, locked for longer than :data:`BUSY_SECONDS`, a missing table) is a
:class:`~alab_training.errors.JobStoreError` with the file's path, and a job whose record cannot be read is
left out of listings — reported once, with its id — rather than stopping the listing (and with it a runner's
queue). Opening a store to read (``create=False``) never creates a file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from alab_training import safe_json
from alab_training.arguments import expect, expect_bool, expect_number, expect_path, shown
from alab_training.errors import AlabTrainingError, FileError, JobError, JobNotFoundError, JobStoreError, ParamsError
from alab_training.files import regular_file_status
from alab_training.lifecycle.jobs.codec import result_from_json, result_to_json
from alab_training.lifecycle.jobs.job import MAX_PID, Job, JobProgress, JobStatus

__all__ = ["BUSY_SECONDS", "JobStore", "statuses"]

_LOG = logging.getLogger(__name__)
_VERSION = 1
#: How long a call waits for another process's write to the file: writes take milliseconds, so a lock held this
#: long is a stuck process or a foreign one, and waiting on would hang the caller.
BUSY_SECONDS = 2.0
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
_STATUS_NAMES = ", ".join(s.value for s in JobStatus)


def statuses(status: JobStatus | str | Iterable[JobStatus | str] | None) -> tuple[JobStatus, ...]:
    """One status or several, as ``JobStatus`` values.

    Raises:
        ParamsError: a name that is no status (the message lists them), or not a name at all.
    """
    if status is None:
        return ()
    if isinstance(status, (str, JobStatus)):
        wanted: tuple[Any, ...] = (status,)
    elif isinstance(status, Iterable):
        wanted = tuple(status)
    else:
        raise ParamsError(f"expected a status or several, got {type(status).__name__}; one of {_STATUS_NAMES}",
                          field="status", value=status)
    unknown = [s for s in wanted if not isinstance(s, str) or s not in JobStatus._value2member_map_]
    if unknown:
        raise ParamsError(f"{shown(unknown[0])} is not a job status; expected one of {_STATUS_NAMES}",
                          field="status", value=unknown[0])
    return tuple(JobStatus(s) for s in wanted)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any, *, optional: bool = True) -> datetime | None:
    if value is None and optional:
        return None
    return datetime.fromisoformat(expect(value, "time", str, "an ISO-8601 time"))


def _to_json(job: Job) -> str:
    data: dict[str, Any] = {
        "params": job.params, "created_at": _time(job.created_at), "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at), "folder": str(job.folder), "output_dir": str(job.output_dir),
        "progress": {**attrs.asdict(job.progress), "models": list(job.progress.models)},
        "result": result_to_json(job.result) if job.result is not None else None, "error": job.error,
        "deploy": job.deploy, "versioning": job.versioning, "trigger": job.trigger, "pid": job.pid,
    }
    return json.dumps(data, sort_keys=True)


def _job(job_id: str, project: str, status: str, text: str) -> Job:
    """The job of a row; raises ``KeyError``, ``TypeError``, ``ValueError`` or an ``AlabTrainingError``."""
    data = safe_json.loads(text)
    progress = data["progress"]
    return Job(
        id=job_id, project=expect(project, "project", str, "a project name"),
        params=expect(data["params"], "params", dict, "an object"), status=JobStatus(status),
        created_at=_parse_time(data["created_at"], optional=False), folder=Path(data["folder"]),
        output_dir=Path(data["output_dir"]), started_at=_parse_time(data["started_at"]),
        finished_at=_parse_time(data["finished_at"]),
        progress=JobProgress(**{**progress, "models": tuple(progress["models"])}),
        result=result_from_json(data["result"]) if data["result"] is not None else None,
        error=expect(data["error"], "error", str, "a message", optional=True),
        deploy=expect_bool(data["deploy"], "deploy"), versioning=expect_bool(data["versioning"], "versioning"),
        trigger=expect(data["trigger"], "trigger", str, "a trigger name"),
        pid=expect_number(data["pid"], "pid", integer=True, minimum=2, maximum=MAX_PID - 1, optional=True),
    )


def _storable(text: str) -> bool:
    """Whether SQLite can take ``text``: one with a lone surrogate is refused by :class:`Job`, so none is stored,
    and looking one up must find nothing rather than fail to encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _trouble(exc: sqlite3.Error) -> str:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return f"another process has held it locked for more than {BUSY_SECONDS:g} s"
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
        return "cannot open it (is its folder there, and writable?)"
    return "it is not a readable job history"


class JobStore:
    """Jobs by id, in submission order. Every call is its own transaction, so readers never see half a change.

    A :class:`~alab_training.lifecycle.jobs.JobRunner` owns the store of its root folder; other processes (a CLI, a
    dashboard) may open the same file to read the history while it runs, with ``create=False``.

    Args:
        path: the history's file.
        create: create the file (and its table) if it is not there; without it, a missing file is an error and
            nothing is ever written but by :meth:`add` and :meth:`put`.

    Raises:
        JobStoreError: the file is missing (``create=False``), not a regular file, not a job history, corrupt
            or locked; a :class:`~alab_training.errors.JobError` when it was written by a newer, incompatible
            version.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = expect_path(path, "path")
        self._create = expect_bool(create, "create")
        #: Rows already reported as unreadable, by ``(id, data)``: each is logged once, not at every listing.
        self._reported: set[tuple[Any, Any]] = set()
        try:
            exists = regular_file_status(self.path) is not None
        except FileError as exc:  # a FIFO would make SQLite wait forever
            raise JobStoreError(f"cannot use it as the job history: {exc.message}", path=self.path) from exc
        if not exists and not create:
            raise JobStoreError("there is no job history here", path=self.path)
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > _VERSION:
                raise JobError(f"{self.path} holds job history of format {version}; this version reads up to "
                               f"{_VERSION}")
            if create:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version = {_VERSION}")
        if create:
            with self._transaction() as db:
                # Readers in other processes then never block the runner, nor it them.
                db.execute("PRAGMA journal_mode = WAL")

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: never create the file behind a reader's back (a missing file fails instead).
        mode = "rwc" if self._create else "rw"
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode={mode}"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(self._connect()) as db, db:
                yield db
        except sqlite3.Error as exc:
            raise JobStoreError(f"{_trouble(exc)} ({type(exc).__name__}: {exc})", path=self.path) from exc

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
        """The job with this id.

        Raises:
            JobNotFoundError: no job has this id.
            JobStoreError: its record cannot be read (``job_id`` says which).
        """
        expect(job_id, "job_id", str, "a job id")
        if not _storable(job_id):
            raise JobNotFoundError("no such job", job_id=job_id)
        with self._transaction() as db:
            row = db.execute("SELECT id, project, status, data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError("no such job", job_id=job_id)
        return self._read(row)

    def jobs(self, project: str | None = None,
             status: JobStatus | str | Iterable[JobStatus | str] | None = None) -> list[Job]:
        """Jobs newest first, optionally of one project and of one or several statuses.

        A job whose record cannot be read is left out, and logged (once per record) as a warning.
        """
        where, values = [], []
        if expect(project, "project", str, "a project name", optional=True) is not None:
            if not _storable(project):
                return []
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
        found = []
        for row in rows:
            try:
                found.append(self._read(row))
            except JobStoreError as exc:
                if (row[0], row[3]) not in self._reported:
                    self._reported.add((row[0], row[3]))
                    _LOG.warning("left out of the job history: %s", exc)
        return found

    def _read(self, row: tuple[Any, ...]) -> Job:
        job_id = row[0]
        try:
            if not isinstance(job_id, str) or not isinstance(row[3], str):
                raise TypeError("the id and the data must be text")
            return _job(*row)
        except (KeyError, TypeError, ValueError, AttributeError, AlabTrainingError) as exc:
            missing = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
            raise JobStoreError(f"the record of job {shown(job_id)} is unreadable ({missing})", path=self.path,
                                job_id=job_id if isinstance(job_id, str) else None) from exc
