"""Turning Label Studio's triggers into training jobs: fetch the annotations, build the project, submit.

Runs on the work thread (:mod:`alab_training.serving.work`), never in a request. Two triggers:

- ``START_TRAINING`` (the "Start training" button, or Label Studio's own "every N annotations") queues a manual
  training — unless one of the project is already queued (it will train on the newest annotations anyway).
- annotation events go to :class:`~alab_training.lifecycle.active_learning.ActiveLearning`, which trains once every
  N new submitted completions, exactly once across restarts.

Neither queues a training on exactly the annotations, config and parameters of the project's last training
while that one stands (queued, running or succeeded): Label Studio sends ``START_TRAINING`` again whenever an
annotation is merely saved again while the count is a multiple of N, and a button pressed after active learning
trained would only repeat it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import attrs

from alab_training.errors import AlabTrainingError, ServingError
from alab_training.exports import load_project
from alab_training.lifecycle.active_learning import ActiveLearning, ActiveLearningPolicy
from alab_training.lifecycle.jobs import JobStatus
from alab_training.model import CompletionStatus, Project
from alab_training.params import TrainingParams
from alab_training.serving.ls_client import LabelStudioAPI
from alab_training.serving.state import ProjectState, StateStore
from alab_training.serving.work import Work

__all__ = ["Trainings", "fingerprint"]

_LOG = logging.getLogger(__name__)
#: A training asked for by START_TRAINING still counts as "done" for these statuses.
_STANDING = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)


def fingerprint(tasks: list[dict[str, Any]], label_config: str, params: TrainingParams) -> str:
    """A digest of what a training would learn from: the submitted annotations, the config and the parameters.

    Skipped annotations (``was_cancelled``) and drafts are left out, as training leaves them out; the order of
    the export does not matter.
    """
    items = []
    for task in tasks:
        if not isinstance(task, dict):
            continue
        annotations = sorted(
            ([a.get("id"), a.get("result")] for a in task.get("annotations") or ()
             if isinstance(a, dict) and not a.get("was_cancelled")), key=lambda pair: str(pair[0]))
        if annotations:
            items.append([task.get("id"), task.get("data"), annotations])
    items.sort(key=lambda item: str(item[0]))
    payload = {"tasks": items, "config": label_config, "params": attrs.asdict(params)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _submitted(project: Project) -> int:
    return sum(1 for task in project.tasks for completion in task.completions
               if completion.status is CompletionStatus.SUBMITTED)


class Trainings:
    """Does the work of :class:`~alab_training.serving.work.WorkQueue` items.

    Args:
        runner: the service's :class:`~alab_training.JobRunner`.
        learning: its :class:`~alab_training.lifecycle.active_learning.ActiveLearning`, or ``None`` when ``--every`` is
            not set (annotation events then train nothing).
        store: the projects' states.
        params: what every training trains.
        every: active learning's N.
        api_for: ``api_for(project_id)`` → the :class:`LabelStudioAPI` to fetch that project with, or ``None``.
    """

    def __init__(self, runner: Any, learning: ActiveLearning | None, store: StateStore, params: TrainingParams,
                 every: int | None, api_for: Callable[[int], LabelStudioAPI | None]) -> None:
        self.runner = runner
        self.learning = learning
        self.store = store
        self.params = params
        self.every = every
        self.api_for = api_for

    def __call__(self, project_id: int, work: Work) -> None:
        """Fetch the project's annotations once, then train and/or ask active learning."""
        state = self.store.get(project_id)
        if state is None or state.name is None or not state.label_config:
            _LOG.error("Label Studio project %s: no labeling config known yet; nothing done", project_id)
            return
        fetched = self._fetch(state)
        if fetched is None:
            return
        tasks, project = fetched
        if work.train:
            self._manual(state, tasks, project)
        if work.update and self.learning is not None:
            self._active_learning(state, tasks, project)

    def _fetch(self, state: ProjectState) -> tuple[list[dict[str, Any]], Project] | None:
        api = self.api_for(state.id)
        if api is None:
            _LOG.error("Label Studio project %s: no Label Studio URL and token to fetch its annotations with "
                       "(start the service with --label-studio URL --token TOKEN)", state.id)
            return None
        try:
            tasks = api.export(state.id)
            project = load_project(tasks, config=state.label_config, name=state.name)
        except AlabTrainingError as exc:
            _LOG.error("Label Studio project %s: cannot load its annotations: %s", state.id, exc)
            return None
        for warning in project.warnings[:20]:
            _LOG.warning("Label Studio project %s: %s: %s", state.id, warning.path, warning.message)
        return tasks, project

    def _standing(self, project_id: int, digest: str) -> str | None:
        """The status of the project's last queued training when it was on this very data and still stands
        (queued, running or succeeded), else ``None``."""
        state = self.store.get(project_id)
        if state is None or digest != state.trained_fingerprint or state.trained_job is None:
            return None
        try:
            status = self.runner.get(state.trained_job).status
        except AlabTrainingError:
            return None  # a job the history no longer has
        return f"{state.trained_job} {status.value}" if status in _STANDING else None

    def _manual(self, state: ProjectState, tasks: list[dict[str, Any]], project: Project) -> None:
        if self.runner.jobs(project.name, status=JobStatus.QUEUED):
            _LOG.info("project %s: a training is already queued; START_TRAINING joins it", project.name)
            return
        if not _submitted(project):
            _LOG.warning("project %s: no submitted annotation to train on; START_TRAINING ignored", project.name)
            return
        digest = fingerprint(tasks, state.label_config or "", self.params)
        standing = self._standing(state.id, digest)
        if standing is not None:
            _LOG.info("project %s: nothing changed since training %s; START_TRAINING ignored", project.name,
                      standing)
            return
        try:
            job = self.runner.submit(project, self.params, versioning=True, trigger="manual")
        except AlabTrainingError as exc:
            raise ServingError(f"project {project.name}: the training was refused: {exc}") from exc
        self.store.update(state.id, trained_fingerprint=digest, trained_job=job.id)
        _LOG.info("project %s: training %s queued (START_TRAINING, %d submitted annotations)", project.name,
                  job.id, _submitted(project))

    def _active_learning(self, state: ProjectState, tasks: list[dict[str, Any]], project: Project) -> None:
        assert self.learning is not None and self.every is not None
        policy = ActiveLearningPolicy(every=self.every, deploy=False, params=self.params, versioning=True)
        if self.learning.policy(project.name) != policy:
            self.learning.set_policy(project.name, policy)
        digest = fingerprint(tasks, state.label_config or "", self.params)
        standing = self._standing(state.id, digest)
        if standing is not None:
            # START_TRAINING trained (or is training) on exactly these annotations already.
            _LOG.debug("project %s: active learning skipped: training %s has this data", project.name, standing)
            return
        job = self.learning.update(project)
        if job is not None:
            self.store.update(state.id, trained_fingerprint=digest, trained_job=job.id)
            _LOG.info("project %s: training %s queued by active learning (every %d submitted annotations)",
                      project.name, job.id, self.every)
