"""The job runner with real training processes: the example gazetteer trainer, and a gated one for timing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from alab_training import ParamsError, TrainingParams
from alab_training.errors import JobNotFoundError, JobTimeoutError, RunnerError
from alab_training.lifecycle.jobs import JobRunner, JobStatus, JobStatusChanged, JobStore, default_max_concurrent
from alab_training.model import EpochFinished, Evaluated, TrainingFinished, TrainingStarted
from tests.conftest import REPO
from tests.lifecycle.jobs.support import GATED, GAZETTEER, PLUGINS, eventually, fevers, unannotated

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING
SUCCEEDED, FAILED, CANCELLED = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED


def training(runner, job, training_type="gated"):
    """True once the job's process has started training (its TrainingStarted event reached the runner)."""
    return runner.get(job.id).progress.training_type == training_type


def process_group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_run_a_third_waits_one_is_cancelled_one_crashes_one_fails(make_runner, gates):
    runner = make_runner(max_concurrent=2)
    seen = []
    runner.subscribe(lambda job, event: seen.append((job.id, job.status, event)))

    alpha = runner.submit(fevers("alpha"), GATED)
    beta = runner.submit(fevers("beta"), GATED)
    gamma = runner.submit(fevers("gamma"), GAZETTEER)
    eventually(lambda: training(runner, alpha) and training(runner, beta))
    assert [runner.get(j.id).status for j in (alpha, beta, gamma)] == [RUNNING, RUNNING, QUEUED]
    assert runner.is_training("alpha") and runner.is_training("gamma") and not runner.is_training("delta")

    cancelled = runner.cancel(alpha.id)
    assert cancelled.status is CANCELLED and cancelled.finished_at is not None and cancelled.error is None
    assert process_group_gone(cancelled.pid)
    # The freed slot goes to the queued job, which trains to the end while beta still waits at its gate.
    succeeded = runner.wait(gamma.id, timeout=60)
    assert runner.get(beta.id).status is RUNNING

    gates.crash("beta")
    crashed = runner.wait(beta.id, timeout=60)
    failing = runner.submit(unannotated("delta"), TrainingParams(training_type="ner"))
    failed = runner.wait(failing.id, timeout=60)

    assert [j.status for j in runner.jobs()] == [FAILED, SUCCEEDED, FAILED, CANCELLED]
    assert [j.id for j in runner.jobs()] == [failing.id, gamma.id, beta.id, alpha.id]
    assert [j.id for j in runner.jobs(status="failed")] == [failing.id, beta.id]
    assert [j.id for j in runner.jobs(project="gamma")] == [gamma.id]

    assert "killed by SIGKILL" in crashed.error and crashed.result is None
    assert failed.error.startswith("SelectionError: no task is left to train on")

    model = succeeded.result.model("gazetteer")
    assert model.name == "gazetteer_gamma_annotation_manual" and model.path.exists()
    assert model.metrics["micro"]["f1"] == 1.0
    assert succeeded.progress.epoch == succeeded.progress.epochs == 1
    assert succeeded.progress.train_examples + succeeded.progress.test_examples == 20
    assert succeeded.progress.models == (model.name,)
    assert succeeded.created_at <= succeeded.started_at <= succeeded.finished_at

    # Neither the cancelled nor the crashed training left a model or its scratch folder among the models.
    assert sorted(p.name for p in runner.models_dir.iterdir() if not p.name.endswith(".zip")) == [model.name]
    assert not any(runner.is_training(name) for name in ("alpha", "beta", "gamma", "delta"))

    eventually(lambda: (gamma.id, SUCCEEDED, JobStatusChanged(SUCCEEDED, RUNNING)) in seen)
    of_gamma = [type(event) for job_id, _, event in seen if job_id == gamma.id]
    assert of_gamma == [JobStatusChanged, JobStatusChanged, TrainingStarted, EpochFinished, Evaluated,
                        TrainingFinished, JobStatusChanged]
    statuses_of_alpha = [e.status for job_id, _, e in seen if job_id == alpha.id and isinstance(e, JobStatusChanged)]
    assert statuses_of_alpha == [QUEUED, RUNNING, CANCELLED]


def test_the_job_log_tells_the_story(make_runner, gates):
    runner = make_runner()
    job = runner.wait(runner.submit(fevers("gamma"), GAZETTEER).id, timeout=60)
    lines = [line.split(" ", 1)[1] for line in job.log_path.read_text().splitlines()]
    assert lines[0].startswith("queued: project gamma, params {")
    assert lines[1].startswith("started: process ")
    assert lines[2] == "training gazetteer: 14 examples, 6 to test, 1 epoch(s)"
    assert "scores: micro precision 1.0000, recall 1.0000, f1 1.0000" in lines
    assert lines[-1] == "succeeded"
    events = [json.loads(line)["event"] for line in (job.folder / "events.jsonl").read_text().splitlines()]
    assert events == ["scratch", "TrainingStarted", "EpochFinished", "Evaluated", "TrainingFinished", "result"]
    assert not (job.folder / "project.pickle").exists()  # the project's copy is dropped once the job is over


def test_a_queued_job_is_cancelled_at_once_and_a_finished_one_stays_as_it_is(make_runner, gates):
    runner = make_runner(max_concurrent=1)
    first = runner.submit(fevers("alpha"), GATED)
    second = runner.submit(fevers("beta"), GAZETTEER)
    eventually(lambda: training(runner, first))
    cancelled = runner.cancel(second.id)
    assert cancelled.status is CANCELLED and cancelled.started_at is None and cancelled.pid is None
    gates.open("alpha")
    done = runner.wait(first.id, timeout=60)
    assert done.status is SUCCEEDED
    assert runner.cancel(first.id) == done
    assert runner.cancel(second.id) == cancelled
    with pytest.raises(JobNotFoundError):
        runner.cancel("nope")


def test_jobs_of_one_project_run_one_after_another(make_runner, gates):
    runner = make_runner(max_concurrent=2)
    first = runner.submit(fevers("alpha"), GATED)
    second = runner.submit(fevers("alpha"), GAZETTEER)
    eventually(lambda: training(runner, first))
    assert runner.get(second.id).status is QUEUED  # a free slot, but the same models folder and names
    gates.open("alpha")
    assert runner.wait(second.id, timeout=60).status is SUCCEEDED


def test_a_cancel_escalates_to_sigkill_after_the_grace_period(make_runner, gates, monkeypatch):
    # A training process that ignores SIGTERM, as a JVM stuck in native code can.
    monkeypatch.setenv("ALAB_TRAINING_TEST_IGNORE_SIGTERM", "1")
    runner = make_runner(grace=1.0)
    job = runner.submit(fevers("alpha"), GATED)
    eventually(lambda: training(runner, job))
    cancelled = runner.cancel(job.id)
    assert cancelled.status is CANCELLED and process_group_gone(cancelled.pid)
    assert "killed" in cancelled.log_path.read_text().splitlines()[-2]


def test_wait_times_out_with_the_job_as_it_was(make_runner, gates):
    runner = make_runner()
    job = runner.submit(fevers("alpha"), GATED)
    with pytest.raises(JobTimeoutError) as caught:
        runner.wait(job.id, timeout=0.5)
    assert caught.value.job.id == job.id and caught.value.job.status in (QUEUED, RUNNING)


def test_bad_requests_fail_before_a_job_exists(make_runner, gates):
    runner = make_runner()
    with pytest.raises(ParamsError, match="unknown parameter"):
        runner.submit(fevers("alpha"), {"epochz": 3})
    for arguments, field in ((("alpha",), "project"), ((fevers("alpha"), TrainingParams, ), "params"),
                             ((fevers("alpha"),), "deploy")):
        with pytest.raises(ParamsError) as caught:
            runner.submit(*arguments, **({"deploy": "no"} if field == "deploy" else {}))
        assert caught.value.field == field
    assert runner.jobs() == []
    with pytest.raises(JobNotFoundError):
        runner.get("0123456789ab")


def test_params_may_be_a_dict(make_runner, gates):
    runner = make_runner()
    job = runner.submit(fevers("gamma"), {"training_type": "gazetteer", "validation_split": 0.3})
    assert runner.wait(job.id, timeout=60).status is SUCCEEDED
    assert job.params["training_type"] == "gazetteer"


@pytest.mark.parametrize("options, field", [({"max_concurrent": 0}, "max_concurrent"),
                                            ({"memory_per_job": "4 GB"}, "memory_per_job"),
                                            ({"grace": 0}, "grace")])
def test_bad_settings_are_refused(tmp_path, options, field):
    with pytest.raises(ParamsError) as caught:
        JobRunner(tmp_path, **options)
    assert caught.value.field == field


def test_one_runner_per_folder(make_runner, tmp_path):
    make_runner()
    with pytest.raises(RunnerError, match="used by another JobRunner"):
        JobRunner(tmp_path / "runner")


def test_a_failing_listener_does_not_stop_the_runner(make_runner, gates):
    runner = make_runner()
    runner.subscribe(lambda job, event: 1 / 0)
    received = []
    unsubscribe = runner.subscribe(lambda job, event: received.append(event))
    job = runner.wait(runner.submit(fevers("gamma"), GAZETTEER).id, timeout=60)
    assert job.status is SUCCEEDED
    eventually(lambda: JobStatusChanged(SUCCEEDED, RUNNING) in received)
    unsubscribe()
    runner.wait(runner.submit(fevers("delta"), GAZETTEER).id, timeout=60)
    assert len([e for e in received if isinstance(e, JobStatusChanged)]) == 3


def test_closing_lets_the_queue_run_dry_then_takes_no_jobs(make_runner, gates):
    runner = make_runner(max_concurrent=1)
    job, queued = (runner.submit(fevers(name), GAZETTEER) for name in ("gamma", "delta"))
    runner.close()
    assert [j.status for j in runner.jobs()] == [SUCCEEDED, SUCCEEDED]
    job = runner.get(job.id)
    with pytest.raises(RunnerError, match="closed"):
        runner.submit(fevers("gamma"), GAZETTEER)
    assert runner.get(job.id) == job and runner.wait(job.id) == job


def test_history_survives_a_restart(make_runner, gates):
    first = make_runner()
    done = first.wait(first.submit(fevers("gamma"), GAZETTEER).id, timeout=60)
    first.close()
    second = make_runner()
    assert second.jobs() == [done]
    assert second.get(done.id).result.model("gazetteer").path.exists()


def test_a_new_runner_adopts_a_live_training_and_starts_the_queue(make_runner, gates):
    first = make_runner(max_concurrent=1)
    running = first.submit(fevers("alpha"), GATED)
    queued = first.submit(fevers("gamma"), GAZETTEER)
    eventually(lambda: training(first, running))
    first.close(wait=False)  # the training goes on without a runner

    second = make_runner(max_concurrent=1)
    assert second.get(running.id).status is RUNNING and second.get(queued.id).status is QUEUED
    assert second.is_training("alpha")
    gates.open("alpha")
    adopted = second.wait(running.id, timeout=60)
    assert adopted.status is SUCCEEDED and adopted.result.model("gated").path.exists()
    assert second.wait(queued.id, timeout=60).status is SUCCEEDED
    assert "adopted by a new runner" in adopted.log_path.read_text()


def test_a_crashed_host_leaves_live_trainings_to_adopt_and_dead_ones_failed(tmp_path, gates):
    """The host process is SIGKILLed mid-training; one of its trainings dies with it, one lives on."""
    root = tmp_path / "runner"
    host = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from alab_training.lifecycle.jobs import JobRunner
        from tests.lifecycle.jobs.support import GATED, GAZETTEER, PLUGINS, eventually, fevers
        runner = JobRunner({str(root)!r}, max_concurrent=2, plugins=PLUGINS)
        jobs = [runner.submit(fevers(name), GATED) for name in ("alpha", "beta")]
        jobs.append(runner.submit(fevers("gamma"), GAZETTEER))
        eventually(lambda: all(runner.get(j.id).progress.training_type for j in jobs[:2]))
        print(" ".join(j.id for j in jobs), flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        alpha, beta, gamma = host.stdout.readline().split()
    finally:
        host.kill()
        host.wait()
        host.stdout.close()

    store = JobStore(root / "jobs.sqlite")
    os.killpg(store.get(beta).pid, signal.SIGKILL)
    eventually(lambda: process_group_gone(store.get(beta).pid))

    runner = JobRunner(root, max_concurrent=2, plugins=PLUGINS, grace=5.0)
    try:
        assert runner.get(alpha).status is RUNNING
        lost = runner.get(beta)
        assert lost.status is FAILED
        assert lost.error.startswith("interrupted: the host stopped; the training process ended without a result")
        assert runner.wait(gamma, timeout=60).status is SUCCEEDED
        gates.open("alpha")
        assert runner.wait(alpha, timeout=60).status is SUCCEEDED
    finally:
        runner.close(cancel=True)


def test_a_listener_may_cancel(make_runner, gates):
    runner = make_runner()
    returned = []

    def stop_on_start(job, event):
        if isinstance(event, TrainingStarted):
            returned.append(runner.cancel(job.id))

    runner.subscribe(stop_on_start)
    job = runner.submit(fevers("alpha"), GATED)
    assert runner.wait(job.id, timeout=60).status is CANCELLED
    assert [j.status for j in returned] == [RUNNING]


def test_the_default_bound_follows_memory_and_cores(tmp_path, monkeypatch):
    cores = len(os.sched_getaffinity(0))
    assert 1 <= default_max_concurrent("1g") <= max(1, cores // 2)
    assert default_max_concurrent("64g") <= default_max_concurrent("2g")
    assert default_max_concurrent("1t") == 1  # never 0, even when one training does not fit
    monkeypatch.setenv("ALAB_TRAINING_DRIVER_MEMORY", "2g")
    with JobRunner(tmp_path) as runner:
        assert runner.memory_per_job == "2g" and runner.max_concurrent == default_max_concurrent("2g")


def test_closing_with_cancel_stops_everything(make_runner, gates):
    runner = make_runner(max_concurrent=1)
    running, queued = runner.submit(fevers("alpha"), GATED), runner.submit(fevers("gamma"), GAZETTEER)
    eventually(lambda: training(runner, running))
    runner.close(cancel=True)
    assert [runner.get(j.id).status for j in (running, queued)] == [CANCELLED, CANCELLED]
    assert process_group_gone(runner.get(running.id).pid)
