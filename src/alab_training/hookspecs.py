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
    from alab_training.trainers.base import Trainer

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
