"""Removing a folder all or nothing, as far as that can be known before starting: every entry is checked first."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from alab_training.files.paths import file_error, os_error

__all__ = ["check_removable"]

#: ``FS_IOC_GETFLAGS`` (Linux): an inode's flags, among them the two that stop even root from deleting it.
_GET_FLAGS = 0x80086601
_IMMUTABLE, _APPEND_ONLY = 0x10, 0x20


def _flags(path: str) -> int:
    """The inode flags of ``path`` (not followed); 0 where the file system does not keep any."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return 0  # a symlink, a socket, or no read access: nothing it can tell
    try:
        with contextlib.suppress(OSError):
            return int.from_bytes(fcntl.ioctl(fd, _GET_FLAGS, bytes(8))[:4], "little")
        return 0
    finally:
        os.close(fd)


def _blocked(path: str, is_folder: bool) -> str | None:
    """Why ``path`` (or, for a folder, what is in it) cannot be deleted; ``None`` when nothing says so."""
    flags = _flags(path)
    if flags & _IMMUTABLE:
        return "it is immutable (chattr +i)"
    if flags & _APPEND_ONLY:
        return "it is append-only (chattr +a)"
    if is_folder and not os.access(path, os.W_OK | os.X_OK):
        return "this process may not delete what is in it"
    return None


def check_removable(folder: str | os.PathLike[str]) -> None:
    """Make sure every entry of the tree ``folder`` can be deleted, before any is.

    A folder's entries can be deleted when the folder is writable and searchable and neither it nor the entry
    is immutable or append-only (flags that stop root too). Symlinks are not followed: deleting one removes the
    link, never what it points to.

    Raises:
        FileError: ``reason="permission"`` naming the first entry that cannot be deleted and why, ``"missing"``
            or ``"os"`` when the tree cannot be read.
    """
    root = Path(folder)
    entries = [(str(root.parent), True), (str(root), True)]  # the parent must let the folder itself go
    errors: list[OSError] = []
    for top, folders, files in os.walk(root, onerror=errors.append):
        entries += [(os.path.join(top, name), not os.path.islink(os.path.join(top, name))) for name in folders]
        entries += [(os.path.join(top, name), False) for name in files]
    if errors:
        raise os_error(errors[0], f"cannot read the folder {root} to delete it", errors[0].filename or root)
    for entry, is_folder in entries:
        reason = _blocked(entry, is_folder)
        if reason:
            raise file_error(f"cannot delete {root}: {entry} {reason}", path=Path(entry), reason="permission")
