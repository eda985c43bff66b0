"""Active learning: retrain a project every N new submitted completions, and rank what to label next.

The seed's feature (Annotation Lab: "every 50, 100 or 200 new completions", then deploy or not) as a policy a
host checks whenever completions change. What was counted at the last trigger is persisted per project, so a
restarted host neither trains twice for the same completions nor forgets how many it has seen; asking twice is
harmless. A training the policy started that failed or was cancelled does not use up its completions: the next
check triggers again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from alab_training import safe_json
from alab_training.arguments import expect, expect_bool, expect_number, expect_path, expect_text, shown
from alab_training.errors import ActiveLearningError, FileError, FileMissingError, ParamsError
from alab_training.files import locked, read_bytes_bounded, write_atomically
from alab_training.lifecycle.training import train
from alab_training.model import CompletionStatus, Project
from alab_training.params import TrainingParams, params_from_dict, params_to_dict

__all__ = ["ActiveLearning", "ActiveLearningPolicy", "ActiveLearningState", "Decision", "TaskUncertainty",
           "rank_by_uncertainty", "submitted_completions"]

_LOG = logging.getLogger(__name__)
_FILE_NAME = re.compile(r"[^A-Za-z0-9_-]+")
#: Characters of the project's name kept in its files' names; the hash of the whole name tells names apart.
_NAME_CHARS = 80
#: A policy or state file holds a few numbers: anything larger is not one.
_MAX_STATE_BYTES = 1 << 20
_SETTLED_BADLY = ("failed", "cancelled")
#: The largest count a policy or state holds: beyond any project, and still exact in every JSON reader (a
#: JavaScript dashboard's numbers are doubles), where a 5,000-digit one could not even be written back.
MAX_COUNT = 2**53


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise ParamsError(f"expected a positive number of completions, at most {MAX_COUNT}, got {shown(value)}",
                          field=attribute.name, value=value)


def _a_bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    expect_bool(value, attribute.name)


def _params(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    expect(value, attribute.name, TrainingParams, "TrainingParams")


@attrs.frozen
class ActiveLearningPolicy:
    """When and what to retrain.

    Attributes:
        every: retrain once this many new submitted completions have come in since the last trigger (the seed
            offers 50, 100 and 200; 50 by default).
        deploy: write the new models into the project's labeling config (the seed's auto-deploy).
        params: what to train; the seed's active learning trains NER.
        versioning: keep each retrained model as ``…_vN`` rather than replacing the previous one.
    """

    every: int = attrs.field(default=50, validator=_positive)
    deploy: bool = attrs.field(default=False, validator=_a_bool)
    params: TrainingParams = attrs.field(default=TrainingParams(training_type="ner"), validator=_params)
    versioning: bool = attrs.field(default=True, validator=_a_bool)


@attrs.frozen
class ActiveLearningState:
    """What the policy remembers about one project (persisted as JSON)."""

    project: str
    #: Submitted completions counted when the last training was triggered.
    counted: int = 0
    #: The count before that trigger, restored if that training fails or is cancelled.
    previous: int = 0
    #: The job id of the last triggered training (when run through a job runner).
    job_id: str | None = None
    triggered_at: datetime | None = None
    trainings: int = 0


@attrs.frozen
class Decision:
    """The answer to "is a retraining due?" with the figures behind it."""

    due: bool
    submitted: int
    new: int
    needed: int
    #: Why not, when not due (e.g. ``"a training of this project is running"``).
    reason: str = ""


def submitted_completions(project: Project) -> int:
    """Submitted completions over every task: what the policy counts."""
    return sum(1 for task in project.tasks for completion in task.completions
               if completion.status is CompletionStatus.SUBMITTED)


class ActiveLearning:
    """Active learning for the projects of one host, with its state under ``state_dir``.

    Args:
        state_dir: where the per-project state files live (created if missing). A project's files are named
            after it, cut to a length every file system takes, plus a hash of its exact name, so that two
            projects ("Dept A", "Dept_A") never share one.
        runner: a :class:`~alab_training.lifecycle.jobs.JobRunner`; the training is then submitted as a job (and a
            training of the project already running postpones the next one, as "Train Now" would). Without
            one, :meth:`update` trains in the calling thread.
        output_dir: where models go when training without a runner.

    Raises:
        ParamsError: an argument of the wrong type.
        ActiveLearningError: ``state_dir`` cannot be created. Every method raises it (with the file's
            ``path``) for a state or policy file that cannot be read, is not what this class writes, or
            cannot be written; reading never changes one.
    """

    def __init__(self, state_dir: str | os.PathLike[str], *, runner: Any = None,
                 output_dir: str | os.PathLike[str] = "models") -> None:
        self.state_dir = expect_path(state_dir, "state_dir")
        self.output_dir = expect_path(output_dir, "output_dir")
        if runner is not None and not all(callable(getattr(runner, name, None))
                                          for name in ("submit", "is_training", "get")):
            raise ParamsError(f"expected a JobRunner (or None), got {type(runner).__name__}", field="runner",
                              value=runner)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ActiveLearningError(f"cannot create the folder: {exc.strerror or exc}", path=self.state_dir
                                      ) from exc
        self.runner = runner

    # -- policies ------------------------------------------------------------------------------------------

    def set_policy(self, project: str, policy: ActiveLearningPolicy | None) -> None:
        """Turn active learning on (or change it) for a project; ``None`` turns it off (the count is kept)."""
        expect(policy, "policy", ActiveLearningPolicy, "an ActiveLearningPolicy", optional=True)
        with self._locked(project):
            path = self._path(project, "policy")
            if policy is None:
                with _written(path):
                    path.unlink(missing_ok=True)
                return
            _write_json(path, {"project": project, "every": policy.every, "deploy": policy.deploy,
                               "versioning": policy.versioning, "params": params_to_dict(policy.params)})

    def policy(self, project: str) -> ActiveLearningPolicy | None:
        """The project's policy, or ``None`` when active learning is off for it."""
        path = self._path(project, "policy")
        data = _read_json(path)
        if data is None:
            return None
        with _readable(path):
            return ActiveLearningPolicy(every=data["every"], deploy=data["deploy"], versioning=data["versioning"],
                                        params=params_from_dict(data["params"]))

    def state(self, project: str) -> ActiveLearningState:
        """What the policy remembers about the project (a fresh state when nothing was saved yet)."""
        path = self._path(project, "state")
        data = _read_json(path)
        if data is None:
            return ActiveLearningState(project=project)
        with _readable(path):
            triggered = expect(data.get("triggered_at"), "triggered_at", str, "an ISO-8601 time", optional=True)
            return ActiveLearningState(project=project, counted=_count(data, "counted"),
                                       previous=_count(data, "previous"), trainings=_count(data, "trainings"),
                                       job_id=expect(data.get("job_id"), "job_id", str, "a job id", optional=True),
                                       triggered_at=datetime.fromisoformat(triggered) if triggered else None)

    # -- the check ---------------------------------------------------------------------------------------------

    def check(self, project: Project) -> Decision:
        """Is a retraining due now? Reads only; :meth:`update` acts on it."""
        policy = self.policy(expect(project, "project", Project, "a Project (load_project)").name)
        if policy is None:
            return Decision(False, submitted_completions(project), 0, 0, "active learning is off for this project")
        return self._decide(project, policy)[1]

    def update(self, project: Project) -> Any:
        """Call whenever completions may have changed: triggers the training when due, at most once.

        Returns:
            The submitted job (with a runner), the :class:`~alab_training.model.TrainingResult` (without
            one), or ``None`` when no training was due.
        """
        policy = self.policy(expect(project, "project", Project, "a Project (load_project)").name)
        if policy is None:
            return None
        with self._locked(project.name):
            state, decision = self._decide(project, policy)
            if not decision.due:
                _LOG.debug("active learning for %s: not due (%s)", project.name, decision.reason)
                return None
            # Counted before training starts, so a second call (or a restart mid-training) cannot trigger again.
            before, state = state, attrs.evolve(state, previous=state.counted, counted=decision.submitted, job_id=None,
                                             triggered_at=datetime.now(timezone.utc), trainings=state.trainings + 1)
            self._save(state)
            _LOG.info("active learning for %s: %d new submitted completions (every %d): training", project.name,
                      decision.new, policy.every)
            if self.runner is not None:
                try:
                    job = self.runner.submit(project, policy.params, deploy=policy.deploy,
                                             versioning=policy.versioning, trigger="active_learning")
                except BaseException:  # no job, so the completions must count towards the next trigger
                    self._save(before)
                    raise
                self._save(attrs.evolve(state, job_id=job.id))
                return job
        try:
            return train(project, policy.params, output_dir=self.output_dir, versioning=policy.versioning,
                         trigger="active_learning", deploy=policy.deploy)
        except BaseException:
            with self._locked(project.name):
                self._save(attrs.evolve(self.state(project.name), counted=state.previous))
            raise

    # -- internals -------------------------------------------------------------------------------------------

    def _decide(self, project: Project, policy: ActiveLearningPolicy) -> tuple[ActiveLearningState, Decision]:
        """The project's state (a failed or cancelled triggered job rolled back) and whether a training is due."""
        state = self._settled(self.state(project.name))
        submitted = submitted_completions(project)
        new = submitted - state.counted
        if new < policy.every:
            return state, Decision(False, submitted, new, policy.every, f"{new} of {policy.every} new completions")
        if self.runner is not None and self.runner.is_training(project.name):
            return state, Decision(False, submitted, new, policy.every, "a training of this project is running")
        return state, Decision(True, submitted, new, policy.every)

    def _settled(self, state: ActiveLearningState) -> ActiveLearningState:
        """The state with a failed or cancelled triggered job rolled back, so its completions count again."""
        if state.job_id is None or self.runner is None:
            return state
        if self.runner.get(state.job_id).status in _SETTLED_BADLY:
            return attrs.evolve(state, counted=state.previous, job_id=None)
        return state

    def _save(self, state: ActiveLearningState) -> None:
        _write_json(self._path(state.project, "state"), {
            "project": state.project, "counted": state.counted, "previous": state.previous, "job_id": state.job_id,
            "trainings": state.trainings,
            "triggered_at": state.triggered_at.isoformat() if state.triggered_at else None})

    def _path(self, project: str, kind: str) -> Path:
        name = expect_text(project, "project")
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return self.state_dir / f"{_FILE_NAME.sub('_', name)[:_NAME_CHARS]}-{digest}.{kind}.json"

    @contextlib.contextmanager
    def _locked(self, project: str) -> Iterator[None]:
        """One checker at a time per project, across threads and processes (the state file's lock)."""
        path = self._path(project, "state")
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(locked(path))
            except FileError as exc:  # a read-only folder, a lock held too long...
                raise ActiveLearningError(f"cannot lock the project's state: {exc.message}", path=path) from exc
            yield


@attrs.frozen
class TaskUncertainty:
    """How unsure the models are about a task nobody has annotated: higher = label it sooner."""

    task_id: Any
    #: ``1 -`` the lowest confidence; ``None`` when the models predicted nothing on the task.
    uncertainty: float | None


def rank_by_uncertainty(models: Any, project: Project, *, limit: int | None = None) -> list[TaskUncertainty]:
    """The project's tasks without a submitted completion, most uncertain first (least-confidence sampling).

    A task's uncertainty is ``1 - `` the lowest confidence among the models' predictions on it (an entity span,
    an assertion status, a class); a task on which nothing was predicted ranks after every task with a
    prediction, since an empty NER output carries no confidence to compare. Ties keep the export's order.

    Args:
        models: a :class:`~alab_training.trainers.base.LoadedModel` or a list of them (e.g. the project's NER and
            classification models).
        project: the project; only its tasks with no submitted completion are ranked.
        limit: return at most this many.
    """
    from alab_training.lifecycle.prediction import predict

    expect(project, "project", Project, "a Project (load_project)")
    expect_number(limit, "limit", integer=True, minimum=0, optional=True)
    todo = [task for task in project.tasks
            if not any(c.status is CompletionStatus.SUBMITTED for c in task.completions)]
    ranked = []
    for task, prediction in zip(todo, predict(models, todo)):
        confidences = [item["value"]["confidence"] for item in prediction["result"]
                       if item["value"].get("confidence") is not None]
        ranked.append(TaskUncertainty(task.id, 1.0 - min(confidences) if confidences else None))
    ranked.sort(key=lambda item: (item.uncertainty is None, -(item.uncertainty or 0.0)))
    return ranked[:limit] if limit is not None else ranked


@contextlib.contextmanager
def _written(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:  # FileError too: a read-only folder, a full disk...
        raise ActiveLearningError(f"cannot write the active learning file: {getattr(exc, 'message', exc)}",
                                  path=path) from exc


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with _written(path):
        write_atomically(path, json.dumps(data, indent=2))


def _count(data: Mapping[str, Any], key: str) -> int:
    return expect_number(data[key], key, integer=True, minimum=0, maximum=MAX_COUNT)


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:  # ParamsError is a ValueError too
        missing = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ActiveLearningError(f"unreadable active learning file ({missing})", path=path) from exc


def _read_json(path: Path) -> dict[str, Any] | None:
    """The file's JSON object; ``None`` when there is no file. Never more than a small file is read."""
    try:
        data = safe_json.loads(read_bytes_bounded(path, _MAX_STATE_BYTES))
    except FileMissingError:
        return None
    except FileError as exc:
        raise ActiveLearningError(f"unreadable active learning file: {exc.message}", path=path) from exc
    except ValueError as exc:  # not UTF-8, not JSON, or nesting and numbers safe_json refuses
        raise ActiveLearningError(f"unreadable active learning file: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise ActiveLearningError(f"unreadable active learning file: expected an object, got "
                                  f"{type(data).__name__}", path=path)
    return data

