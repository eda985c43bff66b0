"""alab-training: turn an annotation team's work into trained Spark NLP models.

Load a project (an Annotation Lab or Label Studio export plus its labeling config), choose the completion of
each task to learn from, and train — see the README for a walk-through. Everything a notebook, a host application
or a plugin needs is importable from here; ``docs/architecture.md`` shows where each part lives.
"""

from __future__ import annotations

import importlib.metadata

from alab_training.config import LabelingConfig, load_config
from alab_training.errors import (
    ActiveLearningError,
    AlabTrainingError,
    ConfigError,
    DeployError,
    EngineError,
    ExportError,
    FileError,
    FileLockTimeoutError,
    FileMissingError,
    JobError,
    JobNotFoundError,
    JobStoreError,
    JobTimeoutError,
    JSONLimitError,
    MissingDependencyError,
    ModelCardError,
    ModelNotFoundError,
    ParamsError,
    PluginError,
    RegistryError,
    RunnerError,
    SelectionError,
    TrainingError,
)
from alab_training.evaluation.agreement_results import Agreement
from alab_training.evaluation.annotators import agreement
from alab_training.evaluation.comparison import Comparison, compare, compare_with_previous
from alab_training.evaluation.evaluate import evaluate
from alab_training.evaluation.report import write_report
from alab_training.evaluation.results import Evaluation, ModelEvaluation
from alab_training.exports import iter_tasks, load_project
from alab_training.lifecycle.active_learning import ActiveLearning, ActiveLearningPolicy, rank_by_uncertainty
from alab_training.lifecycle.deploy import DeployResult, deploy
from alab_training.lifecycle.jobs import Job, JobRunner, JobStatus
from alab_training.lifecycle.learning_curve import LearningCurve, learning_curve, plot_learning_curve
from alab_training.lifecycle.prediction import load_model, predict
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.lifecycle.training import iter_training, train
from alab_training.model import (
    ChoiceAnswer,
    Completion,
    CompletionStatus,
    EpochFinished,
    Evaluated,
    LoadWarning,
    LogLine,
    Prediction,
    Project,
    Relation,
    Review,
    Span,
    Task,
    TrainedModel,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingResult,
    TrainingStarted,
)
from alab_training.params import TrainingParams
from alab_training.plugins import hookimpl
from alab_training.selection import ExclusionReason, Selection, select_completions
from alab_training.trainers.base import LoadedModel, PredictionInput, Trainer, TrainingRequest

__all__ = [
    "ActiveLearning",
    "ActiveLearningError",
    "ActiveLearningPolicy",
    "Agreement",
    "AlabTrainingError",
    "ChoiceAnswer",
    "Comparison",
    "Completion",
    "CompletionStatus",
    "ConfigError",
    "DeployError",
    "DeployResult",
    "EngineError",
    "EpochFinished",
    "Evaluated",
    "Evaluation",
    "ExclusionReason",
    "ExportError",
    "FileError",
    "FileLockTimeoutError",
    "FileMissingError",
    "JSONLimitError",
    "Job",
    "JobError",
    "JobNotFoundError",
    "JobRunner",
    "JobStatus",
    "JobStoreError",
    "JobTimeoutError",
    "LabelingConfig",
    "LearningCurve",
    "LoadWarning",
    "LoadedModel",
    "LogLine",
    "MissingDependencyError",
    "ModelCardError",
    "ModelEvaluation",
    "ModelNotFoundError",
    "ModelRegistry",
    "ParamsError",
    "PluginError",
    "Prediction",
    "PredictionInput",
    "Project",
    "RegistryError",
    "Relation",
    "Review",
    "RunnerError",
    "Selection",
    "SelectionError",
    "Span",
    "Task",
    "TrainedModel",
    "Trainer",
    "TrainingError",
    "TrainingEvent",
    "TrainingFailed",
    "TrainingFinished",
    "TrainingParams",
    "TrainingRequest",
    "TrainingResult",
    "TrainingStarted",
    "agreement",
    "compare",
    "compare_with_previous",
    "deploy",
    "evaluate",
    "hookimpl",
    "iter_tasks",
    "iter_training",
    "learning_curve",
    "load_config",
    "load_model",
    "load_project",
    "plot_learning_curve",
    "predict",
    "rank_by_uncertainty",
    "select_completions",
    "train",
    "write_report",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        return importlib.metadata.version("alab-training")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
