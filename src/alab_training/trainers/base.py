"""The trainer contract: everything the host may call on a trainer and everything a trainer is given, in one place.

A trainer — built-in or third-party — is an object registered through the ``register_trainers`` hook. Subclass
:class:`Trainer`, set :attr:`~Trainer.training_type`, implement :meth:`~Trainer.train`; override the optional
members only where the defaults do not suit. ``docs/plugins.md`` documents each member.

:meth:`Trainer.train` is a generator of progress events (:mod:`alab_training.model`): the host drives it,
reports its progress and may stop driving it between events. Stopping (closing the generator) stops what the
generator itself runs — a child process, a thread waiting on the engine — but a Spark NLP ``fit`` already running
inside the JVM cannot be interrupted in-process and runs to its end in the background; only a job runner, which
kills the training's whole process group, stops a running fit (see ``docs/jobs.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from alab_training.model import Project, TrainedModel, TrainingEvent
from alab_training.params import TrainingParams
from alab_training.runtime.embeddings import EmbeddingsCatalog, EmbeddingsSource
from alab_training.selection import Selection

__all__ = [
    "MODEL_NAME",
    "LoadedModel",
    "PredictionInput",
    "Trainer",
    "TrainingRequest",
    "as_trainer",
    "default_model_name",
    "safe_name",
]

#: What a model name may look like: it names a folder and goes into the labeling config's ``model=`` attributes.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


@attrs.frozen
class TrainingRequest:
    """Everything one training run gets.

    Attributes:
        project: the loaded project.
        selection: the chosen completions, with their train/test sides.
        params: the validated parameters.
        output_dir: an empty directory the trainer owns; the model and its log go here.
        model_name: the name to give the model (what :meth:`Trainer.model_name` chose, maybe with ``_v2``).
        spark: the SparkSession to use, for trainers that need Spark; ``None`` lets a Spark trainer start the
            embedded session.
        trigger: ``manual`` or ``active_learning``, recorded in the model.
        options: this trainer's own options, an instance of its :attr:`Trainer.options_type` built from
            ``params.options[training_type]`` (validated before training started); ``None`` when the trainer
            declares no options type.
        embeddings: the embeddings the host knows by name (the ``register_embeddings`` hook's), to resolve
            ``params.embeddings`` with.
    """

    project: Project
    selection: Selection
    params: TrainingParams
    output_dir: Path
    model_name: str = "model"
    spark: Any = None
    trigger: str = "manual"
    options: Any = None
    embeddings: EmbeddingsCatalog = attrs.field(factory=EmbeddingsCatalog)

    def resolved_embeddings(self, trainer: Trainer) -> EmbeddingsSource:
        """``params.embeddings`` (or the trainer's default) in the form of its family ``trainer`` prefers.

        Learned vectors (``learned``, and the default of a language without registered vectors) come back
        unplanned, as the catalog names them: :func:`alab_training.runtime.learned.plan_learned` on the project's
        texts says what to learn, :func:`~alab_training.runtime.learned.learn_vectors` learns them (the built-in
        trainers do both through :func:`alab_training.trainers.running.resolve_source`).

        Raises:
            ParamsError: unknown embeddings, or none of the family at a level the trainer takes.
        """
        return self.embeddings.resolve(self.params.embeddings, self.params.language, trainer.default_embeddings,
                                       trainer.embeddings_levels or None, trainer.training_type)


@attrs.frozen
class PredictionInput:
    """One text to predict on, with the entities already known for it (``(start, end, label)``, code points)."""

    task_id: Any
    text: str
    entities: tuple[tuple[int, int, str], ...] = ()


@attrs.frozen
class LoadedModel:
    """A trained model ready to predict: its card, its Spark pipeline and the card's trainer-specific ``extra``.

    Attributes:
        model: what the card says of the model.
        pipeline: the loaded Spark ``PipelineModel`` (the card's ``extra["pipeline"]`` folder).
        extra: the card's ``extra`` section, written by the trainer that made the model.
        path: the model folder (``model.path``).
    """

    model: TrainedModel
    pipeline: Any
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def path(self) -> Path:
        """The model folder."""
        return self.model.path


def safe_name(text: str) -> str:
    """``text`` as a part of a model name: runs of anything but letters, digits and ``_`` become one ``_``."""
    return _UNSAFE.sub("_", text).strip("_") or "project"


def default_model_name(training_type: str, project: Project) -> str:
    """``<training_type>_<project>_annotation_manual``, the project's name made safe (``Dept A`` → ``Dept_A``)."""
    return f"{training_type}_{safe_name(project.name)}_annotation_manual"


class Trainer:
    """The base class of every trainer; what the host calls, with the defaults of the optional members.

    Required: :attr:`training_type` and :meth:`train`. Optional: :attr:`options_type`, :attr:`embeddings_levels`
    and :attr:`default_embeddings`, :meth:`model_name`, :meth:`predict` (with :attr:`can_predict`).
    """

    #: The key users select with ``TrainingParams(training_type=…)``; a lower-case identifier (``ner``, ``gazetteer``).
    training_type: ClassVar[str]
    #: An attrs class of this trainer's own parameters, built from ``TrainingParams(options={type: {...}})``:
    #: unknown keys and the class's validators give ``ParamsError`` with the field's path
    #: (``options.gazetteer.min_count``) before training starts. ``None``: the trainer takes no options.
    options_type: ClassVar[type | None] = None
    #: The levels of embeddings (``word``, ``token``, ``sentence``) the trainer takes, preferred first:
    #: :meth:`TrainingRequest.resolved_embeddings` gives it that form of the family named. Empty: it uses none.
    embeddings_levels: ClassVar[tuple[str, ...]] = ()
    #: Language → the embeddings used when ``params.embeddings`` names none (empty: the host's defaults). A language
    #: it does not name gets the vectors a plugin registered for the language, else vectors learned from the texts.
    default_embeddings: ClassVar[Mapping[str, str]] = {}

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Train, yielding progress events; the last one is ``TrainingFinished`` carrying the model.

        Raise :class:`~alab_training.errors.ParamsError` or :class:`~alab_training.errors.SelectionError` for a
        request that cannot work (before any heavy work, ideally before the first event) and
        :class:`~alab_training.errors.TrainingError` when training itself fails.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement train(request)")

    def model_name(self, project: Project, params: TrainingParams) -> str:
        """The name of the model this training makes (before ``_vN`` versioning); must match :data:`MODEL_NAME`.

        The host uses it exactly as returned; a name that does not match is refused with ``PluginError``.
        Default: :func:`default_model_name`.
        """
        return default_model_name(self.training_type, project)

    @property
    def can_predict(self) -> bool:
        """Whether :meth:`predict` is implemented (``alab_training.predict`` refuses models of trainers without)."""
        return type(self).predict is not Trainer.predict

    def predict(self, spark: Any, model: LoadedModel, items: list[PredictionInput]) -> list[list[dict[str, Any]]]:
        """Per item, the export ``result`` items (``labels`` spans with code-point offsets, ``choices`` answers)
        the model predicts, each with a ``value.confidence``; ``alab_training.predict`` calls it for models of
        this trainer's type. ``items[i].entities`` holds what models predicted before (entities for assertion).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot predict")


class _PlainTrainer(Trainer):
    """A trainer object that does not subclass :class:`Trainer` (the contract is structural): what it defines is
    used, the rest takes the defaults."""

    def __init__(self, plain: Any) -> None:
        self.plain = plain
        self.training_type = plain.training_type  # type: ignore[misc]
        self.options_type = getattr(plain, "options_type", None)  # type: ignore[misc]
        self.embeddings_levels = tuple(getattr(plain, "embeddings_levels", ()))  # type: ignore[misc]
        self.default_embeddings = dict(getattr(plain, "default_embeddings", {}))  # type: ignore[misc]

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        return self.plain.train(request)

    def model_name(self, project: Project, params: TrainingParams) -> str:
        own = getattr(self.plain, "model_name", None)
        return own(project, params) if callable(own) else super().model_name(project, params)

    @property
    def can_predict(self) -> bool:
        return callable(getattr(self.plain, "predict", None))

    def predict(self, spark: Any, model: LoadedModel, items: list[PredictionInput]) -> list[list[dict[str, Any]]]:
        if not self.can_predict:
            return super().predict(spark, model, items)
        return self.plain.predict(spark, model, items)

    def __repr__(self) -> str:
        return repr(self.plain)


def as_trainer(candidate: Any) -> Trainer:
    """``candidate`` as a :class:`Trainer`: itself when it subclasses it, else wrapped (see :class:`_PlainTrainer`).

    Raises:
        TypeError: it has no ``training_type`` string or no callable ``train`` (the registry turns this into a
            ``PluginError`` naming the plugin).
    """
    training_type = getattr(candidate, "training_type", None)
    if not isinstance(training_type, str):
        raise TypeError(f"trainer {candidate!r} needs a training_type like 'ner', got {training_type!r}")
    if not callable(getattr(candidate, "train", None)):
        raise TypeError(f"trainer {training_type!r} has no train(request) method")
    return candidate if isinstance(candidate, Trainer) else _PlainTrainer(candidate)
