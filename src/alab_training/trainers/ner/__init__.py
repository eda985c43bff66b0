"""The built-in NER trainer, registered as an internal plugin exactly like a third-party trainer."""

from alab_training.plugins import hookimpl
from alab_training.trainers.ner.trainer import NerTrainer

__all__ = ["NerTrainer"]


@hookimpl
def register_trainers(register):
    """Register the NER trainer."""
    register(NerTrainer())
