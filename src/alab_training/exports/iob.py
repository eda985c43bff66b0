"""Turning token-per-line IOB corpora (CoNLL, BIO ``.tsv``) into Annotation Lab exports.

Public NER corpora come as tokens with tags; annotation tools — and this library — work on texts with
character spans. ``iob_to_tasks`` joins each sentence's tokens with single spaces (so span offsets are exact)
and groups sentences into tasks, producing what an Annotation Lab export of that corpus would look like.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from alab_training.errors import ExportError, FileError
from alab_training.exports.files import MAX_EXPORT_BYTES
from alab_training.files import open_text_bounded
from alab_training.metrics import iob_chunks

__all__ = ["iob_to_tasks", "read_iob"]


def read_iob(path: str | os.PathLike[str], *, token_column: int = 0,
             tag_column: int = -1) -> list[list[tuple[str, str]]]:
    """Sentences of ``(token, tag)`` from a file with one token per line and blank lines between sentences.

    Columns are split on tabs, else on spaces; ``-DOCSTART-`` lines and ``#`` comment lines are skipped.

    Raises:
        ExportError: a line with too few columns (its line number is in the path, ``line:12``), or a file that
            cannot be read (not a regular file, larger than ``MAX_EXPORT_BYTES``, not UTF-8).
    """
    sentences: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    try:
        handle = open_text_bounded(path, MAX_EXPORT_BYTES)
    except FileError as exc:
        raise ExportError(f"cannot read the corpus: {exc.message}", source=str(path)) from exc
    with handle:
        for number, raw in enumerate(_lines(handle, path), start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if current:
                    sentences.append(current)
                    current = []
                continue
            if line.startswith(("-DOCSTART-", "#")):
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            try:
                current.append((columns[token_column], columns[tag_column]))
            except IndexError:
                raise ExportError(f"expected a token and a tag, got {line!r}", path=f"line:{number}",
                                  source=str(path)) from None
    if current:
        sentences.append(current)
    return sentences


def _lines(handle: TextIO, path: str | os.PathLike[str]) -> Iterator[str]:
    """The file's lines; a read that fails midway (past the limit, not UTF-8) is an :class:`ExportError`."""
    try:
        yield from handle
    except (FileError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read the corpus: {getattr(exc, 'message', exc)}", source=str(path)) from exc


def iob_to_tasks(
    sentences: Iterable[Sequence[tuple[str, str]]],
    *,
    sentences_per_task: int = 10,
    first_id: int = 1,
    tags: Sequence[str] = (),
    annotator: str = "corpus",
    from_name: str = "label",
    to_name: str = "text",
) -> list[dict[str, Any]]:
    """Annotation Lab tasks, one submitted completion each, holding the corpus' entities as spans.

    Sentences are joined by newlines inside a task, tokens by single spaces.
    """
    tasks: list[dict[str, Any]] = []
    batch: list[Sequence[tuple[str, str]]] = []

    def flush() -> None:
        task_id = first_id + len(tasks)
        lines, result, offset = [], [], 0
        for sentence in batch:
            tokens = [token for token, _ in sentence]
            starts = []
            for token in tokens:
                starts.append(offset)
                offset += len(token) + 1
            for kind, first, last in iob_chunks([tag for _, tag in sentence]):
                start, end = starts[first], starts[last] + len(tokens[last])
                result.append({"id": f"{task_id}-{len(result)}", "from_name": from_name, "to_name": to_name,
                               "type": "labels",
                               "value": {"start": start, "end": end, "text": " ".join(tokens[first:last + 1]),
                                         "labels": [kind]}})
            lines.append(" ".join(tokens))
        task = {"id": task_id, "data": {"text": "\n".join(lines), "title": f"task {task_id}"},
                "completions": [{"id": task_id * 1000 + 1, "created_username": annotator,
                                 "submitted_at": "2024-01-01T00:00:00", "honeypot": False, "result": result}],
                "predictions": []}
        if tags:
            task["tags"] = list(tags)
        tasks.append(task)
        batch.clear()

    for sentence in sentences:
        batch.append(sentence)
        if len(batch) == sentences_per_task:
            flush()
    if batch:
        flush()
    return tasks
