"""The exception hierarchy: one base class, specific subclasses carrying data as attributes.

Host applications catch :class:`AlabTrainingError`; each subclass also says *where* the problem is
(a JSON path into the export, a place in the labeling config, a parameter name, a job id), so a UI can point at it.
Every exception class of the library is defined here.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

__all__ = [
    "ActiveLearningError",
    "AlabTrainingError",
    "ConfigError",
    "DeployError",
    "EngineError",
    "ExportError",
    "FileError",
    "FileLockTimeoutError",
    "FileMissingError",
    "JSONLimitError",
    "JobError",
    "JobNotFoundError",
    "JobStoreError",
    "JobTimeoutError",
    "LabelStudioAPIError",
    "MissingDependencyError",
    "ModelCardError",
    "ModelNotFoundError",
    "ModelsLoadingError",
    "ParamsError",
    "PluginError",
    "ProtocolError",
    "RegistryError",
    "RunnerError",
    "SelectionError",
    "ServingError",
    "TrainingError",
]


class AlabTrainingError(Exception):
    """Base class of every error this library raises on purpose."""


class _KeywordPickle:
    """Pickles an error whose ``__init__`` takes its ``_keywords`` by keyword, which the built-in reduce cannot."""

    _keywords: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        keywords = {name: getattr(self, name) for name in self._keywords}
        return functools.partial(type(self), **keywords), (self.message,)  # type: ignore[attr-defined]


class FileError(_KeywordPickle, AlabTrainingError, OSError):
    """A file could not be read, written or locked, or was refused (see ``alab_training.files``); an
    :class:`OSError` too, so code that handles a failed file operation that way keeps doing so.

    Attributes:
        message: what went wrong, without the path.
        path: the file (``None`` when the path itself was unusable); ``filename`` is it as a string.
        reason: a stable code of ``alab_training.files.REASONS`` (``"not_regular"``, ``"too_large"`` ...).
        errno: the system's error number and ``strerror`` its text, ``None`` when no system call failed.
        limit: the byte limit a ``"too_large"`` file went past; ``links``: the links of a ``"hard_linked"`` one.
        lock_path: the sidecar lock file, for lock errors.
    """

    _keywords = ("path", "reason", "errno", "strerror", "limit", "links", "lock_path")

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None, reason: str = "os",
                 errno: int | None = None, strerror: str | None = None, limit: int | None = None,
                 links: int | None = None, lock_path: Path | None = None) -> None:
        super().__init__(message)
        # errno, strerror and filename are OSError's own slots; the rest is plain data.
        self.errno, self.strerror = errno, strerror
        self.filename = os.fspath(path) if path is not None else None
        vars(self).update(message=message, path=path, reason=reason, limit=limit, links=links, lock_path=lock_path)

    def __str__(self) -> str:  # OSError's own would print "[Errno 2] ..." without the message
        return f"{self.path}: {self.message}" if self.path is not None else self.message


class FileMissingError(FileError, FileNotFoundError):
    """The file, or the folder it belongs in, does not exist (``reason="missing"``)."""


class FileLockTimeoutError(FileError, TimeoutError):
    """Another process held a file's lock longer than ``timeout`` seconds (``reason="lock_timeout"``)."""

    _keywords = (*FileError._keywords, "timeout")

    def __init__(self, message: str, *, timeout: float, **details: Any) -> None:
        super().__init__(message, **details)
        self.timeout = timeout


class JSONLimitError(_KeywordPickle, AlabTrainingError, ValueError):
    """JSON refused for what :mod:`json` would turn into a surprise (see ``alab_training.safe_json``); a
    :class:`ValueError` too, and never a :class:`json.JSONDecodeError`: reading more of the text cannot help.

    Attributes:
        message: what was refused, and where.
        reason: a stable code of ``alab_training.safe_json.REASONS`` (``"depth"``, ``"integer"`` ...).
        pos: the character offset (``None`` for a refused argument), on line ``lineno``, column ``colno``.
        limit: the nesting or digit limit that was exceeded, for ``"depth"`` and ``"integer"``.
    """

    _keywords = ("reason", "pos", "lineno", "colno", "limit")

    def __init__(self, message: str, *, reason: str, pos: int | None = None, lineno: int | None = None,
                 colno: int | None = None, limit: int | None = None) -> None:
        super().__init__(message)
        vars(self).update(message=message, reason=reason, pos=pos, lineno=lineno, colno=colno, limit=limit)


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
    """A model directory lacks a readable ``model.json``, or a model's JSON has a field of the wrong kind.

    Attributes:
        message: what is wrong.
        path: the model directory, ``None`` for JSON that did not come from a card (a job's result).
        field: the card's field at fault (``labels``, ``metrics.micro.f1`` ...), when one is.
    """

    def __init__(self, message: str, *, path: Path | None = None, field: str | None = None) -> None:
        self.message, self.path, self.field = message, path, field
        text = f"{message} (at {field})" if field else message
        super().__init__(f"{path}: {text}" if path is not None else text)


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


class JobStoreError(JobError):
    """The job history (``jobs.sqlite``) is missing, corrupt or locked too long, or a job's record is unreadable.

    Attributes:
        path: the history's file.
        job_id: the job whose record is unreadable, when the problem is one record.
    """

    def __init__(self, message: str, *, path: Path, job_id: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}", job_id=job_id)


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


class ServingError(AlabTrainingError):
    """Base class of the service's errors; also raised for a service that cannot start (bad options)."""


class ProtocolError(ServingError):
    """A request the service refuses: the HTTP layer answers ``status`` with ``{"error": message}``.

    Attributes:
        status: the HTTP status (4xx for the caller's fault, 503 while a model is still loading).
        message: one line for the caller, never a traceback.
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = " ".join(str(message).split())  # one line, whatever the cause's text held
        super().__init__(f"{status}: {self.message}")


class LabelStudioAPIError(ServingError):
    """A call to Label Studio's API failed (the project's export, the token exchange).

    Attributes:
        status: the HTTP status Label Studio answered, ``None`` when it could not be reached.
        path: the API path called (never the token: it travels in a header only).
    """

    def __init__(self, message: str, *, path: str, status: int | None = None) -> None:
        self.status = status
        self.path = path
        super().__init__(f"Label Studio {path}: {message}")


class ModelsLoadingError(ServingError, TimeoutError):
    """A project's models were still loading when a prediction had waited long enough.

    Attributes:
        project_id: the Label Studio project.
    """

    def __init__(self, project_id: int, waited: float) -> None:
        self.project_id = project_id
        super().__init__(f"the models of project {project_id} are still loading after {waited:g} s")
