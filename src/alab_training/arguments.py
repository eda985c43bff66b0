"""Checking what a caller passes to a public function: a wrong argument is a
:class:`~alab_training.errors.ParamsError` naming it, never a ``TypeError`` or ``AttributeError`` from deep inside.

Each public function checks its arguments on entry with these, so the error says which argument is wrong and
what was expected, before anything is read, written or started.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from alab_training.errors import ParamsError

__all__ = ["expect", "expect_bool", "expect_callable", "expect_names", "expect_number", "expect_path",
           "expect_session", "expect_text", "shown"]


def shown(value: object, width: int = 80) -> str:
    """``repr(value)`` for a message: cut to ``width`` characters, and never an error of its own.

    An integer of more digits than Python prints, or an object whose ``__repr__`` raises, would otherwise turn
    the message about a bad value into a second, stray exception.
    """
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a huge int (ValueError), a broken __repr__: whatever it raises
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else f"{text[:width - 3]}..."


def _refuse(field: str, what: str, value: object) -> ParamsError:
    return ParamsError(f"expected {what}, got {type(value).__name__} {shown(value)}", field=field, value=value)


def expect(value: Any, field: str, kinds: type | tuple[type, ...], what: str, *, optional: bool = False) -> Any:
    """``value`` if it is one of ``kinds`` (``None`` too with ``optional``); a ``bool`` is not an ``int`` here.

    Args:
        value: the argument.
        field: its name, as the error reports it.
        kinds: the accepted types.
        what: what was expected, for the message (``"a Project (load_project)"``).
        optional: ``None`` is accepted too.

    Raises:
        ParamsError: another type.
    """
    if value is None and optional:
        return None
    accepted = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted):
        return value
    raise _refuse(field, what, value)


def expect_bool(value: Any, field: str) -> bool:
    """``value`` if it is ``True`` or ``False``: ``"no"`` or ``0`` would be read as something they do not say.

    Raises:
        ParamsError: anything else.
    """
    if isinstance(value, bool):
        return value
    raise _refuse(field, "True or False", value)


def expect_text(value: Any, field: str, *, optional: bool = False) -> str | None:
    """``value`` if it is a string with something besides white space in it (or ``None`` with ``optional``).

    Raises:
        ParamsError: anything else.
    """
    if value is None and optional:
        return None
    if isinstance(value, str) and value.strip():
        return value
    raise _refuse(field, "a non-empty string", value)


def expect_path(value: Any, field: str, *, optional: bool = False) -> Path | None:
    """``value`` as a :class:`Path`, if it is a non-empty ``str`` or ``os.PathLike`` without a NUL character.

    Raises:
        ParamsError: anything else.
    """
    if value is None and optional:
        return None
    if isinstance(value, (str, os.PathLike)):
        try:
            name = os.fspath(value)
        except TypeError as exc:  # a __fspath__ returning something else
            raise _refuse(field, "a file path", value) from exc
        if isinstance(name, str) and name and "\0" not in name:
            return Path(name)
    raise _refuse(field, "a file path (a non-empty str or os.PathLike without NUL characters)", value)


def _bound(limit: float) -> str:
    return str(limit) if isinstance(limit, int) else f"{limit:g}"


def expect_number(value: Any, field: str, *, integer: bool = False, minimum: float | None = None,
                  maximum: float | None = None, optional: bool = False) -> Any:
    """``value`` if it is a finite number (an ``int`` with ``integer``) of at least ``minimum``, at most ``maximum``.

    Raises:
        ParamsError: anything else.
    """
    if value is None and optional:
        return None
    kinds = (int,) if integer else (int, float)
    what = "a whole number" if integer else "a number"
    if minimum is not None:
        what += f" of at least {_bound(minimum)}"
    if maximum is not None:
        what += f"{',' if minimum is not None else ''} at most {_bound(maximum)}"
    # an int is always finite, and math.isfinite() cannot even convert one of 400 digits
    if (isinstance(value, bool) or not isinstance(value, kinds) or (isinstance(value, float) and not
                                                                     math.isfinite(value))
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum)):
        raise _refuse(field, what, value)
    return value


def expect_callable(value: Any, field: str, *, optional: bool = False) -> Callable[..., Any] | None:
    """``value`` if it can be called (or is ``None`` with ``optional``).

    Raises:
        ParamsError: anything else.
    """
    if (value is None and optional) or callable(value):
        return value
    raise _refuse(field, "a function", value)


def expect_session(value: Any, field: str = "spark") -> Any:
    """``value`` if it is ``None`` (start one) or looks like a ``SparkSession``.

    Checked by its attributes, not its class: the parts below the engine do not import Spark, and a Spark
    Connect session is another class with the same face.

    Raises:
        ParamsError: anything else (a string, a ``SparkContext``).
    """
    if value is None or all(hasattr(value, name) for name in ("createDataFrame", "sparkContext", "version")):
        return value
    raise _refuse(field, "a SparkSession (or None to start one)", value)


def expect_names(value: Any, field: str, *, values: tuple[type, ...] | None = None,
                 optional: bool = False) -> Any:
    """``value`` if it is a collection of strings; with ``values``, a mapping of strings to those types.

    Args:
        value: the argument.
        field: its name.
        values: for a mapping, the types its values may have (``type(None)`` among them for "or None").
        optional: ``None`` is accepted too.

    Raises:
        ParamsError: a string (which would be read letter by letter), or anything else.
    """
    if value is None and optional:
        return None
    if values is not None:
        if isinstance(value, Mapping) and all(isinstance(key, str) and isinstance(item, values)
                                              for key, item in value.items()):
            return value
        kinds = " or ".join("None" if kind is type(None) else kind.__name__ for kind in values)
        raise _refuse(field, f"a mapping of names to {kinds}", value)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return items
    raise _refuse(field, "a collection of names (strings)", value)
