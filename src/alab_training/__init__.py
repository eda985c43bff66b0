"""alab-training: turn an annotation team's work into trained Spark NLP models.

Load a project (an Annotation Lab or Label Studio export plus its labeling config), choose the completion of
each task to learn from, and train — see the README for a walk-through.
"""

from __future__ import annotations

import importlib.metadata

from alab_training.config import LabelingConfig, load_config
from alab_training.config.deploy import DeployResult, deploy
from alab_training.domain import (
    ChoiceAnswer,
    Completion,
    CompletionStatus,
    LoadWarning,
    Prediction,
    Project,
    Relation,
    Review,
    Span,
    Task,
)
from alab_training.errors import (
    AlabTrainingError,
    ConfigError,
    DeployError,
    EngineError,
    ExportError,
    MissingDependencyError,
    ParamsError,
    PluginError,
    SelectionError,
    TrainingError,
)
from alab_training.export import load_project
from alab_training.jobs import Job, JobRunner, JobStatus
from alab_training.learning_curve import LearningCurve, learning_curve, plot_learning_curve
from alab_training.params import TrainingParams
from alab_training.plugins import hookimpl
from alab_training.prediction import LoadedModel, load_model, predict
from alab_training.registry import ModelNotFoundError, ModelRegistry
from alab_training.results import TrainedModel, TrainingResult
from alab_training.selection import ExclusionReason, Selection, select_completions
from alab_training.training import iter_training, train

__all__ = [
    "AlabTrainingError",
    "ChoiceAnswer",
    "Completion",
    "CompletionStatus",
    "ConfigError",
    "DeployError",
    "DeployResult",
    "EngineError",
    "ExclusionReason",
    "ExportError",
    "Job",
    "JobRunner",
    "JobStatus",
    "LabelingConfig",
    "LearningCurve",
    "LoadWarning",
    "LoadedModel",
    "MissingDependencyError",
    "ModelNotFoundError",
    "ModelRegistry",
    "ParamsError",
    "PluginError",
    "Prediction",
    "Project",
    "Relation",
    "Review",
    "Selection",
    "SelectionError",
    "Span",
    "Task",
    "TrainedModel",
    "TrainingError",
    "TrainingParams",
    "TrainingResult",
    "deploy",
    "hookimpl",
    "iter_training",
    "learning_curve",
    "load_config",
    "load_model",
    "load_project",
    "plot_learning_curve",
    "predict",
    "select_completions",
    "train",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        return importlib.metadata.version("alab-training")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
