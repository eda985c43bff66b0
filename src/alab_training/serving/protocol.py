"""The Label Studio ML-backend protocol's payloads: checked on the way in, shaped on the way out.

Plain functions on dicts. Every refusal is a :class:`~alab_training.errors.ProtocolError` with a 4xx
status and one line saying what is wrong and where (``tasks[3].data.text: …``). What Label Studio 1.23.2 sends
is described in ``shared/docs/label-studio-ml-backend.md``; real requests are in the tests' samples.
"""

from __future__ import annotations

import functools
from typing import Any

from alab_training.config import LabelingConfig, load_config
from alab_training.errors import ConfigError, ProtocolError

__all__ = [
    "ANNOTATION_ACTIONS",
    "IGNORED_ACTIONS",
    "START_TRAINING",
    "UNTRAINED",
    "label_config",
    "ls_prediction",
    "metrics_project",
    "parse_project_id",
    "prediction_tasks",
    "require_object",
    "webhook_project",
]

#: What ``/setup`` reports while a project has no model (Label Studio stores it as the backend's version).
UNTRAINED = "untrained"
START_TRAINING = "START_TRAINING"
#: Annotation events: active learning counts the project's submitted annotations again.
ANNOTATION_ACTIONS = frozenset({"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED",
                                "ANNOTATIONS_DELETED"})
#: The other actions Label Studio sends to a backend's webhook (it subscribes it to all): answered, not acted on.
#: ``PROJECT_UPDATED`` still refreshes the stored labeling config.
IGNORED_ACTIONS = frozenset({"PROJECT_CREATED", "PROJECT_UPDATED", "PROJECT_DELETED", "TASKS_CREATED",
                             "TASKS_DELETED", "LABEL_LINK_CREATED", "LABEL_LINK_UPDATED", "LABEL_LINK_DELETED"})


def require_object(body: Any, what: str = "the request body") -> dict[str, Any]:
    """``body`` if it is a JSON object.

    Raises:
        ProtocolError: 400 otherwise.
    """
    if not isinstance(body, dict):
        raise ProtocolError(400, f"{what} must be a JSON object, got {_kind(body)}")
    return body


def parse_project_id(value: Any, where: str = "project") -> int:
    """The Label Studio project id from ``"<id>.<created unix time>"`` (``/setup``, ``/predict``), an int or a
    numeric string.

    Raises:
        ProtocolError: 400 for anything else.
    """
    if isinstance(value, bool):
        raise ProtocolError(400, f"{where}: expected a project id, got {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str):
        head = value.split(".", 1)[0].strip()
        if head.isdigit() and int(head) > 0:
            return int(head)
    raise ProtocolError(400, f"{where}: expected a project id such as \"12\" or \"12.1700000000\", got "
                             f"{_short(value)}")


def metrics_project(query: Any) -> int | None:
    """The project ``/metrics`` is asked about (``?project=ID``), ``None`` for all of them.

    Raises:
        ProtocolError: 400 for another parameter (a misspelt ``project`` would otherwise answer every project),
            a project given twice, or one that is not a project id.
    """
    query = require_object({} if query is None else query, "the query")
    unknown = sorted(set(query) - {"project"})
    if unknown:
        raise ProtocolError(400, f"unknown query parameter {_short(unknown[0])}: /metrics takes only project=ID")
    return None if query.get("project") is None else parse_project_id(query["project"])


def webhook_project(body: dict[str, Any]) -> tuple[int, str, str | None]:
    """``(id, label config, title)`` of a webhook's ``project`` object.

    Raises:
        ProtocolError: 400 when it is missing or lacks an id or a labeling config.
    """
    project = require_object(body.get("project"), "project")
    project_id = parse_project_id(project.get("id"), "project.id")
    config = project.get("label_config")
    if not isinstance(config, str) or not config.strip():
        raise ProtocolError(400, "project.label_config: expected the labeling config XML")
    title = project.get("title")
    return project_id, config, title if isinstance(title, str) else None


@functools.lru_cache(maxsize=64)
def _parsed(xml: str) -> LabelingConfig:
    return load_config(xml)


def label_config(xml: Any, where: str = "label_config") -> LabelingConfig:
    """The parsed labeling config, checked to hold something alab-training can train (parses are cached:
    ``/setup`` sends the same config again and again).

    Raises:
        ProtocolError: 422 for a config that does not parse, breaks a rule, or has no ``<Labels>`` or
            ``<Choices>``; 400 for a value that is not text.
    """
    if not isinstance(xml, str) or not xml.strip():
        raise ProtocolError(400, f"{where}: expected the labeling config XML, got {_kind(xml)}")
    try:
        config = _parsed(xml)
    except ConfigError as exc:
        raise ProtocolError(422, f"{where}: the labeling config is not usable: {exc}") from None
    if not config.training_types():
        raise ProtocolError(422, f"{where}: nothing alab-training can train in this labeling config (it needs a "
                                 f"<Labels> or a <Choices> on a <Text>)")
    return config


def prediction_tasks(tasks: Any, config: LabelingConfig) -> list[dict[str, Any]]:
    """``/predict``'s tasks as ``predict()`` takes them: ``{"id", "data": {"text"}}``, the text read from the
    data key the config names (``<Text value="$text">``).

    Raises:
        ProtocolError: 400 for a task that is not an object, has no id, or no text under that key.
    """
    if not isinstance(tasks, list):
        raise ProtocolError(400, f"tasks: expected a list of tasks, got {_kind(tasks)}")
    key = config.text_key
    items = []
    for index, task in enumerate(tasks):
        task = require_object(task, f"tasks[{index}]")
        data = task.get("data")
        if not isinstance(data, dict):
            raise ProtocolError(400, f"tasks[{index}].data: expected an object, got {_kind(data)}")
        text = data.get(key)
        if not isinstance(text, str):
            raise ProtocolError(400, f"tasks[{index}].data.{key}: expected the task's text, got {_kind(text)}")
        task_id = task.get("id")
        if isinstance(task_id, bool) or not isinstance(task_id, (int, str)):
            raise ProtocolError(400, f"tasks[{index}].id: expected the task id, got {_short(task_id)}")
        items.append({"id": task_id, "data": {"text": text}})
    return items


def ls_prediction(prediction: dict[str, Any]) -> dict[str, Any]:
    """One ``predict()`` prediction in the shape ``/predict`` answers: ``{"result", "score", "model_version"}``.

    The result items are ``predict()``'s own; each gets a top-level ``score`` (its ``value.confidence``), which
    Label Studio shows on the region. The prediction's ``score`` is their mean confidence, ``0.0`` for a
    prediction with no item (Label Studio sorts tasks by it; nothing found is nothing to be sure of).
    """
    result = []
    for item in prediction["result"]:
        confidence = item.get("value", {}).get("confidence")
        result.append({**item, "score": confidence} if confidence is not None else dict(item))
    score = prediction.get("score")
    return {"result": result, "score": float(score) if score is not None else 0.0,
            "model_version": prediction["model_version"]}


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
