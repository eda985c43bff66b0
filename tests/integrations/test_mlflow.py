"""The MLflow plugin: real trainings, read back from a file store with MLflow's own client."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow import MlflowClient

import alab_training.integrations.mlflow as mlflow_plugin
from alab_training import TrainingParams, hookimpl, iter_training, load_project, train
from alab_training.model import EpochFinished, Evaluated, LogLine, TrainedModel, TrainingFinished, TrainingStarted
from alab_training.plugins.manager import create_plugin_manager, get_plugin_manager
from tests.conftest import DATA

SMS = DATA / "sms_spam" / "sms_spam_200.tsv"
GLOVE = DATA / "embeddings" / "glove.6B.50d.small.txt"
CONFIG = ('<View><Text name="text" value="$text"/><Choices name="spam" toName="text" choice="single">'
          '<Choice value="ham"/><Choice value="spam"/></Choices></View>')


def sms_project(name: str = "sms"):
    """150 messages to train on, every 4th of the 200 (37 ham, 13 spam) tagged ``test``."""
    rows = [line.split("\t", 1) for line in SMS.read_text(encoding="utf-8").splitlines()[1:]]
    tasks = [{"id": i, "data": {"text": text}, "tags": ["test"] if i % 4 == 0 else [],
              "completions": [{"id": i, "submitted_at": "2024-01-01T00:00:00", "result": [
                  {"type": "choices", "from_name": "spam", "to_name": "text", "value": {"choices": [label]}}]}]}
             for i, (label, text) in enumerate(rows)]
    return load_project(tasks, config=CONFIG, name=name)


@contextlib.contextmanager
def registered(plugin: object, name: str):
    """The plugin registered on the process-wide manager (what an entry point does) for the ``with`` block."""
    manager = get_plugin_manager()
    if manager.is_registered(plugin):  # e.g. the mlflow entry point was loaded
        yield
        return
    manager.register(plugin, name=name)
    try:
        yield
    finally:
        manager.unregister(plugin)


def store(path: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=path.as_uri())


def only_run(client: MlflowClient, experiment: str):
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, runs
    return runs[0]


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


# -- a real Spark NLP training -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracked(spark, tmp_path_factory):
    """ClassifierDL on real SMS spam, 4 epochs, tracked into a file store."""
    mlruns = tmp_path_factory.mktemp("mlflow") / "mlruns"
    params = TrainingParams(training_type="classification", test_tags=("test",), epochs=4, learning_rate=0.005,
                            batch_size=16, embeddings=str(GLOVE), options={"classification": {"head": "classifierdl"}})
    with pytest.MonkeyPatch.context() as patch:
        # Module fixtures run before the autouse one that keeps entry points out of the process-wide manager.
        patch.setenv("ALAB_TRAINING_LOAD_PLUGINS", "")
        patch.setenv("MLFLOW_TRACKING_URI", mlruns.as_uri())
        with registered(mlflow_plugin, "mlflow"):
            result = train(sms_project(), params, spark=spark, output_dir=tmp_path_factory.mktemp("models"))
    client = store(mlruns)
    return result.model("classification"), client, only_run(client, "sms")


@pytest.mark.spark
def test_the_run_is_named_tagged_and_finished(tracked):
    model, _, run = tracked
    assert run.info.status == "FINISHED" and run.info.run_name == model.name
    tags = run.data.tags
    assert tags["alab_training.training_type"] == "classification"
    assert tags["alab_training.trigger"] == "manual" and tags["alab_training.project"] == "sms"
    assert tags["alab_training.model_path"] == str(model.path)


@pytest.mark.spark
def test_params_are_the_training_parameters(tracked):
    _, _, run = tracked
    params = run.data.params
    assert params["training_type"] == "classification" and params["epochs"] == "4"
    assert params["learning_rate"] == "0.005" and params["test_tags"] == '["test"]'
    assert params["embeddings"] == str(GLOVE) and params["decay"] == "None"
    assert (params["train_examples"], params["test_examples"]) == ("150", "50")


@pytest.mark.spark
def test_loss_per_epoch_and_scores_per_label(tracked):
    model, client, run = tracked
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in sorted(losses, key=lambda m: m.step)] == [1, 2, 3, 4]
    assert all(m.value > 0 for m in losses)
    metrics = run.data.metrics
    for label in ("ham", "spam", "micro", "macro"):
        for figure in ("precision", "recall", "f1", "support"):
            assert metrics[f"{label}.{figure}"] == pytest.approx(model.metrics[label][figure]), (label, figure)
    assert metrics["spam.support"] == 13 and metrics["ham.support"] == 37
    assert metrics["accuracy"] == pytest.approx(model.metrics["accuracy"]["accuracy"])


@pytest.mark.spark
def test_the_log_and_the_model_are_artifacts(tracked):
    model, client, run = tracked
    paths = artifact_paths(client, run.info.run_id)
    assert "training.log" in paths
    assert {"model/model.json", "model/training.log", "model/data/train.jsonl"} <= paths
    assert any(p.startswith("model/pipeline/") for p in paths)
    local = Path(client.download_artifacts(run.info.run_id, "training.log"))
    assert local.read_text() == model.log_path.read_text()


# -- the run's life, with quick pure-Python trainers -----------------------------------------------------------


class ScriptedTrainer:
    """Yields given events (after TrainingStarted), then finishes with a model file, or raises."""

    training_type = "scripted"

    def __init__(self, events=(), error: Exception | None = None, metrics=None):
        self.events, self.error, self.metrics = events, error, metrics or {}

    def train(self, request):
        yield TrainingStarted("scripted", len(request.selection.train), len(request.selection.test), epochs=2)
        yield from self.events
        if self.error is not None:
            raise self.error
        path = request.output_dir / "weights.txt"
        path.write_text("42\n")
        yield TrainingFinished(TrainedModel(name="ignored", kind="scripted", path=path, metrics=self.metrics))


class ScriptedPlugin:
    def __init__(self, trainer):
        self.trainer = trainer

    @hookimpl
    def register_trainers(self, register):
        register(self.trainer)


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """Train with a ScriptedTrainer under the MLflow plugin, runs going to ``tmp_path/mlruns``."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    project = sms_project("scripted_project")

    def run(trainer, **params):
        params = TrainingParams(training_type="scripted", test_tags=("test",), **params)
        with registered(mlflow_plugin, "mlflow"), registered(ScriptedPlugin(trainer), "scripted"):
            return train(project, params, output_dir=tmp_path / "models")

    return run, store(tmp_path / "mlruns")


def test_a_failed_training_ends_its_run_failed_with_the_message_and_log(scripted):
    run, client = scripted
    lines = [LogLine("parameters: …"), LogLine("epoch 1: loss 0.5")]
    with pytest.raises(RuntimeError, match="the disk is full"):
        run(ScriptedTrainer(lines, error=RuntimeError("the disk is full")))
    failed = only_run(client, "scripted_project")
    assert failed.info.status == "FAILED"
    assert failed.data.tags["alab_training.error"] == "the disk is full"
    assert failed.data.tags["alab_training.training_type"] == "scripted"
    log = Path(client.download_artifacts(failed.info.run_id, "training.log")).read_text()
    assert log == "parameters: …\nepoch 1: loss 0.5\n"


def test_scores_sent_only_on_the_model_and_odd_label_names_are_kept(scripted):
    run, client = scripted
    metrics = {"(none)": {"f1": 0.25}, "Family member": {"f1": 0.5, "support": 3}, "micro": {"f1": 0.4}}
    run(ScriptedTrainer([EpochFinished(1, 2, loss=0.9, seconds=1.5), EpochFinished(2, 2, loss=0.3)],
                        metrics=metrics), unannotated_sampling={"PROBLEM": 0.5}, tags=("a", "b"))
    done = only_run(client, "scripted_project")
    assert done.info.status == "FINISHED"
    assert done.data.metrics == {"_none_.f1": 0.25, "Family member.f1": 0.5, "Family member.support": 3,
                                 "micro.f1": 0.4, "loss": 0.3, "epoch_seconds": 1.5}
    assert done.data.params["unannotated_sampling.PROBLEM"] == "0.5" and done.data.params["tags"] == '["a", "b"]'
    assert artifact_paths(client, done.info.run_id) == {"model/weights.txt"}


def test_scores_sent_twice_are_logged_once(scripted):
    run, client = scripted
    run(ScriptedTrainer([Evaluated({"micro": {"f1": 0.7}})], metrics={"micro": {"f1": 0.7}}))
    done = only_run(client, "scripted_project")
    assert [m.value for m in client.get_metric_history(done.info.run_id, "micro.f1")] == [0.7]


def test_a_stopped_training_ends_its_run_killed(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    trainer = ScriptedTrainer([EpochFinished(1, 2, loss=0.9), EpochFinished(2, 2, loss=0.3)])
    with registered(mlflow_plugin, "mlflow"), registered(ScriptedPlugin(trainer), "scripted"):
        events = iter_training(sms_project("stopped"), TrainingParams(training_type="scripted"),
                               output_dir=tmp_path / "models")
        assert isinstance(next(events), TrainingStarted)
        next(events)
        events.close()  # what a job runner does to cancel
        del events
        gc.collect()
    stopped = only_run(store(tmp_path / "mlruns"), "stopped")
    assert stopped.info.status == "KILLED"
    assert [m.step for m in store(tmp_path / "mlruns").get_metric_history(stopped.info.run_id, "loss")] == [1]


def test_tracking_errors_never_stop_a_training(scripted, monkeypatch, caplog):
    run, client = scripted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    result = run(ScriptedTrainer([EpochFinished(1, 2, loss=0.9)]))
    assert result.model("scripted").path.exists()
    warnings = [r for r in caplog.records if r.name == mlflow_plugin.__name__]
    assert len(warnings) == 1 and "MLflow tracking of scripted_scripted_project_annotation_manual stopped" in \
        warnings[0].getMessage()


def test_without_mlflow_the_plugin_does_nothing(tmp_path):
    """In a fresh interpreter where ``import mlflow`` fails: training works and nothing is written."""
    script = textwrap.dedent("""
        import logging, sys
        sys.modules["mlflow"] = None  # what an interpreter without MLflow sees
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        import alab_training.integrations.mlflow as plugin
        from alab_training import TrainingParams, hookimpl, load_project, train
        from alab_training.model import TrainingFinished, TrainingStarted
        from alab_training.plugins.manager import create_plugin_manager, get_plugin_manager
        from alab_training.model import TrainedModel

        class Trainer:
            training_type = "scripted"

            def train(self, request):
                yield TrainingStarted("scripted", 1, 0, epochs=1)
                (request.output_dir / "weights.txt").write_text("42")
                yield TrainingFinished(TrainedModel("m", "scripted", request.output_dir / "weights.txt"))

        @hookimpl
        def register_trainers(register):
            register(Trainer())

        assert not plugin.AVAILABLE
        get_plugin_manager().register(plugin, name="mlflow")
        get_plugin_manager().register(sys.modules[__name__], name="scripted")
        tasks = [{"id": 1, "data": {"text": "hello"}, "completions": [{"id": 1, "submitted_at": "2024-01-01",
                 "result": [{"type": "choices", "from_name": "spam", "value": {"choices": ["ham"]}}]}]}]
        project = load_project(tasks, config=sys.argv[1], name="p")
        result = train(project, TrainingParams(training_type="scripted"), output_dir="models")
        print("trained", result.model("scripted").path.name)
    """)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-c", script, CONFIG], cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "ALAB_TRAINING_LOAD_PLUGINS": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "trained weights.txt\n"
    assert "alab_training.integrations.mlflow: mlflow is not installed" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_alab_training_ships_the_plugin_as_an_entry_point(monkeypatch):
    monkeypatch.setenv("ALAB_TRAINING_LOAD_PLUGINS", "mlflow")
    assert create_plugin_manager().get_plugin("mlflow") is mlflow_plugin


def test_the_default_store_is_mlruns_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert mlflow_plugin.tracking_uri() == (tmp_path / "mlruns").as_uri()
