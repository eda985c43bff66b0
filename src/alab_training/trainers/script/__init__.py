"""The custom-script trainer, registered as an internal plugin exactly like a third-party trainer."""

from alab_training.plugins import hookimpl
from alab_training.trainers.script.trainer import ScriptTrainer

__all__ = ["ScriptTrainer"]


@hookimpl
def register_trainers(register):
    """Register the custom-script trainer."""
    register(ScriptTrainer())
