"""Label Studio's CSV and TSV exports, read without the limits and the silent merges of :mod:`csv`.

The files are what :mod:`csv` writes (QUOTE_MINIMAL or everything quoted, quotes doubled inside a quoted field,
line breaks allowed inside one). Two things :mod:`csv` does are wrong for an export:

- a field larger than ``csv.field_size_limit()`` (128 KB) is refused, though a task text can be larger; the
  limit is process-wide, so raising it would change it for the host too. Here a field is bounded by the file;
- a quote that opens a field and never closes properly (a hand-edited file, a text that starts with ``"``)
  makes :mod:`csv` read on to the next quote, whole lines later, and merge the rows in between into one field:
  tasks vanish into another task's text without a word. Here a record whose quotes do not close, or that only
  closes by swallowing line breaks, is read again as its first line alone, with a field's quotes taken as they
  stand unless they close on that line, and reported (``stray_quote``). A record swallowed line breaks when it
  has the wrong width, or when every line it spans is a record of the right width by itself: a text written
  with line breaks inside quotes does not split into whole rows line by line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs

__all__ = ["Record", "records"]

_LINE_BREAK = re.compile(r"[\r\n]")
#: A field in quotes: anything but a quote, or a doubled one (one quote of the text), up to the closing quote.
#: Possessive: a quote that never closes must fail in one pass, not backtrack through every split of the text.
_QUOTED = re.compile(r'"((?:[^"]++|"")*+)"')


@attrs.frozen
class Record:
    """One record of the file.

    Attributes:
        line: the line it starts on (from 1).
        fields: its fields, quotes removed.
        stray_quote: its quotes did not close, and it was read as its first line with those quotes kept.
    """

    line: int
    fields: tuple[str, ...]
    stray_quote: bool = False


class _Scanner:
    """Reads one record of ``text`` at a time; the text is never copied."""

    def __init__(self, text: str, delimiter: str) -> None:
        self.text = text
        self.delimiter = delimiter
        self._plain = re.compile(f"[^{re.escape(delimiter)}\r\n]*")

    def record(self, pos: int, *, within_line: bool = False) -> tuple[list[str], int, bool] | None:
        """``(fields, next record's position, whether a quoted field holds a line break)``, or ``None`` when a
        quoted field does not close properly. With ``within_line`` a quoted field counts as quoted only if it
        closes on its line, else its quotes are kept as text, and this never gives ``None``."""
        text, fields, spans = self.text, [], False
        while True:
            quoted = self._quoted(pos, within_line) if text.startswith('"', pos) else None
            if quoted is not None:
                value, pos = quoted
                spans = spans or _LINE_BREAK.search(value) is not None
            elif text.startswith('"', pos) and not within_line:
                return None
            else:
                end = self._plain.match(text, pos).end()
                value, pos = text[pos:end], end
            fields.append(value)
            if pos >= len(text):
                return fields, pos, spans
            if text[pos] == self.delimiter:
                pos += 1
                continue
            return fields, pos + (2 if text.startswith("\r\n", pos) else 1), spans

    def whole_lines(self, pos: int, end: int, width: int) -> bool:
        """Whether every line from ``pos`` to ``end`` is a record of ``width`` fields by itself."""
        while pos < end:
            fields, pos, _ = self.record(pos, within_line=True)
            if len(fields) != width:
                return False
        return True

    def _quoted(self, pos: int, within_line: bool) -> tuple[str, int] | None:
        """The value of the quoted field at ``pos`` and the position after it; ``None`` unless its closing quote
        is followed by a delimiter, a line break or the end (and, ``within_line``, is on this line)."""
        text = self.text
        limit = len(text)
        if within_line:
            line_end = _LINE_BREAK.search(text, pos)
            limit = line_end.start() if line_end else limit
        quoted = _QUOTED.match(text, pos, limit)
        if quoted is None:
            return None
        after = quoted.end()
        if after < len(text) and text[after] not in (self.delimiter, "\r", "\n"):
            return None
        return quoted.group(1).replace('""', '"'), after


def records(text: str, delimiter: str) -> Iterator[Record]:
    """The records of a CSV (``delimiter=","``) or TSV (``"\\t"``) text, the header first; blank lines skipped.

    Memory holds one record at a time besides the text. A record the quotes would merge with the lines after it
    is read as its own line instead and marked ``stray_quote`` (see the module docstring).
    """
    scanner = _Scanner(text, delimiter)
    pos, line, width = 0, 1, None
    while pos < len(text):
        parsed = scanner.record(pos)
        stray = parsed is None or (parsed[2] and width is not None and (
            len(parsed[0]) != width or scanner.whole_lines(pos, parsed[1], width)))
        if stray:
            parsed = scanner.record(pos, within_line=True)
        fields, end, _ = parsed
        if fields != [""]:
            yield Record(line=line, fields=tuple(fields), stray_quote=stray)
            width = len(fields) if width is None else width
        line += text.count("\n", pos, end) + text.count("\r", pos, end) - text.count("\r\n", pos, end)
        pos = end
