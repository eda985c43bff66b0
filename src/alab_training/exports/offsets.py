"""Offsets counted in UTF-16 units: what Label Studio's browser writes, read back as code points.

The browser measures a span in JavaScript string indices, which count a character beyond U+FFFF (an emoji,
say) as two. After such a character, ``start`` and ``end`` as written are too large for a Python string, so the
span's ``text`` no longer matches the task text at those offsets (or the span runs past its end). Where the
text holds no such character both readings agree, and nothing here runs.

:func:`reading` decides which reading a span's offsets are, on the evidence, in this order: the span's own
``text`` (the reading under which it matches); else the other spans of the same result (which reading theirs
matched); else which reading fits in the text; else which reading starts and ends the span at word boundaries
while the other cuts a word. Where the evidence does not tell, the offsets are code points, as documented.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Utf16", "hint", "reading"]

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class Utf16:
    """A text's UTF-16 offsets mapped to code points. :meth:`of` gives ``None`` for a text where they agree."""

    def __init__(self, text: str, astral: list[int]) -> None:
        self.text = text
        #: The UTF-16 offset at which each character beyond U+FFFF starts (each takes two units).
        self._starts = [index + rank for rank, index in enumerate(astral)]

    @classmethod
    def of(cls, text: str) -> Utf16 | None:
        """The mapping of ``text``, or ``None`` when it has no character beyond U+FFFF (the readings agree)."""
        if _ASTRAL.search(text) is None:
            return None
        return cls(text, [match.start() for match in _ASTRAL.finditer(text)])

    def code_point(self, offset: int) -> int | None:
        """The code-point offset of UTF-16 ``offset``; ``None`` inside a character's two units or past the end."""
        before = bisect.bisect_left(self._starts, offset)
        if before and self._starts[before - 1] + 1 == offset:
            return None
        point = offset - before
        return point if 0 <= point <= len(self.text) else None

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """``(start, end)`` read as UTF-16 offsets, in code points; ``None`` if that reading is impossible."""
        first, last = self.code_point(start), self.code_point(end)
        if first is None or last is None or not first < last:
            return None
        return first, last


def _fits(text: str, start: int, end: int) -> bool:
    return 0 <= start < end <= len(text)


def _at_boundary(text: str, offset: int) -> bool:
    return offset in (0, len(text)) or not (text[offset - 1].isalnum() and text[offset].isalnum())


def _on_words(text: str, start: int, end: int) -> bool:
    covered = text[start:end]
    return _at_boundary(text, start) and _at_boundary(text, end) and covered == covered.strip()


def _matches(text: str, span: tuple[int, int], expected: str) -> bool:
    return _fits(text, *span) and text[span[0]:span[1]] == expected


def hint(utf16: Utf16, values: Iterable[Any]) -> str | None:
    """What the spans with a ``text`` among ``values`` (``labels`` values) say the offsets are: ``"utf16"``,
    ``"code_points"``, or ``None`` when they do not tell."""
    votes = {"utf16": 0, "code_points": 0}
    for value in values:
        if not isinstance(value, Mapping):
            continue
        start, end, expected = value.get("start"), value.get("end"), value.get("text")
        if type(start) is not int or type(end) is not int or not isinstance(expected, str):
            continue
        converted = utf16.span(start, end)
        if converted is None or converted == (start, end):
            continue
        as_points, as_units = _matches(utf16.text, (start, end), expected), _matches(utf16.text, converted, expected)
        if as_points != as_units:
            votes["code_points" if as_points else "utf16"] += 1
    if votes["utf16"] == votes["code_points"]:
        return None
    return max(votes, key=votes.__getitem__)


def reading(utf16: Utf16, start: int, end: int, expected: str | None, evidence: str | None) -> tuple[int, int] | None:
    """The code-point offsets of a span when they are its UTF-16 reading; ``None`` when they are as written.

    Args:
        utf16: the task text's mapping.
        start: the span's ``start`` as written.
        end: its ``end`` as written.
        expected: the span's ``text``, if it has one.
        evidence: what :func:`hint` says of the other spans of its result.
    """
    text = utf16.text
    converted = utf16.span(start, end)
    if converted is None or converted == (start, end):
        return None
    if expected is not None:
        if not _matches(text, converted, expected):
            return None
        # Both readings match where a word repeats right after the wide characters: the other spans decide.
        return converted if not _matches(text, (start, end), expected) or evidence == "utf16" else None
    if evidence is not None:
        return converted if evidence == "utf16" else None
    if not _fits(text, start, end):
        return converted
    return converted if _on_words(text, *converted) and not _on_words(text, start, end) else None
