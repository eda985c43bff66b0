"""Plugins: the project name pluggy and the entry-point group share, and the marker plugins implement hooks with.

Every extension point is in :mod:`.hookspecs`; :mod:`.manager` loads the plugins (built-in ones first, then the
installed ones) and builds the trainers and embeddings registries. This module imports nothing of the library, so
a trainer — built-in or third-party — can take :data:`hookimpl` from here without pulling in the host::

    from alab_training import hookimpl

    @hookimpl
    def register_trainers(register):
        register(MyTrainer())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pluggy

__all__ = ["NAME", "hookimpl"]

_F = TypeVar("_F", bound=Callable[..., object])

#: The pluggy project name, and the entry-point group installed plugins are found in.
NAME = "alab_training"

#: Marks a function (or method) as the implementation of the hook of the same name. Typed, so a type checker keeps
#: the implementation's own signature; ``@hookimpl(trylast=True)`` and the other pluggy options work too.
hookimpl: Callable[[_F], _F] = pluggy.HookimplMarker(NAME)
