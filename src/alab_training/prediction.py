"""Pre-annotation: load a trained model and predict in the export's own format.

Predictions come back as Annotation Lab / Label Studio prediction objects, offsets in code points of the
original text with exclusive ends, ready to import as pre-annotations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from alab_training.domain import Task
from alab_training.errors import ParamsError
from alab_training.model_io import read_model_card
from alab_training.results import TrainedModel
from alab_training.trainers.ner.convert import offset_mapper

__all__ = ["LoadedModel", "load_model", "predict"]


@attrs.frozen
class LoadedModel:
    """A trained model ready to predict: its card and its Spark pipeline."""

    model: TrainedModel
    pipeline: Any
    extra: dict[str, Any] = attrs.field(factory=dict)


def load_model(path: str | os.PathLike[str] | TrainedModel, spark: Any = None) -> LoadedModel:
    """Load a model directory written by training (its ``model.json`` and Spark pipeline).

    Raises:
        ModelCardError: not a model directory.
    """
    from pyspark.ml import PipelineModel

    from alab_training.engine import start_session

    folder = path.path if isinstance(path, TrainedModel) else Path(path)
    model, extra = read_model_card(folder)
    if spark is None:
        start_session()
    pipeline = PipelineModel.load(str(folder / extra.get("pipeline", "pipeline")))
    return LoadedModel(model=model, pipeline=pipeline, extra=extra)


def _texts(tasks: Iterable[Task | dict[str, Any] | str]) -> list[tuple[Any, str]]:
    items = []
    for index, task in enumerate(tasks):
        if isinstance(task, Task):
            items.append((task.id, task.text))
        elif isinstance(task, str):
            items.append((index, task))
        elif isinstance(task, dict) and isinstance(task.get("data"), dict) and isinstance(task["data"].get("text"),
                                                                                         str):
            items.append((task.get("id", index), task["data"]["text"]))
        else:
            raise ParamsError("expected Task objects, task dicts with data.text, or strings", field=f"tasks[{index}]",
                              value=type(task).__name__)
    return items


def predict(model: LoadedModel, tasks: Iterable[Task | dict[str, Any] | str]) -> list[dict[str, Any]]:
    """One prediction object per task, in order: ``{"task", "model_version", "score", "result": [...]}``.

    Each result item is ``{"id", "from_name", "to_name", "type": "labels", "value": {"start", "end", "text",
    "labels", "confidence"}}``; ``score`` is the mean confidence of the task's entities.
    """
    from pyspark.sql import SparkSession

    from alab_training.engine import start_session

    items = _texts(tasks)
    if not items:
        return []
    spark = SparkSession.getActiveSession() or start_session()
    frame = spark.createDataFrame([(i, text) for i, (_, text) in enumerate(items)], "row int, text string")
    rows = {row["row"]: row["ner_chunk"]
            for row in model.pipeline.transform(frame).select("row", "ner_chunk").toLocalIterator()}
    from_name = model.extra.get("from_name", "label")
    to_name = model.extra.get("to_name", "text")
    predictions = []
    for index, (task_id, text) in enumerate(items):
        to_code_point = offset_mapper(text)
        result = []
        for chunk in rows.get(index, []):
            start, end = to_code_point(chunk["begin"]), to_code_point(chunk["end"] + 1)
            confidence = float(chunk["metadata"].get("confidence", "nan"))
            result.append({"id": f"{model.model.name}-{task_id}-{len(result)}", "from_name": from_name,
                           "to_name": to_name, "type": "labels",
                           "value": {"start": start, "end": end, "text": text[start:end],
                                     "labels": [chunk["metadata"]["entity"]],
                                     "confidence": None if confidence != confidence else confidence}})
        scores = [r["value"]["confidence"] for r in result if r["value"]["confidence"] is not None]
        predictions.append({"task": task_id, "model_version": model.model.name,
                            "score": sum(scores) / len(scores) if scores else None, "result": result})
    return predictions
