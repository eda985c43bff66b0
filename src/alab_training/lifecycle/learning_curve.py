"""Learning curves: does more annotation still help?

``learning_curve`` trains on growing shares of the training side and scores every model on the same evaluation
side, so the only thing that changes from point to point is how much annotated data the model saw:

- the evaluation side is the one :func:`~alab_training.selection.select_completions` gives for ``params``
  (``test_tags`` or ``validation_split``), identical for every point;
- the training subsets are nested (the tasks of the 25% point are all in the 50% point) and chosen by a hash of
  ``(seed, task id)``, so a rerun with the same seed trains on the same tasks;
- each point's models are trained in a scratch folder and deleted once scored: only the figures are kept, the
  user's model folder is never touched.

``plot_learning_curve`` draws the curve to a PNG; it needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from alab_training.arguments import expect, expect_callable, expect_path, expect_session
from alab_training.errors import MissingDependencyError, ParamsError
from alab_training.files import write_atomically
from alab_training.lifecycle.training import train
from alab_training.model import Project, TrainingEvent, TrainingFinished
from alab_training.params import TrainingParams, params_argument, params_to_dict
from alab_training.selection import select_completions, split_point

__all__ = [
    "DEFAULT_FRACTIONS",
    "CurvePoint",
    "LearningCurve",
    "learning_curve",
    "plot_learning_curve",
    "require_plotting",
]

DEFAULT_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
#: Salts the subset order, so it does not follow the hash that chose the validation split.
_ORDER_SALT = "learning-curve"


@attrs.frozen
class CurvePoint:
    """One model of the curve: trained on a share of the training side, scored on the fixed evaluation side.

    Attributes:
        kind: the training type (``ner``, ``assertion``, ``classification``, a plugin's type).
        fraction: the share of the training side's tasks used, in (0, 1].
        train_tasks: the ids of the tasks trained on, in project order.
        metrics: the model's scores, as in :attr:`TrainedModel.metrics` (per label, ``micro``, ``macro``).
        seconds: wall time of this model's training and scoring.
    """

    kind: str
    fraction: float
    train_tasks: tuple[int | str, ...]
    metrics: dict[str, dict[str, float]]
    seconds: float

    @property
    def micro_f1(self) -> float:
        """The point's micro-averaged F1."""
        return self.metrics["micro"]["f1"]

    @property
    def macro_f1(self) -> float:
        """The point's macro-averaged F1."""
        return self.metrics["macro"]["f1"]

    def per_label_f1(self) -> dict[str, float]:
        """F1 of each label (averages and the classification accuracy row left out)."""
        return {label: row["f1"] for label, row in self.metrics.items()
                if label not in ("micro", "macro") and "f1" in row}


@attrs.frozen
class LearningCurve:
    """What :func:`learning_curve` measured.

    Attributes:
        project: the project's name.
        test_tasks: the ids of the evaluation side's tasks, the same for every point.
        available_train_tasks: how many tasks the full training side holds (the 1.0 point's count).
        points: in training order: for each fraction (smallest first), one point per training type.
        params: the training parameters shared by every point, as a JSON-ready dict.
    """

    project: str
    test_tasks: tuple[int | str, ...]
    available_train_tasks: int
    points: tuple[CurvePoint, ...]
    params: dict[str, Any] = attrs.field(factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The training types on the curve, in training order."""
        return tuple(dict.fromkeys(point.kind for point in self.points))

    def of(self, kind: str) -> tuple[CurvePoint, ...]:
        """The points of one training type, smallest fraction first."""
        return tuple(point for point in self.points if point.kind == kind)

    def table(self) -> str:
        """A plain-text table; ``gain`` is the micro F1 change since the previous, smaller point."""
        header = ("kind", "fraction", "train tasks", "micro F1", "macro F1", "gain", "seconds")
        rows = []
        for kind in self.kinds:
            previous = None
            for point in self.of(kind):
                gain = "" if previous is None else f"{point.micro_f1 - previous.micro_f1:+.4f}"
                rows.append((kind, f"{point.fraction:.2f}", str(len(point.train_tasks)), f"{point.micro_f1:.4f}",
                             f"{point.macro_f1:.4f}", gain, f"{point.seconds:.1f}"))
                previous = point
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
        lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width)
                           for i, (cell, width) in enumerate(zip(row, widths))).rstrip()
                 for row in (header, tuple("-" * w for w in widths), *rows)]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the project, the evaluation side, the params and every point with its full metrics."""
        return {
            "project": self.project,
            "test_tasks": list(self.test_tasks),
            "available_train_tasks": self.available_train_tasks,
            "params": self.params,
            "points": [{"kind": p.kind, "fraction": p.fraction, "train_tasks": list(p.train_tasks),
                        "metrics": p.metrics, "seconds": p.seconds} for p in self.points],
        }


def _checked_fractions(fractions: Iterable[float]) -> tuple[float, ...]:
    try:
        values = tuple(fractions)
    except TypeError:  # a single number where a list belongs
        values = (fractions,)
    valid = values and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in values)
    if not valid:
        raise ParamsError("expected one or more fractions in (0, 1]", field="fractions", value=values)
    if len(set(values)) != len(values):
        raise ParamsError("a fraction is given twice", field="fractions", value=values)
    return tuple(sorted(float(v) for v in values))


def _nested_subsets(task_ids: Sequence[int | str], fractions: Sequence[float],
                    seed: int) -> list[frozenset[int | str]]:
    """For each fraction, the first ``ceil(fraction * n)`` tasks of one seeded order: each subset holds the last."""
    order = sorted(task_ids, key=lambda task_id: split_point(f"{_ORDER_SALT}\x1f{task_id}", seed))
    # Rounding first keeps float noise (0.7 * 10 = 7.000000000000001) from taking one task more.
    return [frozenset(order[:max(1, math.ceil(round(fraction * len(order), 9)))]) for fraction in fractions]


def _timed_training(project: Project, params: TrainingParams, spark: Any, scratch_root: Path,
                    on_event: Callable[[TrainingEvent], None] | None) -> list[tuple[Any, float]]:
    """Train into a scratch folder that is removed afterwards; each model with the seconds it took."""
    finished: list[float] = []

    def relay(event: TrainingEvent) -> None:
        if isinstance(event, TrainingFinished):
            finished.append(time.monotonic())
        if on_event is not None:
            on_event(event)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".learning-curve-", dir=scratch_root) as scratch:
        result = train(project, params, spark, output_dir=scratch, trigger="learning_curve", on_event=relay)
    begins = [started, *finished[:-1]]
    return [(model, end - begin) for model, begin, end in zip(result.models, begins, finished)]


def learning_curve(
    project: Project,
    params: TrainingParams | None = None,
    fractions: Iterable[float] = DEFAULT_FRACTIONS,
    spark: Any = None,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
) -> LearningCurve:
    """Train on growing, nested shares of the training side; score each model on the same evaluation side.

    Args:
        project: the loaded project.
        params: the training parameters of every point; they must give an evaluation side (``test_tags`` or
            ``validation_split``). Every training type they select gets its own curve.
        fractions: shares of the training side's tasks, each in (0, 1]; trained smallest first.
        spark: the SparkSession to use, as in :func:`~alab_training.train`.
        output_dir: where each point's scratch folder goes (deleted once the point is scored); default: the
            system's temporary folder. Nothing else is written.
        on_event: receives every training's progress events, point after point.

    Returns:
        The points, per training type and fraction.

    Raises:
        ParamsError: bad fractions, or no evaluation side.
        SelectionError, TrainingError: as :func:`~alab_training.train` raises them for a point.
    """
    params = params_argument(params)
    expect(project, "project", Project, "a Project (load_project)")
    expect_path(output_dir, "output_dir", optional=True)
    expect_callable(on_event, "on_event", optional=True)
    expect_session(spark)
    shares = _checked_fractions(fractions)
    if not params.test_tags and not params.validation_split:
        raise ParamsError("a learning curve scores every point on one evaluation side: set test_tags or "
                          "validation_split", field="validation_split", value=params.validation_split)
    selection = select_completions(project, params)
    if not selection.test:
        field = "test_tags" if params.test_tags else "validation_split"
        raise ParamsError(f"no task falls on the evaluation side ({len(selection.train)} train, 0 test)",
                          field=field, value=getattr(params, field))
    test_ids = {task.id for task, _ in selection.test}
    train_ids = [task.id for task, _ in selection.train]
    scratch_root = Path(output_dir) if output_dir is not None else Path(tempfile.gettempdir())
    scratch_root.mkdir(parents=True, exist_ok=True)
    points = []
    for fraction, subset in zip(shares, _nested_subsets(train_ids, shares, params.seed)):
        # The split depends only on task id and seed, so the kept tasks fall on the same sides again.
        kept = attrs.evolve(project, tasks=tuple(t for t in project.tasks if t.id in subset or t.id in test_ids))
        train_tasks = tuple(task_id for task_id in train_ids if task_id in subset)
        for model, seconds in _timed_training(kept, params, spark, scratch_root, on_event):
            points.append(CurvePoint(kind=model.kind, fraction=fraction, train_tasks=train_tasks,
                                     metrics=model.metrics, seconds=seconds))
    return LearningCurve(project=project.name, test_tasks=tuple(task.id for task, _ in selection.test),
                         available_train_tasks=len(train_ids), points=tuple(points), params=params_to_dict(params))


def require_plotting() -> type:
    """matplotlib's ``Figure``, for callers that check before minutes of training rather than after.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError("plotting a learning curve needs matplotlib", package="matplotlib",
                                     extra="plot") from exc
    return Figure


def plot_learning_curve(curve: LearningCurve, path: str | os.PathLike[str]) -> Path:
    """Draw micro F1 (solid) and macro F1 (dashed) against the number of training tasks into a PNG. Atomic.

    Raises:
        MissingDependencyError: matplotlib is not installed.
        ParamsError: the curve has no points.
    """
    expect(curve, "curve", LearningCurve, "a LearningCurve (learning_curve)")
    expect_path(path, "path")
    figure_class = require_plotting()
    if not curve.points:
        raise ParamsError("the curve has no points to plot", field="curve", value=curve.project)
    # A bare Figure draws with Agg and leaves pyplot's global state (and the host's backend) alone.
    figure = figure_class(figsize=(7, 4.5), dpi=120)
    axes = figure.subplots()
    for kind in curve.kinds:
        points = curve.of(kind)
        sizes = [len(point.train_tasks) for point in points]
        line, = axes.plot(sizes, [p.micro_f1 for p in points], marker="o", label=f"{kind} micro F1")
        axes.plot(sizes, [p.macro_f1 for p in points], marker="s", linestyle="--", color=line.get_color(),
                  label=f"{kind} macro F1")
        for size, point in zip(sizes, points):
            axes.annotate(f"{point.micro_f1:.3f}", (size, point.micro_f1), textcoords="offset points",
                          xytext=(0, 6), ha="center", fontsize=8)
    axes.set_xlabel("training tasks")
    axes.set_ylabel("F1 on the evaluation side")
    axes.set_ylim(0, 1.05)
    axes.set_title(f"{curve.project}: learning curve ({len(curve.test_tasks)} evaluation tasks)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png")
    return write_atomically(path, image.getvalue())
