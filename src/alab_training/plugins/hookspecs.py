"""Every extension point of alab-training, grouped by when it fires.

Plugins implement these with :data:`alab_training.hookimpl` and ship as an installed package with an entry
point in the ``alab_training`` group, or are registered in-process with
``alab_training.plugins.manager.get_plugin_manager().register(obj)``. An implementation may accept any subset of a
hook's arguments. Each hook has a section in ``docs/plugin-hooks.md`` (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import pluggy

from alab_training.model import TrainingEvent
from alab_training.plugins import NAME
from alab_training.runtime.embeddings import EmbeddingsFactory
from alab_training.trainers.base import Trainer, TrainingRequest

__all__ = ["EmbeddingsRegister", "hookspec", "register_embeddings", "register_trainers", "training_event"]

hookspec = pluggy.HookspecMarker(NAME)


# -- Registration: called once per plugin manager, when its trainers or embeddings are first needed -------------


class EmbeddingsRegister(Protocol):
    """The ``register`` callback :func:`register_embeddings` hands a plugin."""

    def __call__(self, name: str, factory: EmbeddingsFactory, *, languages: Iterable[str] | str = ()) -> None:
        """Record ``name`` and its factory, as the vectors of ``languages`` too (see :func:`register_embeddings`)."""


@hookspec
def register_trainers(register: Callable[[Trainer], None]) -> None:
    """Contribute trainers.

    Call ``register(trainer)`` once per trainer. ``trainer.training_type`` (e.g. ``"ner"``) is the key users
    pass as ``TrainingParams(training_type=…)``; two plugins registering the same type is an error, so a
    plugin cannot silently replace a built-in trainer. The built-in trainers register through this same hook.
    The hook runs once per plugin manager (again only after a plugin is registered or unregistered).

    Args:
        register: the callback that records a trainer: a :class:`alab_training.Trainer` (or an object with its
            ``training_type`` and ``train``; what else it defines of the contract is used).
    """


@hookspec
def register_embeddings(register: EmbeddingsRegister) -> None:
    """Contribute named word embeddings users can pass as ``TrainingParams(embeddings="<name>")``.

    Call ``register(name, factory)``; ``factory()`` returns an
    :class:`alab_training.runtime.embeddings.EmbeddingsSource`
    (called only when the name is used, so a plugin can point at a file it downloads or unpacks lazily). With
    ``register(name, factory, languages=("de",))`` the embeddings are also what ``embeddings=None`` means for those
    languages wherever a trainer has no default of its own (every language but English), instead of vectors learned
    from the project's texts. A name registered twice, the reserved name ``learned``, and two registrations for one
    language are errors. The default English embeddings register through this same hook, once per plugin manager.

    Args:
        register: the callback that records a name and its factory (and, keyword-only, ``languages``: codes such
            as ``"de"`` or ``("de", "de-AT")``, region suffixes ignored).
    """


# -- Training: while a training runs ---------------------------------------------------------------------------


@hookspec
def training_event(event: TrainingEvent, request: TrainingRequest) -> None:
    """Observe a training's progress: called for every event, in order, as it happens.

    Events are :mod:`alab_training.model` objects: ``TrainingStarted``, ``LogLine``, ``EpochFinished`` (loss,
    seconds), ``Evaluated`` (scores), then ``TrainingFinished`` (the model) or ``TrainingFailed``. Use it for
    progress bars, live logs, experiment trackers. Exceptions raised here stop the training, so keep it safe.

    Args:
        event: the event.
        request: the training's :class:`alab_training.TrainingRequest` (project, selection, params, output
            folder, model name, options).
    """
