"""The ML-backend service: the protocol's handlers (dicts in, dicts out) and what runs behind them.

:class:`Service` owns, under its root folder:

- ``jobs/`` — a :class:`~alab_training.JobRunner` (its own process per training, a queue, bounded concurrency,
  history across restarts); ``models/`` — what the trainings write (``alab-training models <root>/models``);
- ``active_learning/`` — :class:`~alab_training.lifecycle.active_learning.ActiveLearning`'s per-project counts;
- ``serving/`` — each Label Studio project's state (:mod:`~alab_training.serving.state`) and the pending
  background work (:mod:`~alab_training.serving.work`).

Requests never train and never wait for Label Studio: webhooks queue work for a background thread;
``/health``, ``/setup`` and ``/versions`` answer from memory, ``/metrics`` from memory and the served models'
cards; only ``/predict`` touches Spark, through the warm models of
:class:`~alab_training.serving.served.ModelServer` (on one Spark thread). When a job succeeds (and deploy is on)
a second background thread loads its models and switches the project to them; ``/setup`` then reports the new
``model_version``, which makes Label Studio predict again. The service writes nothing outside
the root folder (the engine's shared caches — jars, embeddings, graphs — stay where the library keeps them).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ModelsLoadingError, ProtocolError, ServingError
from alab_training.evaluation.served import served_metrics
from alab_training.lifecycle.active_learning import ActiveLearning
from alab_training.lifecycle.jobs import JobRunner, JobStatus
from alab_training.params import TrainingParams
from alab_training.serving import protocol
from alab_training.serving.ls_client import LabelStudioAPI
from alab_training.serving.served import ModelServer
from alab_training.serving.state import ProjectState, StateStore
from alab_training.serving.triggers import Trainings
from alab_training.serving.work import Work, WorkQueue

__all__ = ["Service", "ServiceConfig"]

_LOG = logging.getLogger(__name__)


def _every(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ServingError(f"{attribute.name}: expected a positive number of annotations, got {value!r}")


@attrs.frozen
class ServiceConfig:
    """How the service runs.

    Attributes:
        root: the folder everything is kept in (created if missing); nothing is written outside it.
        label_studio: Label Studio's URL, to fetch annotations from; without it (and ``token``) the service uses
            the URL and key each project's ``/setup`` sent (kept in memory only).
        token: a legacy API token or a personal access token (never logged).
        every: active learning: train every N new submitted annotations; ``None`` = annotation events train
            nothing (``START_TRAINING`` still does).
        deploy: serve each successful training's models as soon as they are ready.
        params: what every training trains (``TrainingParams()``: every type the config supports).
        max_concurrent, memory_per_job, plugins: passed to the :class:`~alab_training.JobRunner`.
        spark_memory: the service's own Spark driver memory (predictions); default the library's.
        predict_wait: seconds a prediction waits for models still loading before answering 503.
    """

    root: Path = attrs.field(converter=lambda path: Path(path).absolute())
    label_studio: str | None = None
    token: str | None = attrs.field(default=None, repr=False)
    every: int | None = attrs.field(default=None, validator=_every)
    deploy: bool = True
    params: TrainingParams = TrainingParams()
    max_concurrent: int | None = None
    memory_per_job: str | None = None
    plugins: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    spark_memory: str | None = None
    predict_wait: float = 90.0


class Service:
    """The protocol's handlers and the machinery behind them; :meth:`start` before use, :meth:`close` after.

    Args:
        config: see :class:`ServiceConfig`.
        load, predict: how models are loaded and predict (default :func:`alab_training.load_model` and
            :func:`alab_training.predict`); tests pass light stand-ins.

    Attributes:
        store: the projects' states; models: the served models; runner, learning, work: once started.
        closed: :meth:`close` was called.

    Raises:
        ServingError: ``token`` without ``label_studio`` or the other way round.
    """

    def __init__(self, config: ServiceConfig, *, load: Callable[[Path], Any] | None = None,
                 predict: Callable[[Sequence[Any], list[Any]], list[dict[str, Any]]] | None = None) -> None:
        if bool(config.label_studio) != bool(config.token):
            raise ServingError("--label-studio and --token go together: the URL to fetch annotations from, and "
                               "the token to fetch them with")
        self.config = config
        config.root.mkdir(parents=True, exist_ok=True)
        self.store = StateStore(config.root / "serving")
        self.models = ModelServer(config.root / "models", load=load, predict=predict)
        self._api = LabelStudioAPI(config.label_studio, config.token) if config.label_studio else None
        self._setup_apis: dict[int, LabelStudioAPI] = {}
        self._deploys: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.runner: JobRunner | None = None
        self.learning: ActiveLearning | None = None
        self.work: WorkQueue | None = None
        self._threads: list[threading.Thread] = []
        self._unsubscribe: Callable[[], None] | None = None
        self.closed = False

    # -- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> Service:
        """Start the runner (which resumes its queue), the background threads and the served models' loading.

        Raises:
            RunnerError: another service (or runner) uses this root.
        """
        root = self.config.root
        self.runner = JobRunner(root / "jobs", models_dir=root / "models", max_concurrent=self.config.max_concurrent,
                                memory_per_job=self.config.memory_per_job, plugins=self.config.plugins)
        if self.config.spark_memory:
            # Read when this process's Spark session starts (the first model load); the training processes get
            # their own value from the runner, which has resolved it already.
            os.environ["ALAB_TRAINING_DRIVER_MEMORY"] = self.config.spark_memory
        if self.config.every is not None:
            self.learning = ActiveLearning(root / "active_learning", runner=self.runner)
        trainings = Trainings(self.runner, self.learning, self.store, self.config.params, self.config.every,
                              self._api_for)
        self.work = WorkQueue(root / "serving" / "pending.json", trainings)
        self._unsubscribe = self.runner.subscribe(self._on_job)
        self._restore()
        deployer = threading.Thread(target=self._deploy_loop, name="alab-training-serve-deploy", daemon=True)
        deployer.start()
        self._threads.append(deployer)
        self.work.start()
        _LOG.info("serving %d known Label Studio project(s) from %s", len(self.store.all()), root)
        return self

    def close(self) -> None:
        """Stop the background threads; running trainings go on and the next start picks them up."""
        if self.closed:
            return
        self.closed = True
        if self.work is not None:
            self.work.close()
        self._deploys.put(None)
        for thread in self._threads:
            thread.join(60)
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.runner is not None:
            self.runner.close(wait=False)
        self.models.close()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the protocol ----------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health``: from memory."""
        served = sum(1 for state in self.store.all() if state.model_version)
        return {"status": "UP", "model_class": "alab-training", "projects": len(self.store.all()),
                "served": served}

    def setup(self, body: Any) -> dict[str, Any]:
        """``POST /setup``: remember the project's labeling config; report the served ``model_version``."""
        body = protocol.require_object(body)
        project_id = protocol.parse_project_id(body.get("project"))
        schema = body.get("schema")
        protocol.label_config(schema, "schema")
        state = self.store.update(project_id, label_config=schema)
        hostname, key = body.get("hostname"), body.get("access_token")
        if self._api is None and isinstance(hostname, str) and isinstance(key, str) and key:
            current = self._setup_apis.get(project_id)
            if current is None or current.url != hostname.rstrip("/"):
                try:
                    self._setup_apis[project_id] = LabelStudioAPI(hostname, key)
                except ServingError:
                    pass  # an unusable hostname: trainings will say there is no way to fetch
        return {"model_version": state.model_version or protocol.UNTRAINED}

    def versions(self, body: Any = None) -> dict[str, Any]:
        """``GET /versions``: the versions served so far (of the project named in the body, else of all)."""
        if isinstance(body, dict) and body.get("project") is not None:
            state = self.store.get(protocol.parse_project_id(body["project"]))
            return {"versions": list(state.versions) if state else []}
        versions = [version for state in self.store.all() for version in state.versions]
        return {"versions": list(dict.fromkeys(versions))}

    def metrics(self, query: Any = None) -> dict[str, Any]:
        """``GET /metrics``: the scores of every model version each project served, from the models' cards.

        ``{project id: {model_version: {model name: metrics}}}`` (see
        :func:`~alab_training.evaluation.served.served_metrics`) for every known project, or for the one
        ``query["project"]`` names (``?project=ID``). Read from the cards on each call: nothing is loaded and
        Spark is never touched.

        Raises:
            ProtocolError: 400 for a malformed query, 404 for a project this service never saw.
        """
        project_id = protocol.metrics_project(query)
        states = self.store.all() if project_id is None else [self._known(project_id)]
        # Keyed by the Label Studio id, as ?project= and the other endpoints name projects: every known project
        # has one, while a project only set up has no name yet (the model names show the name anyway).
        projects = [{"name": str(state.id), "versions": state.versions, "model_version": state.model_version}
                    for state in states]
        return served_metrics(projects, self.config.root / "models")

    def predict(self, body: Any) -> dict[str, Any]:
        """``POST /predict``: one result per task, in order, from the project's served models.

        A project with no model yet answers ``{"results": []}``, which Label Studio stores as nothing.

        Raises:
            ProtocolError: 400 for a malformed request, 404 for a project this service never saw set up, 503
                while the project's models are still loading after ``predict_wait`` seconds.
        """
        body = protocol.require_object(body)
        state = self._known(protocol.parse_project_id(body.get("project")))
        config = protocol.label_config(body.get("label_config") or state.label_config)
        tasks = protocol.prediction_tasks(body.get("tasks"), config)
        try:
            served, predictions = self.models.predict(state.id, tasks, wait=self.config.predict_wait)
        except ModelsLoadingError as exc:
            raise ProtocolError(503, f"{exc}; try again shortly") from None
        if served is None:
            return {"results": []}
        return {"results": [protocol.ls_prediction(prediction) for prediction in predictions]}

    def webhook(self, body: Any) -> dict[str, Any]:
        """``POST /webhook``: remember the project, queue the work the event asks for, answer at once.

        Raises:
            ProtocolError: 400 for a malformed payload or an unknown action; 409 when a training is asked for but
                the service has no way to fetch the project's annotations.
        """
        body = protocol.require_object(body)
        action = body.get("action")
        if not isinstance(action, str) or not action:
            raise ProtocolError(400, "action: expected the webhook's action name")
        known = action == protocol.START_TRAINING or action in protocol.ANNOTATION_ACTIONS
        if not known and action not in protocol.IGNORED_ACTIONS:
            raise ProtocolError(400, f"unknown action {action!r}")
        if not known and not isinstance(body.get("project"), dict):
            return {"status": "ok", "action": action, "queued": False}
        project_id, config, title = protocol.webhook_project(body)
        self.store.update(project_id, label_config=config)
        self.store.name_for(project_id, title)
        wanted = Work(train=action == protocol.START_TRAINING,
                      update=action in protocol.ANNOTATION_ACTIONS and self.config.every is not None)
        if not (wanted.train or wanted.update):
            return {"status": "ok", "action": action, "queued": False}
        if self._api_for(project_id) is None:
            raise ProtocolError(409, "no Label Studio URL and token to fetch the annotations with: start the "
                                     "service with --label-studio URL --token TOKEN")
        if self.work is None:
            raise ServingError("start() the service before handling webhooks")
        self.work.put(project_id, wanted)
        return {"status": "ok", "action": action, "queued": True}

    # -- behind the protocol ---------------------------------------------------------------------------------

    def _known(self, project_id: int) -> ProjectState:
        state = self.store.get(project_id)
        if state is None:
            raise ProtocolError(404, f"unknown project {project_id}: connect the backend to it first (/setup)")
        return state

    def _api_for(self, project_id: int) -> LabelStudioAPI | None:
        return self._api if self._api is not None else self._setup_apis.get(project_id)

    def _on_job(self, job: Any, event: Any) -> None:
        """Runner listener (on the runner's thread: only queues things)."""
        status = getattr(event, "status", None)  # JobStatusChanged; training events have no status
        if not isinstance(status, JobStatus) or status is not JobStatus.SUCCEEDED:
            return
        state = self.store.by_name(job.project)
        if state is None:
            return
        if self.config.deploy:
            self._deploys.put(("job", job.id))
        if self.learning is not None and self.work is not None:
            # Active learning postpones a retraining due while this one ran: look again now. (Not after a
            # failure: a training that fails every time would be retried for ever.)
            self.work.put(state.id, Work(update=True))

    def _restore(self) -> None:
        """Serve again what was served before the restart — or the newest success, when one came meanwhile."""
        assert self.runner is not None
        for state in self.store.all():
            newest = None
            if self.config.deploy and state.name:
                done = self.runner.jobs(state.name, status=JobStatus.SUCCEEDED)
                newest = done[0] if done and done[0].id != state.served_job else None
            if newest is not None:
                self.models.expect(state.id)
                self._deploys.put(("job", newest.id))
            elif state.served_models and state.served_job:
                self.models.expect(state.id)
                self._deploys.put(("restore", state.id))

    def _deploy_loop(self) -> None:
        while True:
            item = self._deploys.get()
            if item is None:
                return
            kind, value = item
            try:
                if kind == "job":
                    self._deploy_job(value)
                else:
                    self._restore_project(value)
            except Exception:  # a model that cannot be served leaves the project with what it served
                _LOG.exception("cannot serve the models (%s %s)", kind, value)

    def _deploy_job(self, job_id: str) -> None:
        assert self.runner is not None
        job = self.runner.get(job_id)
        state = self.store.by_name(job.project)
        if state is None or job.result is None:
            return
        try:
            current = self.models.served(state.id)
            if current is not None and current.job_id == job.id:
                return
            names = tuple(model.name for model in job.result.models)
            served = self.models.load(state.id, job.id, names)
        finally:
            self.models.done(state.id)
        self.store.serve(state.id, job.id, served.names)
        _LOG.info("project %s (Label Studio %s) now serves %s (job %s, %s)", job.project, state.id,
                  served.version, job.id, job.trigger)

    def _restore_project(self, project_id: int) -> None:
        state = self.store.get(project_id)
        if state is None or not state.served_job:
            self.models.done(project_id)
            return
        try:
            self.models.load(project_id, state.served_job, state.served_models)
        except Exception as exc:
            _LOG.error("project %s: cannot serve %s again (%s); it serves nothing until its next training",
                       state.name, state.model_version, exc)
            self.store.update(project_id, served_job=None, served_models=(), model_version=None)
            return
        _LOG.info("project %s (Label Studio %s) serves %s again", state.name, project_id, state.model_version)
