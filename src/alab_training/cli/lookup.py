"""Finding the models the commands are given: a model folder as it is, else a model's name in a registry folder."""

from __future__ import annotations

import os
from pathlib import Path

from alab_training.errors import ModelCardError
from alab_training.lifecycle.registry import ModelRegistry
from alab_training.model import TrainedModel
from alab_training.model_card import CARD, read_model_card

__all__ = ["model_folder", "trained_model"]

_SEPARATORS = {"/", os.sep, *([os.altsep] if os.altsep else [])}


def _card_folder(text: str) -> Path | None:
    """The folder ``text`` names when it holds a card; ``None`` when ``text`` is to be looked up as a name.

    Raises:
        ModelCardError: ``text`` is a path (no model name holds a separator) with no card there: looking it up
            in the registry would only answer that it is no model name.
    """
    folder = Path(text)
    if (folder / CARD).is_file():
        return folder
    if any(separator in text for separator in _SEPARATORS):
        what = f"not a model folder (it holds no {CARD})" if folder.is_dir() else "no such model folder"
        raise ModelCardError(what, path=folder)
    return None


def model_folder(text: str, root: str | os.PathLike[str]) -> Path:
    """A model folder as given (it holds a ``model.json``), else the folder of the model called ``text`` in ``root``.

    Raises:
        ModelCardError: ``text`` is a path with no model there.
        ModelNotFoundError: ``root`` has no model called ``text``.
    """
    folder = _card_folder(text)
    return folder if folder is not None else ModelRegistry(root).get(text).path


def trained_model(text: str, root: str | os.PathLike[str]) -> TrainedModel:
    """The model :func:`model_folder` finds, as its card describes it.

    Raises:
        ModelCardError: ``text`` is a path with no model there, or its card cannot be read.
        ModelNotFoundError: ``root`` has no model called ``text``.
    """
    folder = _card_folder(text)
    return read_model_card(folder)[0] if folder is not None else ModelRegistry(root).get(text)
