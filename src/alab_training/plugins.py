"""The plugin manager: built-in plugins first, then entry points, then a check for misspelt hooks.

Environment:
    ``ALAB_TRAINING_LOAD_PLUGINS``: unset loads every installed plugin of the ``alab_training`` entry-point
    group; a comma-separated list loads only those entry-point names; an empty value loads none.
    ``ALAB_TRAINING_TRACE_PLUGINS=1``: log every hook call (logger ``alab_training.plugins``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os

import pluggy

from alab_training import hookspecs
from alab_training.errors import PluginError
from alab_training.params import TYPE_NAME
from alab_training.trainers.base import Trainer

__all__ = [
    "DEFAULT_PLUGINS",
    "NAME",
    "available_trainers",
    "create_plugin_manager",
    "get_plugin_manager",
    "hookimpl",
]

#: The pluggy project name and the entry-point group.
NAME = "alab_training"
hookimpl = pluggy.HookimplMarker(NAME)

#: Internal plugins, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = ("alab_training.embeddings", "alab_training.trainers.ner",
                                   "alab_training.trainers.assertion", "alab_training.trainers.classification",
                                   "alab_training.trainers.script")

_LOG = logging.getLogger(__name__)
_manager: pluggy.PluginManager | None = None


def _selected_entry_points() -> list[importlib.metadata.EntryPoint]:
    available = list(importlib.metadata.entry_points(group=NAME))
    wanted = os.environ.get("ALAB_TRAINING_LOAD_PLUGINS")
    if wanted is None:
        return available
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    by_name = {ep.name: ep for ep in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise PluginError(
            f"ALAB_TRAINING_LOAD_PLUGINS names {', '.join(unknown)}, which is not installed "
            f"(installed: {', '.join(sorted(by_name)) or 'none'})", plugin=unknown[0])
    return [by_name[n] for n in names]


def create_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A new plugin manager with the built-in plugins and (optionally) the installed ones.

    Raises:
        PluginError: a plugin fails to import, or implements a hook that does not exist (a misspelling).
    """
    manager = pluggy.PluginManager(NAME)
    manager.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        for entry_point in _selected_entry_points():
            if manager.get_plugin(entry_point.name) is not None or manager.is_blocked(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:  # a broken third-party package must not look like our bug
                raise PluginError(f"cannot load entry point {entry_point.value!r}: {exc}",
                                  plugin=entry_point.name) from exc
            try:
                manager.register(plugin, name=entry_point.name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(str(exc), plugin=entry_point.name) from exc
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"implements an unknown hook: {exc}", plugin=manager.get_name(exc.plugin)) from exc
    if os.environ.get("ALAB_TRAINING_TRACE_PLUGINS") == "1":
        manager.trace.root.setwriter(_LOG.debug)
        manager.enable_tracing()
    return manager


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _manager
    if _manager is None:
        _manager = create_plugin_manager()
    return _manager


def available_trainers(manager: pluggy.PluginManager | None = None) -> dict[str, Trainer]:
    """Every registered trainer by training type.

    Raises:
        PluginError: a trainer is malformed, or two plugins claim one training type.
    """
    manager = manager if manager is not None else get_plugin_manager()
    trainers: dict[str, Trainer] = {}

    def register(trainer: Trainer) -> None:
        training_type = getattr(trainer, "training_type", None)
        origin = type(trainer).__module__
        if not isinstance(training_type, str) or not TYPE_NAME.match(training_type):
            raise PluginError(f"trainer {trainer!r} needs a training_type like 'ner', got {training_type!r}",
                              plugin=origin)
        if not callable(getattr(trainer, "train", None)):
            raise PluginError(f"trainer {training_type!r} has no train(request) method", plugin=origin)
        if training_type in trainers:
            earlier = type(trainers[training_type]).__module__
            raise PluginError(f"training type {training_type!r} is already provided by {earlier}", plugin=origin)
        trainers[training_type] = trainer

    manager.hook.register_trainers(register=register)
    return trainers
