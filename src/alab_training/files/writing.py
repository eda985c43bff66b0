"""Atomic rewrites: a temporary file beside the target, flushed, given the target's owner and mode, renamed."""

from __future__ import annotations

import contextlib
import errno as errnos
import fcntl
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from alab_training.errors import FileError
from alab_training.files.paths import as_path, file_error, os_error, regular_status, resolve, sibling

__all__ = ["sweep_temporaries", "write_atomically"]

_LOG = logging.getLogger(__name__)

#: Temporary files of the format before this one (``.<name>.<uuid hex>.tmp``) were written without a lock, so
#: only their age tells they are abandoned; no write takes this long.
_UNLOCKED_TEMPORARY_AGE = 3600.0
#: What a temporary name adds to the target's name: ".", ".", pid (at most 10 digits), ".", 32 hex digits, ".tmp".
_TEMPORARY_SUFFIX_MAX = 1 + 1 + 10 + 1 + 32 + 4
_TEMPORARY = re.compile(r"\.(?P<pid>[0-9]+)\.[0-9a-f]{32}\.tmp")
_OLD_TEMPORARY = re.compile(r"\.[0-9a-f]{32}\.tmp")


def _payload(data: object) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate
            raise file_error(f"the text cannot be written as UTF-8 ({exc.reason} at {exc.start})", path=None,
                             reason="bad_argument") from exc
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)  # a copy: the caller may change it while it is written; any memoryview layout works
    raise file_error(f"expected bytes or str to write, got {type(data).__name__}", path=None,
                     reason="bad_argument")


def _replaceable(target: Path) -> os.stat_result | None:
    """The target's status if it exists; refuses what a rename must not replace (see the package docstring)."""
    status = regular_status(target, "write", follow_symlinks=False)
    if status is None:
        return None
    if status.st_mode & 0o222 == 0:
        raise file_error(f"it is read-only (mode {stat.S_IMODE(status.st_mode):04o}); it is left unchanged",
                         path=target, reason="read_only")
    effective = os.access in os.supports_effective_ids
    if not os.access(target, os.W_OK, effective_ids=effective):
        raise file_error("this process may not write it (its permissions); it is left unchanged", path=target,
                         reason="permission", errno=errnos.EACCES)
    if status.st_nlink > 1:
        raise file_error(f"it has {status.st_nlink} hard links, which rewriting it would split; it is left "
                         "unchanged (to rewrite it alone, copy it and move the copy over it)", path=target,
                         reason="hard_linked", links=status.st_nlink)
    return status


def sweep_temporaries(target: Path) -> None:
    """Remove the temporary files of writers that died beside ``target``; best effort, never raises.

    A writer holds a ``flock`` on its temporary file until it is renamed; a file whose lock is free belongs to a
    writer that was killed before the rename.
    """
    prefix = sibling(target, ".", _TEMPORARY_SUFFIX_MAX).name
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or not name.endswith(".tmp"):
            continue
        rest = name[len(prefix) - 1:]
        temporary = _TEMPORARY.fullmatch(rest)
        if temporary:
            # Files with our own pid are our live threads'; and where flock is emulated with per-process locks
            # (NFS), their lock would not keep us off them.
            if int(temporary["pid"]) != os.getpid():
                _remove_if_unlocked(Path(entry.path))
        elif _OLD_TEMPORARY.fullmatch(rest):
            with contextlib.suppress(OSError):
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > _UNLOCKED_TEMPORARY_AGE:
                    os.unlink(entry.path)
                    _LOG.debug("removed an abandoned temporary file %s", entry.path)


def _remove_if_unlocked(path: Path) -> None:
    """Remove a temporary file whose writer no longer holds its lock, i.e. has died before renaming it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # gone already, or another user's that we may not judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The name may have been renamed over the target, or reused, since we opened it: only remove the file
        # we hold the lock of.
        opened, named = os.fstat(fd), os.stat(path, follow_symlinks=False)
        if (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino) and stat.S_ISREG(named.st_mode):
            os.unlink(path)
            _LOG.debug("removed the temporary file %s of a writer that died", path)
    except OSError:
        pass  # locked by a live writer, or gone
    finally:
        os.close(fd)


def _create_temporary(target: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside ``target``, locked (its lock says its writer lives)."""
    while True:
        temporary = sibling(target, f".{os.getpid()}.{secrets.token_hex(16)}.tmp", _TEMPORARY_SUFFIX_MAX)
        # Not mkstemp: its 0600 would stick to new files; this gets the usual umask.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            # Blocking: a sweeper holds it for microseconds at most. It may have removed the file between our
            # create and this lock; then the name is no longer ours and we start over.
            fcntl.flock(fd, fcntl.LOCK_EX)
            opened, named = os.fstat(fd), os.stat(temporary, follow_symlinks=False)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino):
            return fd, temporary
        os.close(fd)


def _keep_attributes(fd: int, target: Path, status: os.stat_result) -> None:
    """Give the temporary file the target's owner, group, extended attributes and mode."""
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) != (status.st_uid, status.st_gid):
        try:
            os.fchown(fd, status.st_uid, status.st_gid)
        except PermissionError as exc:
            raise file_error(f"cannot keep its owner {status.st_uid}:{status.st_gid} (only root may give a file "
                             "away); it is left unchanged", path=target, reason="owner", cause=exc) from exc
    if hasattr(os, "listxattr"):  # ACLs and security labels; best effort, as cp --preserve=xattr does
        with contextlib.suppress(OSError):
            for name in os.listxattr(target):
                with contextlib.suppress(OSError):
                    os.setxattr(fd, name, os.getxattr(target, name))
    # After chown, which clears the set-user/group-id bits.
    os.fchmod(fd, stat.S_IMODE(status.st_mode))


def _fill(fd: int, raw: bytes, target: Path, status: os.stat_result | None) -> None:
    """Write ``raw`` to the temporary file, give it the target's attributes and flush it to disk."""
    view, offset = memoryview(raw), 0
    while offset < len(view):
        offset += os.write(fd, view[offset:])
    if status is not None:
        _keep_attributes(fd, target, status)
    os.fsync(fd)


def _link_unnamed(fd: int, target: Path) -> Path | None:
    """A name beside ``target`` for the unnamed file ``fd``; ``None`` where it cannot get one (no ``/proc``)."""
    while True:
        temporary = sibling(target, f".{os.getpid()}.{secrets.token_hex(16)}.tmp", _TEMPORARY_SUFFIX_MAX)
        try:
            os.link(f"/proc/self/fd/{fd}", temporary, follow_symlinks=True)
        except FileExistsError:
            continue
        except OSError:
            return None  # the named way then meets (and reports) whatever the trouble is
        return temporary


def _write_unnamed(target: Path, raw: bytes, status: os.stat_result | None) -> bool:
    """Write through an unnamed file (``O_TMPFILE``) that gets its name only to be renamed over the target.

    A writer killed while it writes and flushes, which is nearly all of its time, then leaves nothing behind
    (the kernel drops a file without a name); only a kill in the microseconds between naming and renaming
    leaves a temporary file, for the next write to sweep. ``False``, with nothing written, where the file
    system or the system has no unnamed files.
    """
    if not hasattr(os, "O_TMPFILE"):
        return False
    try:
        fd = os.open(target.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError:
        return False
    try:
        # Locked before it has a name, so that a sweeper never takes it for the file of a writer that died.
        fcntl.flock(fd, fcntl.LOCK_EX)
        _fill(fd, raw, target, status)
        temporary = _link_unnamed(fd, target)
        if temporary is None:
            return False
        try:
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except FileError:
        raise
    except OSError as exc:
        raise os_error(exc, "cannot write the file (it is unchanged)", target) from exc
    finally:
        os.close(fd)
    return True


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; file systems that cannot sync a folder are left as they are."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errnos.EINVAL, errnos.ENOTSUP, errnos.EBADF):
            raise os_error(exc, "the file was replaced, but the folder could not be synced to disk", folder
                           ) from exc
    finally:
        os.close(fd)


def write_atomically(path: str | bytes | os.PathLike[Any], data: bytes | str) -> Path:
    """Replace ``path`` with ``data``: a temporary file beside it, flushed to disk, renamed over it.

    A reader, and the file after a crash, sees the old content or the new, never a mix. An existing file keeps
    its owner, group, mode and extended attributes; a symlink keeps pointing where it did (its target is
    rewritten). Text is written as UTF-8. Temporary files left by writers that died are removed.

    A file is left unchanged, and an error raised, when it is read-only, not writable by this process, has
    hard links, is not a regular file, or its owner cannot be kept (the reasons are in the module docstring).
    For a read-modify-write, hold :func:`locked` around the read and this call.

    Args:
        path: the file to (re)write; its folder must exist.
        data: the new content.

    Returns:
        The path written (symlinks resolved).

    Raises:
        FileError: ``reason`` ``"read_only"``, ``"permission"``, ``"hard_linked"``, ``"owner"`` or
            ``"not_regular"`` when the file is refused; ``"missing"`` (no such folder), ``"permission"``
            or ``"os"`` (a full disk...) when writing fails; ``"bad_path"``/``"bad_argument"`` for unusable
            arguments. In every case ``path`` is unchanged and no temporary file is left, except when the folder
            cannot be synced after the rename (``"os"``, and the message says the file was replaced).
    """
    raw = _payload(data)
    target = resolve(as_path(path))
    status = _replaceable(target)
    sweep_temporaries(target)
    if _write_unnamed(target, raw, status):
        _sync_folder(target.parent)
        return target
    try:
        fd, temporary = _create_temporary(target)
    except OSError as exc:
        raise os_error(exc, "cannot write the file (it is unchanged)", target) from exc
    try:
        try:
            _fill(fd, raw, target, status)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except FileError:  # a refusal, already explained (an OSError too, so it must not be caught as one below)
        raise
    except OSError as exc:
        raise os_error(exc, "cannot write the file (it is unchanged)", target) from exc
    finally:
        os.close(fd)  # after the rename: the lock on the temporary file lasts until it has its final name
    _sync_folder(target.parent)
    return target
