"""Reading exports: Annotation Lab JSON (``completions``), Label Studio JSON (``annotations``), the Label Studio
API task list and snapshot, and JSON_MIN / CSV / TSV rows.

A file holding a JSON array of tasks is streamed, one task at a time (:func:`read_export_file`).

Structural problems (not JSON, not tasks, a task without text) raise :class:`ExportError`. Per-item problems
(a bad offset, a span whose text differs from the task text, a label the config lacks) become
:class:`LoadWarning` s with their JSON path and the item is left out — or raise, with ``strict=True``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from alab_training.config import LabelingConfig
from alab_training.domain import (
    ChoiceAnswer,
    Completion,
    CompletionStatus,
    LoadWarning,
    Prediction,
    Relation,
    Review,
    Span,
    Task,
)
from alab_training.errors import ExportError

__all__ = ["WARNING_CODES", "ExportReader", "read_export_file"]

#: Every code a :class:`LoadWarning` can carry, with what it means; each names an item that was left out.
WARNING_CODES = {
    "bad_completion": "a completion is not an object, or its 'result' is not a list",
    "bad_item": "a result item is not an object, lacks 'type' or 'value', or a JSON_MIN/CSV cell is unreadable",
    "bad_offset": "'start' or 'end' is not an integer",
    "offset_out_of_range": "the span does not fit in the text (negative, past the end, or empty)",
    "text_mismatch": "the span's 'text' differs from the task text at its offsets",
    "bad_labels": "'labels' is not a non-empty list of strings",
    "unknown_control": "'from_name' names no <Labels>/<Choices> of the config",
    "unknown_label": "a label the config's <Labels> lacks",
    "bad_choices": "'choices' is not a list of strings",
    "unknown_choice": "a choice the config's <Choices> lacks",
    "bad_relation": "a relation without string 'from_id'/'to_id', or with non-string labels",
    "dangling_relation": "a relation to a region that is not a kept span of the same completion",
    "bad_review": "a review without a boolean 'approved' / 'accepted' (the review is ignored)",
    "bad_timestamp": "an unreadable timestamp (ignored; the next one in line decides recency)",
    "bad_tags": "tags that are not a list of strings",
    "bad_task_id": "a task id that is neither an integer nor a string (its position is used)",
    "duplicate_task_id": "two tasks share one id",
    "bad_prediction": "a prediction whose 'result' is not a list",
}

#: What counts as a JSON object: ``dict`` is tested first because the ``Mapping`` ABC check is slow, and an
#: export holds millions of objects.
_MAPPING = (dict, Mapping)
#: Keys that make an object a task (and a list starting with one, a list of tasks).
_TASK_KEYS = ("completions", "annotations", "data")
_TEXT_FALLBACKS = ("text", "longText")
_MIN_ROW_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"}
#: Fields only Annotation Lab completions carry; without them a completion lacking ``submitted_at`` comes from
#: an early Label Studio ``completions`` export, where every completion was submitted.
_ALAB_COMPLETION_MARKERS = ("honeypot", "created_username")


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 in any of the shapes the tools write; naive times are taken as UTC so all compare."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _person(value: Any) -> str | None:
    """An annotator or reviewer: a name, an email, or a Label Studio user id/object."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, _MAPPING):
        return _person(value.get("email")) or _person(value.get("username")) or _person(value.get("id"))
    return None


def _number(value: Any) -> float | None:
    """Confidences and scores: a number, or a numeric string as Annotation Lab predictions write them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _identifier(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value):
        return value
    return None


class _Problem(Exception):
    """A result item's problem, raised before the item's JSON path is spelled out (only problems need it).

    ``where`` is the path's tail below the checked value (``.end``, ``.labels``, or ``""`` for the value
    itself); with ``on_item`` it is below the result item instead (its ``.from_name``).
    """

    def __init__(self, where: str, code: str, message: str, *, on_item: bool = False) -> None:
        super().__init__(message)
        self.where = where
        self.code = code
        self.message = message
        self.on_item = on_item


class ExportReader:
    """Turns raw export data into :class:`Task` objects, collecting warnings on the way.

    One reader reads one export; ``warnings`` holds what it left out.
    """

    def __init__(self, config: LabelingConfig, *, strict: bool = False, source: str | None = None) -> None:
        self.config = config
        self._text_keys = (config.text_key, *(k for k in _TEXT_FALLBACKS if k != config.text_key))
        self.strict = strict
        self.source = source
        self.warnings: list[LoadWarning] = []
        self.export_format = "annotation_lab"
        self._label_sets = {c.name: frozenset(label.value for label in c.labels) for c in config.labels_controls}
        self._choices = {c.name: frozenset(c.values) for c in config.choices_controls}
        #: Each label combination that passed the checks, by ``(from_name, *labels)``: checked once, and one
        #: labels tuple shared by all its spans (an export repeats a few combinations a million times).
        self._checked_labels: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
        #: One string object per distinct ``to_name``, annotator or reviewer rather than one per occurrence.
        self._names: dict[str, str] = {}

    def _shared(self, name: str | None) -> str | None:
        return None if name is None else self._names.setdefault(name, name)

    # -- problems ---------------------------------------------------------------------------------------------

    def fail(self, path: str, message: str) -> ExportError:
        return ExportError(message, path=path, source=self.source)

    def warn(self, path: str, code: str, message: str) -> None:
        if self.strict:
            raise self.fail(path, message)
        self.warnings.append(LoadWarning(path=path, message=message, code=code))

    # -- entry point ------------------------------------------------------------------------------------------

    def read(self, data: Any) -> tuple[Task, ...]:
        """Read any supported export shape (see the module docstring)."""
        if isinstance(data, _MAPPING):
            if isinstance(data.get("tasks"), list):
                self.export_format = "label_studio"
                return self._read_tasks(data["tasks"], "$.tasks")
            if any(key in data for key in _TASK_KEYS):
                return (self._task(data, "$", 0),)
            if "converted_formats" in data or "counters" in data:
                raise self.fail("$", "this is an export's metadata, not tasks; download the export itself")
            if "label_config" in data:
                raise self.fail("$", "this is a Label Studio project description (it holds a config, not tasks); "
                                     "export the project's tasks as JSON")
            raise self.fail("$", "expected a list of tasks (or an object with a 'tasks' list)")
        if not isinstance(data, list):
            raise self.fail("$", f"expected a list of tasks, got {type(data).__name__}")
        first = next((item for item in data if isinstance(item, _MAPPING)), None)
        if first is None:
            if data:
                raise self.fail("$[0]", f"expected a task object, got {type(data[0]).__name__}")
            return ()
        if any(key in first for key in _TASK_KEYS):
            return self._read_tasks(data, "$")
        if "result" in first and "task" in first:
            raise self.fail("$", "this is a list of predictions, not tasks; export the project's tasks")
        self.export_format = "label_studio_min"
        return tuple(self.read_rows(data, "$"))

    def _read_tasks(self, items: Iterable[Any], base: str) -> tuple[Task, ...]:
        """A list of task objects, or a stream of them (see :func:`read_export_file`); ``base`` is its path."""
        tasks = []
        seen: set[int | str] = set()
        for index, item in enumerate(items):
            task = self._task(item, f"{base}[{index}]", index)
            if task.id in seen:
                self.warn(f"{base}[{index}].id", "duplicate_task_id", f"task id {task.id!r} appears more than once")
            seen.add(task.id)
            tasks.append(task)
        return tuple(tasks)

    # -- tasks ------------------------------------------------------------------------------------------------

    def _text(self, data: Mapping[str, Any], path: str) -> str:
        for key in self._text_keys:
            value = data.get(key)
            if isinstance(value, str):
                return value
            if value is not None:
                raise self.fail(f"{path}.{key}", f"the task text must be a string, got {type(value).__name__}")
        raise self.fail(f"{path}.{self.config.text_key}", "the task has no text")

    def _tags(self, task: Mapping[str, Any], path: str) -> tuple[str, ...]:
        meta = task.get("meta")
        raw, where = task.get("tags"), f"{path}.tags"
        if raw is None and isinstance(meta, _MAPPING):
            raw, where = meta.get("tags"), f"{path}.meta.tags"
        if raw is None:
            return ()
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, list):
            self.warn(where, "bad_tags", f"tags must be a list of strings, got {type(raw).__name__}")
            return ()
        tags = []
        for index, tag in enumerate(raw):
            if isinstance(tag, str) and tag.strip():
                tags.append(tag.strip())
            else:
                self.warn(f"{where}[{index}]", "bad_tags", f"a tag must be a non-empty string, got {tag!r}")
        return tuple(dict.fromkeys(tags))

    def _list_field(self, task: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = task.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", f"'{key}' must be a list, got {type(value).__name__}")
        return value

    def _task(self, raw: Any, path: str, index: int) -> Task:
        if not isinstance(raw, _MAPPING):
            raise self.fail(path, f"expected a task object, got {type(raw).__name__}")
        data = raw.get("data")
        if not isinstance(data, _MAPPING):
            raise self.fail(f"{path}.data", "the task has no 'data' object with its text")
        text = self._text(data, f"{path}.data")
        task_id = _identifier(raw.get("id"))
        if task_id is None:
            task_id = index
            if "id" in raw:
                self.warn(f"{path}.id", "bad_task_id", f"task id must be an integer or string, got {raw['id']!r}; "
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
            if isinstance(item, _MAPPING):  # the sync export writes drafts out; other endpoints give ids only
                draft = self._completion(item, f"{path}.drafts[{j}]", j, text, "drafts")
                if draft is not None:
                    drafts.append(draft)
        predictions = []
        for j, item in enumerate(self._list_field(raw, "predictions", path)):
            if isinstance(item, _MAPPING):  # the Label Studio sync export lists prediction ids only
                predictions.append(self._prediction(item, f"{path}.predictions[{j}]", text))
        return Task(
            id=task_id,
            text=text,
            title=title if isinstance(title, str) else None,
            tags=self._tags(raw, path),
            completions=tuple(completions),
            drafts=tuple(drafts),
            predictions=tuple(predictions),
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

    def _timestamp(self, raw: Mapping[str, Any], key: str, path: str) -> datetime | None:
        value = raw.get(key)
        if value is None:
            return None
        moment = parse_timestamp(value)
        if moment is None:
            self.warn(f"{path}.{key}", "bad_timestamp", f"unreadable timestamp {value!r}; ignored")
        return moment

    def _review(self, raw: Mapping[str, Any], path: str) -> Review | None:
        status = raw.get("review_status")
        if status is not None:
            where = f"{path}.review_status"
            if not isinstance(status, _MAPPING) or not isinstance(status.get("approved"), bool):
                self.warn(where, "bad_review", "review_status must be an object with a boolean 'approved'; ignored")
                return None
            comment = status.get("comment")
            return Review(
                approved=status["approved"],
                reviewer=self._shared(_person(status.get("reviewer"))),
                comment=comment if isinstance(comment, str) else None,
                reviewed_at=self._timestamp(status, "reviewed_at", where),
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
            if not isinstance(review, _MAPPING) or not isinstance(review.get("accepted"), bool):
                self.warn(where, "bad_review", "a review needs a boolean 'accepted'; ignored")
                continue
            moment = self._timestamp(review, "created_at", where)
            valid.append((moment or datetime.min.replace(tzinfo=timezone.utc), index, review, moment))
        if not valid:
            return None
        _, _, latest, moment = max(valid, key=lambda entry: entry[:2])
        comment = latest.get("comment")
        return Review(
            approved=latest["accepted"],
            reviewer=self._shared(_person(latest.get("created_by"))),
            comment=comment if isinstance(comment, str) else None,
            reviewed_at=moment,
        )

    def _completion(self, raw: Any, path: str, index: int, text: str, container: str) -> Completion | None:
        if not isinstance(raw, _MAPPING):
            self.warn(path, "bad_completion", f"expected a completion object, got {type(raw).__name__}; left out")
            return None
        result = raw.get("result")
        if result is None:
            result = []
        if not isinstance(result, list):
            self.warn(f"{path}.result", "bad_completion",
                      f"'result' must be a list, got {type(result).__name__}; completion left out")
            return None
        completion_id = _identifier(raw.get("id"))
        spans, choices, relations = self._results(result, f"{path}.result", text)
        return Completion(
            id=completion_id if completion_id is not None else index,
            status=self._status(raw, container),
            annotator=self._shared(_person(raw.get("completed_by")) or _person(raw.get("created_username"))
                                   or _person(raw.get("user"))),
            submitted_at=self._timestamp(raw, "submitted_at", path),
            updated_at=self._timestamp(raw, "updated_at", path),
            created_at=self._timestamp(raw, "created_at", path) or parse_timestamp(raw.get("created_ago")),
            starred=raw.get("honeypot") is True or raw.get("ground_truth") is True,
            review=self._review(raw, path),
            spans=spans,
            choices=choices,
            relations=relations,
            lead_time=_number(raw.get("lead_time")),
        )

    def _prediction(self, raw: Mapping[str, Any], path: str, text: str) -> Prediction:
        result = raw.get("result")
        spans: tuple[Span, ...] = ()
        choices: tuple[ChoiceAnswer, ...] = ()
        if isinstance(result, list):
            spans, choices, _ = self._results(result, f"{path}.result", text)
        elif result is not None:
            self.warn(f"{path}.result", "bad_prediction", "'result' must be a list; prediction results left out")
        version = raw.get("model_version") or raw.get("created_username")
        return Prediction(
            id=_identifier(raw.get("id")),
            model_version=version if isinstance(version, str) else None,
            score=_number(raw.get("score")),
            spans=spans,
            choices=choices,
        )

    # -- result items -----------------------------------------------------------------------------------------

    def _results(
        self, items: list[Any], path: str, text: str
    ) -> tuple[tuple[Span, ...], tuple[ChoiceAnswer, ...], tuple[Relation, ...]]:
        spans: list[Span] = []
        choices: dict[str, ChoiceAnswer] = {}
        pending_relations: list[tuple[str, Mapping[str, Any]]] = []
        for index, item in enumerate(items):
            if not isinstance(item, _MAPPING):
                self.warn(f"{path}[{index}]", "bad_item",
                          f"expected a result object, got {type(item).__name__}; left out")
                continue
            kind = item.get("type")
            try:
                if kind == "labels":
                    spans.append(self._span(item.get("value"), text, item.get("from_name"), item.get("to_name"),
                                            item.get("id")))
                elif kind == "choices":
                    answer = self._choice_answer(item.get("value"), item.get("from_name"), item.get("to_name"))
                    previous = choices.get(answer.from_name)
                    if previous is not None:  # one control answered in two items: keep both answers
                        answer = ChoiceAnswer(answer.from_name, tuple(dict.fromkeys(previous.choices + answer.choices)),
                                              answer.to_name)
                    choices[answer.from_name] = answer
                elif kind == "relation":
                    pending_relations.append((f"{path}[{index}]", item))
                elif not isinstance(kind, str):
                    self.warn(f"{path}[{index}].type", "bad_item", "a result item needs a 'type'; left out")
                # Other types (textarea, rating, taxonomy, …) carry nothing the trainers learn from.
            except _Problem as problem:
                below = problem.where if problem.on_item else ".value" + problem.where
                self.warn(f"{path}[{index}]{below}", problem.code, problem.message)
        relations = []
        if pending_relations:
            region_ids = {span.region_id for span in spans if span.region_id is not None}
            relations = [r for where, item in pending_relations if (r := self._relation(item, where, region_ids))]
        return tuple(spans), tuple(choices.values()), tuple(relations)

    def span(self, value: Any, path: str, text: str, from_name: Any, to_name: Any,
             region_id: Any = None) -> Span | None:
        """A ``labels`` value checked against the text and the config; ``None`` (and a warning) if broken."""
        try:
            return self._span(value, text, from_name, to_name, region_id)
        except _Problem as problem:
            self.warn((path.removesuffix(".value") if problem.on_item else path) + problem.where, problem.code,
                      problem.message)
            return None

    def _span(self, value: Any, text: str, from_name: Any, to_name: Any, region_id: Any) -> Span:
        if not isinstance(value, _MAPPING):
            raise _Problem("", "bad_item", "a labels item needs a 'value' object; left out")
        start, end = value.get("start"), value.get("end")
        if type(start) is not int or type(end) is not int:  # the common case skips the loop
            for key, offset in (("start", start), ("end", end)):
                if isinstance(offset, bool) or not isinstance(offset, int):
                    raise _Problem(f".{key}", "bad_offset",
                                   f"'{key}' must be an integer, got {offset!r}; span left out")
        if not 0 <= start < end <= len(text):
            bad = "start" if not 0 <= start < len(text) or start >= end else "end"
            raise _Problem(f".{bad}", "offset_out_of_range",
                           f"span [{start}, {end}) does not fit in the text (length {len(text)}); span left out")
        covered = text[start:end]
        span_text = value.get("text", covered)
        if span_text != covered:
            raise _Problem(".text", "text_mismatch",
                           f"span text {span_text!r} differs from the task text at [{start}, {end}): {covered!r}; "
                           "left out")
        control_name, labels = self._span_labels(value.get("labels"), from_name)
        return Span(
            start=start,
            end=end,
            text=covered,
            labels=labels,
            region_id=region_id if isinstance(region_id, str) else None,
            from_name=control_name,
            to_name=self._shared(to_name) if isinstance(to_name, str) else "text",
            confidence=_number(value.get("confidence")),
        )

    def _span_labels(self, labels: Any, from_name: Any) -> tuple[str, tuple[str, ...]]:
        """The control and labels of a span; each combination is checked once and then shared by its spans."""
        # Only JSON's shapes are looked up (a tuple of labels must still fail the checks).
        key = (from_name, *labels) if type(labels) is list and type(from_name) is str else None
        try:
            return self._checked_labels[key]
        except (KeyError, TypeError):  # not seen yet, or unhashable: the checks below say what is wrong
            pass
        if not isinstance(labels, list) or not labels or not all(isinstance(v, str) and v for v in labels):
            raise _Problem(".labels", "bad_labels", f"'labels' must be a non-empty list of strings, got {labels!r}")
        control_name = from_name if isinstance(from_name, str) else None
        if control_name is None and len(self._label_sets) == 1:
            control_name = next(iter(self._label_sets))
        known = self._label_sets.get(control_name) if control_name else None
        if known is None:
            raise _Problem(".from_name", "unknown_control",
                           f"no <Labels name={from_name!r}> in the config; span left out", on_item=True)
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise _Problem(".labels", "unknown_label",
                           f"label {unknown[0]!r} is not in <Labels name={control_name!r}>; span left out")
        checked = (control_name, tuple(labels))
        if key is not None:
            self._checked_labels[key] = checked
        return checked

    def choice_answer(self, value: Any, path: str, from_name: Any, to_name: Any) -> ChoiceAnswer | None:
        """A ``choices`` value checked against its ``<Choices>``; ``None`` (and a warning) if broken."""
        try:
            return self._choice_answer(value, from_name, to_name)
        except _Problem as problem:
            self.warn((path.removesuffix(".value") if problem.on_item else path) + problem.where, problem.code,
                      problem.message)
            return None

    def _choice_answer(self, value: Any, from_name: Any, to_name: Any) -> ChoiceAnswer:
        picked = value.get("choices") if isinstance(value, _MAPPING) else None
        if isinstance(picked, str):
            picked = [picked]
        if not isinstance(picked, list) or not all(isinstance(v, str) for v in picked):
            raise _Problem(".choices", "bad_choices", f"'choices' must be a list of strings, got {picked!r}")
        known = self._choices.get(from_name) if isinstance(from_name, str) else None
        if known is None:
            raise _Problem(".from_name", "unknown_control",
                           f"no <Choices name={from_name!r}> in the config; answer left out", on_item=True)
        unknown = [v for v in picked if v not in known]
        if unknown:
            raise _Problem(".choices", "unknown_choice",
                           f"choice {unknown[0]!r} is not in <Choices name={from_name!r}>; answer left out")
        return ChoiceAnswer(from_name=from_name, choices=tuple(dict.fromkeys(picked)),
                            to_name=to_name if isinstance(to_name, str) else "text")

    def _relation(self, item: Mapping[str, Any], path: str, region_ids: set[str]) -> Relation | None:
        ends = item.get("from_id"), item.get("to_id")
        if not all(isinstance(end, str) for end in ends):
            self.warn(path, "bad_relation", "a relation needs string 'from_id' and 'to_id'; left out")
            return None
        missing = [end for end in ends if end not in region_ids]
        if missing:
            self.warn(path, "dangling_relation", f"relation refers to region {missing[0]!r}, which is not a kept span "
                                                 "of this completion; left out")
            return None
        labels = item.get("labels") or ()
        if not isinstance(labels, (list, tuple)) or not all(isinstance(v, str) for v in labels):
            self.warn(f"{path}.labels", "bad_relation", f"relation labels must be strings, got {labels!r}; left out")
            return None
        direction = item.get("direction")
        return Relation(from_id=ends[0], to_id=ends[1], labels=tuple(labels),
                        direction=direction if isinstance(direction, str) else "right")

    # -- JSON_MIN / CSV rows ----------------------------------------------------------------------------------

    def read_rows(self, rows: Sequence[Any], base: str, *, cells_are_text: bool = False) -> Iterator[Task]:
        """Label Studio JSON_MIN (and CSV/TSV) rows: one row per annotation, grouped back into tasks."""
        groups: dict[Any, list[tuple[int, Mapping[str, Any]]]] = {}
        for index, row in enumerate(rows):
            if not isinstance(row, _MAPPING):
                raise self.fail(f"{base}[{index}]", f"expected a row object, got {type(row).__name__}")
            key = _identifier(row.get("id"))
            groups.setdefault(index if key is None else key, []).append((index, row))
        controls = set(self._label_sets) | set(self._choices)
        for task_id, members in groups.items():
            first_index, first = members[0]
            where = f"{base}[{first_index}]"
            text = self._text(first, where)
            completions = []
            for index, row in members:
                completion = self._row_completion(row, f"{base}[{index}]", text, cells_are_text)
                if completion is not None:
                    completions.append(completion)
            title = first.get("title")
            extra = {k: v for k, v in first.items() if k not in controls and k not in _MIN_ROW_META}
            yield Task(
                id=task_id,
                text=text,
                title=title if isinstance(title, str) else None,
                tags=self._tags(extra, where),
                completions=tuple(completions),
            )

    def _row_completion(self, row: Mapping[str, Any], path: str, text: str, cells_are_text: bool) -> Completion | None:
        annotation_id = _identifier(row.get("annotation_id"))
        if annotation_id is None:
            return None  # an "all tasks" row for a task nobody annotated
        spans: list[Span] = []
        answers: list[ChoiceAnswer] = []
        for name in self._label_sets:
            cell = self._cell(row, name, path, cells_are_text)
            if cell is None:
                continue
            if not isinstance(cell, list):
                self.warn(f"{path}.{name}", "bad_item", f"'{name}' must be a list of spans; left out")
                continue
            for index, value in enumerate(cell):
                span = self.span(value, f"{path}.{name}[{index}]", text, name, "text")
                if span is not None:
                    spans.append(span)
        for name in self._choices:
            cell = self._cell(row, name, path, cells_are_text)
            if cell is None:
                continue
            value = cell if isinstance(cell, _MAPPING) else {"choices": cell}
            answer = self.choice_answer(value, f"{path}.{name}", name, "text")
            if answer is not None:
                answers.append(answer)
        created = self._timestamp(row, "created_at", path)
        return Completion(
            id=annotation_id,
            status=CompletionStatus.SUBMITTED,  # JSON_MIN leaves skipped annotations and drafts out
            annotator=_person(row.get("annotator")),
            updated_at=self._timestamp(row, "updated_at", path),
            created_at=created,
            spans=tuple(spans),
            choices=tuple(answers),
            lead_time=_number(row.get("lead_time")),
        )

    def _cell(self, row: Mapping[str, Any], name: str, path: str, cells_are_text: bool) -> Any:
        value = row.get(name)
        if not cells_are_text or not isinstance(value, str):
            return value
        if not value:
            return None
        if value[0] in "[{":
            try:
                return json.loads(value)
            except ValueError:
                self.warn(f"{path}.{name}", "bad_item", f"cell '{name}' is not valid JSON; left out")
                return None
        return value


#: Characters decoded at a time when an export is streamed; a task longer than this just takes more reads.
_CHUNK_CHARS = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _NotAnArray(Exception):
    """The file does not start with ``[``: it is not streamed."""


class _ArrayItems:
    """The elements of the JSON array that a text file holds, decoded one at a time.

    Only the element being decoded is held in memory, never the whole parsed array. A text that does not
    start with ``[`` raises :class:`_NotAnArray`; one that is not exactly one array raises ``ValueError``
    (``JSONDecodeError``) where the stream reaches the problem.
    """

    def __init__(self, handle: TextIO, chunk: int) -> None:
        self._handle = handle
        self._chunk = chunk
        self._buffer = ""
        self._pos = 0
        self._decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[Any]:
        if self._next_char() != "[":
            raise _NotAnArray
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
        else:
            while True:
                yield self._element()
                separator = self._next_char()
                self._pos += 1
                if separator == "]":
                    break
                if separator != ",":
                    raise ValueError(f"expected ',' or ']' between array elements, got {separator!r}")
        if self._next_char():
            raise ValueError("data after the array")

    def _more(self) -> bool:
        """Appends the next chunk, dropping what was consumed; ``False`` at the end of the file.

        It reads at least as much as is pending, so that an element spanning many chunks is decoded a
        logarithmic, not linear, number of times.
        """
        data = self._handle.read(max(self._chunk, len(self._buffer) - self._pos))
        if not data:
            return False
        self._buffer = self._buffer[self._pos:] + data
        self._pos = 0
        return True

    def _next_char(self) -> str:
        """The next character that is not whitespace, not consumed; ``""`` at the end of the file."""
        while True:
            self._pos = _WHITESPACE.match(self._buffer, self._pos).end()
            if self._pos < len(self._buffer) or not self._more():
                return self._buffer[self._pos:self._pos + 1]

    def _element(self) -> Any:
        self._next_char()  # raw_decode does not skip whitespace
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError:
                if self._more():
                    continue  # the element goes on in the next chunk
                raise
            # A number cut by the end of the buffer decodes as a shorter one ("1.5" as 1, "1e-5" as 1): up to
            # two characters after it may still belong to it.
            if len(self._buffer) - end < 3 and self._more():
                continue
            self._pos = end
            return value


def _stream_tasks(file: Path, reader: ExportReader) -> tuple[Task, ...] | None:
    """The tasks of a JSON export that is an array of tasks, read one task at a time.

    ``None`` for every other file: other shapes, and every broken one, whatever is wrong with it (the reader is
    then as it was before). Reading the whole file then reports its problem exactly as it always did — also
    which problem comes first, since a JSON syntax error late in the file hides a bad task before it.
    """
    warnings, export_format = len(reader.warnings), reader.export_format
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            items = iter(_ArrayItems(handle, _CHUNK_CHARS))
            first = next(items, None)
            if not isinstance(first, _MAPPING) or not any(key in first for key in _TASK_KEYS):
                return None
            return reader._read_tasks(itertools.chain([first], items), "$")
    except Exception:  # whatever it is, the whole-file read that follows reports it as it always did
        del reader.warnings[warnings:]
        reader.export_format = export_format
        return None


def _csv_rows(text: str, delimiter: str) -> list[dict[str, Any]]:
    rows = []
    for row in csv.DictReader(io.StringIO(text), delimiter=delimiter):
        for key in ("id", "annotation_id", "annotator"):
            value = row.get(key)
            if isinstance(value, str) and value.isdigit():
                row[key] = int(value)
            elif value == "":
                row[key] = None
        rows.append(row)
    return rows


def read_export_file(path: str | os.PathLike[str], reader: ExportReader) -> tuple[Task, ...]:
    """Read an export file: ``.json`` of any supported shape, or Label Studio ``.csv`` / ``.tsv`` rows.

    A JSON array of tasks (Annotation Lab, Label Studio JSON) is streamed: decoded one task at a time, so
    memory holds the tasks read and one task's JSON, never the whole parsed export.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".tsv"):
        tasks = _stream_tasks(file, reader)
        if tasks is not None:
            return tasks
    try:
        raw = file.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL character
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise reader.fail("$", f"cannot read the export {str(file)!r}: {reason}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise reader.fail("$", f"the export is not UTF-8 text (byte {exc.start})") from exc
    if suffix in (".csv", ".tsv"):
        sniff = text.split("\n", 1)[0]
        delimiter = "\t" if suffix == ".tsv" or sniff.count("\t") > sniff.count(",") else ","
        try:
            rows = _csv_rows(text, delimiter)
        except csv.Error as exc:
            raise reader.fail("$", f"unreadable {suffix[1:].upper()}: {exc}") from exc
        reader.export_format = "label_studio_min"
        return tuple(reader.read_rows(rows, "$", cells_are_text=True))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise reader.fail("$", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError as exc:
        raise reader.fail("$", "the JSON is nested too deeply to be an export") from exc
    return reader.read(data)

