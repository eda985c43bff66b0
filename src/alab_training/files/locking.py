"""Advisory locks for read-modify-write: a sidecar ``.<name>.lock`` beside the file, ``flock``-ed."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alab_training.files.paths import as_path, file_error, kind, os_error, resolve, sibling
from alab_training.files.writing import sweep_temporaries

__all__ = ["DEFAULT_LOCK_TIMEOUT", "lock_path", "locked"]

#: Seconds :func:`locked` waits by default: a read-modify-write holds the lock for milliseconds, so a lock held
#: this long belongs to a process that is stuck, and waiting on would only hide that.
DEFAULT_LOCK_TIMEOUT = 30.0

#: The sidecar locks this thread holds, by (device, inode): flock would make a second ``locked()`` of the same
#: file wait for the first, which never ends, so it is refused at once instead.
_held = threading.local()


def lock_path(target: Path) -> Path:
    """The sidecar lock file of ``target`` (a resolved path): ``.<name>.lock`` beside it.

    Two names cut to one (names near the file system's limit) share a lock: that only serializes more than
    needed.
    """
    return sibling(target, ".lock", len(".lock"))


def _open_lock_file(lock: Path, target: Path) -> int:
    """The sidecar lock file's descriptor, creating the file (owned like the target) if need be."""
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a planted symlink or FIFO is not followed or waited on
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_EXCL | flags, 0o666)
    except FileExistsError:
        try:
            # flock needs no write access, so a lock file another user created still works read-only.
            fd = os.open(lock, os.O_RDONLY | flags)
        except OSError as exc:
            raise os_error(exc, f"cannot open the lock file {lock}", target) from exc
    except OSError as exc:
        raise os_error(exc, f"cannot create the lock file {lock}", target) from exc
    else:
        # The annotation tool's user must be able to take the lock too; a lock file holds no data.
        with contextlib.suppress(OSError):
            owner = os.stat(target)
            os.fchown(fd, owner.st_uid, owner.st_gid)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o644)
    try:
        what = kind(os.fstat(fd).st_mode)
    except OSError as exc:  # pragma: no cover
        os.close(fd)
        raise os_error(exc, f"cannot open the lock file {lock}", target) from exc
    if what is not None:
        os.close(fd)
        raise file_error(f"cannot lock it: the lock file {lock} is {what}", path=target, reason="not_regular",
                         lock_path=lock)
    return fd


def _check_timeout(timeout: object) -> float:
    if (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout >= 0
            or timeout == float("inf")):
        raise file_error(f"the lock timeout must be a finite number of seconds >= 0, got {timeout!r}", path=None,
                         reason="bad_argument")
    return float(timeout)


def _wait_for(fd: int, lock: Path, target: Path, deadline: float, timeout: float) -> None:
    """``flock`` the descriptor, trying until ``deadline``."""
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise file_error(f"another process held the lock {lock} for more than {timeout:g} s", path=target,
                                 reason="lock_timeout", lock_path=lock, timeout=timeout) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        except OSError as exc:  # ENOLCK on a file system without locks
            raise os_error(exc, f"cannot take the lock {lock}", target) from exc


def _acquire(lock: Path, target: Path, timeout: float, held: set[tuple[int, int]]) -> tuple[int, tuple[int, int]]:
    """The descriptor holding the lock on the lock file that is there now, and that file's identity."""
    deadline = time.monotonic() + timeout
    while True:
        fd = _open_lock_file(lock, target)
        try:
            identity = os.fstat(fd)
            key = (identity.st_dev, identity.st_ino)
            if key in held:
                raise file_error(f"this thread holds the lock {lock} already (locked() is not reentrant)",
                                 path=target, reason="lock_reentrant", lock_path=lock)
            _wait_for(fd, lock, target, deadline, timeout)
            # If the lock file was removed (or replaced) while we waited, our lock is on a file nobody else
            # will open: start again on the one that is there now.
            try:
                current = os.stat(lock, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise os_error(exc, f"cannot check the lock file {lock}", target) from exc
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == key:
            return fd, key
        os.close(fd)


@contextlib.contextmanager
def locked(path: str | bytes | os.PathLike[Any], *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[Path]:
    """Hold the advisory lock of ``path`` (a sidecar ``.<name>.lock``) for a read-modify-write.

    Take the lock, then read the file, check, and write it (with :func:`write_atomically`) before leaving the
    block; every process doing so with this lock sees the others' changes::

        with locked(config_path) as target:
            text = read_bytes_bounded(target, limit)  # read *after* taking the lock
            write_atomically(target, change(text))

    The lock belongs to the file the path leads to, so a symlink and its target share one lock. It is not
    reentrant (the same thread locking the same file twice raises at once), it is released when the block
    ends or the process dies, and it only excludes processes that take it too. Once it is held, the
    temporary files that writers killed mid-write left beside the file are removed.

    Args:
        path: the file to be rewritten; it need not exist yet (its folder must).
        timeout: seconds to wait for another holder; then an error is raised rather than waiting forever.
            ``0`` tries once.

    Yields:
        The resolved path of the file, to read and write.

    Raises:
        FileLockTimeoutError: another process held the lock for ``timeout`` seconds (``reason="lock_timeout"``,
            with ``lock_path`` and ``timeout``).
        FileError: ``"lock_reentrant"`` when this thread holds it already, ``"bad_path"``/``"bad_argument"``
            for unusable arguments, ``"missing"``, ``"permission"``, ``"not_regular"`` or ``"os"`` when the
            lock file cannot be created or opened.
    """
    timeout = _check_timeout(timeout)
    target = resolve(as_path(path))
    lock = lock_path(target)
    held: set[tuple[int, int]] = _held.__dict__.setdefault("locks", set())
    fd, key = _acquire(lock, target, timeout, held)
    held.add(key)
    try:
        sweep_temporaries(target)
        yield target
    finally:
        held.discard(key)
        os.close(fd)  # closing releases the flock
