"""The built-in assertion-status trainer, registered as an internal plugin exactly like a third-party trainer."""

from alab_training.plugins import hookimpl
from alab_training.trainers.assertion.trainer import AssertionTrainer

__all__ = ["AssertionTrainer"]


@hookimpl
def register_trainers(register):
    """Register the assertion-status trainer."""
    register(AssertionTrainer())
