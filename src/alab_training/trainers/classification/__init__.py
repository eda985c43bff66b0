"""The built-in text classification trainer, registered as an internal plugin exactly like a third-party trainer."""

from alab_training.plugins import hookimpl
from alab_training.trainers.classification.trainer import ClassificationTrainer

__all__ = ["ClassificationTrainer"]


@hookimpl
def register_trainers(register):
    """Register the classification trainer."""
    register(ClassificationTrainer())
