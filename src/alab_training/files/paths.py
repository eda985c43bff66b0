"""What the file layer's parts share: the errors they raise, and how a path is checked, followed and named."""

from __future__ import annotations

import errno as errnos
import os
import stat
from pathlib import Path
from typing import Any

from alab_training.errors import FileError, FileLockTimeoutError, FileMissingError

__all__ = ["NAME_MAX", "REASONS", "as_path", "check_limit", "file_error", "kind", "os_error", "regular_status",
           "resolve", "sibling"]

#: Every ``reason`` a :class:`~alab_training.errors.FileError` of the file layer carries, with what it means.
REASONS = {
    "bad_path": "the path is not a str, bytes or os.PathLike, is empty, or holds a NUL character",
    "bad_argument": "another argument (data, limit, timeout, stream) has the wrong type or value",
    "missing": "the file, or the folder it belongs in, does not exist",
    "not_regular": "the path names a folder, FIFO, device, socket or symlink loop, not a regular file",
    "too_large": "the file holds more bytes than the limit",
    "read_only": "the file is read-only (no write permission for anyone); it is left as it is",
    "permission": "the operating system, or the file's permissions, do not allow it",
    "owner": "the rewritten file could not keep the file's owner and group; it is left as it is",
    "hard_linked": "the file has other hard links, which an atomic rewrite would split off; it is left as it is",
    "lock_timeout": "another process held the lock longer than the timeout",
    "lock_reentrant": "this thread already holds the lock (locked() is not reentrant)",
    "os": "another operating-system error (see errno and strerror)",
}

#: The longest file name most file systems allow, in bytes.
NAME_MAX = 255

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink loop"))
_CLASSES = {"missing": FileMissingError, "lock_timeout": FileLockTimeoutError}


def file_error(message: str, *, path: object, reason: str, cause: BaseException | None = None,
               **details: Any) -> FileError:
    """The error of a failure: the class that ``reason`` calls for, with the system's errno when there is one.

    Args:
        message: what failed; the system's text is added unless it is in it already.
        path: the file, or ``None``.
        reason: a code of :data:`REASONS`.
        cause: the :class:`OSError` behind it, if any.
        details: ``errno``, ``limit``, ``links``, ``lock_path``, ``timeout``.
    """
    code = cause.errno if isinstance(cause, OSError) else details.pop("errno", None)
    reason_text = cause.strerror if isinstance(cause, OSError) and cause.strerror else None
    text = f"{message}: {reason_text}" if reason_text and reason_text not in message else message
    return _CLASSES.get(reason, FileError)(text, path=path, reason=reason, errno=code, strerror=reason_text,
                                           **details)


def os_error(exc: OSError, what: str, path: object) -> FileError:
    """An :class:`OSError` as the file layer's error, its errno mapped to a reason."""
    if exc.errno in (errnos.ENOENT, errnos.ENOTDIR):  # ENOTDIR: a part of the path is a file, not a folder
        reason = "missing"
    elif exc.errno in (errnos.EACCES, errnos.EPERM, errnos.EROFS):
        reason = "permission"
    elif exc.errno in (errnos.EISDIR, errnos.ELOOP, errnos.ENXIO):
        reason = "not_regular"
    else:
        reason = "os"
    return file_error(what, path=path, reason=reason, cause=exc)


def as_path(path: object) -> Path:
    """``path`` as a :class:`Path`, or a clear error instead of a ``TypeError``/``ValueError`` later on."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise file_error(f"expected a file path (str, bytes or os.PathLike), got {type(path).__name__}",
                         path=None, reason="bad_path")
    try:
        name = os.fsdecode(os.fspath(path))
    except (TypeError, ValueError) as exc:  # __fspath__ returning a non-path; bytes the file system cannot decode
        raise file_error(f"not a usable file path ({exc})", path=None, reason="bad_path") from exc
    if not name:
        raise file_error("the file path is empty", path=None, reason="bad_path")
    if "\0" in name:
        raise file_error("the file path holds a NUL character", path=name.replace("\0", "\\0"), reason="bad_path")
    return Path(name)


def check_limit(limit: object) -> int:
    """A byte limit, checked: a non-negative int."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise file_error(f"the byte limit must be a non-negative int, got {limit!r}", path=None,
                         reason="bad_argument")
    return limit


def kind(mode: int) -> str | None:
    """What a non-regular file is, for the message; ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def regular_status(path: Path, action: str, *, follow_symlinks: bool = True) -> os.stat_result | None:
    """The status of ``path`` if it is a regular file, ``None`` if nothing is there; anything else is refused.

    Args:
        path: the file.
        action: what was to be done with it, for the message (``"write"``).
        follow_symlinks: look at what a symlink leads to (else at the link, which is then refused).
    """
    try:
        status = os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(exc, f"cannot {action} the file", path) from exc
    what = kind(status.st_mode)
    if what is not None:
        raise file_error(f"cannot {action} it: it is {what}, not a regular file", path=path, reason="not_regular")
    return status


def resolve(path: Path) -> Path:
    """The file a path leads to (symlinks followed), which is what gets written and locked."""
    try:
        return path.resolve()
    except RuntimeError as exc:  # Python 3.11 reports a symlink loop this way
        raise file_error("cannot follow the path: it is a symlink loop", path=path, reason="not_regular") from exc
    except OSError as exc:
        raise os_error(exc, "cannot follow the path", path) from exc
    except ValueError as exc:
        raise file_error(f"not a usable file path ({exc})", path=path, reason="bad_path") from exc


def sibling(target: Path, suffix: str, reserve: int) -> Path:
    """``.<name><suffix>`` beside ``target``; a name so long that ``reserve`` more bytes would not fit is cut."""
    name = os.fsencode(target.name)[:NAME_MAX - 1 - reserve]
    return target.with_name("." + os.fsdecode(name) + suffix)
