"""The models the service serves: loaded once, warmed, switched atomically, predicted one batch at a time.

A model switch never leaves a project without a model: the new models are loaded and run once on a short text
while the old ones keep answering; only then does the project's entry change, in one assignment. Everything
that touches Spark — loading, warming, predicting — runs on one thread of its own, one call at a time: the
service shares one driver, two batches at once would only slow each other down and double the memory a batch
needs, and Spark keeps its active session per thread (a pool of threads would each look for one anew).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ModelsLoadingError

__all__ = ["WARM_UP_TEXT", "ModelServer", "ServedModels"]

_LOG = logging.getLogger(__name__)
#: What a freshly loaded pipeline predicts on before it serves (Spark compiles and caches its plans then).
WARM_UP_TEXT = "The patient was admitted with fever and a cough."


@attrs.frozen
class ServedModels:
    """The models one project serves.

    Attributes:
        job_id: the training job that made them.
        names: the model names (folders of the models directory), in the job's order.
        version: ``model_version`` as Label Studio sees it: the names joined by commas (what ``predict()``
            writes).
        models: the loaded models (:class:`~alab_training.LoadedModel`).
    """

    job_id: str
    names: tuple[str, ...]
    version: str
    models: tuple[Any, ...] = attrs.field(repr=False, eq=False)


def _default_load(path: Path) -> Any:
    from alab_training.lifecycle.prediction import load_model

    return load_model(path)


def _default_predict(models: Sequence[Any], tasks: list[Any]) -> list[dict[str, Any]]:
    from alab_training.lifecycle.prediction import predict

    return predict(list(models), tasks)


class ModelServer:
    """Every project's served models.

    Args:
        models_dir: where the models are (the job runner's models folder).
        load: ``load(path) -> model``; default :func:`alab_training.load_model`.
        predict: ``predict(models, tasks) -> predictions``; default :func:`alab_training.predict`.
    """

    def __init__(self, models_dir: str | os.PathLike[str], *, load: Callable[[Path], Any] | None = None,
                 predict: Callable[[Sequence[Any], list[Any]], list[dict[str, Any]]] | None = None) -> None:
        self.models_dir = Path(models_dir)
        self._load = load or _default_load
        self._predict = predict or _default_predict
        self._served: dict[int, ServedModels] = {}
        self._loading: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._spark = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="alab-training-spark")

    def _on_spark(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` on the Spark thread, after whatever is queued there; its result."""
        return self._spark.submit(function, *args).result()

    def close(self) -> None:
        """Stop the Spark thread once its queued calls are done (the Spark session itself stays)."""
        self._spark.shutdown(wait=False)

    def served(self, project_id: int) -> ServedModels | None:
        """What the project serves now (memory only)."""
        return self._served.get(project_id)

    def expect(self, project_id: int) -> None:
        """Mark a project as loading, so predictions wait for :meth:`load` instead of answering empty."""
        with self._lock:
            self._loading.setdefault(project_id, threading.Event())

    def load(self, project_id: int, job_id: str, names: Sequence[str]) -> ServedModels:
        """Load the models, warm them, then make them the project's served models.

        Raises:
            Exception: whatever loading or warming raised; the project keeps serving what it served.
        """
        names = tuple(names)
        self.expect(project_id)
        try:
            models = self._on_spark(lambda: tuple(self._load(self.models_dir / name) for name in names))
            self._on_spark(self._predict, models, [WARM_UP_TEXT])
            served = ServedModels(job_id=job_id, names=names, version=",".join(names), models=models)
            self._served[project_id] = served  # one assignment: a prediction sees the old models or the new
            return served
        finally:
            self.done(project_id)

    def done(self, project_id: int) -> None:
        """End a project's loading (also when nothing could be loaded), releasing waiting predictions."""
        with self._lock:
            event = self._loading.pop(project_id, None)
        if event is not None:
            event.set()

    def predict(self, project_id: int, tasks: list[Any], *,
                wait: float = 90.0) -> tuple[ServedModels | None, list[dict[str, Any]]]:
        """The served models and their predictions for ``tasks`` (``(None, [])`` when nothing is served).

        Waits up to ``wait`` seconds for models being loaded (after a restart, or the project's first model).

        Raises:
            ModelsLoadingError: the models are still loading after ``wait`` seconds.
        """
        event = self._loading.get(project_id)
        if event is not None and self._served.get(project_id) is None and not event.wait(wait):
            raise ModelsLoadingError(project_id, wait)
        served = self._served.get(project_id)
        if served is None or not tasks:
            return served, []
        return served, self._on_spark(self._predict, served.models, tasks)
