"""The per-example error table: every false positive, false negative and confusion, in context, as CSV.

For entity spans, one row per :class:`~alab_training.evaluation.matching.Difference` of each text (the
``strict`` scheme's verdicts, so the rows of a corpus add up to its ``overall.strict`` incorrect + missed +
spurious), in the order the examples are given and, within a text, in text order. A classified region — an
entity span's assertion status, a whole text's class — gets one row per wrong answer (:func:`label_row`).
Columns (:data:`COLUMNS`):

- ``task_id``, ``completion_id``: the task, and the completion its gold spans come from (empty when not given).
- ``kind``: for spans ``false_positive``, ``false_negative``, ``wrong_type``, ``wrong_boundary`` or
  ``wrong_type_and_boundary``; for a classified region ``wrong_status`` (an entity's assertion status),
  ``wrong_class`` (a single-choice answer), or ``false_positive`` / ``false_negative`` (one value of a
  multiple-choice answer given by the model only / by the gold only).
- ``gold_label`` / ``predicted_label``, ``gold_text`` / ``predicted_text``: each side's span (empty when that
  side has none).
- ``start``, ``end``: the region the row is about: from the first start to the last end of its spans
  (code points, ``end`` exclusive).
- ``left_context``, ``right_context``: up to ``context_tokens`` (20) tokens before and after the region, with
  :func:`alab_training.evaluation.tokens.simple_tokens` (runs of word characters, or one other non-space
  character). The left context runs from the start of the 20th token that starts before the region up to the
  region (a word the region starts inside counts as one of them, so its first part shows); the right context from
  the region to the end of the 20th token that ends after it.

- ``model``: the model the row is about (empty when not given), so one table can hold several models' rows.

A whole text's class has no span: its ``gold_text`` and ``predicted_text`` both show the text (cut after
``2 × context_tokens`` tokens, marked ``…``) and its contexts are empty.

Every text cell has its runs of whitespace (newlines included) turned into one space, so a row stays one line;
nothing else is changed (in particular no spreadsheet formula escaping: the cells are the document's text).
"""

from __future__ import annotations

import bisect
import csv
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import attrs

from alab_training.errors import ParamsError
from alab_training.evaluation.matching import Difference, SpanTuple, checked_spans, compare_spans
from alab_training.evaluation.tokens import simple_tokens

__all__ = ["COLUMNS", "ErrorRow", "ErrorTable", "difference_rows", "error_rows", "error_table", "label_row"]

#: The CSV header, in order.
COLUMNS = (
    "task_id", "completion_id", "kind", "gold_label", "predicted_label", "gold_text", "predicted_text", "start",
    "end", "left_context", "right_context", "model",
)
_WHITESPACE = re.compile(r"\s+")

Example = tuple[int | str, int | str | None, str, Sequence[SpanTuple], Sequence[SpanTuple]]


@attrs.frozen
class ErrorRow:
    """One difference between the gold and the prediction of a text, with its context (see the module docs)."""

    task_id: int | str
    completion_id: int | str | None
    kind: str
    gold_label: str | None
    predicted_label: str | None
    gold_text: str | None
    predicted_text: str | None
    start: int
    end: int
    left_context: str
    right_context: str
    model: str | None = None

    def as_dict(self) -> dict[str, int | str | None]:
        """The row keyed by :data:`COLUMNS`, JSON-ready."""
        return attrs.asdict(self)


@attrs.frozen
class ErrorTable:
    """The rows of many texts; iterate it, count it, or write it with :meth:`to_csv`."""

    rows: tuple[ErrorRow, ...] = ()

    def __iter__(self) -> Iterator[ErrorRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """How many rows of each kind, e.g. ``{"false_positive": 3}``."""
        return dict(Counter(row.kind for row in self.rows))

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as UTF-8 CSV with a header row, replacing ``path`` at once (never a torn file).

        The rows go to a temporary file beside ``path``, flushed to disk and then renamed over it.

        Args:
            path: where to write.

        Returns:
            The path written.

        Raises:
            OSError: the folder cannot be written; ``path`` is then unchanged and no temporary file is left.
        """
        target = Path(path)
        # Not mkstemp: its 0600 mode would stick to the table; "x" opens a new file with the usual umask.
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "x", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(COLUMNS)
                for row in self.rows:
                    writer.writerow(["" if value is None else value for value in attrs.astuple(row)])
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target


def error_rows(
    task_id: int | str,
    completion_id: int | str | None,
    text: str,
    gold: Sequence[SpanTuple],
    predicted: Sequence[SpanTuple],
    *,
    context_tokens: int = 20,
) -> list[ErrorRow]:
    """The error rows of one text.

    Args:
        task_id: the task.
        completion_id: the completion the gold spans come from, if any.
        text: the task text the offsets point into.
        gold: the reference ``(start, end, label)`` spans.
        predicted: the model's spans.
        context_tokens: how many tokens of context on each side.

    Returns:
        One row per difference, in text order.

    Raises:
        ParamsError: the text is not a string, a span is malformed or runs past the text, or
            ``context_tokens`` is not a non-negative integer.
    """
    _check_text(text, context_tokens)
    for field, spans in (("gold", gold), ("predicted", predicted)):
        checked_spans(spans, field)
        for index, span in enumerate(spans):
            if span[1] > len(text):
                raise ParamsError(f"the span ends past the text ({len(text)} code points)",
                                  field=f"{field}[{index}]", value=span)
    return difference_rows(task_id, completion_id, text, compare_spans(gold, predicted).differences,
                           context_tokens=context_tokens)


def difference_rows(
    task_id: int | str,
    completion_id: int | str | None,
    text: str,
    differences: Iterable[Difference],
    *,
    context_tokens: int = 20,
    model: str | None = None,
) -> list[ErrorRow]:
    """The error rows of differences already found (e.g. :attr:`SpanComparison.differences`), in their order.

    Args:
        task_id: the task.
        completion_id: the completion the gold spans come from, if any.
        text: the task text the spans point into (unchecked: the differences must come from spans of it).
        differences: what :func:`~alab_training.evaluation.matching.compare_spans` found.
        context_tokens: how many tokens of context on each side.
        model: the model, for the ``model`` column.

    Raises:
        ParamsError: the text is not a string, or ``context_tokens`` is not a non-negative integer.
    """
    _check_text(text, context_tokens)
    context = _Context.of(text, context_tokens)
    return [_row(task_id, completion_id, text, difference, context, model) for difference in differences]


def label_row(
    task_id: int | str,
    completion_id: int | str | None,
    text: str,
    kind: str,
    region: tuple[int, int] | None,
    gold_label: str | None,
    predicted_label: str | None,
    *,
    context_tokens: int = 20,
    model: str | None = None,
) -> ErrorRow:
    """The row of one wrongly classified region: an entity span's status, or (``region=None``) a whole text.

    Args:
        task_id: the task.
        completion_id: the completion the gold answer comes from, if any.
        text: the task text.
        kind: ``wrong_status``, ``wrong_class``, ``false_positive`` or ``false_negative``.
        region: the span's ``(start, end)``; ``None`` for the whole text (see the module docs).
        gold_label: the gold answer (``None`` when the gold has none: a false positive).
        predicted_label: the model's answer (``None`` when it gave none: a false negative).
        context_tokens: how many tokens of context on each side.
        model: the model, for the ``model`` column.

    Raises:
        ParamsError: the text is not a string, the region is not inside it, or ``context_tokens`` is bad.
    """
    _check_text(text, context_tokens)
    if region is None:
        shown = _clean(_first_tokens(text, 2 * context_tokens))
        return ErrorRow(task_id, completion_id, kind, gold_label, predicted_label, shown, shown, 0, len(text), "",
                        "", model)
    start, end = region
    if not 0 <= start < end <= len(text):
        raise ParamsError(f"expected 0 <= start < end <= {len(text)}", field="region", value=region)
    context = _Context.of(text, context_tokens)
    covered = _clean(text[start:end])
    return ErrorRow(task_id, completion_id, kind, gold_label, predicted_label, covered, covered, start, end,
                    context.left(start), context.right(end), model)


def error_table(examples: Iterable[Example], *, context_tokens: int = 20) -> ErrorTable:
    """The error table of many texts.

    Args:
        examples: ``(task_id, completion_id, text, gold, predicted)`` per text, as :func:`error_rows` takes them.
        context_tokens: how many tokens of context on each side.

    Returns:
        Every text's rows, in the order of ``examples``.

    Raises:
        ParamsError: as :func:`error_rows`, or an example is not a 5-tuple.
    """
    rows: list[ErrorRow] = []
    for index, example in enumerate(examples):
        if not isinstance(example, Sequence) or isinstance(example, str) or len(example) != 5:
            raise ParamsError("expected (task_id, completion_id, text, gold, predicted)",
                              field=f"examples[{index}]", value=example)
        rows.extend(error_rows(*example, context_tokens=context_tokens))
    return ErrorTable(tuple(rows))


@attrs.frozen
class _Context:
    """One text's tokens, to cut the context of its rows from."""

    text: str
    starts: list[int]
    ends: list[int]
    size: int

    @classmethod
    def of(cls, text: str, size: int) -> _Context:
        """The context of ``text``, tokenized once for all its rows."""
        tokens = simple_tokens(text)
        return cls(text, [start for start, _ in tokens], [end for _, end in tokens], size)

    def left(self, offset: int) -> str:
        """The text from the start of the last ``size`` tokens starting before ``offset``, up to it."""
        before = bisect.bisect_left(self.starts, offset)
        if self.size == 0 or before == 0:
            return ""
        return _clean(self.text[self.starts[max(0, before - self.size)]:offset])

    def right(self, offset: int) -> str:
        """The text from ``offset`` to the end of the first ``size`` tokens ending after it."""
        after = bisect.bisect_right(self.ends, offset)
        if self.size == 0 or after == len(self.ends):
            return ""
        return _clean(self.text[offset:self.ends[min(len(self.ends), after + self.size) - 1]])


def _row(task_id: int | str, completion_id: int | str | None, text: str, difference: Difference,
         context: _Context, model: str | None) -> ErrorRow:
    gold, predicted = difference.gold, difference.predicted
    return ErrorRow(
        task_id=task_id,
        completion_id=completion_id,
        kind=difference.kind,
        gold_label=gold[2] if gold else None,
        predicted_label=predicted[2] if predicted else None,
        gold_text=_clean(text[gold[0]:gold[1]]) if gold else None,
        predicted_text=_clean(text[predicted[0]:predicted[1]]) if predicted else None,
        start=difference.start,
        end=difference.end,
        left_context=context.left(difference.start),
        right_context=context.right(difference.end),
        model=model,
    )


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", text)


def _first_tokens(text: str, count: int) -> str:
    tokens = simple_tokens(text)
    if len(tokens) <= count:
        return text.strip()
    return text[:tokens[count - 1][1]].strip() + " …" if count else "…"


def _check_text(text: object, context_tokens: object) -> None:
    if not isinstance(text, str):
        raise ParamsError(f"expected the task text, got {type(text).__name__}", field="text", value=text)
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int) or context_tokens < 0:
        raise ParamsError("expected a non-negative integer", field="context_tokens", value=context_tokens)
