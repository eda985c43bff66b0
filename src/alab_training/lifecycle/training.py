"""Running trainings: choose the trainers, name and place the models, drive the event generators.

``iter_training`` is the generator a job runner drives (and may stop between events); ``train`` drives it to
the end for notebooks and scripts. Either way every event also reaches the ``training_event`` hook and the
optional ``on_event`` callback.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import attrs

from alab_training.arguments import (
    expect,
    expect_bool,
    expect_callable,
    expect_names,
    expect_path,
    expect_session,
    expect_text,
)
from alab_training.config import TRAINING_TYPES
from alab_training.errors import ConfigError, DeployError, ModelCardError, ParamsError, PluginError, TrainingError
from alab_training.files import write_atomically
from alab_training.lifecycle.deploy import deploy as deploy_models
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import Project, TrainedModel, TrainingEvent, TrainingFailed, TrainingFinished, TrainingResult
from alab_training.model_card import CARD, read_model_card, write_model_card
from alab_training.params import TrainingParams, params_argument, trainer_options
from alab_training.plugins.manager import PluginManager, get_plugin_manager
from alab_training.runtime.embeddings import EmbeddingsCatalog, EmbeddingsSource
from alab_training.runtime.session import quiet_engine
from alab_training.selection import select_completions
from alab_training.trainers.base import MODEL_NAME, Trainer, TrainingRequest

__all__ = ["iter_training", "train"]

_LOG = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def _trainers_for(project: Project, params: TrainingParams, manager: PluginManager) -> list[Trainer]:
    trainers = manager.trainers()
    if params.training_type is not None:
        if params.training_type not in trainers:
            raise ParamsError(f"no trainer for {params.training_type!r} (available: {', '.join(sorted(trainers))})",
                              field="training_type", value=params.training_type)
        return [trainers[params.training_type]]
    supported = project.config.training_types()
    missing = [t for t in TRAINING_TYPES if t in supported and t not in trainers]
    if missing:
        _LOG.warning("the config supports %s, but no trainer for it is installed", ", ".join(missing))
    chosen = [trainers[t] for t in TRAINING_TYPES if t in supported and t in trainers]
    if not chosen:
        raise ParamsError("the labeling config supports no training type an installed trainer handles "
                          f"(config: {', '.join(sorted(supported)) or 'nothing trainable'})", field="training_type")
    return chosen


def _options_for(trainers: list[Trainer], params: TrainingParams, installed: Mapping[str, Trainer]) -> list[Any]:
    """Each trainer's typed options, checked before any training starts (also options of types not trained now)."""
    unknown = sorted(set(params.options) - set(installed))
    if unknown:
        raise ParamsError(f"options for {unknown[0]!r}, which no installed trainer provides (installed: "
                          f"{', '.join(sorted(installed))})", field=f"options.{unknown[0]}",
                          value=params.options[unknown[0]])
    for training_type, trainer in installed.items():
        if training_type in params.options:
            trainer_options(params, training_type, trainer.options_type)
    return [trainer_options(params, trainer.training_type, trainer.options_type) for trainer in trainers]


def _one_family(trainers: list[Trainer], params: TrainingParams, catalog: EmbeddingsCatalog) -> TrainingParams:
    """``params`` with the embeddings a project training several types uses when none are named.

    Models on different embeddings cannot be deployed together (deploy's ``mixed_embeddings`` rule), so the
    trainers' defaults become one: the first trainer's (NER's, in a project with entities) whose family has a form
    every trainer takes. The first keeps its measured default; the others adapt (a classifier on word vectors
    still has its n-gram features).
    """
    users = [trainer for trainer in trainers if trainer.embeddings_levels]
    if params.embeddings is not None or len(users) < 2:
        return params
    names = dict.fromkeys(catalog.default_name(params.language, trainer.default_embeddings) for trainer in users)
    sources = {name: catalog.resolve(name, params.language) for name in names}
    if len({source.family for source in sources.values()}) == 1:
        return params

    def serves_all(source: EmbeddingsSource) -> bool:
        levels = set(catalog.forms(source.family)) | {source.level}
        return all(levels & set(trainer.embeddings_levels) for trainer in users)

    chosen = next((name for name, source in sources.items() if serves_all(source)), None)
    if chosen is None:
        return params
    _LOG.info("the project trains %s: every model uses the %s embeddings so that they can be deployed together",
              ", ".join(trainer.training_type for trainer in users), chosen)
    return attrs.evolve(params, embeddings=chosen)


def _model_name(trainer: Trainer, project: Project, params: TrainingParams) -> str:
    """The trainer's name for the model, used exactly as given; a name that cannot be a folder and a config value
    is the plugin's bug, said so at once."""
    name = trainer.model_name(project, params)
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise PluginError(f"the {trainer.training_type} trainer named its model {name!r}; a model name must match "
                          f"{MODEL_NAME.pattern} (letters, digits and '_')", plugin=type(trainer).__module__)
    return name


def _target(root: Path, name: str, versioning: bool) -> tuple[str, Path, int | None]:
    """The model's final name, folder and version; refuses to overwrite anything that is not one of our models."""
    version = None
    if versioning:
        # ASCII digits, and not too many: a folder "…_v²" or "…_v<5000 digits>" is no version of ours.
        pattern = re.compile(rf"{re.escape(name)}_v([0-9]{{1,18}})")
        taken = [int(m.group(1)) for p in root.glob(f"{name}_v*") if (m := pattern.fullmatch(p.name))]
        version = max(taken, default=0) + 1
        name = f"{name}_v{version}"
    folder = root / name
    if folder.exists() and not (folder / CARD).exists():
        raise TrainingError(f"{folder} exists and is not a trained model; it is left alone (choose another "
                            "output folder)")
    return name, folder, version


def _write_card(model: TrainedModel, staging: Path) -> None:
    """The card every registered model has, whether or not the trainer (a plugin's, maybe) wrote one."""
    try:
        _, extra = read_model_card(staging)
    except ModelCardError:
        extra = {}
    write_model_card(attrs.evolve(model, path=staging), extra)


def _publish(staging: Path, folder: Path) -> None:
    """Move the finished model into place; an older model of the same name is replaced only at the very end."""
    if folder.exists():
        retired = folder.with_name(f".{folder.name}.replaced")
        shutil.rmtree(retired, ignore_errors=True)
        folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(folder)


def _rebased(model: TrainedModel, staging: Path, folder: Path) -> TrainedModel:
    def move(path: Path | None) -> Path | None:
        return folder / path.relative_to(staging) if path is not None and path.is_relative_to(staging) else path

    return attrs.evolve(model, path=move(model.path), log_path=move(model.log_path))


def _summary(project: Project, selection: Any, models: list[TrainedModel]) -> str:
    lines = [f"project: {project.name}", f"tasks: {len(project.tasks)}; used {len(selection)} "
             f"({len(selection.train)} train, {len(selection.test)} test); excluded {len(selection.excluded)}"]
    lines += [f"  {code}: {count}" for code, count in sorted(selection.excluded_counts().items())]
    for model in models:
        micro = model.metrics.get("micro", {})
        score = f"micro F1 {micro['f1']:.4f}" if "f1" in micro else "not scored (no test side)"
        lines.append(f"{model.name} ({model.kind}): {score}; labels: {', '.join(model.labels)}; {model.path}")
    return "\n".join(lines) + "\n"


def _log_bundle(root: Path, project: Project, selection: Any, models: list[TrainedModel]) -> Path | None:
    """One zip with every model's log and a summary, written atomically beside the models."""
    if not models:
        return None
    stamp = models[-1].created_at.strftime("%Y%m%dT%H%M%S")
    target = root / f"{_UNSAFE.sub('_', project.name)}_training_logs_{stamp}.zip"
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("summary.txt", _summary(project, selection, models))
        for model in models:
            if model.log_path is not None and model.log_path.exists():
                bundle.write(model.log_path, f"{model.name}.log")
    write_atomically(target, content.getvalue())
    return target


def _driven(trainer: Trainer, request: TrainingRequest,
            emit: Callable[[TrainingEvent], TrainingEvent]) -> Generator[TrainingEvent, None, TrainedModel]:
    """Drive one trainer's events through ``emit``, holding back its ``TrainingFinished``; returns its model.

    However it ends early — the trainer raised, or the caller stopped driving — the trainer's generator is closed
    (a trainer holding a process or a thread lets go of it) before its folder is removed.
    """
    finished = None
    events = trainer.train(request)
    try:
        with quiet_engine(request.spark):
            for event in events:
                if isinstance(event, TrainingFinished):
                    finished = event
                    continue  # announced once the model is in its final place
                yield emit(event)
        if finished is None:
            raise TrainingError("the trainer ended without a model", training_type=trainer.training_type)
    except BaseException as exc:
        close = getattr(events, "close", None)  # a trainer may return an iterator that is not a generator
        if close is not None:
            close()
        shutil.rmtree(request.output_dir, ignore_errors=True)
        if not isinstance(exc, GeneratorExit):
            emit(TrainingFailed(trainer.training_type, str(exc)))
        raise
    return finished.model


def _deployed(result: TrainingResult, project: Project, root: Path,
              known_models: Mapping[str, str | None] | None) -> TrainingResult:
    try:
        deployment = deploy_models(project, result.models, registry=ModelRegistry(root), known_models=known_models)
    except ConfigError as exc:
        raise DeployError(exc, result=result) from exc
    return attrs.evolve(result, deployment=deployment)


def iter_training(
    project: Project,
    params: TrainingParams | None = None,
    spark: Any = None,
    *,
    output_dir: str | os.PathLike[str] = "models",
    versioning: bool = False,
    trigger: str = "manual",
    deploy: bool = False,
    known_models: Mapping[str, str | None] | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
) -> Generator[TrainingEvent, None, TrainingResult]:
    """Train every requested type, yielding progress events; the generator's return value is the result.

    Models go to ``output_dir/<name>`` (``ner_<project>_annotation_manual``; with ``versioning``, ``…_v1``,
    ``…_v2`` …). Without versioning a previous model of that name is replaced, but only once the new one is
    complete; a folder there that is not a model is never touched.

    With ``deploy``, once every model is trained the labeling config points at them (:func:`~alab_training.deploy`,
    with ``output_dir`` as the registry and ``known_models`` naming the pretrained models the config may use);
    the config file a project was loaded from is rewritten atomically, and the result's ``deployment`` holds the
    new config. A failed training never reaches the config.

    Stopping the generator between events stops the training as far as it can be stopped in-process: the
    trainer's generator is closed and its folder removed, but a Spark fit already running in the JVM finishes in
    the background (a job runner's cancel, which ends the process, stops it for real).

    Raises:
        ParamsError: at once, for an argument of the wrong type.
        ParamsError, SelectionError: from the generator, before any training starts, when the request cannot work.
        PluginError: a trainer named its model with something that cannot be a model name.
        TrainingError: a trainer failed; nothing already in ``output_dir`` has been changed.
        DeployError: the models are trained and saved but deploying them was refused (the config is untouched).
    """
    _check_arguments(project, output_dir, versioning, trigger, deploy, known_models, on_event)
    expect_session(spark)
    return _training(project, params_argument(params), spark, output_dir=output_dir, versioning=versioning,
                     trigger=trigger, deploy=deploy, known_models=known_models, on_event=on_event)


def _check_arguments(project: Any, output_dir: Any, versioning: Any, trigger: Any, deploy: Any, known_models: Any,
                     on_event: Any) -> None:
    expect(project, "project", Project, "a Project (load_project)")
    expect_path(output_dir, "output_dir")
    expect_bool(versioning, "versioning")
    expect_text(trigger, "trigger")
    expect_bool(deploy, "deploy")
    expect_names(known_models, "known_models", values=(str, type(None)), optional=True)
    expect_callable(on_event, "on_event", optional=True)


def _training(project: Project, params: TrainingParams, spark: Any, *, output_dir: str | os.PathLike[str],
              versioning: bool, trigger: str, deploy: bool, known_models: Mapping[str, str | None] | None,
              on_event: Callable[[TrainingEvent], None] | None) -> Generator[TrainingEvent, None, TrainingResult]:
    """The generator :func:`iter_training` returns, once its arguments are checked."""
    manager = get_plugin_manager()
    trainers = _trainers_for(project, params, manager)
    options = _options_for(trainers, params, manager.trainers())
    params = _one_family(trainers, params, manager.embeddings())
    selection = select_completions(project, params)
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    models = []
    for trainer, own_options in zip(trainers, options):
        name, folder, version = _target(root, _model_name(trainer, project, params), versioning)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        request = TrainingRequest(project=project, selection=selection, params=params, output_dir=staging,
                                  model_name=name, spark=spark, trigger=trigger, options=own_options,
                                  embeddings=manager.embeddings())

        def emit(event: TrainingEvent, request: TrainingRequest = request) -> TrainingEvent:
            manager.hook.training_event(event=event, request=request)
            if on_event is not None:
                on_event(event)
            return event

        trained = yield from _driven(trainer, request, emit)
        model = attrs.evolve(trained, name=name, project=project.name, version=version, trigger=trigger)
        _write_card(model, staging)
        _publish(staging, folder)
        model = _rebased(model, staging, folder)
        models.append(model)
        yield emit(TrainingFinished(model))
    result = TrainingResult(project=project.name, models=tuple(models),
                            log_bundle=_log_bundle(root, project, selection, models))
    return _deployed(result, project, root, known_models) if deploy else result


def train(
    project: Project,
    params: TrainingParams | None = None,
    spark: Any = None,
    *,
    output_dir: str | os.PathLike[str] = "models",
    versioning: bool = False,
    trigger: str = "manual",
    deploy: bool = False,
    known_models: Mapping[str, str | None] | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
) -> TrainingResult:
    """Train the project's models and return them (see :func:`iter_training` for the arguments).

    With no ``spark`` session an embedded local one is started (Spark NLP jars provisioned automatically); a
    given session — a notebook's, a cluster's — is used as it is.
    """
    events = iter_training(project, params, spark, output_dir=output_dir, versioning=versioning, trigger=trigger,
                           deploy=deploy, known_models=known_models, on_event=on_event)
    while True:
        try:
            next(events)
        except StopIteration as done:
            return done.value
