"""A job history that is corrupt, locked, or has one broken record: a JobStoreError or a skipped record, never a
raw sqlite3 error, a KeyError, a wedged queue or a close() that fails."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest

from alab_training import ParamsError
from alab_training.errors import JobError, JobNotFoundError, JobStoreError
from alab_training.lifecycle.jobs import Job, JobRunner, JobStatus, JobStore
from alab_training.lifecycle.jobs import store as store_module
from tests.lifecycle.jobs.support import GAZETTEER, PLUGINS, fevers


def job(job_id: str, project: str = "alpha", status: JobStatus = JobStatus.QUEUED) -> Job:
    return Job(id=job_id, project=project, params={"epochs": 3}, status=status,
               created_at=datetime(2024, 5, 1, 12, tzinfo=timezone.utc), folder=Path("/jobs") / job_id,
               output_dir=Path("/models"))


def break_record(path: Path, job_id: str, data: str | None = None, status: str | None = None) -> None:
    with sqlite3.connect(path) as db:
        if data is not None:
            db.execute("UPDATE jobs SET data = ? WHERE id = ?", (data, job_id))
        if status is not None:
            db.execute("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))


@pytest.mark.parametrize("content", [b"not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_corrupt_history_is_a_job_store_error(tmp_path, content):
    path = tmp_path / "jobs.sqlite"
    path.write_bytes(content)
    for create in (True, False):
        with pytest.raises(JobStoreError) as error:
            JobStore(path, create=create)
        assert error.value.path == path and isinstance(error.value, JobError)
    assert path.read_bytes() == content


def test_a_history_of_another_program_or_an_empty_file_is_a_job_store_error_to_a_reader(tmp_path):
    path = tmp_path / "jobs.sqlite"
    path.write_bytes(b"")  # a new database to SQLite, which a reader must not turn into one
    with pytest.raises(JobStoreError, match="no such table"):
        JobStore(path, create=False).jobs()
    assert path.read_bytes() == b""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE other (x)")
    with pytest.raises(JobStoreError, match="no such table"):
        JobStore(path, create=False).jobs()


def test_a_fifo_in_its_place_is_refused_at_once(tmp_path):
    import os

    os.mkfifo(tmp_path / "jobs.sqlite")
    with pytest.raises(JobStoreError, match="FIFO"):
        JobStore(tmp_path / "jobs.sqlite")


def test_reading_never_creates_a_history(tmp_path):
    with pytest.raises(JobStoreError, match="no job history"):
        JobStore(tmp_path / "jobs.sqlite", create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_history_locked_by_another_process_is_an_error_in_seconds(tmp_path, monkeypatch):
    path = tmp_path / "jobs.sqlite"
    JobStore(path).add(job("a"))
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, time
db = sqlite3.connect({str(path)!r}, isolation_level=None)
db.execute("PRAGMA locking_mode = EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE jobs SET status = 'running'")
print("locked", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        monkeypatch.setattr(store_module, "BUSY_SECONDS", 0.3)
        started = time.monotonic()
        with pytest.raises(JobStoreError, match="locked"):
            JobStore(path, create=False).jobs()
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait(10)


@pytest.mark.parametrize("data, status", [("{not json", None), ("[1, 2]", None), ("{}", None),
                                          (json.dumps({"params": []}), None), (None, "bogus"),
                                          ("[" * 100_000 + "]" * 100_000, None), ("pid", 0), ("pid", 1),
                                          ("pid", -5), ("pid", 10**30)])
def test_one_broken_record_is_left_out_and_reported_once(tmp_path, caplog, data, status):
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    for job_id in ("a", "b", "c"):
        store.add(job(job_id))
    good = json.loads(sqlite3.connect(path).execute("SELECT data FROM jobs WHERE id = 'b'").fetchone()[0])
    if data == "{}":
        data = json.dumps({key: value for key, value in good.items() if key != "created_at"})
    if data == "pid":  # 0 is the reader's own process group, 1 init's: no job's
        data, status = json.dumps({**good, "pid": status}), None
    break_record(path, "b", data, status)
    with caplog.at_level(logging.WARNING, logger="alab_training.lifecycle.jobs.store"):
        for _ in range(3):
            assert [j.id for j in store.jobs()] == ["c", "a"]
            assert [j.id for j in store.jobs(status="queued")] == ["c", "a"]
    assert len([r for r in caplog.records if "job 'b'" in r.getMessage()]) == 1
    with pytest.raises(JobStoreError) as error:
        store.get("b")
    assert error.value.job_id == "b"
    with pytest.raises(JobNotFoundError):
        store.get("zz")


@pytest.mark.parametrize("status, field", [("done", "status"), (5, "status"), ([None], "status"),
                                           (object(), "status")])
def test_a_bad_status_filter_is_a_params_error(tmp_path, status, field):
    with pytest.raises(ParamsError) as error:
        JobStore(tmp_path / "jobs.sqlite").jobs(status=status)
    assert error.value.field == field


def test_a_broken_queued_record_does_not_wedge_the_queue_and_close_still_works(tmp_path, gates, caplog):
    root = tmp_path / "runner"
    runner = JobRunner(root, plugins=PLUGINS, max_concurrent=1)
    runner.close(wait=False)
    store = JobStore(root / "jobs.sqlite")
    store.add(job("broken", project="zeta"))
    break_record(root / "jobs.sqlite", "broken", "{not json")
    with caplog.at_level(logging.WARNING):
        runner = JobRunner(root, plugins=PLUGINS, max_concurrent=1)
        try:
            good = runner.submit(fevers("alpha"), GAZETTEER)
            assert runner.wait(good.id, timeout=60).status is JobStatus.SUCCEEDED
        finally:
            runner.close()
    assert len([r for r in caplog.records if "job 'broken'" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_history_damaged_under_a_running_runner_is_logged_once_and_close_works(tmp_path, gates, caplog):
    root = tmp_path / "runner"
    runner = JobRunner(root, plugins=PLUGINS, max_concurrent=1)
    try:
        with caplog.at_level(logging.INFO, logger="alab_training.lifecycle.jobs.runner"):
            (root / "garbage").write_bytes(b"garbage" * 1000)
            (root / "garbage").replace(root / "jobs.sqlite")
            for suffix in ("-wal", "-shm"):
                (root / f"jobs.sqlite{suffix}").unlink(missing_ok=True)
            time.sleep(1.5)  # some seven of the runner's looks at its jobs
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            # Logged when it starts, and again only if it changes (the moments the file was being swapped).
            assert errors and len(set(errors)) == len(errors) <= 2
            assert all("could not update its jobs" in error for error in errors)
    finally:
        started = time.monotonic()
        runner.close()
        assert time.monotonic() - started < 10
    assert not runner._thread.is_alive()
    (root / "jobs.sqlite").unlink()
    JobRunner(root).close()  # its lock on the folder was let go: a new runner takes it


def test_a_lone_surrogate_is_refused_before_the_history_and_found_nowhere(tmp_path):
    for field in ("project", "trigger"):
        with pytest.raises(ParamsError) as error:
            attrs.evolve(job("odd"), **{field: "fever\udcff"})
        assert error.value.field == field
    store = JobStore(tmp_path / "jobs.sqlite")
    store.add(job("good"))
    assert store.jobs(project="fever\udcff") == []
    with pytest.raises(JobNotFoundError):
        store.get("good\ud800")


def test_a_running_record_whose_folder_is_gone_is_settled_without_stopping_the_runner(tmp_path, gates, caplog):
    root = tmp_path / "runner"
    JobRunner(root, plugins=PLUGINS).close(wait=False)
    store = JobStore(root / "jobs.sqlite")
    store.add(attrs.evolve(job("lost", status=JobStatus.RUNNING), folder=tmp_path / "gone" / "lost"))
    with caplog.at_level(logging.WARNING):
        runner = JobRunner(root, plugins=PLUGINS)
        try:
            assert runner.get("lost").status is JobStatus.FAILED
        finally:
            runner.close()
    assert any("cannot write to the log of job lost" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "gone").exists()


def test_a_damaged_pid_never_signals_the_host_or_init(monkeypatch):
    from alab_training.lifecycle.jobs import processes

    sent = []
    monkeypatch.setattr(processes.os, "killpg", lambda pid, signum: sent.append(pid))
    for pid in (None, 0, 1, -1, 10**30, "12"):
        processes.signal_group(pid, processes.signal.SIGKILL)
    processes.signal_group(4242, processes.signal.SIGTERM)
    assert sent == [4242]
