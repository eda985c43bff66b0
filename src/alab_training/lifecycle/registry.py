"""The model registry: the trained models in one folder, described by their cards.

``train(..., output_dir=root)`` puts every model in ``root/<name>`` with a ``model.json`` card
(:mod:`alab_training.model_card`); :class:`ModelRegistry` lists, finds and removes them by reading only those cards,
never a model itself. A folder is a model when it holds a card naming that folder: hidden folders (a training's
staging, a model being replaced or removed), folders without a card and renamed copies are not models.
"""

from __future__ import annotations

import glob
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import attrs

from alab_training.arguments import expect, expect_path
from alab_training.config import bare_model_name
from alab_training.errors import FileError, ModelCardError, ModelNotFoundError, RegistryError
from alab_training.files import check_removable
from alab_training.model import TrainedModel
from alab_training.model_card import CARD, read_model_card

__all__ = ["ModelRegistry"]

_LOG = logging.getLogger(__name__)


def _newest_first(model: TrainedModel) -> tuple[datetime, int, str]:
    # Cards written by other tools may carry times without a zone (taken as UTC) or a non-numeric version.
    created = model.created_at if model.created_at.tzinfo else model.created_at.replace(tzinfo=timezone.utc)
    return created, model.version if isinstance(model.version, int) else 0, str(model.name)


def _root(value: object) -> Path:
    return expect_path(value, "root")


def _name(value: object, field: str) -> str:
    return expect(value, field, str, "a name (str)")


@attrs.frozen
class ModelRegistry:
    """The models under ``root``, the folder ``train(..., output_dir=root)`` writes to.

    Nothing is cached: every call reads the cards as they are now, so models trained or removed by another
    process show up at once. A missing ``root`` is an empty registry.

    Raises:
        ParamsError: ``root`` is not a path (every method likewise checks its arguments).
    """

    root: Path = attrs.field(converter=_root)

    def list(self, project: str | None = None, kind: str | None = None) -> tuple[TrainedModel, ...]:
        """The models, newest first (``created_at``, then version), optionally of one project and one kind.

        Args:
            project: the project's name, matched exactly but ignoring case.
            kind: ``ner``, ``assertion``, ``classification`` or a plugin's training type.

        Raises:
            RegistryError: ``root`` is not a folder.
        """
        expect(project, "project", str, "a project name (str)", optional=True)
        expect(kind, "kind", str, "a training type (str)", optional=True)
        wanted = project.casefold() if project is not None else None
        return tuple(sorted(
            (model for model in self._models()
             if (wanted is None or str(model.project or "").casefold() == wanted)
             and (kind is None or model.kind == kind)),
            key=_newest_first, reverse=True))

    def search(self, text: str) -> tuple[TrainedModel, ...]:
        """The models whose project or name contains ``text`` (ignoring case), newest first.

        Annotation Lab's "search for the new model by the name of the project".
        """
        needle = _name(text, "text").casefold()
        return tuple(model for model in self.list()
                     if needle in str(model.project or "").casefold() or needle in str(model.name).casefold())

    def latest(self, project: str, kind: str) -> TrainedModel:
        """The newest model of ``project`` (ignoring case) and ``kind``.

        Raises:
            ModelNotFoundError: there is none.
        """
        models = self.list(project=_name(project, "project"), kind=_name(kind, "kind"))
        if not models:
            raise ModelNotFoundError(f"no {kind} model of project {project!r} in the registry", root=self.root,
                                     project=project, kind=kind)
        return models[0]

    def names(self) -> tuple[str, ...]:
        """Every model's name, sorted."""
        return tuple(sorted(model.name for model in self._models()))

    def get(self, name: str) -> TrainedModel:
        """The model called ``name`` (a ``.model`` suffix, as Annotation Lab writes names at times, is ignored).

        Raises:
            ModelNotFoundError: no model folder of that name, an unreadable card, or a card naming another model.
        """
        folder = self._folder(_name(name, "name"))
        try:
            model, _ = read_model_card(folder)
        except ModelCardError as exc:
            raise ModelNotFoundError(f"no model {name!r} in the registry ({exc.args[0]})", root=self.root,
                                     name=name) from exc
        if model.name != folder.name:
            raise ModelNotFoundError(f"{folder} holds the model {model.name!r}, not {folder.name!r} (a renamed "
                                     "copy is not registered)", root=self.root, name=name)
        return model

    def previous(self, name: str) -> TrainedModel:
        """The version before the model ``name``: for ``…_v3`` the highest ``…_vN`` with ``N < 3`` still registered.

        What :func:`~alab_training.compare` is given to compare a model with its previous version by name.

        Raises:
            ModelNotFoundError: ``name`` is not a registered model, not a versioned name (``…_vN``), or has
                no earlier version in the registry.
        """
        model = self.get(name)
        base, version = _versioned(model.name)
        if base is None:
            raise ModelNotFoundError(f"{model.name!r} is not a versioned name (…_vN): it has no previous version",
                                     root=self.root, name=name)
        earlier = [(number, other) for other in self._models()
                   for other_base, number in [_versioned(other.name)] if other_base == base and number < version]
        if not earlier:
            raise ModelNotFoundError(f"no version of {base!r} before v{version} in the registry", root=self.root,
                                     name=name)
        return max(earlier, key=lambda found: found[0])[1]

    def remove(self, name: str) -> TrainedModel:
        """Delete the model called ``name`` and return what its card said.

        Only a registered model's own folder is ever deleted, and only when all of it can be: every entry is
        checked first (permissions, immutable files), so a removal does not stop halfway and leave half a
        model. The folder is then renamed out of sight, which removes the model from the registry at once, and
        deleted; a crash midway leaves a hidden remnant, never a half-deleted model that still lists.

        Raises:
            ModelNotFoundError: ``name`` is not a model of this registry (nothing is deleted).
            RegistryError: the model's folder is a symlink (what it points to is not the registry's to delete),
                or some of it cannot be deleted (nothing is deleted).
        """
        model = self.get(name)
        folder = self._folder(name)
        if folder.is_symlink():
            raise RegistryError(f"the model {model.name!r} is a link to {os.readlink(folder)}: the registry "
                                "deletes only folders of its own; remove the link itself (nothing was removed)",
                                root=self.root)
        try:
            check_removable(folder)
        except FileError as exc:
            raise RegistryError(f"cannot remove the model {model.name!r}: {exc.message} (nothing was removed)",
                                root=self.root) from exc
        for remnant in self.root.glob(f".{glob.escape(folder.name)}.*.removed"):  # of earlier removals
            shutil.rmtree(remnant, ignore_errors=True)
        retired = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.removed")
        try:
            folder.rename(retired)
        except OSError as exc:
            raise RegistryError(f"cannot remove the model {model.name!r}: {exc.strerror or exc} (nothing was "
                                "removed)", root=self.root) from exc
        try:
            shutil.rmtree(retired)
        except OSError as exc:  # the model is gone from the registry; only disk space is left to reclaim
            _LOG.warning("removed the model %s, but not all of its files: %s (delete %s)", model.name, exc,
                         retired)
        _LOG.info("removed the model %s (%s)", model.name, folder)
        return model

    def _folder(self, name: str) -> Path:
        bare = bare_model_name(name)
        separators = {"/", "\0", os.sep, *([os.altsep] if os.altsep else [])}
        if not bare or bare.startswith(".") or any(s in bare for s in separators):
            # Also what keeps get() and remove() inside root: no "..", no absolute paths.
            raise ModelNotFoundError(f"{name!r} is not a model name", root=self.root, name=name)
        return self.root / bare

    def _models(self) -> Iterator[TrainedModel]:
        try:
            folders = sorted(self.root.iterdir())
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RegistryError(f"cannot list the model folder: {exc.strerror or exc}", root=self.root) from exc
        for folder in folders:
            if folder.name.startswith(".") or not (folder / CARD).is_file():
                continue
            try:
                model, _ = read_model_card(folder)
            except ModelCardError as exc:
                _LOG.warning("skipping %s: %s", folder, exc.args[0])
                continue
            if model.name != folder.name:
                _LOG.warning("skipping %s: its card names the model %r (a renamed copy is not registered)",
                             folder, model.name)
                continue
            yield model


def _versioned(name: str) -> tuple[str | None, int]:
    """``("ner_x", 3)`` for ``ner_x_v3``; ``(None, 0)`` for a name without a version."""
    base, separator, digits = name.rpartition("_v")
    if not separator or not base or not digits.isdigit():
        return None, 0
    return base, int(digits)
