"""What the command line shows: aligned tables, a progress bar for training events, score tables."""

from __future__ import annotations

import io
import math
from typing import Any, TextIO

from alab_training.model import EpochFinished, TrainingEvent, TrainingFailed, TrainingStarted
from alab_training.selection import REASONS, Selection

__all__ = ["Progress", "figure", "score_table", "selection_report", "table"]


def table(rows: list[tuple[str, ...]], header: tuple[str, ...], out: TextIO) -> None:
    """Left-aligned columns under a header and a dashed rule."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")


def selection_report(selection: Selection, out: TextIO) -> None:
    """Every task with the completion chosen for it (or why it is left out), then the counts per reason."""
    rows = [
        (str(item.task.id), item.task.title or "", item.split, str(item.completion.id), item.completion.annotator or "",
         "accepted" if item.completion.accepted else "")
        for item in selection.items
    ]
    rows += [(str(task.id), task.title or "", "excluded", "", "", reason.code) for task, reason in selection.excluded]
    table(rows, ("task", "title", "use", "completion", "annotator", "review / reason"), out)
    train, test = len(selection.train), len(selection.test)
    out.write(f"\nused {len(selection)} task(s): {train} train, {test} test; excluded {len(selection.excluded)}\n")
    for code, count in sorted(selection.excluded_counts().items()):
        out.write(f"  {code}: {count} — {REASONS[code]}\n")


class Progress:
    """Renders training events on a terminal: a bar per training, epoch losses, then the scores."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, TrainingStarted):
            self.stream.write(f"training {event.training_type}: {event.train_examples} examples, "
                              f"{event.test_examples} to test, {event.epochs} epochs\n")
        elif isinstance(event, EpochFinished):
            width = 30
            done = int(width * event.epoch / max(event.epochs, 1))
            loss = f"loss {event.loss:.2f}" if event.loss is not None else ""
            line = f"  [{'#' * done}{'.' * (width - done)}] epoch {event.epoch}/{event.epochs} {loss} " \
                   f"({event.seconds or 0:.1f}s)"
            self.stream.write(("\r" + line) if self.interactive else line + "\n")
            if self.interactive and event.epoch == event.epochs:
                self.stream.write("\n")
        elif isinstance(event, TrainingFailed):
            self.stream.write(f"training {event.training_type} failed\n")
        self.stream.flush()


def figure(value: Any, digits: int = 3) -> str:
    """A score as the tables show it; ``""`` for what is no number (a card written by another tool may hold
    text, a list, ``null``), so that one odd card does not stop a listing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if not math.isfinite(value):
        return str(value)
    # a card from another tool may hold 1e308 where a share belongs: a few digits, not three hundred (no real
    # count, such as a support of entities, comes near the bound)
    return f"{value:.{digits}f}" if abs(value) < 1e15 else f"{value:.{max(digits, 1)}g}"


def score_table(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """The lines of a table of precision, recall, F1 and support per label."""
    rows = [(label, figure(v.get("precision", 0)), figure(v.get("recall", 0)), figure(v.get("f1")),
             figure(v.get("support", 0), 0)) for label, v in metrics.items() if isinstance(v, dict) and "f1" in v]
    buffer = io.StringIO()
    table(rows, ("label", "precision", "recall", "f1", "support"), buffer)
    return buffer.getvalue().splitlines()


def deployment_summary(deployment: Any, nowhere: str) -> str:
    """The line that ends a deploy (``train --deploy``, ``deploy``): how many attributes were set and where the
    config went; ``nowhere`` says why no file was written when none was."""
    return (f"\ndeployed: {len(deployment.changed)} model attribute(s) set; config written to "
            f"{deployment.written or nowhere}\n")
