"""Pre-annotation: load a trained model and predict in the export's own format.

Predictions come back as Annotation Lab / Label Studio prediction objects, offsets in code points of the
original text with exclusive ends, ready to import as pre-annotations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from alab_training.arguments import expect, expect_path, expect_session
from alab_training.config import TRAINING_TYPES
from alab_training.errors import ParamsError, PluginError
from alab_training.model import Task, TrainedModel
from alab_training.model_card import read_model_card
from alab_training.plugins.manager import get_plugin_manager
from alab_training.runtime.embeddings import fit_for_executors
from alab_training.trainers.base import LoadedModel, PredictionInput

__all__ = ["load_model", "predict"]


def load_model(path: str | os.PathLike[str] | TrainedModel, spark: Any = None) -> LoadedModel:
    """Load a model directory written by training (its ``model.json`` and Spark pipeline).

    Raises:
        ModelCardError: not a model directory.
        ParamsError: ``path`` is neither a path nor a :class:`~alab_training.model.TrainedModel`.
    """
    from pyspark.ml import PipelineModel

    from alab_training.runtime import start_session

    folder = path.path if isinstance(path, TrainedModel) else expect_path(path, "path")
    expect_session(spark)
    model, extra = read_model_card(folder)
    spark = spark if spark is not None else start_session()
    pipeline = PipelineModel.load(str(folder / extra.get("pipeline", "pipeline")))
    fit_for_executors(spark, pipeline.stages)
    return LoadedModel(model=model, pipeline=pipeline, extra=extra)


def _inputs(tasks: Iterable[Task | dict[str, Any] | str | PredictionInput]) -> list[PredictionInput]:
    items = []
    for index, task in enumerate(tasks):
        if isinstance(task, PredictionInput):
            items.append(task)  # entities already known: an assertion model classifies them (evaluation's gold)
        elif isinstance(task, Task):
            items.append(PredictionInput(task_id=task.id, text=task.text))
        elif isinstance(task, str):
            items.append(PredictionInput(task_id=index, text=task))
        elif isinstance(task, dict) and isinstance(task.get("data"), dict) and isinstance(task["data"].get("text"),
                                                                                         str):
            items.append(PredictionInput(task_id=task.get("id", index), text=task["data"]["text"]))
        else:
            raise ParamsError("expected Task objects, task dicts with data.text, strings or PredictionInput",
                              field=f"tasks[{index}]", value=type(task).__name__)
    return items


def predict(models: LoadedModel | Sequence[LoadedModel],
            tasks: Iterable[Task | dict[str, Any] | str | PredictionInput]) -> list[dict[str, Any]]:
    """One prediction object per task, in order: ``{"task", "model_version", "score", "result": [...]}``.

    Result items are in the export's format: ``labels`` spans (``value.start``/``end`` in code points,
    ``end`` exclusive), ``choices`` answers, and assertion status as a second ``labels`` item on an entity's
    offsets. With several models (e.g. a project's NER, assertion and classification models) their results are
    merged per task, entity models first, so an assertion model classifies the entities just found.
    ``score`` is the mean confidence of the task's result items. A :class:`PredictionInput` may carry entities
    already known (``(start, end, label)``): an assertion model classifies those as well as the ones found.

    Raises:
        PluginError: no installed trainer predicts the model's kind.
        ParamsError: ``models`` or ``tasks`` is not what they should be.
    """
    from pyspark.sql import SparkSession

    from alab_training.runtime import start_session

    loaded = [models] if isinstance(models, LoadedModel) else list(
        expect(models, "models", (list, tuple), "a LoadedModel (load_model) or a list of them"))
    for index, model in enumerate(loaded):
        expect(model, f"models[{index}]", LoadedModel, "a LoadedModel (load_model)")
    if not loaded:  # else the engine would start only to predict nothing
        raise ParamsError("expected at least one LoadedModel, got an empty list", field="models", value=models)
    if isinstance(tasks, str) or not isinstance(tasks, Iterable):
        raise ParamsError(f"expected a list of tasks, got {type(tasks).__name__}", field="tasks", value=tasks)
    items = _inputs(tasks)
    if not items:
        return []
    spark = SparkSession.getActiveSession() or start_session()
    trainers = get_plugin_manager().trainers()
    results: list[list[dict[str, Any]]] = [[] for _ in items]
    for model in sorted(loaded, key=lambda m: TRAINING_TYPES.index(m.model.kind)
                        if m.model.kind in TRAINING_TYPES else len(TRAINING_TYPES)):
        trainer = trainers.get(model.model.kind)
        if trainer is None or not trainer.can_predict:
            raise PluginError(f"no installed trainer predicts {model.model.kind!r} models")
        for index, found in enumerate(trainer.predict(spark, model, items)):
            results[index].extend(found)
        # Later models see what earlier ones found (an assertion model needs the entities).
        items = [attrs.evolve(item, entities=item.entities + tuple(
            (r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in found
            if r.get("type") == "labels")) for item, found in zip(items, results)]
    version = ",".join(model.model.name for model in loaded)
    predictions = []
    for item, result in zip(items, results):
        scores = [r["value"]["confidence"] for r in result if r["value"].get("confidence") is not None]
        predictions.append({"task": item.task_id, "model_version": version,
                            "score": sum(scores) / len(scores) if scores else None, "result": result})
    return predictions
