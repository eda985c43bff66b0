"""The plugin manager: built-in plugins first, then entry points, then a check for misspelt hooks; and the
trainers and embeddings registries, each built once per manager from the registration hooks.

Environment:
    ``ALAB_TRAINING_LOAD_PLUGINS``: unset loads every installed plugin of the ``alab_training`` entry-point
    group; a comma-separated list loads only those entry-point names; an empty value loads none.
    ``ALAB_TRAINING_TRACE_PLUGINS=1``: log every hook call (logger ``alab_training.plugins.manager``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable
from typing import Any

import pluggy

from alab_training.errors import ParamsError, PluginError
from alab_training.params import TYPE_NAME
from alab_training.plugins import NAME, hookspecs
from alab_training.runtime.embeddings import LEARNED, EmbeddingsCatalog, EmbeddingsFactory, EmbeddingsSource
from alab_training.runtime.languages import base_language
from alab_training.trainers.base import Trainer, as_trainer

__all__ = [
    "DEFAULT_PLUGINS",
    "PluginManager",
    "available_embeddings",
    "available_trainers",
    "create_plugin_manager",
    "get_plugin_manager",
    "resolve_embeddings",
]

#: Internal plugins, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = ("alab_training.plugins.embeddings", "alab_training.trainers.ner",
                                   "alab_training.trainers.assertion", "alab_training.trainers.classification",
                                   "alab_training.trainers.script")

_LOG = logging.getLogger(__name__)
_manager: PluginManager | None = None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, with the registries the registration hooks fill.

    :meth:`trainers` and :meth:`embeddings` call their hook once and keep the result until a plugin is registered
    or unregistered, so a registration hook runs once per manager however often trainers are looked up.
    """

    def __init__(self) -> None:
        super().__init__(NAME)
        self.add_hookspecs(hookspecs)
        self._trainers: dict[str, Trainer] | None = None
        self._embeddings: EmbeddingsCatalog | None = None

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin (see pluggy); the registries are rebuilt on their next use."""
        self._trainers = self._embeddings = None
        return super().register(plugin, name)

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        """Unregister a plugin (see pluggy); the registries are rebuilt on their next use."""
        self._trainers = self._embeddings = None
        return super().unregister(plugin, name)

    def trainers(self) -> dict[str, Trainer]:
        """Every registered trainer by training type.

        Raises:
            PluginError: a trainer is malformed, or two plugins claim one training type.
        """
        if self._trainers is None:
            self._trainers = self._collect_trainers()
        return dict(self._trainers)

    def embeddings(self) -> EmbeddingsCatalog:
        """The registered embeddings, and the languages plugins registered vectors for.

        Raises:
            ParamsError: a name is registered twice or is the reserved ``learned``, or two registrations claim one
                language.
        """
        if self._embeddings is None:
            registered: dict[str, EmbeddingsFactory] = {}
            by_language: dict[str, str] = {}

            def register(name: str, factory: EmbeddingsFactory, *, languages: Iterable[str] | str = ()) -> None:
                if name == LEARNED:
                    raise ParamsError(f"the name {LEARNED!r} is reserved for vectors learned from the project's "
                                      "texts", field="embeddings", value=name)
                if name in registered:
                    raise ParamsError(f"embeddings {name!r} are registered twice", field="embeddings", value=name)
                registered[name] = factory
                for language in _language_list(languages, name):
                    if language in by_language:
                        raise ParamsError(f"embeddings {by_language[language]!r} and {name!r} are both registered "
                                          f"as the vectors of language {language!r}", field="embeddings", value=name)
                    by_language[language] = name

            self.hook.register_embeddings(register=register)
            self._embeddings = EmbeddingsCatalog(registered, by_language)
        return self._embeddings

    def _collect_trainers(self) -> dict[str, Trainer]:
        trainers: dict[str, Trainer] = {}

        def register(candidate: Any) -> None:
            origin = type(candidate).__module__
            try:
                trainer = as_trainer(candidate)
            except TypeError as exc:
                raise PluginError(str(exc), plugin=origin) from exc
            if not TYPE_NAME.fullmatch(trainer.training_type):
                raise PluginError(f"trainer {candidate!r} needs a training_type like 'ner', got "
                                  f"{trainer.training_type!r}", plugin=origin)
            if trainer.training_type in trainers:
                earlier = type(trainers[trainer.training_type]).__module__
                raise PluginError(f"training type {trainer.training_type!r} is already provided by {earlier}",
                                  plugin=origin)
            trainers[trainer.training_type] = trainer

        self.hook.register_trainers(register=register)
        return trainers


def _language_list(given: Any, name: str) -> list[str]:
    """The language codes of one ``register(…, languages=…)`` call, as base codes (``de-AT`` → ``de``)."""
    codes = (given,) if isinstance(given, str) else tuple(given)
    if not all(isinstance(code, str) and code.strip() for code in codes):
        raise ParamsError(f"the languages of embeddings {name!r} must be language codes such as 'de', got {given!r}",
                          field="embeddings", value=name)
    return [base_language(code) for code in codes]


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


def _load_entry_points(manager: PluginManager) -> None:
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


def create_plugin_manager(*, load_entry_points: bool = True) -> PluginManager:
    """A new plugin manager with the built-in plugins and (optionally) the installed ones.

    Raises:
        PluginError: a plugin fails to import, or implements a hook that does not exist (a misspelling).
    """
    manager = PluginManager()
    for module_name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        _load_entry_points(manager)
    check_hooks(manager)
    if os.environ.get("ALAB_TRAINING_TRACE_PLUGINS") == "1":
        manager.trace.root.setwriter(_LOG.debug)
        manager.enable_tracing()
    return manager


def check_hooks(manager: PluginManager) -> None:
    """Fail when a registered plugin implements a hook that does not exist (a misspelt ``register_trainer``).

    Raises:
        PluginError: naming the plugin.
    """
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"implements an unknown hook: {exc}", plugin=manager.get_name(exc.plugin)) from exc


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _manager
    if _manager is None:
        _manager = create_plugin_manager()
    return _manager


def available_trainers(manager: PluginManager | None = None) -> dict[str, Trainer]:
    """Every registered trainer by training type (of ``manager``, default the process-wide one)."""
    return (manager if manager is not None else get_plugin_manager()).trainers()


def available_embeddings(manager: PluginManager | None = None) -> dict[str, EmbeddingsFactory]:
    """Registered embeddings by name (each a factory returning its :class:`EmbeddingsSource`)."""
    return dict((manager if manager is not None else get_plugin_manager()).embeddings().registered)


def resolve_embeddings(spec: str | None, language: str = "en",
                       manager: PluginManager | None = None) -> EmbeddingsSource:
    """What ``params.embeddings`` means, with the names ``manager`` knows (see :meth:`EmbeddingsCatalog.resolve`).

    Raises:
        ParamsError: nothing by that name or path, or an unreadable file.
    """
    return (manager if manager is not None else get_plugin_manager()).embeddings().resolve(spec, language)
