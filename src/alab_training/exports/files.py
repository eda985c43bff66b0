"""Reading export files: a JSON array of tasks streamed one task at a time, any other JSON whole, and Label
Studio's CSV / TSV rows.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from alab_training.exports.rows import read_rows
from alab_training.exports.tasks import ExportReader
from alab_training.exports.values import MAPPING, TASK_KEYS
from alab_training.model import Task

__all__ = ["read_export_file"]

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
            if not isinstance(first, MAPPING) or not any(key in first for key in TASK_KEYS):
                return None
            return reader.read_tasks(itertools.chain([first], items), "$")
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
        return tuple(read_rows(reader, rows, "$", cells_are_text=True))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise reader.fail("$", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError as exc:
        raise reader.fail("$", "the JSON is nested too deeply to be an export") from exc
    return reader.read(data)
