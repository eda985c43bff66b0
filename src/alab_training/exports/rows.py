"""Label Studio's row formats: JSON_MIN (and the CSV/TSV exports), one row per annotation, grouped back into tasks.

A row holds the task's data fields, the annotation's metadata and one cell per control (``<Labels>`` spans,
``<Choices>`` answers); CSV cells hold JSON text. Rows without an ``annotation_id`` are tasks nobody annotated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from alab_training import safe_json
from alab_training.exports.items import ItemReader
from alab_training.exports.values import MAPPING, identifier, number, person
from alab_training.model import ChoiceAnswer, Completion, CompletionStatus, Span, Task

__all__ = ["read_rows"]

_MIN_ROW_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"}


def read_rows(reader: ItemReader, rows: Sequence[Any], base: str, *, cells_are_text: bool = False) -> Iterator[Task]:
    """Label Studio JSON_MIN (and CSV/TSV) rows: one row per annotation, grouped back into tasks."""
    groups: dict[Any, list[tuple[int, Mapping[str, Any]]]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, MAPPING):
            raise reader.fail(f"{base}[{index}]", f"expected a row object, got {type(row).__name__}")
        key = identifier(row.get("id"))
        groups.setdefault(index if key is None else key, []).append((index, row))
    controls = set(reader.label_sets) | set(reader.choices)
    for task_id, members in groups.items():
        first_index, first = members[0]
        where = f"{base}[{first_index}]"
        text = reader.text_of(first, where)
        completions = []
        for index, row in members:
            completion = _row_completion(reader, row, f"{base}[{index}]", text, cells_are_text)
            if completion is not None:
                completions.append(completion)
        title = first.get("title")
        extra = {k: v for k, v in first.items() if k not in controls and k not in _MIN_ROW_META}
        yield Task(
            id=task_id,
            text=text,
            title=title if isinstance(title, str) else None,
            tags=reader.tags(extra, where),
            completions=tuple(completions),
            data=extra,
        )


def _row_completion(reader: ItemReader, row: Mapping[str, Any], path: str, text: str,
                cells_are_text: bool) -> Completion | None:
    annotation_id = identifier(row.get("annotation_id"))
    if annotation_id is None:
        return None  # an "all tasks" row for a task nobody annotated
    spans: list[Span] = []
    answers: list[ChoiceAnswer] = []
    for name in reader.label_sets:
        cell = _cell(reader, row, name, path, cells_are_text)
        if cell is None:
            continue
        if not isinstance(cell, list):
            reader.warn(f"{path}.{name}", "bad_item", f"'{name}' must be a list of spans; left out")
            continue
        for index, value in enumerate(cell):
            span = reader.span(value, f"{path}.{name}[{index}]", text, name, "text")
            if span is not None:
                spans.append(span)
    for name in reader.choices:
        cell = _cell(reader, row, name, path, cells_are_text)
        if cell is None:
            continue
        value = cell if isinstance(cell, MAPPING) else {"choices": cell}
        answer = reader.choice_answer(value, f"{path}.{name}", name, "text")
        if answer is not None:
            answers.append(answer)
    created = reader.timestamp(row, "created_at", path)
    return Completion(
        id=annotation_id,
        status=CompletionStatus.SUBMITTED,  # JSON_MIN leaves skipped annotations and drafts out
        annotator=person(row.get("annotator")),
        updated_at=reader.timestamp(row, "updated_at", path),
        created_at=created,
        spans=tuple(spans),
        choices=tuple(answers),
        lead_time=number(row.get("lead_time")),
    )


def _cell(reader: ItemReader, row: Mapping[str, Any], name: str, path: str, cells_are_text: bool) -> Any:
    value = row.get(name)
    if not cells_are_text or not isinstance(value, str):
        return value
    if not value:
        return None
    if value[0] in "[{":
        try:
            return safe_json.loads(value)
        except ValueError as exc:  # a syntax error, or nesting and numbers json would fail on (JSONLimitError)
            reader.warn(f"{path}.{name}", "bad_item", f"cell '{name}' is not valid JSON ({exc}); left out")
            return None
    return value
