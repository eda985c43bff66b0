"""What every export reader shares: the warning codes, the tolerant readers of single JSON values, the problem an
item check raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["MAPPING", "TASK_KEYS", "WARNING_CODES", "ItemProblem", "identifier", "integer_text", "number",
           "parse_timestamp", "person"]

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
    "stray_quote": "a CSV/TSV line whose quote opens a field and does not close: read as that line alone",
    "ragged_row": "a CSV/TSV row with more fields than the header: the fields beyond it are left out",
    "code_unit_offsets": "a span whose offsets count UTF-16 code units (Label Studio's browser): read so, and kept",
}

#: What counts as a JSON object: ``dict`` is tested first because the ``Mapping`` ABC check is slow, and an
#: export holds millions of objects.
MAPPING = (dict, Mapping)
#: Keys that make an object a task (and a list starting with one, a list of tasks).
TASK_KEYS = ("completions", "annotations", "data")
#: The most digits an id written as text is read as a number with: Python converts at most 4300 by default,
#: and no tool writes an id even near it; a longer one stays text.
_ID_DIGITS = 4300
#: The bits of the longest integer id: some 4200 digits, safely within what Python prints.
_ID_BITS = 14_000


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 in any of the shapes the tools write; naive times are taken as UTC so all compare."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def person(value: Any) -> str | None:
    """An annotator or reviewer: a name, an email, or a Label Studio user id/object."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, MAPPING):
        return person(value.get("email")) or person(value.get("username")) or person(value.get("id"))
    return None


def number(value: Any) -> float | None:
    """Confidences and scores: a finite number, or a numeric string as Annotation Lab predictions write them.

    ``"inf"``, ``"nan"`` and numbers beyond the float range (``"1" * 400``) are no score: ``None``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        found = float(value)
    except (ValueError, OverflowError):  # not a number; an int beyond the float range
        return None
    return found if math.isfinite(found) else None


def integer_text(value: str) -> int | None:
    """An id written as text (a CSV cell, a string id) as the integer it spells: ASCII digits only.

    ``"²"`` and ``"١٢"`` are digits to :meth:`str.isdigit` but no number to a person reading an id, and
    ``int()`` refuses some of them; they, and more than 4300 digits, stay text: ``None``.
    """
    if not value.isascii() or not value.isdigit() or len(value) > _ID_DIGITS:
        return None
    try:
        return int(value)
    except ValueError:  # a host that lowered sys.set_int_max_str_digits()
        return None


def identifier(value: Any) -> int | str | None:
    """A task or completion id: an integer or a non-empty string, else ``None``.

    An integer too long to print (more than some 4200 digits; only an export built in code can hold one, JSON
    files are refused before) is no id either: every message and split that names the task would fail on it.
    """
    if isinstance(value, bool):
        return None
    if (isinstance(value, int) and value.bit_length() <= _ID_BITS) or (isinstance(value, str) and value):
        return value
    return None


class ItemProblem(Exception):
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
