"""Scoring trained models on a project's tasks without training: :func:`evaluate`.

The tasks are the evaluation side of :func:`~alab_training.select_completions` for ``params`` (``test_tags``
or ``validation_split``), or every selected task when the params hold nothing out; each task's gold is the
completion selection chose. ``predict()`` runs **once**, for every model together, as it merges a mixed
project's models (entities first, so an assertion model sees them); the scoring then reads each task's results
once (:mod:`.scoring`). What is scored, exactly, is in ``docs/evaluation.md``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from alab_training.arguments import expect
from alab_training.config import TRAINING_TYPES
from alab_training.errors import ParamsError
from alab_training.evaluation.errors_table import ErrorTable
from alab_training.evaluation.results import KINDS, Evaluation
from alab_training.evaluation.scoring import (
    ScoredModel,
    gold_assertions,
    score_assertion,
    score_classification,
    score_ner,
)
from alab_training.lifecycle.prediction import load_model, predict
from alab_training.model import Project, TrainedModel, TrainingResult
from alab_training.params import TrainingParams, params_argument
from alab_training.selection import Selection, select_completions
from alab_training.trainers.base import LoadedModel, PredictionInput
from alab_training.trainers.classification.examples import choices_control

__all__ = ["ModelSource", "evaluate", "evaluated_selection", "load_models"]

_LOG = logging.getLogger(__name__)

#: What names a model to evaluate: its folder, its card, a loaded model, or a training's result (all its models).
ModelSource = str | os.PathLike[str] | TrainedModel | LoadedModel | TrainingResult


def evaluate(
    models: ModelSource | Sequence[ModelSource],
    project: Project,
    params: TrainingParams | None = None,
    *,
    spark: Any = None,
    context_tokens: int = 20,
) -> Evaluation:
    """Score trained models on the project's evaluation tasks, without training (see the module docs).

    Args:
        models: one model or several, at most one of each kind (``ner``, ``assertion``, ``classification``):
            model folders, :class:`~alab_training.TrainedModel` s, loaded models or a
            :class:`~alab_training.TrainingResult`. Any saved pipeline an installed trainer predicts with will do.
        project: the loaded project whose tasks are scored.
        params: which tasks and which completion of each (``tags``, ``test_tags``, ``validation_split``,
            ``seed``, ``completion_filter``, ``tie_breaker``…, as selection reads them), ``choices_name`` (the
            ``<Choices>`` a classifier is scored on, when its card does not say) and ``unannotated_label``
            (the gold status of an entity without an assertion label; default: the assertion model's own).
        spark: the SparkSession to load and predict with; default: the active one, else the embedded one.
        context_tokens: tokens of context on each side of an error row.

    Returns:
        Per model its figures, and the error table.

    Raises:
        ParamsError: no model, two models of one kind, a kind that is not scored, or no task to evaluate.
        ModelCardError: a folder is not a model.
        PluginError: no installed trainer predicts a model's kind.
    """
    expect(project, "project", Project, "a Project (load_project)")
    params = params_argument(params)
    side, selection = evaluated_selection(project, params)
    loaded = _by_kind(load_models(models, spark))
    config = project.config
    assertion = loaded.get("assertion")
    gold_statuses = None
    if assertion is not None:
        unannotated = params.unannotated_label or assertion.model.params.get("unannotated_label")
        gold_statuses = gold_assertions(selection.items, config, unannotated)
    inputs = [PredictionInput(task_id=item.task.id, text=item.task.text,
                              entities=tuple((s, e, entity) for s, e, entity, _ in gold_statuses[index])
                              if gold_statuses is not None else ())
              for index, item in enumerate(selection.items)]
    started = time.perf_counter()
    predictions = predict(list(loaded.values()), inputs)
    predicted = time.perf_counter()
    split = _split_results(loaded, predictions)
    scored: list[ScoredModel] = []
    for kind, model in loaded.items():
        name = model.model.name
        if kind == "ner":
            scored.append(score_ner(name, selection.items, split[kind], config, context_tokens=context_tokens))
        elif kind == "assertion":
            scored.append(score_assertion(name, selection.items, split[kind], gold_statuses,
                                          context_tokens=context_tokens))
        else:
            control = _control_of(model, project, params)
            scored.append(score_classification(name, selection, split[kind], control,
                                               context_tokens=context_tokens))
    seconds = {"predict": predicted - started, "scoring": time.perf_counter() - predicted}
    _LOG.info("evaluated %d model(s) on %d task(s): predict %.1fs, scoring %.1fs", len(scored),
              len(selection.items), seconds["predict"], seconds["scoring"])
    return Evaluation(project=project.name, side=side, tasks=tuple(item.task.id for item in selection.items),
                      models=tuple(s.evaluation for s in scored),
                      errors=ErrorTable(tuple(row for s in scored for row in s.errors)), seconds=seconds)


def evaluated_selection(project: Project, params: TrainingParams) -> tuple[str, Selection]:
    """The side evaluated (``"test"`` or ``"all"``) and the selection holding only its tasks.

    Raises:
        ParamsError: no task is left to evaluate.
    """
    selection = select_completions(project, params)
    held_out = bool(params.test_tags) or params.validation_split > 0
    items = tuple(attrs.evolve(item, split="test") for item in selection.items
                  if not held_out or item.split == "test")
    if not items:
        field = "test_tags" if params.test_tags else "validation_split" if held_out else "tags"
        where = "none of them on the evaluation side" if held_out else "nothing to select"
        raise ParamsError(f"no task to evaluate on ({len(selection.items)} selected, {len(selection.excluded)} "
                          f"excluded: {where})", field=field, value=getattr(params, field))
    return ("test" if held_out else "all"), attrs.evolve(selection, items=items)


def load_models(models: ModelSource | Sequence[ModelSource], spark: Any = None) -> list[LoadedModel]:
    """Each model given, loaded (a loaded model as it is; a training result gives all its models).

    Raises:
        ParamsError: nothing is given, or an item is not a model.
        ModelCardError: a folder is not a model.
    """
    if isinstance(models, (str, os.PathLike, TrainedModel, LoadedModel, TrainingResult)):
        models = [models]
    if not isinstance(models, Iterable):
        raise ParamsError(f"expected a model or a list of models, got {type(models).__name__}", field="models")
    loaded: list[LoadedModel] = []
    for index, source in enumerate(models):
        if isinstance(source, LoadedModel):
            loaded.append(source)
        elif isinstance(source, TrainingResult):
            loaded.extend(load_model(model, spark=spark) for model in source.models)
        elif isinstance(source, (str, os.PathLike, TrainedModel)):
            loaded.append(load_model(source, spark=spark))
        else:
            raise ParamsError("expected a model folder, a TrainedModel, a LoadedModel or a TrainingResult",
                              field=f"models[{index}]", value=type(source).__name__)
    if not loaded:
        raise ParamsError("no model to evaluate", field="models")
    return loaded


def _by_kind(loaded: list[LoadedModel]) -> dict[str, LoadedModel]:
    """The models by kind, in ``predict()``'s order; one of each kind at most."""
    found: dict[str, LoadedModel] = {}
    for model in loaded:
        kind = model.model.kind
        if kind not in KINDS:
            raise ParamsError(f"{model.model.name} is a {kind!r} model; evaluate scores {', '.join(KINDS)} models",
                              field="models", value=model.model.name)
        if kind in found:
            raise ParamsError(f"two {kind} models ({found[kind].model.name}, {model.model.name}): evaluate one "
                              "model of each kind at a time, or compare the two with compare()", field="models",
                              value=model.model.name)
        found[kind] = model
    return {kind: found[kind] for kind in TRAINING_TYPES if kind in found}


def _split_results(loaded: dict[str, LoadedModel],
                   predictions: list[dict[str, Any]]) -> dict[str, list[list[dict[str, Any]]]]:
    """Each model's own result items per task, out of ``predict()``'s merged ones.

    ``choices`` items are the classifier's; a ``labels`` item is the assertion model's when its label is one
    of that model's statuses, else the entity model's (their labels never overlap in a labeling config).
    """
    statuses = set(loaded["assertion"].model.labels) if "assertion" in loaded else set()
    split: dict[str, list[list[dict[str, Any]]]] = {kind: [] for kind in loaded}
    for prediction in predictions:
        mine: dict[str, list[dict[str, Any]]] = {kind: [] for kind in loaded}
        for result in prediction["result"]:
            if result.get("type") == "choices":
                kind = "classification"
            elif result.get("type") == "labels":
                kind = "assertion" if set(result["value"].get("labels", ())) & statuses else "ner"
            else:
                continue
            if kind in mine:
                mine[kind].append(result)
        for kind, found in mine.items():
            split[kind].append(found)
    return split


def _control_of(model: LoadedModel, project: Project, params: TrainingParams) -> Any:
    """The ``<Choices>`` a classifier is scored on: the one its card names, else the one training would use."""
    named = model.extra.get("from_name")
    control = project.config.choices_control(named) if isinstance(named, str) else None
    return control if control is not None else choices_control(project.config, params)
