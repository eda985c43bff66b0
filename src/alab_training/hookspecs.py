"""Every extension point of alab-training, grouped by when it fires.

Plugins implement these with :data:`alab_training.hookimpl` and ship as an installed package with an entry
point in the ``alab_training`` group, or are registered in-process with ``get_plugin_manager().register(obj)``.
An implementation may accept any subset of a hook's arguments. Each hook has a section in
``docs/plugin-hooks.md`` (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from alab_training.embeddings import EmbeddingsSource
    from alab_training.events import TrainingEvent
    from alab_training.trainers.base import Trainer, TrainingRequest

__all__ = ["hookspec"]

hookspec = pluggy.HookspecMarker("alab_training")


# -- Registration: called once, when the plugin manager is first needed ------------------------------------


@hookspec
def register_trainers(register: Callable[[Trainer], None]) -> None:
    """Contribute trainers.

    Call ``register(trainer)`` once per trainer. ``trainer.training_type`` (e.g. ``"ner"``) is the key users
    pass as ``TrainingParams(training_type=…)``; two plugins registering the same type is an error, so a
    plugin cannot silently replace a built-in trainer. The built-in trainers register through this same hook.

    Args:
        register: the callback that records a trainer (an object following
            :class:`alab_training.trainers.Trainer`).
    """


@hookspec
def register_embeddings(register: Callable[[str, Callable[[], EmbeddingsSource]], None]) -> None:
    """Contribute named word embeddings users can pass as ``TrainingParams(embeddings="<name>")``.

    Call ``register(name, factory)``; ``factory()`` returns an :class:`alab_training.embeddings.EmbeddingsSource`
    (called only when the name is used, so a plugin can point at a file it downloads or unpacks lazily). A name
    registered twice is an error. The default English embeddings register through this same hook.

    Args:
        register: the callback that records a name and its factory.
    """


# -- Training: while a training runs ---------------------------------------------------------------------------


@hookspec
def training_event(event: TrainingEvent, request: TrainingRequest) -> None:
    """Observe a training's progress: called for every event, in order, as it happens.

    Events are :mod:`alab_training.events` objects: ``TrainingStarted``, ``LogLine``, ``EpochFinished`` (loss,
    seconds), ``Evaluated`` (scores), then ``TrainingFinished`` (the model) or ``TrainingFailed``. Use it for
    progress bars, live logs, experiment trackers. Exceptions raised here stop the training, so keep it safe.

    Args:
        event: the event.
        request: the training's request (project, selection, params, output folder, model name).
    """
