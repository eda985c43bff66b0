"""JSON from files nobody vouches for: bounded nesting, and no interpreter limit surfacing as a stray exception.

:mod:`json` turns three kinds of hostile (or just odd) input into surprises:

- deep nesting (``[[[[...``) raises :class:`RecursionError`, or on Python 3.11 with a raised recursion limit
  can overflow the C stack. Here nesting beyond ``max_depth`` arrays and objects is refused with its position,
  and is checked *before* the C decoder recurses into it whenever the recursion limit does not already
  guarantee the decoder stops safely;
- an integer of more digits than Python converts (``sys.get_int_max_str_digits()``, 4300 by default) raises a
  bare :class:`ValueError`. It is **refused** with its position: keeping it as its decimal string would hand a
  ``str`` to code that checks for numbers (a task id may be a string), and converting it anyway is the
  quadratic-time work the interpreter limit exists to prevent. No annotation export holds such numbers;
- a float literal beyond the float range (``1e999``) silently becomes ``inf``, which then poisons scores and is
  written back as the non-standard ``Infinity``. It is **refused** with its position. Literals that merely
  underflow (``1e-999``) become ``0.0``, as a float must. The explicit ``NaN`` / ``Infinity`` / ``-Infinity``
  constants are accepted by default, because :func:`json.dumps` writes them for such floats and the library's
  own files must read back; ``allow_nan=False`` refuses them.

Everything else is exactly :mod:`json`: the same values, and the same :class:`json.JSONDecodeError` (with the
same message and position) for a syntax error — which is what a streaming reader relies on to read more of a
value cut by its buffer. The refusals above are *not* ``JSONDecodeError`` s, so reading more is not attempted.

The depth check is cheap: a value with at most ``max_depth`` ``[`` and ``{`` characters cannot be too deep,
which settles almost every array element of an export with two ``str.count`` calls. Otherwise the rest of the
text is bounded once (strings and all but brackets removed, then innermost bracket pairs, with bytes operations
in C), which then also settles the values a streaming reader decodes after it from the same buffer; only a text
with something too deep in it is checked value by value. All of it is linear.

Every refusal raises a :class:`~alab_training.errors.JSONLimitError`, an ``AlabTrainingError`` that is also a
:class:`ValueError` (callers that turn a file's ``ValueError`` into their own error keep doing so), carrying
``reason`` (listed in :data:`REASONS`), ``pos``, ``lineno`` and ``colno`` (as :class:`json.JSONDecodeError` has
them) and, for depth and integer refusals, ``limit``.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from json.decoder import WHITESPACE
from typing import Any

from alab_training.errors import JSONLimitError

__all__ = ["DEFAULT_MAX_DEPTH", "REASONS", "Decoder", "loads"]

#: Nesting accepted by default. Exports nest about 6 deep, so any real file fits; it stays below the 1000 levels
#: the interpreter's recursion limit allows. It is also the number of brackets below which a value is known to be
#: shallow enough from two ``str.count`` calls: a task needs some 170 spans to have more.
DEFAULT_MAX_DEPTH = 512

#: Every ``reason`` an error of this module carries, with what it means.
REASONS = {
    "depth": "arrays and objects nested more than max_depth deep (or deeper than the interpreter can decode)",
    "integer": "an integer with more digits than Python converts (sys.get_int_max_str_digits())",
    "float": "a float literal beyond the float range, which would become inf",
    "constant": "NaN, Infinity or -Infinity, refused with allow_nan=False",
    "bad_argument": "the text is not str, bytes or bytearray, or another argument is invalid",
}

#: Python 3.11's C decoder is guarded by the recursion limit it shares with Python frames: raised above this,
#: the guard comes too late (with ``sys.setrecursionlimit(10**7)``, ``json.loads("[" * 100_000)`` overflows the
#: C stack and the process dies), so nesting is checked before decoding. Python 3.12 guards C recursion apart.
_SAFE_RECURSION_LIMIT = 5000
_C_STACK_FOLLOWS_RECURSION_LIMIT = sys.version_info < (3, 12)

_DEPTH_DELETE = bytes(c for c in range(256) if chr(c) not in '[]{}"')
_DEPTH_TABLE = bytes.maketrans(b"[]{}", b"()()")
_STEPS = [0] * 256
_STEPS[ord("(")], _STEPS[ord(")")] = 1, -1
#: Rounds of removing innermost bracket pairs before the rest is walked through; real files are ~8 deep.
_ROUNDS = 16
_SKIP_PLAIN = re.compile(r'[^\[\]{}"]*')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?'
                           r"|NaN|-?Infinity", re.DOTALL)


class _Refused(Exception):
    """Raised from a parse hook, which does not know where it is; the decoder finds the place."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _finite_float(literal: str, _float: type[float] = float, _max: float = sys.float_info.max) -> float:
    # Called for every float of an export: locals and one chained comparison keep it at ~0.1 µs.
    value = _float(literal)
    if -_max <= value <= _max:
        return value
    raise _Refused("float")


def _refuse_constant(literal: str) -> float:
    raise _Refused("constant")


def _error(message: str, reason: str, text: str | None = None, pos: int | None = None,
           limit: int | None = None) -> JSONLimitError:
    """The error a refusal raises, with its place in ``text`` when it has one."""
    lineno = colno = None
    if text is not None and pos is not None:
        lineno = text.count("\n", 0, pos) + 1
        colno = pos - text.rfind("\n", 0, pos)
        message = f"{message} at line {lineno}, column {colno} (char {pos})"
    return JSONLimitError(message, reason=reason, pos=pos, lineno=lineno, colno=colno, limit=limit)


def _profile(text: str) -> tuple[int, int]:
    """``(highest, lowest)``: the bracket depths (outside strings) reached in ``text``, relative to its start.

    A prefix of ``text`` nests at most ``highest`` deep, and a value starting anywhere in it at most ``highest -
    lowest``; both are exact for one complete value. Strings are removed (escaped quotes first), then all but
    brackets, each kind of bracket made one. Then each round removes the innermost pairs, which lowers every
    peak by one and leaves the lowest point alone: a complete value empties in as many rounds as it is deep.
    What is left after a few rounds is walked through once. All of it runs in C, a few ns a character.
    """
    data = text.encode("utf-8", "surrogatepass")
    if b'\\"' in data:  # without a backslash right before a quote, every quote starts or ends a string
        data = _without_escaped_quotes(data)
    brackets = data.translate(_DEPTH_TABLE, _DEPTH_DELETE)
    if b'"' in brackets:
        # Removing two adjacent quotes keeps every other character in or out of a string as it was: that takes
        # the strings without brackets; the quotes left enclose brackets, which go with them.
        brackets = brackets.replace(b'""', b"")
        brackets = b"".join(brackets.split(b'"')[::2])
    rounds = 0
    while brackets and rounds < _ROUNDS:
        inner = brackets.replace(b"()", b"")
        if len(inner) == len(brackets):
            # Closers, then openers, are left: the depth goes down to -closers, then up.
            closers = brackets.count(b")")
            return rounds + max(0, len(brackets) - 2 * closers), -closers
        brackets = inner
        rounds += 1
    if not brackets:
        return rounds, 0
    # Deeper than a few rounds peel off in reasonable time (one pass each): walk the rest once instead.
    depths = list(itertools.accumulate(map(_STEPS.__getitem__, brackets)))
    return rounds + max(0, max(depths)), min(0, min(depths))


def _without_escaped_quotes(data: bytes) -> bytes:
    """``data`` without the quotes that a backslash escapes (other escaped characters do not matter here).

    Every escape is a backslash and one character (``\\uXXXX`` goes on with hex digits only), so a search for
    the next backslash always resumes two characters further on.
    """
    escaped, find, size = [], data.find, len(data)
    at = find(92)  # a backslash
    while 0 <= at < size - 1:
        if data[at + 1] == 0x22:
            escaped.append(at + 1)
        at = find(92, at + 2)
    if not escaped:
        return data
    starts = [0, *(at + 1 for at in escaped)]
    return b"".join(data[start:end] for start, end in zip(starts, [*escaped, size]))


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting depth ``text`` reaches, exact when it holds one value."""
    return _profile(text)[0]


def _plain_gap(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (what lies between two values) leaves every later character in or out of a
    string as it was."""
    return start == end or (text.find('"', start, end) < 0 and text.find("\\", start, end) < 0)


def _deepest(text: str, start: int, end: int, limit: int, *, one_value: bool) -> tuple[int | None, int, int]:
    """Scan ``text[start:end]`` bracket by bracket: ``(first position deeper than limit, deepest, its position)``.

    With ``one_value`` the scan ends where the value starting at ``start`` closes. A string left open ends it
    too (the rest is inside that string).
    """
    depth, deepest, deepest_at, pos = 0, 0, start, start
    while True:
        pos = _SKIP_PLAIN.match(text, pos, end).end()
        if pos >= end:
            return None, deepest, deepest_at
        char = text[pos]
        if char == '"':
            rest = _STRING_REST.match(text, pos + 1, end)
            if rest is None:
                return None, deepest, deepest_at
            pos = rest.end()
            continue
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_at = depth, pos
                if depth > limit:
                    return pos, deepest, deepest_at
        else:
            depth -= 1
            if one_value and depth <= 0:
                return None, deepest, deepest_at
        pos += 1


class Decoder(json.JSONDecoder):
    """A :class:`json.JSONDecoder` for untrusted text: same values, same syntax errors, bounded nesting.

    A drop-in for a streaming reader's decoder: :meth:`raw_decode` has the signature and the syntax errors of
    :meth:`json.JSONDecoder.raw_decode`, so a value cut by the end of a buffer still raises
    :class:`json.JSONDecodeError` (read more and retry), while a refusal raises at once.

    Args:
        max_depth: the most arrays and objects nested in one another (``[]`` is 1 deep, ``[[]]`` 2).
        allow_nan: accept the ``NaN``, ``Infinity`` and ``-Infinity`` constants (as :mod:`json` does).

    Raises:
        JSONLimitError: ``reason="bad_argument"`` for a ``max_depth`` that is not a positive int.
    """

    def __init__(self, *, max_depth: int = DEFAULT_MAX_DEPTH, allow_nan: bool = True) -> None:
        if not isinstance(max_depth, int) or isinstance(max_depth, bool) or max_depth < 1:
            raise _error(f"max_depth must be a positive int, got {max_depth!r}", "bad_argument")
        options: dict[str, Any] = {"parse_float": _finite_float}
        if not allow_nan:
            options["parse_constant"] = _refuse_constant
        super().__init__(**options)
        self.max_depth = max_depth
        self.allow_nan = allow_nan
        #: ``(text, shallow, end)``: the text :meth:`raw_decode` last bounded from some value on, whether that
        #: bound is within ``max_depth``, and where the last value decoded from it ended.
        self._stretch: tuple[str, bool, int] | None = None

    def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
        """Decode the JSON value starting at ``s[idx]`` (no whitespace skipped), as :mod:`json` does.

        Args:
            s: the text.
            idx: where the value starts.

        Returns:
            ``(value, end)``: the value and the index just past it.

        Raises:
            json.JSONDecodeError: a syntax error, or a value cut by the end of ``s``.
            JSONLimitError: ``reason`` ``"depth"``, ``"integer"``, ``"float"`` or ``"constant"``, with
                ``pos``, ``lineno`` and ``colno`` (a ``ValueError`` too); ``"bad_argument"`` for arguments of
                the wrong type.
        """
        # Called once per array element by a streaming reader: the common path is kept to a few C calls.
        if type(s) is not str or type(idx) is not int or idx < 0:
            self._check_arguments(s, idx)
        if (_C_STACK_FOLLOWS_RECURSION_LIMIT and sys.getrecursionlimit() > _SAFE_RECURSION_LIMIT
                and s[idx:idx + 1] in ("[", "{")):
            self._check_scan(s, idx, len(s), one_value=True)
        try:
            value, end = self.scan_once(s, idx)
        except StopIteration as nothing:  # what json.JSONDecoder.raw_decode reports for it
            raise json.JSONDecodeError("Expecting value", s, nothing.value) from None
        except json.JSONDecodeError:
            raise  # a syntax error, or a value cut short: the caller may read more
        except (RecursionError, _Refused, ValueError) as refused:
            raise self._refusal(s, idx, refused) from None
        stretch = self._stretch
        if stretch is not None and stretch[0] is s and stretch[2] <= idx and _plain_gap(s, stretch[2], idx):
            # The next value of a text already bounded from an earlier value on (a streaming reader's buffer).
            self._stretch = (s, stretch[1], end)
            if stretch[1]:
                return value, end
        elif s.count("[", idx, end) + s.count("{", idx, end) <= self.max_depth:
            return value, end  # too few brackets to nest too deep
        else:
            # Many brackets (a task with many spans): bound the rest of the text once, not each value of it.
            highest, lowest = _profile(s[idx:] if idx else s)
            shallow = highest - lowest <= self.max_depth
            self._stretch = (s, shallow, end)
            if shallow:
                return value, end
        self._check(s, idx, end)
        return value, end

    def decode(self, s: str, _w: Any = WHITESPACE.match) -> Any:
        """Decode ``s``, a JSON document (whitespace around the value allowed), as :func:`json.loads` does.

        Nesting is checked before decoding starts.

        Raises:
            json.JSONDecodeError, JSONLimitError: as :meth:`raw_decode`; ``"Extra data"`` after the value.
        """
        if not isinstance(s, str):
            raise _error(f"the JSON text must be str, got {type(s).__name__}", "bad_argument")
        self._check(s, 0, len(s))
        start = _w(s, 0).end()
        try:
            value, end = self.scan_once(s, start)
        except StopIteration as nothing:
            raise json.JSONDecodeError("Expecting value", s, nothing.value) from None
        except json.JSONDecodeError:
            raise
        except (RecursionError, _Refused, ValueError) as refused:
            raise self._refusal(s, start, refused) from None
        end = _w(s, end).end()
        if end != len(s):
            raise json.JSONDecodeError("Extra data", s, end)
        return value

    # -- internals ------------------------------------------------------------------------------------------------

    def _check_arguments(self, s: object, idx: object) -> None:
        if not isinstance(s, str):
            raise _error(f"the JSON text must be str, got {type(s).__name__}", "bad_argument")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise _error(f"the start index must be an int >= 0, got {idx!r}", "bad_argument")

    def _refusal(self, s: str, idx: int, refused: Exception) -> Exception:
        """What the C scanner raised while decoding from ``idx``, as an error that says where."""
        if isinstance(refused, RecursionError):
            return self._too_deep(s, idx)
        if isinstance(refused, _Refused):
            return self._refused(s, idx, refused.reason)
        if "integer string conversion" in str(refused):  # the interpreter's limit on integer digits
            return self._refused(s, idx, "integer")
        return refused  # pragma: no cover - no other ValueError is known

    def _check(self, s: str, start: int, end: int) -> None:
        """Refuse ``s[start:end]`` if it nests deeper than ``max_depth``; cheapest test first."""
        if s.count("[", start, end) + s.count("{", start, end) <= self.max_depth:
            return
        if _depth_bound(s if (start, end) == (0, len(s)) else s[start:end]) <= self.max_depth:
            return
        # The bound is exact for one complete value; otherwise (text that is not one value) it may be high.
        self._check_scan(s, start, end, one_value=False)

    def _check_scan(self, s: str, start: int, end: int, *, one_value: bool) -> None:
        at, _, _ = _deepest(s, start, end, self.max_depth, one_value=one_value)
        if at is not None:
            raise _error(f"more than {self.max_depth} nested arrays and objects", "depth", s, at,
                         limit=self.max_depth)

    def _too_deep(self, s: str, idx: int) -> JSONLimitError:
        """The interpreter's recursion limit stopped the decoder: report where."""
        at, deepest, deepest_at = _deepest(s, idx, len(s), self.max_depth, one_value=True)
        if at is not None:
            return _error(f"more than {self.max_depth} nested arrays and objects", "depth", s, at,
                          limit=self.max_depth)
        return _error(f"arrays and objects nested {deepest} deep, more than the interpreter's recursion limit "
                      "allows here", "depth", s, deepest_at, limit=self.max_depth)

    def _refused(self, s: str, idx: int, reason: str) -> JSONLimitError:
        """A number or constant a parse hook refused (or the interpreter would not convert): find it."""
        digits = sys.get_int_max_str_digits()
        for token in _SCALAR_TOKEN.finditer(s, idx):
            literal = token.group()
            if literal[0] == '"':
                continue
            if reason == "integer" and literal.lstrip("-").isdigit() and len(literal.lstrip("-")) > digits:
                return _error(f"an integer with {len(literal.lstrip('-'))} digits, more than the {digits} "
                              "Python converts", "integer", s, token.start(), limit=digits)
            if reason == "float" and literal[-1].isdigit() and not literal.lstrip("-").isdigit() and \
                    float(literal) in (float("inf"), float("-inf")):
                return _error(f"the number {literal[:20]}{'...' if len(literal) > 20 else ''} is beyond the float "
                              "range", "float", s, token.start())
            if reason == "constant" and literal in ("NaN", "Infinity", "-Infinity"):
                return _error(f"{literal} is not a JSON number (allow_nan is off)", "constant", s, token.start())
        return _error(REASONS[reason], reason)  # pragma: no cover - the token is always found


def loads(text: str | bytes | bytearray, *, max_depth: int = DEFAULT_MAX_DEPTH, allow_nan: bool = True) -> Any:
    """:func:`json.loads` for untrusted text: same values and syntax errors, refusals instead of surprises.

    Args:
        text: a JSON document; bytes are decoded as :func:`json.loads` decodes them (UTF-8/16/32).
        max_depth: the most arrays and objects nested in one another.
        allow_nan: accept the ``NaN``, ``Infinity`` and ``-Infinity`` constants.

    Returns:
        The decoded value.

    Raises:
        json.JSONDecodeError: the text is not JSON (as :func:`json.loads`).
        JSONLimitError: ``reason`` ``"depth"``, ``"integer"``, ``"float"`` or ``"constant"``, with ``pos``,
            ``lineno`` and ``colno`` (also a ``ValueError``); ``"bad_argument"`` for a text of another type.
    """
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif not isinstance(text, str):
        raise _error(f"the JSON text must be str, bytes or bytearray, got {type(text).__name__}", "bad_argument")
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return Decoder(max_depth=max_depth, allow_nan=allow_nan).decode(text)
