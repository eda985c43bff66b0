"""MLflow tracking of every training, through the same ``training_event`` hook a third-party plugin uses.

Each training (one per trained type) becomes one MLflow run, in the experiment named after the project:

- tags ``alab_training.training_type``, ``alab_training.trigger``, ``alab_training.project``,
  ``alab_training.model_name``; the run is named after the model;
- params: the training parameters, flattened (``unannotated_sampling.PROBLEM``; lists as JSON), plus
  ``train_examples`` and ``test_examples``;
- metrics: ``loss`` and ``epoch_seconds`` per epoch (step = epoch), then the scores per label and average:
  ``<label>.precision``, ``<label>.recall``, ``<label>.f1``, ``<label>.support``, ``micro.f1``, ``accuracy`` …;
- artifacts: ``training.log`` and the model folder under ``model/``.

The run ends ``FINISHED`` with the model, ``FAILED`` when the training raised (the error message in the tag
``alab_training.error``, the log written so far as ``training.log``), ``KILLED`` when a job runner stopped the
training between events.

Runs go where MLflow is pointed (``mlflow.set_tracking_uri`` or ``MLFLOW_TRACKING_URI``); otherwise to a file
store in ``./mlruns``, in the working directory of the training. The plugin ships inside alab-training under the
entry point ``mlflow`` and does nothing unless MLflow is installed (``pip install 'alab-training[mlflow]'``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
import weakref
from pathlib import Path
from typing import Any

import attrs

from alab_training.model import (
    EpochFinished,
    Evaluated,
    LogLine,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
)
from alab_training.params import params_to_dict
from alab_training.plugins import hookimpl
from alab_training.trainers.base import TrainingRequest

__all__ = ["AVAILABLE", "training_event", "tracking_uri"]

_LOG = logging.getLogger(__name__)

#: Whether MLflow is installed. Checked without importing it: the import takes seconds, and every plugin
#: manager (even ``alab-training select``) loads this module.
AVAILABLE = importlib.util.find_spec("mlflow") is not None
if not AVAILABLE:
    _LOG.debug("mlflow is not installed: trainings are not tracked (pip install 'alab-training[mlflow]')")

#: Characters MLflow refuses in param and metric names; labels may hold any text.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")
#: MLflow's limit on a tag value.
_TAG_LIMIT = 5000


def tracking_uri() -> str:
    """Where runs go: MLflow's configured tracking URI, else a file store in ``./mlruns``."""
    import mlflow

    if mlflow.is_tracking_uri_set():
        return mlflow.get_tracking_uri()
    return (Path.cwd() / "mlruns").as_uri()


def _name(text: str) -> str:
    return _UNSAFE.sub("_", text)


def _flat_params(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flat_params(value, f"{prefix}{key}."))
        else:
            flat[_name(f"{prefix}{key}")] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat


def _score_metrics(scores: dict[str, Any]) -> dict[str, float]:
    """``{label: {figure: value}}`` as ``<label>.<figure>``; a figure named like its row (accuracy) keeps one name."""
    flat = {}
    for row, figures in scores.items():
        if not isinstance(figures, dict):
            continue
        for figure, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[_name(row if figure == row else f"{row}.{figure}")] = float(value)
    return flat


@attrs.define
class _Run:
    """What is tracked of one training while it runs."""

    #: Ends the run as KILLED if the training's request is dropped without a last event (a cancelled job).
    abandoned: weakref.finalize
    client: Any = None
    run_id: str | None = None
    #: The log lines so far, uploaded if the training fails (its folder is removed by then).
    lines: list[str] = attrs.field(factory=list)
    scored: bool = False
    #: Set when MLflow failed: the rest of this training is not tracked.
    broken: bool = False


class _Tracker:
    """One MLflow run per training request, keyed by the request's identity (one request per training)."""

    def __init__(self) -> None:
        self._runs: dict[int, _Run] = {}

    def handle(self, event: TrainingEvent, request: TrainingRequest) -> None:
        key = id(request)
        run = self._runs.get(key)
        try:
            if run is None:
                run = self._runs[key] = _Run(weakref.finalize(request, self._abandon, key))
                self._start(run, request)
            if not run.broken:
                self._record(run, event)
        except Exception as exc:  # as MLflow's own autologging does: a tracking problem never costs the training
            _LOG.warning("MLflow tracking of %s stopped: %s", request.model_name, exc)
            run.broken = True
        if isinstance(event, (TrainingFinished, TrainingFailed)):
            self._runs.pop(key, None)
            run.abandoned.detach()

    def _start(self, run: _Run, request: TrainingRequest) -> None:
        import mlflow
        from mlflow.entities import Param

        run.client = mlflow.MlflowClient(tracking_uri=tracking_uri())
        tags = {"alab_training.trigger": request.trigger, "alab_training.project": request.project.name,
                "alab_training.model_name": request.model_name}
        experiment = _experiment_id(run.client, request.project.name)
        run.run_id = run.client.create_run(experiment, tags=tags, run_name=request.model_name).info.run_id
        params = _flat_params(params_to_dict(request.params))
        run.client.log_batch(run.run_id, params=[Param(key, value) for key, value in params.items()])

    def _record(self, run: _Run, event: TrainingEvent) -> None:
        from mlflow.entities import Metric, Param

        client, run_id = run.client, run.run_id
        now = int(time.time() * 1000)
        if isinstance(event, LogLine):
            run.lines.append(event.text)
        elif isinstance(event, TrainingStarted):
            client.set_tag(run_id, "alab_training.training_type", event.training_type)
            client.log_batch(run_id, params=[Param("train_examples", str(event.train_examples)),
                                             Param("test_examples", str(event.test_examples))])
        elif isinstance(event, EpochFinished):
            figures = {"loss": event.loss, "epoch_seconds": event.seconds}
            client.log_batch(run_id, metrics=[Metric(key, float(value), now, event.epoch)
                                              for key, value in figures.items() if value is not None])
        elif isinstance(event, Evaluated):
            self._log_scores(run, event.metrics, now)
        elif isinstance(event, TrainingFinished):
            self._finish(run, event, now)
        elif isinstance(event, TrainingFailed):
            client.set_tag(run_id, "alab_training.training_type", event.training_type)
            client.set_tag(run_id, "alab_training.error", event.message[:_TAG_LIMIT])
            if run.lines:
                client.log_text(run_id, "\n".join(run.lines) + "\n", "training.log")
            client.set_terminated(run_id, "FAILED")

    def _log_scores(self, run: _Run, scores: dict[str, Any], now: int) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(key, value, now, 0) for key, value in _score_metrics(scores).items()]
        if metrics:
            run.client.log_batch(run.run_id, metrics=metrics)
            run.scored = True

    def _finish(self, run: _Run, event: TrainingFinished, now: int) -> None:
        client, run_id, model = run.client, run.run_id, event.model
        if not run.scored:  # a trainer that never sent Evaluated still has its scores on the model
            self._log_scores(run, model.metrics, now)
        client.set_tag(run_id, "alab_training.model_path", str(model.path))
        if model.version is not None:
            client.set_tag(run_id, "alab_training.model_version", str(model.version))
        if model.log_path is not None and model.log_path.is_file():
            client.log_artifact(run_id, str(model.log_path))
        if model.path.is_dir():
            client.log_artifacts(run_id, str(model.path), "model")
        elif model.path.is_file():
            client.log_artifact(run_id, str(model.path), "model")
        client.set_terminated(run_id, "FINISHED")

    def _abandon(self, key: int) -> None:
        run = self._runs.pop(key, None)
        if run is None or run.broken or run.run_id is None:
            return
        try:
            run.client.set_terminated(run.run_id, "KILLED")
        except Exception as exc:  # called while the request is garbage-collected: nowhere to raise to
            _LOG.warning("could not end the MLflow run %s of a stopped training: %s", run.run_id, exc)


def _experiment_id(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)  # a concurrent training created it first
        if found is None:
            raise
        return found.experiment_id


_TRACKER = _Tracker()


@hookimpl
def training_event(event: TrainingEvent, request: TrainingRequest) -> None:
    """Record the event in the training's MLflow run (started on its first event)."""
    if AVAILABLE:
        _TRACKER.handle(event, request)
