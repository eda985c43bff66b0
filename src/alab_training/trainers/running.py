"""What every Spark NLP trainer shares while it runs: its folders, the training log, the closing model card.

:class:`TrainerRun` is one training's working state; a trainer subclasses it and writes its ``_events``, which end
with :meth:`TrainerRun.finish`. The blocking fit itself runs through :class:`~alab_training.runtime.fit.FitInThread`.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from alab_training.errors import SelectionError
from alab_training.model import LogLine, TrainedModel, TrainingEvent, TrainingFinished
from alab_training.model_card import write_model_card
from alab_training.params import params_to_dict
from alab_training.runtime.embeddings import EmbeddingsSource
from alab_training.runtime.learned import LearnedPlan, LearnedVectors, learn_vectors, plan_learned
from alab_training.selection import REASONS
from alab_training.trainers.base import Trainer, TrainingRequest

__all__ = ["TrainerRun", "TrainingLog", "check_selection", "epoch_loss", "resolve_source", "selection_lines"]


class TrainingLog:
    """The training log file; every line written also becomes a :class:`LogLine` event."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("w", encoding="utf-8")

    def write(self, *lines: str) -> list[LogLine]:
        """Write lines to the log; returns them as ``LogLine`` events to yield."""
        for line in lines:
            self._handle.write(line + "\n")
        self._handle.flush()
        return [LogLine(line) for line in lines]

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def selection_lines(request: TrainingRequest) -> list[str]:
    """How many tasks train, test and were left out (with the reasons), for the log."""
    selection = request.selection
    lines = [f"selection: {len(selection.train)} task(s) train, {len(selection.test)} test, "
             f"{len(selection.excluded)} excluded"]
    lines += [f"  excluded {code}: {count} ({REASONS[code]})"
              for code, count in sorted(selection.excluded_counts().items())]
    if request.project.warnings:
        lines.append(f"  {len(request.project.warnings)} item(s) left out while loading the export")
    return lines


def check_selection(request: TrainingRequest) -> None:
    """Refuse, before anything starts, a training whose selection left nothing on the training side."""
    if not request.selection.train:
        counts = ", ".join(f"{code} {n}" for code, n in sorted(request.selection.excluded_counts().items()))
        raise SelectionError(f"no task is left to train on ({counts or 'the project has no tasks'}); see "
                             f"the reason codes: {', '.join(REASONS)}")


def resolve_source(request: TrainingRequest, trainer: Trainer) -> tuple[EmbeddingsSource, LearnedPlan | None]:
    """The embeddings of ``trainer``'s training (:meth:`TrainingRequest.resolved_embeddings`), with the plan of the
    vectors to learn when they are learned ones (``learned``, or a language without registered vectors).

    Learned vectors learn from every task text of the project — labelled or not, on either side — and from
    ``params.unlabelled_corpus``; planning them reads no Spark, so a bad corpus fails here.

    Raises:
        ParamsError: unknown or unreadable embeddings, none at a level the trainer takes, an unusable corpus.
    """
    source = request.resolved_embeddings(trainer)
    if source.format != "learned":
        return source, None
    params = request.params
    plan = plan_learned((task.text for task in request.project.tasks), params.language, params.unlabelled_corpus)
    return plan.source, plan


def epoch_loss(text: str) -> float | None:
    """An engine log's loss figure; ``None`` for NaN or an infinity."""
    value = float(text)
    return value if math.isfinite(value) else None


class TrainerRun:
    """One training's working state — its folders and its log — shared by the Spark trainers.

    Subclasses set :attr:`title` and implement ``_events``, ending with :meth:`finish`; :meth:`events` closes the
    log however it ends.
    """

    title = "training"
    #: Engine scratch in the data folder, dropped once the model is saved (the training data files stay).
    scratch: tuple[str, ...] = ("test.parquet", "engine_logs")

    def __init__(self, request: TrainingRequest, source: EmbeddingsSource | None,
                 plan: LearnedPlan | None = None) -> None:
        self.started = time.monotonic()
        self.request = request
        self.params = request.params
        self.source = source
        #: The vectors to learn before the embeddings load (:meth:`learn`), and once learned, what they are.
        self.plan = plan
        self.learned: LearnedVectors | None = None
        self.out = request.output_dir
        self.work = self.out / "data"
        self.work.mkdir(parents=True, exist_ok=True)
        self.log = TrainingLog(self.out / "training.log")

    def events(self) -> Iterator[TrainingEvent]:
        """The training's events (:meth:`_events`), the log closed however they end."""
        try:
            yield from self._events()
        finally:
            self.log.close()

    def _events(self) -> Iterator[TrainingEvent]:
        raise NotImplementedError

    def spark(self) -> Any:
        """The request's session, or the embedded one."""
        from alab_training.runtime import start_session

        return self.request.spark if self.request.spark is not None else start_session()

    def header(self) -> list[str]:
        """The log's first lines: what trains, with which parameters and embeddings."""
        source = self.source
        lines = [f"{self.title} of {self.request.model_name} (project {self.request.project.name})",
                 f"parameters: {params_to_dict(self.params)}"]
        if source is not None and self.plan is None:
            lines.append(f"embeddings: {source.name} ({source.dimension}d, {source.format}, {source.location})")
        if self.params.unlabelled_corpus is not None and self.plan is None:
            lines.append(f"unlabelled_corpus {self.params.unlabelled_corpus} not used: only learned embeddings learn "
                         "from it")
        return lines

    def learn(self, spark: Any) -> Iterator[TrainingEvent]:
        """Learn the planned vectors (or find them in the cache) and say in the log what they were learned from."""
        if self.plan is not None:
            self.learned = learn_vectors(spark, self.plan)
            yield from self.log.write(*self.learned.lines())

    def finish(self, *, kind: str, labels: Iterable[str], metrics: dict[str, Any],
               extra: dict[str, Any]) -> Iterator[TrainingEvent]:
        """Close the log, drop the scratch, write the model card and announce the model."""
        if not metrics and not self.request.selection.test:
            yield from self.log.write("", "no test side: set validation_split or test_tags to get scores")
        elapsed = time.monotonic() - self.started
        yield from self.log.write("", f"finished in {elapsed:.1f}s")
        for name in self.scratch:
            shutil.rmtree(self.work / name, ignore_errors=True)
        model = TrainedModel(name=self.request.model_name, kind=kind, path=self.out, metrics=metrics,
                             labels=tuple(labels), params=params_to_dict(self.params), log_path=self.log.path,
                             embeddings=self.source.family if self.source else None, trigger=self.request.trigger,
                             project=self.request.project.name)
        if self.learned is not None:
            extra = {**extra, "learned_embeddings": self.learned.card()}
        write_model_card(model, extra={"pipeline": "pipeline", **extra, "seconds": round(elapsed, 1)})
        yield TrainingFinished(model)
