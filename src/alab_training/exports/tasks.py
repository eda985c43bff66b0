"""Reading exports: Annotation Lab JSON (``completions``), Label Studio JSON (``annotations``), the Label Studio
API task list and snapshot, and JSON_MIN rows (:mod:`.rows`).

Structural problems (not tasks, a task without text) raise :class:`~alab_training.errors.ExportError`. Per-item
problems (a bad offset, a span whose text differs from the task text, a label the config lacks) become
:class:`~alab_training.model.LoadWarning` s with their JSON path and the item is left out — or raise, with
``strict=True``. Reading files (streamed JSON, CSV/TSV) is :mod:`.files`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from alab_training.arguments import shown
from alab_training.exports.items import ItemReader
from alab_training.exports.rows import read_rows
from alab_training.exports.values import MAPPING, TASK_KEYS, identifier, number, parse_timestamp, person
from alab_training.model import ChoiceAnswer, Completion, CompletionStatus, Prediction, Review, Span, Task

__all__ = ["ExportReader"]

#: Fields only Annotation Lab completions carry; without them a completion lacking ``submitted_at`` comes from
#: an early Label Studio ``completions`` export, where every completion was submitted.
_ALAB_COMPLETION_MARKERS = ("honeypot", "created_username")


class ExportReader(ItemReader):
    """Turns raw export data into :class:`~alab_training.model.Task` objects, collecting warnings on the way."""

    def read(self, data: Any) -> tuple[Task, ...]:
        """Read any supported export shape (see the module docstring)."""
        if isinstance(data, MAPPING):
            if isinstance(data.get("tasks"), list):
                self.export_format = "label_studio"
                return self.read_tasks(data["tasks"], "$.tasks")
            if any(key in data for key in TASK_KEYS):
                return (self._task(data, "$", 0),)
            if "converted_formats" in data or "counters" in data:
                raise self.fail("$", "this is an export's metadata, not tasks; download the export itself")
            if "label_config" in data:
                raise self.fail("$", "this is a Label Studio project description (it holds a config, not tasks); "
                                     "export the project's tasks as JSON")
            raise self.fail("$", "expected a list of tasks (or an object with a 'tasks' list)")
        if not isinstance(data, list):
            raise self.fail("$", f"expected a list of tasks, got {type(data).__name__}")
        first = next((item for item in data if isinstance(item, MAPPING)), None)
        if first is None:
            if data:
                raise self.fail("$[0]", f"expected a task object, got {type(data[0]).__name__}")
            return ()
        if any(key in first for key in TASK_KEYS):
            return self.read_tasks(data, "$")
        if "result" in first and "task" in first:
            raise self.fail("$", "this is a list of predictions, not tasks; export the project's tasks")
        self.export_format = "label_studio_min"
        return tuple(read_rows(self, data, "$"))

    def read_tasks(self, items: Iterable[Any], base: str) -> tuple[Task, ...]:
        """A list of task objects, or a stream of them (see :func:`read_export_file`); ``base`` is its path."""
        return tuple(self.iter_tasks(items, base))

    def iter_tasks(self, items: Iterable[Any], base: str) -> Iterator[Task]:
        """The tasks of ``items`` one at a time, as they are read (nothing but their ids is kept)."""
        seen: set[int | str] = set()
        for index, item in enumerate(items):
            task = self._task(item, f"{base}[{index}]", index)
            if task.id in seen:
                self.warn(f"{base}[{index}].id", "duplicate_task_id",
                          f"task id {shown(task.id)} appears more than once")
            seen.add(task.id)
            yield task

    # -- tasks ------------------------------------------------------------------------------------------------

    def _list_field(self, task: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = task.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", f"'{key}' must be a list, got {type(value).__name__}")
        return value

    def _task(self, raw: Any, path: str, index: int) -> Task:
        if not isinstance(raw, MAPPING):
            raise self.fail(path, f"expected a task object, got {type(raw).__name__}")
        data = raw.get("data")
        if not isinstance(data, MAPPING):
            raise self.fail(f"{path}.data", "the task has no 'data' object with its text")
        text = self.text_of(data, f"{path}.data")
        task_id = identifier(raw.get("id"))
        if task_id is None:
            task_id = index
            if "id" in raw:
                self.warn(f"{path}.id", "bad_task_id", f"task id must be an integer or string, got {shown(raw['id'])}; "
                                                       f"using its position {index}")
        title = data.get("title")
        completions = []
        for key in ("completions", "annotations"):
            if key == "annotations" and key in raw:
                self.export_format = "label_studio"
            for j, item in enumerate(self._list_field(raw, key, path)):
                completion = self._completion(item, f"{path}.{key}[{j}]", j, text, key)
                if completion is not None:
                    completions.append(completion)
        drafts = []
        for j, item in enumerate(self._list_field(raw, "drafts", path)):
            if isinstance(item, MAPPING):  # the sync export writes drafts out; other endpoints give ids only
                draft = self._completion(item, f"{path}.drafts[{j}]", j, text, "drafts")
                if draft is not None:
                    drafts.append(draft)
        predictions = []
        for j, item in enumerate(self._list_field(raw, "predictions", path)):
            if isinstance(item, MAPPING):  # the Label Studio sync export lists prediction ids only
                predictions.append(self._prediction(item, f"{path}.predictions[{j}]", text))
        return Task(
            id=task_id,
            text=text,
            title=title if isinstance(title, str) else None,
            tags=self.tags(raw, path),
            completions=tuple(completions),
            drafts=tuple(drafts),
            predictions=tuple(predictions),
            data=data,
        )

    # -- completions ------------------------------------------------------------------------------------------

    def _status(self, raw: Mapping[str, Any], container: str) -> CompletionStatus:
        if container == "drafts":
            return CompletionStatus.DRAFT
        if raw.get("was_cancelled") is True or raw.get("skipped") is True:
            return CompletionStatus.CANCELLED
        if container == "completions" and raw.get("submitted_at") is None:
            if any(marker in raw for marker in _ALAB_COMPLETION_MARKERS):
                return CompletionStatus.DRAFT
        return CompletionStatus.SUBMITTED

    def _review(self, raw: Mapping[str, Any], path: str) -> Review | None:
        status = raw.get("review_status")
        if status is not None:
            where = f"{path}.review_status"
            if not isinstance(status, MAPPING) or not isinstance(status.get("approved"), bool):
                self.warn(where, "bad_review", "review_status must be an object with a boolean 'approved'; ignored")
                return None
            comment = status.get("comment")
            return Review(
                approved=status["approved"],
                reviewer=self._shared(person(status.get("reviewer"))),
                comment=comment if isinstance(comment, str) else None,
                reviewed_at=self.timestamp(status, "reviewed_at", where),
            )
        reviews = raw.get("reviews")
        if not reviews:
            return None
        if not isinstance(reviews, list):
            self.warn(f"{path}.reviews", "bad_review", "reviews must be a list; ignored")
            return None
        valid = []
        for index, review in enumerate(reviews):
            where = f"{path}.reviews[{index}]"
            if not isinstance(review, MAPPING) or not isinstance(review.get("accepted"), bool):
                self.warn(where, "bad_review", "a review needs a boolean 'accepted'; ignored")
                continue
            moment = self.timestamp(review, "created_at", where)
            valid.append((moment or datetime.min.replace(tzinfo=timezone.utc), index, review, moment))
        if not valid:
            return None
        _, _, latest, moment = max(valid, key=lambda entry: entry[:2])
        comment = latest.get("comment")
        return Review(
            approved=latest["accepted"],
            reviewer=self._shared(person(latest.get("created_by"))),
            comment=comment if isinstance(comment, str) else None,
            reviewed_at=moment,
        )

    def _completion(self, raw: Any, path: str, index: int, text: str, container: str) -> Completion | None:
        if not isinstance(raw, MAPPING):
            self.warn(path, "bad_completion", f"expected a completion object, got {type(raw).__name__}; left out")
            return None
        result = raw.get("result")
        if result is None:
            result = []
        if not isinstance(result, list):
            self.warn(f"{path}.result", "bad_completion",
                      f"'result' must be a list, got {type(result).__name__}; completion left out")
            return None
        completion_id = identifier(raw.get("id"))
        spans, choices, relations = self.results(result, f"{path}.result", text)
        return Completion(
            id=completion_id if completion_id is not None else index,
            status=self._status(raw, container),
            annotator=self._shared(person(raw.get("completed_by")) or person(raw.get("created_username"))
                                   or person(raw.get("user"))),
            submitted_at=self.timestamp(raw, "submitted_at", path),
            updated_at=self.timestamp(raw, "updated_at", path),
            created_at=self.timestamp(raw, "created_at", path) or parse_timestamp(raw.get("created_ago")),
            starred=raw.get("honeypot") is True or raw.get("ground_truth") is True,
            review=self._review(raw, path),
            spans=spans,
            choices=choices,
            relations=relations,
            lead_time=number(raw.get("lead_time")),
        )

    def _prediction(self, raw: Mapping[str, Any], path: str, text: str) -> Prediction:
        result = raw.get("result")
        spans: tuple[Span, ...] = ()
        choices: tuple[ChoiceAnswer, ...] = ()
        if isinstance(result, list):
            spans, choices, _ = self.results(result, f"{path}.result", text)
        elif result is not None:
            self.warn(f"{path}.result", "bad_prediction", "'result' must be a list; prediction results left out")
        version = raw.get("model_version") or raw.get("created_username")
        return Prediction(
            id=identifier(raw.get("id")),
            model_version=version if isinstance(version, str) else None,
            score=number(raw.get("score")),
            spans=spans,
            choices=choices,
        )

    # -- result items -----------------------------------------------------------------------------------------
