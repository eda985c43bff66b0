"""What the benchmarks share: the corpora as projects, scoring predictions the way a user would get them, and the
wall time and peak memory of a run.

Scores come from ``predict()`` on the model reloaded from its folder — what a user of the model gets — not from the
figures the training logged.
"""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

from alab_training import load_model, predict
from alab_training.evaluation.matching import exact_counts
from alab_training.exports.iob import iob_to_tasks, read_iob

__all__ = ["DATA", "Clock", "entity_f1", "ner_config", "peak_memory", "predicted_spans", "read_corpus"]

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def ner_config(labels: list[str]) -> str:
    """A labeling config with one ``<Labels>`` of these entity labels."""
    entries = "".join(f'<Label value="{label}"/>' for label in labels)
    return f'<View><Text name="text" value="$text"/><Labels name="label" toName="text">{entries}</Labels></View>'


def read_corpus(path: Path, **columns: int) -> list[list[tuple[str, str]]]:
    """The sentences of a token-per-line corpus (tab or space separated, ``-DOCSTART-`` skipped)."""
    return read_iob(path, **columns)


def tasks_of(sentences: list[list[tuple[str, str]]], *, first_id: int = 1, test: bool = False,
             sentences_per_task: int = 10) -> list[dict[str, Any]]:
    """Annotation Lab tasks holding the sentences (a test-tagged side with ``test``)."""
    return iob_to_tasks(sentences, first_id=first_id, tags=("test",) if test else (),
                        sentences_per_task=sentences_per_task)


def predicted_spans(model_path: Path, tasks: list[dict[str, Any]], spark: Any) -> list[list[tuple[int, int, str]]]:
    """The entity spans ``predict()`` of the reloaded model gives for each task."""
    loaded = load_model(model_path, spark=spark)
    found = predict(loaded, tasks)
    return [[(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in p["result"]
             if r["type"] == "labels"] for p in found]


def gold_spans(tasks: list[dict[str, Any]]) -> list[list[tuple[int, int, str]]]:
    """The tasks' own spans (their one completion's)."""
    return [[(item["value"]["start"], item["value"]["end"], item["value"]["labels"][0])
             for item in task["completions"][0]["result"]] for task in tasks]


def entity_f1(gold: list[list[tuple[int, int, str]]],
              predicted: list[list[tuple[int, int, str]]]) -> dict[str, dict[str, float]]:
    """Exact-match entity scores per label and micro: precision, recall, F1, support."""
    totals: Counter[tuple[str, str]] = Counter()
    for gold_spans_, predicted_spans_ in zip(gold, predicted):
        for label, (tp, fp, fn) in exact_counts(gold_spans_, predicted_spans_).items():
            totals[label, "tp"] += tp
            totals[label, "fp"] += fp
            totals[label, "fn"] += fn
    labels = sorted({label for label, _ in totals})
    rows = {label: (totals[label, "tp"], totals[label, "fp"], totals[label, "fn"]) for label in labels}
    rows["micro"] = tuple(sum(row[i] for row in rows.values()) for i in range(3))
    scores = {}
    for label, (tp, fp, fn) in rows.items():
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return scores


def peak_memory(spark: Any = None) -> str:
    """Peak resident memory: this Python process's and, with a session, its JVM's (``VmHWM``)."""
    python = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = f"python {python:.0f} MB"
    if spark is not None:
        pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        with open(f"/proc/{pid}/status") as status:
            hwm = next(line for line in status if line.startswith("VmHWM")).split()[1]
        text += f", JVM {int(hwm) / 1024:.0f} MB"
    return text


class Clock:
    """Wall time since it was made."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def minutes(self) -> float:
        """Minutes elapsed."""
        return (time.monotonic() - self.started) / 60


os.environ.setdefault("ALAB_TRAINING_LOAD_PLUGINS", "")
