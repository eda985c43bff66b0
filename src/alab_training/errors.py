"""The exception hierarchy: one base class, specific subclasses carrying data as attributes.

Host applications catch :class:`AlabTrainingError`; each subclass also says *where* the problem is
(a JSON path into the export, a place in the labeling config, a parameter name, a job id), so a UI can point at it.
Every exception class of the library is defined here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ActiveLearningError",
    "AlabTrainingError",
    "ConfigError",
    "DeployError",
    "EngineError",
    "ExportError",
    "JobError",
    "JobNotFoundError",
    "JobTimeoutError",
    "MissingDependencyError",
    "ModelCardError",
    "ModelNotFoundError",
    "ParamsError",
    "PluginError",
    "RegistryError",
    "RunnerError",
    "SelectionError",
    "TrainingError",
]


class AlabTrainingError(Exception):
    """Base class of every error this library raises on purpose."""


class ExportError(AlabTrainingError, ValueError):
    """The export (tasks JSON) is unreadable or malformed.

    Attributes:
        path: JSON path of the offending value, e.g. ``$[12].completions[0].result[3].value.end``.
        source: the file the export came from, or ``None`` for in-memory data.
    """

    def __init__(self, message: str, *, path: str = "$", source: str | None = None) -> None:
        self.message = message
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}")


class ConfigError(AlabTrainingError, ValueError):
    """The labeling config XML is unreadable, unsafe, or breaks a validation rule.

    Attributes:
        path: where in the config, e.g. ``/View/Labels[@name='label']/Label[@value='Absent']``.
        line: the line number in the XML text, when known.
        rule: a stable code for validation-rule violations (``assertion_label_with_ner_model`` …).
    """

    def __init__(
        self, message: str, *, path: str = "/", line: int | None = None, rule: str | None = None
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.rule = rule
        at_line = f" (line {line})" if line else ""
        super().__init__(f"{path}{at_line}: {message}")


class DeployError(ConfigError):
    """Training succeeded but deploying its models was refused; the models are saved, the config untouched.

    Attributes:
        result: the :class:`~alab_training.model.TrainingResult` (the models are in the registry).
        path, line, rule: as for :class:`ConfigError`, from the refused deploy.
    """

    def __init__(self, refused: ConfigError, *, result: Any) -> None:
        self.result = result
        super().__init__(f"the models were trained and saved, but not deployed: {refused.message}",
                         path=refused.path, line=refused.line, rule=refused.rule)


class ParamsError(AlabTrainingError, ValueError):
    """A training parameter is out of range, of the wrong type, or contradicts another one.

    Attributes:
        field: the parameter's name, e.g. ``validation_split``.
        value: the rejected value.
    """

    def __init__(self, message: str, *, field: str, value: object = None) -> None:
        self.message = message
        self.field = field
        self.value = value
        super().__init__(f"{field}: {message}")


class SelectionError(AlabTrainingError):
    """Completion selection cannot proceed (e.g. the project has nothing to train on)."""


class PluginError(AlabTrainingError):
    """A plugin could not be loaded, or registered something invalid or conflicting.

    Attributes:
        plugin: the plugin's name (entry-point name or module name), when known.
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.message = message
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}" if plugin else message)


class EngineError(AlabTrainingError, RuntimeError):
    """The Spark NLP engine cannot be provisioned or started.

    Attributes:
        command: the external command that failed (e.g. the Maven call), when there was one.
        detail: its output or the underlying error text.
    """

    def __init__(self, message: str, *, command: str | None = None, detail: str | None = None) -> None:
        self.message = message
        self.command = command
        self.detail = detail
        text = message
        if detail:
            text += f"\n{detail}"
        super().__init__(text)


class TrainingError(AlabTrainingError, RuntimeError):
    """Training started but did not produce a model.

    Attributes:
        training_type: the trainer that failed (``ner`` …).
        job_id: the job, when a job runner ran it.
        detail: the engine's own error text, when there is one.
    """

    def __init__(self, message: str, *, training_type: str | None = None, job_id: str | None = None,
                 detail: str | None = None) -> None:
        self.message = message
        self.training_type = training_type
        self.job_id = job_id
        self.detail = detail
        prefix = f"{training_type} training: " if training_type else ""
        super().__init__(prefix + message + (f"\n{detail}" if detail else ""))


class ModelCardError(AlabTrainingError, ValueError):
    """A model directory lacks a readable ``model.json``.

    Attributes:
        path: the model directory.
    """

    def __init__(self, message: str, *, path: Path) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class ActiveLearningError(AlabTrainingError, ValueError):
    """An active learning policy or state file cannot be read.

    Attributes:
        path: the file.
    """

    def __init__(self, message: str, *, path: Path) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class MissingDependencyError(AlabTrainingError, ImportError):
    """An optional dependency is not installed.

    Attributes:
        package: the distribution to install (``matplotlib``).
        extra: the alab-training extra that brings it (``plot``).
    """

    def __init__(self, message: str, *, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{message}: install {package} (pip install 'alab-training[{extra}]')")


class RegistryError(AlabTrainingError):
    """The registry's folder cannot be used (it is a file, or unreadable).

    Attributes:
        root: the registry's folder.
    """

    def __init__(self, message: str, *, root: Path) -> None:
        self.message = message
        self.root = root
        super().__init__(f"{root}: {message}")


class ModelNotFoundError(RegistryError, LookupError):
    """No model of that name (or of that project and kind) is in the registry.

    Attributes:
        name: the name asked for, when a name was.
        project: the project asked for (``ModelRegistry.latest``).
        kind: the kind asked for (``ModelRegistry.latest``).
    """

    def __init__(self, message: str, *, root: Path, name: str | None = None, project: str | None = None,
                 kind: str | None = None) -> None:
        self.name = name
        self.project = project
        self.kind = kind
        super().__init__(message, root=root)


class JobError(AlabTrainingError):
    """Base class of the job runner's errors.

    Attributes:
        job_id: the job concerned, when there is one.
    """

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        self.message = message
        self.job_id = job_id
        super().__init__(f"job {job_id}: {message}" if job_id else message)


class JobNotFoundError(JobError, LookupError):
    """No job has this id in the runner's store."""


class JobTimeoutError(JobError, TimeoutError):
    """``JobRunner.wait`` ran out of time before the job finished.

    Attributes:
        job: the :class:`~alab_training.lifecycle.jobs.Job` as it was when the time ran out.
    """

    def __init__(self, message: str, *, job: Any) -> None:
        self.job = job
        super().__init__(message, job_id=job.id)


class RunnerError(JobError, RuntimeError):
    """The runner cannot do what was asked: it is closed, or another runner already uses its root folder."""
