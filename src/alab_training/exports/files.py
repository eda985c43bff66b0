"""Reading export files: a JSON array of tasks streamed one task at a time, any other JSON whole, and Label
Studio's CSV / TSV rows.

Only a regular file is read (a FIFO or a device is refused at once), never more than :data:`MAX_EXPORT_BYTES`,
and its JSON through :mod:`alab_training.safe_json`: nesting and numbers that :mod:`json` turns into a
``RecursionError`` or a bare ``ValueError`` are an :class:`~alab_training.errors.ExportError` saying where.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from alab_training import safe_json
from alab_training.errors import ExportError, FileError, JSONLimitError
from alab_training.exports.delimited import records
from alab_training.exports.rows import read_rows
from alab_training.exports.tasks import ExportReader
from alab_training.exports.values import MAPPING, TASK_KEYS, integer_text
from alab_training.files import open_text_bounded, read_bytes_bounded, read_stream_bounded
from alab_training.model import Task

__all__ = ["MAX_EXPORT_BYTES", "iter_export_file", "read_export_file", "read_export_stream"]

#: The largest export file read: far beyond any project's (a million tasks take about 1 GB), and a bound on
#: what a file that keeps growing, or that is not what it seems, can make the reader hold.
MAX_EXPORT_BYTES = 8 << 30
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
        self._decoder = safe_json.Decoder()

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
        handle = open_text_bounded(file, MAX_EXPORT_BYTES, encoding="utf-8-sig", newline="")
    except FileError as exc:
        raise _unreadable(reader, file, exc) from exc
    try:
        with handle:
            items = iter(_ArrayItems(handle, _CHUNK_CHARS))
            first = next(items, None)
            if not isinstance(first, MAPPING) or not any(key in first for key in TASK_KEYS):
                return None
            return reader.read_tasks(itertools.chain([first], items), "$")
    except FileError as exc:  # the file itself (too large, unreadable): reading it again cannot help
        raise _unreadable(reader, file, exc) from exc
    except Exception:  # whatever it is, the whole-file read that follows reports it as it always did
        del reader.warnings[warnings:]
        reader.export_format = export_format
        return None


def _unreadable(reader: ExportReader, file: Path, exc: FileError) -> ExportError:
    where = "" if reader.source is not None else f" {str(file)!r}"  # the error names its source itself
    return reader.fail("$", f"cannot read the export{where}: {exc.message}")


def _delimited_rows(reader: ExportReader, text: str, delimiter: str) -> list[dict[str, Any]]:
    """The rows of a CSV/TSV export as JSON_MIN rows: one dict per record, keyed by the header."""
    found = records(text, delimiter)
    header = next(found, None)
    if header is None:
        return []
    if header.stray_quote:
        raise reader.fail("$", f"unreadable header (line {header.line}): a quote in it does not close")
    rows = []
    for record in found:
        row: dict[str, Any] = dict(zip(header.fields, record.fields))
        row.update((key, None) for key in header.fields[len(record.fields):])  # a short row, as csv reads it
        if len(record.fields) > len(header.fields):  # nowhere to put them: dropped, but not silently
            reader.warn(f"$[{len(rows)}]", "ragged_row",
                        f"line {record.line}: {len(record.fields)} fields where the header has "
                        f"{len(header.fields)}; the last {len(record.fields) - len(header.fields)} left out")
        if record.stray_quote:
            reader.warn(f"$[{len(rows)}]", "stray_quote",
                        f"line {record.line}: a quote opens a field but does not close it on that line; read as "
                        "the line alone, the quote kept as text (the rows after it are read as rows)")
        for key in ("id", "annotation_id", "annotator"):
            value = row.get(key)
            if value == "":
                row[key] = None
            elif isinstance(value, str) and (number := integer_text(value)) is not None:
                row[key] = number
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
        raw = read_bytes_bounded(file, MAX_EXPORT_BYTES)
    except FileError as exc:
        raise _unreadable(reader, file, exc) from exc
    return _read_whole(raw, suffix, reader)


def read_export_stream(stream: IO[Any], reader: ExportReader) -> tuple[Task, ...]:
    """Read an export from a stream the caller opened (a pipe, a download): JSON, or CSV/TSV when its name ends so.

    The caller chose what the stream reads from, so it is read as it is (a pipe without a writer waits for one),
    up to :data:`MAX_EXPORT_BYTES`.
    """
    try:
        raw = read_stream_bounded(stream, MAX_EXPORT_BYTES)
    except FileError as exc:
        raise reader.fail("$", f"cannot read the export stream: {exc.message}") from exc
    name = getattr(stream, "name", None)
    return _read_whole(raw, Path(name).suffix.lower() if isinstance(name, str) else "", reader)


def _read_whole(raw: bytes | str, suffix: str, reader: ExportReader) -> tuple[Task, ...]:
    """The tasks of an export's whole content (a text stream gives ``str``)."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise reader.fail("$", f"the export is not UTF-8 text (byte {exc.start})") from exc
    if suffix in (".csv", ".tsv"):
        sniff = text.split("\n", 1)[0]
        delimiter = "\t" if suffix == ".tsv" or sniff.count("\t") > sniff.count(",") else ","
        reader.export_format = "label_studio_min"
        return tuple(read_rows(reader, _delimited_rows(reader, text, delimiter), "$", cells_are_text=True))
    try:
        data = safe_json.loads(text)
    except json.JSONDecodeError as exc:
        raise reader.fail("$", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except JSONLimitError as exc:
        raise reader.fail("$", f"not an export: {exc.message}") from exc
    return reader.read(data)


def iter_export_file(path: str | os.PathLike[str], reader: ExportReader) -> Iterator[Task]:
    """The tasks of an export file one at a time, for a caller that never needs them all at once.

    A JSON array of tasks is decoded and yielded task by task: memory holds one task and its JSON. Any other
    file (another JSON shape, CSV/TSV) is read whole by :func:`read_export_file` and then yielded.

    Raises:
        ExportError: as :func:`read_export_file`; in a streamed file, broken JSON after the tasks already
            yielded is reported where the stream reaches it.
    """
    file = Path(path)
    if file.suffix.lower() not in (".csv", ".tsv"):
        try:
            handle = open_text_bounded(file, MAX_EXPORT_BYTES, encoding="utf-8-sig", newline="")
        except FileError as exc:
            raise _unreadable(reader, file, exc) from exc
        with handle:
            items = iter(_ArrayItems(handle, _CHUNK_CHARS))
            try:
                first = next(items, None)
            except FileError as exc:
                raise _unreadable(reader, file, exc) from exc
            except Exception:  # not an array of tasks: the whole-file read reports what is wrong with it
                first = None
            if isinstance(first, MAPPING) and any(key in first for key in TASK_KEYS):
                yield from _decoded(reader, itertools.chain([first], items), file)
                return
    yield from read_export_file(file, reader)


def _decoded(reader: ExportReader, items: Iterator[Any], file: Path) -> Iterator[Task]:
    tasks = reader.iter_tasks(items, "$")
    while True:
        try:
            task = next(tasks)
        except StopIteration:
            return
        except FileError as exc:
            raise _unreadable(reader, file, exc) from exc
        except json.JSONDecodeError as exc:
            raise reader.fail("$", f"not valid JSON: {exc.msg} at character {exc.pos} of the chunk being read") \
                from exc
        except UnicodeDecodeError as exc:
            raise reader.fail("$", f"the export is not UTF-8 text ({exc.reason})") from exc
        yield task
