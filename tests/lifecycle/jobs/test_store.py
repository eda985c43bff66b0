"""The job history file on its own: what goes in comes back, newest first, and filters work."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from alab_training.errors import JobError, JobNotFoundError
from alab_training.lifecycle.jobs import Job, JobProgress, JobStatus, JobStore
from alab_training.model import TrainedModel, TrainingResult


def job(job_id: str, project: str = "alpha", status: JobStatus = JobStatus.QUEUED, **changes) -> Job:
    return Job(id=job_id, project=project, params={"epochs": 3, "tags": ["a"]}, status=status,
               created_at=datetime(2024, 5, 1, 12, tzinfo=timezone.utc), folder=Path("/jobs") / job_id,
               output_dir=Path("/models"), **changes)


def test_a_finished_job_comes_back_equal(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    model = TrainedModel(name="ner_alpha_annotation_manual", kind="ner", path=Path("/models/ner_alpha"),
                         metrics={"micro": {"f1": 0.8}, "confusion": {"A": {"A": 3}}}, labels=("Disease",),
                         params={"epochs": 3}, log_path=Path("/models/ner_alpha/training.log"), project="alpha",
                         version=2)
    done = job("a1", status=JobStatus.SUCCEEDED, started_at=datetime(2024, 5, 1, 12, 1, tzinfo=timezone.utc),
               finished_at=datetime(2024, 5, 1, 12, 9, tzinfo=timezone.utc), pid=4242, deploy=True,
               progress=JobProgress(training_type="ner", epoch=3, epochs=3, loss=1.5, seconds=2.0,
                                    metrics={"micro": {"f1": 0.8}}, train_examples=40, test_examples=10,
                                    models=("ner_alpha_annotation_manual",)),
               result=TrainingResult(project="alpha", models=(model,), log_bundle=Path("/models/logs.zip")))
    store.add(done)
    assert store.get("a1") == done
    assert JobStore(tmp_path / "jobs.sqlite").get("a1") == done  # and after reopening


def test_history_is_newest_first_and_filters(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    for job_id, project in (("a", "alpha"), ("b", "beta"), ("c", "alpha")):
        store.add(job(job_id, project))
    store.put(job("a", status=JobStatus.FAILED, error="boom"))
    assert [j.id for j in store.jobs()] == ["c", "b", "a"]
    assert [j.id for j in store.jobs(project="alpha")] == ["c", "a"]
    assert [j.id for j in store.jobs(status="failed")] == ["a"]
    assert [j.id for j in store.jobs("alpha", [JobStatus.QUEUED, "failed"])] == ["c", "a"]
    assert store.get("a").error == "boom"
    with pytest.raises(ValueError, match="expected one of queued, running"):
        store.jobs(status="done")


def test_unknown_jobs(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    with pytest.raises(JobNotFoundError) as caught:
        store.get("nope")
    assert caught.value.job_id == "nope" and isinstance(caught.value, LookupError)
    with pytest.raises(JobNotFoundError):
        store.put(job("nope"))


def test_a_history_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite"
    JobStore(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(JobError, match="format 99"):
        JobStore(path)
