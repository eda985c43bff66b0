"""Is the new model really better? :func:`compare` scores two models on the same tasks and resamples them.

Both models are evaluated (:func:`~alab_training.evaluate`) on the same tasks against the same gold; each
task's counts of the headline figures (exact entity matches, statuses, classes) go to a seeded paired bootstrap
(:func:`~alab_training.evaluation.bootstrap.paired_bootstrap`), which gives each label's and the micro F1
delta an interval and a verdict. :func:`compare_with_previous` takes a registered model by name and compares it
with its previous version (``…_v3`` against ``…_v2``).
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from alab_training.arguments import expect, expect_text
from alab_training.errors import ParamsError
from alab_training.evaluation.bootstrap import BootstrapComparison, paired_bootstrap
from alab_training.evaluation.evaluate import ModelSource, evaluate, load_models
from alab_training.evaluation.results import ModelEvaluation
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import Project
from alab_training.params import TrainingParams, params_argument

__all__ = ["Comparison", "compare", "compare_with_previous"]


@attrs.frozen
class Comparison:
    """The outcome of :func:`compare`: both models' figures and the bootstrapped deltas.

    Attributes:
        project: the project's name.
        kind: the models' kind.
        tasks: the ids of the tasks both were scored on.
        baseline: the first model's figures (the one compared against).
        candidate: the second model's figures.
        deltas: per label and micro, ``candidate - baseline`` F1 with its interval and verdict.
    """

    project: str
    kind: str
    tasks: tuple[int | str, ...]
    baseline: ModelEvaluation
    candidate: ModelEvaluation
    deltas: BootstrapComparison

    @property
    def verdict(self) -> str:
        """The verdict on micro F1: ``better``, ``worse`` or ``no detectable difference`` (for the candidate)."""
        return self.deltas.micro.verdict

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the names, the verdict, the deltas and both models' figures."""
        return {
            "project": self.project,
            "kind": self.kind,
            "tasks": len(self.tasks),
            "baseline": self.baseline.name,
            "candidate": self.candidate.name,
            "verdict": self.verdict,
            "deltas": self.deltas.as_dict(),
            "models": [self.baseline.as_dict(), self.candidate.as_dict()],
        }

    def table(self) -> str:
        """The verdict in a sentence, then the table of deltas."""
        micro = self.deltas.micro
        return (f"{self.candidate.name} against {self.baseline.name} ({self.kind}, {len(self.tasks)} tasks): "
                f"micro F1 {micro.baseline:.4f} -> {micro.candidate:.4f}, {micro.delta:+.4f} "
                f"[{micro.low:+.4f}, {micro.high:+.4f}]: {self.verdict}\n\n{self.deltas.table()}")


def compare(
    model_a: ModelSource,
    model_b: ModelSource,
    project: Project,
    params: TrainingParams | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    spark: Any = None,
) -> Comparison:
    """Score two models of one kind on the same tasks and bootstrap the difference (see the module docs).

    Args:
        model_a: the baseline (e.g. the deployed model): a folder, a card or a loaded model.
        model_b: the candidate, of the same kind.
        project: the project whose tasks both are scored on.
        params: which tasks, as for :func:`~alab_training.evaluate`.
        resamples: bootstrap resamples, at least 1000.
        seed: seeds the resampling: the same seed gives the same intervals.
        confidence: the intervals' coverage.
        spark: the SparkSession, as for :func:`~alab_training.evaluate`.

    Returns:
        Both models' figures, per-label and micro deltas with intervals, and the verdict.

    Raises:
        ParamsError: the two are of different kinds, a setting is out of range, or there is no task.
    """
    expect(project, "project", Project, "a Project (load_project)")
    params = params_argument(params)
    baseline_model, candidate_model = (load_models(model, spark) for model in (model_a, model_b))
    for field, loaded in (("model_a", baseline_model), ("model_b", candidate_model)):
        if len(loaded) != 1:
            raise ParamsError(f"expected one model, got {len(loaded)}", field=field)
    kinds = (baseline_model[0].model.kind, candidate_model[0].model.kind)
    if kinds[0] != kinds[1]:
        raise ParamsError(f"a {kinds[0]} model cannot be compared with a {kinds[1]} model", field="model_b",
                          value=candidate_model[0].model.name)
    baseline = evaluate(baseline_model, project, params, spark=spark)
    candidate = evaluate(candidate_model, project, params, spark=spark)
    deltas = paired_bootstrap(baseline.models[0].per_task, candidate.models[0].per_task, resamples=resamples,
                              seed=seed, confidence=confidence)
    return Comparison(project=project.name, kind=kinds[0], tasks=baseline.tasks, baseline=baseline.models[0],
                      candidate=candidate.models[0], deltas=deltas)


def compare_with_previous(
    name: str,
    project: Project,
    params: TrainingParams | None = None,
    *,
    registry: ModelRegistry | str | os.PathLike[str],
    **settings: Any,
) -> Comparison:
    """Compare the registered model ``name`` (the candidate) with its previous version (the baseline).

    Args:
        name: a versioned model name (``ner_<project>_annotation_manual_v3``).
        project: the project both are scored on.
        params: which tasks, as for :func:`~alab_training.evaluate`.
        registry: the registry, or its folder (``train(..., output_dir=…)``).
        **settings: ``resamples``, ``seed``, ``confidence``, ``spark``, as for :func:`compare`.

    Raises:
        ModelNotFoundError: ``name`` is not registered or has no earlier version (see
            :meth:`~alab_training.ModelRegistry.previous`).
    """
    expect_text(name, "name")
    expect(project, "project", Project, "a Project (load_project)")
    models = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
    return compare(models.previous(name), models.get(name), project, params, **settings)
