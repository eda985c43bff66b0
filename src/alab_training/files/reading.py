"""Reads that only ever read a regular file, and never more than a limit."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any, TextIO

from alab_training.errors import FileError
from alab_training.files.paths import as_path, check_limit, file_error, kind, os_error, regular_status

__all__ = ["open_text_bounded", "read_bytes_bounded", "read_stream_bounded", "regular_file_status"]

#: Reading goes this many bytes at a time, so that a limit of gigabytes does not allocate gigabytes up front.
_READ_CHUNK = 1 << 20


def regular_file_status(path: str | bytes | os.PathLike[Any]) -> os.stat_result | None:
    """The status of the regular file ``path`` (symlinks followed), ``None`` if there is none; never opens it.

    For code that hands a path to something else to open (SQLite, say), which would hang on a FIFO.

    Raises:
        FileError: ``reason`` ``"not_regular"`` for a folder, FIFO, device or socket; ``"bad_path"``,
            ``"permission"`` or ``"os"`` when it cannot be looked at.
    """
    return regular_status(as_path(path), "use")


def _open_regular(path: Path) -> int:
    """A descriptor of ``path`` opened for reading, after making sure it is a regular file; blocking mode."""
    try:
        # stat first: a device is refused without being opened (opening a watchdog or a tape has effects).
        what = kind(os.stat(path).st_mode)
        if what is None:
            # O_NONBLOCK: if the path is swapped for a FIFO after the stat, opening it still returns at once.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise os_error(exc, "cannot read the file", path) from exc
    except ValueError as exc:  # a name the file system cannot encode
        raise file_error(f"not a usable file path ({exc})", path=path, reason="bad_path") from exc
    if what is not None:
        raise file_error(f"cannot read it: it is {what}, not a regular file", path=path, reason="not_regular")
    try:
        try:
            what = kind(os.fstat(fd).st_mode)
            # Blocking again: the descriptor is a regular file's, and a non-blocking one could return EAGAIN
            # on file systems that honour O_NONBLOCK for files (some FUSE and network ones).
            os.set_blocking(fd, True)
        except OSError as exc:  # pragma: no cover - fstat of an open descriptor does not fail in practice
            raise os_error(exc, "cannot read the file", path) from exc
        if what is not None:  # swapped between the stat and the open
            raise file_error(f"cannot read it: it is {what}, not a regular file", path=path, reason="not_regular")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _too_large(limit: int, path: object, what: str = "the file", unit: str = "bytes") -> FileError:
    return file_error(f"{what} holds more than {limit} {unit}", path=path, reason="too_large", limit=limit)


def read_bytes_bounded(path: str | bytes | os.PathLike[Any], limit: int) -> bytes:
    """The content of the regular file ``path``, if it holds at most ``limit`` bytes.

    The limit counts the bytes read, not the size the file reports, so a file that grows while it is read (or
    a ``/proc`` file that says it is empty) is still bounded. At most ``limit + 1`` bytes are read.

    Args:
        path: the file; symlinks are followed.
        limit: the most bytes accepted.

    Returns:
        The file's bytes.

    Raises:
        FileError: ``reason`` ``"bad_path"`` or ``"bad_argument"`` for unusable arguments, ``"not_regular"``
            for a folder, FIFO, device or socket (refused at once, never read), ``"too_large"`` beyond
            ``limit``, ``"missing"`` (a :class:`~alab_training.errors.FileMissingError`), ``"permission"`` or
            ``"os"`` when it cannot be read.
    """
    limit = check_limit(limit)
    file = as_path(path)
    fd = _open_regular(file)
    try:
        chunks, total = [], 0
        while True:
            try:
                chunk = os.read(fd, min(_READ_CHUNK, limit - total + 1))
            except OSError as exc:
                raise os_error(exc, "cannot read the file", file) from exc
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:
                raise _too_large(limit, file)
            chunks.append(chunk)
    finally:
        os.close(fd)


class _BoundedReader(io.RawIOBase):
    """A raw binary stream that raises once more than ``limit`` bytes came through it."""

    def __init__(self, raw: io.FileIO, limit: int, path: Path) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._count = 0
        self._path = path

    @property
    def name(self) -> str:
        return str(self._path)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer: Any) -> int:
        # One byte past the limit is enough to know the limit is exceeded; never more is read.
        allowed = self._limit - self._count + 1
        try:
            count = self._raw.readinto(memoryview(buffer).cast("B")[:allowed])
        except OSError as exc:
            raise os_error(exc, "cannot read the file", self._path) from exc
        self._count += count or 0
        if self._count > self._limit:
            self._count = self._limit + 1  # every later read raises too
            raise _too_large(self._limit, self._path)
        return count or 0

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def open_text_bounded(path: str | bytes | os.PathLike[Any], limit: int, *, encoding: str = "utf-8",
                      errors: str = "strict", newline: str | None = None) -> TextIO:
    """The regular file ``path`` as a text stream that raises once more than ``limit`` bytes were read.

    Meant for incremental decoding (a JSON array read one element at a time): memory holds what the caller
    keeps, and the file is still bounded. The limit counts bytes read, not the size the file reports.

    Args:
        path: the file; symlinks are followed.
        limit: the most bytes the stream delivers; reading past them raises.
        encoding: as for :func:`open`.
        errors: as for :func:`open`.
        newline: as for :func:`open`.

    Returns:
        An open text stream; close it (or use it in a ``with`` block).

    Raises:
        FileError: as :func:`read_bytes_bounded` when opening; ``reason="too_large"`` from the read that goes
            past ``limit`` (and from every read after it).
    """
    limit = check_limit(limit)
    file = as_path(path)
    fd = _open_regular(file)
    try:
        raw = _BoundedReader(io.FileIO(fd, "rb", closefd=True), limit, file)
    except BaseException:
        os.close(fd)
        raise
    try:
        return io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, errors=errors, newline=newline)
    except (LookupError, ValueError) as exc:  # an unknown encoding or errors handler, a bad newline
        raw.close()
        raise file_error(f"cannot decode the file as {encoding!r} ({exc})", path=file, reason="bad_argument"
                         ) from exc


def read_stream_bounded(stream: IO[Any], limit: int) -> bytes | str:
    """All that remains of an already open ``stream``, if it is at most ``limit`` bytes (characters for text).

    The caller opened the stream and chose what it reads from, so it is not checked for being a regular file;
    a pipe without a writer still blocks here. Only the limit applies.

    Args:
        stream: a binary stream (its bytes are counted) or a text stream (its characters are counted).
        limit: the most bytes (or characters) accepted; at most ``limit + 1`` are read.

    Returns:
        ``bytes`` from a binary stream, ``str`` from a text stream.

    Raises:
        FileError: ``reason="bad_argument"`` for an object without ``read``, ``"too_large"`` beyond ``limit``,
            ``"os"`` (or ``"permission"``...) when reading fails.
    """
    limit = check_limit(limit)
    read = getattr(stream, "read", None)
    if not callable(read):
        raise file_error(f"expected an open stream, got {type(stream).__name__}", path=None, reason="bad_argument")
    name = getattr(stream, "name", None)
    name = name if isinstance(name, (str, bytes, os.PathLike)) else None  # a file opened from a descriptor: an int
    chunks: list[Any] = []
    total = 0
    while True:
        try:
            chunk = read(min(_READ_CHUNK, limit - total + 1))
        except OSError as exc:
            raise os_error(exc, "cannot read the stream", name) from exc
        if not chunk:
            break
        if not isinstance(chunk, (bytes, bytearray, str)):
            raise file_error(f"the stream gave {type(chunk).__name__}, not bytes or str", path=name,
                             reason="bad_argument")
        total += len(chunk)
        if total > limit:
            raise _too_large(limit, name, "the stream", "characters" if isinstance(chunk, str) else "bytes")
        chunks.append(chunk)
    if not chunks:
        return "" if isinstance(stream, io.TextIOBase) else b""
    return "".join(chunks) if isinstance(chunks[0], str) else b"".join(chunks)
