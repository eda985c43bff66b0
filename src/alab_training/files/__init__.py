"""The one file layer: atomic rewrites, locks for read-modify-write, and reads that only ever read a file.

Exports and labeling configs come from users and annotation tools, and the configs and state files written here
are read (and rewritten) by other processes too. Every file the library reads or rewrites goes through here.

Writing (:func:`write_atomically`)
    A temporary file beside the target is written, flushed to disk, given the target's owner, group, mode and
    extended attributes, and renamed over it: a reader sees the old content or the new, never a mix, also when
    the writer is killed. The rewrite is *refused*, the target left as it is, when replacing it would quietly
    undo something somebody chose:

    - a read-only file (no write bit for anyone): a ``chmod a-w`` is a deliberate "do not change". Root is
      refused too, since root passes every permission check;
    - a file the caller may not write: the rename only needs the folder's permission, so without this check a
      process could replace a file it cannot open for writing;
    - a file whose owner or group cannot be kept (only root can give a file away): the annotation tool's user
      must still be able to read and rewrite its config afterwards;
    - a file with several hard links: a rename replaces one name and silently splits it from the others.
      Writing in place instead would keep the links but lose atomicity (a crash leaves a torn file), so
      refusing is the safe default; to rewrite one name alone, copy the file and move the copy over it first;
    - anything but a regular file (a folder, a FIFO, a device): renaming over ``/dev/null`` as root would
      replace the device.

    The temporary file is created without a name (``O_TMPFILE``) and ``flock``-ed before it gets one, so a
    writer killed while it writes and flushes leaves nothing behind. It is named ``.<name>.<pid>.<random>.tmp``
    only just before the rename (from the start where the file system has no unnamed files, or there is no
    ``/proc`` to name one through). A writer killed while its file has that name leaves it behind; the next
    write beside it (or the next :func:`locked` of the file) removes every such file whose lock is free. The
    lock, not the pid, tells a dead writer from a live one, so this is also right across pid namespaces
    (containers sharing a volume) and after pids are reused; only the files named with this process's own pid
    are never removed (they belong to its live threads).

Locking (:func:`locked`)
    Atomic rewrites alone do not stop two processes that each read, change and write one file from losing one
    change. :func:`locked` takes an advisory ``flock`` on a sidecar ``.<name>.lock`` beside the target (the target
    itself is replaced by every rewrite, so a lock on it would be a lock on a file nobody reads any more),
    waits at most ``timeout`` seconds and raises instead of hanging. It is advisory: it orders the processes
    that take it, and nothing else. The lock file is left in place afterwards, since removing it would let a
    waiting process lock the removed file while a newcomer locks a new one. Holding the lock, the temporary
    files that killed writers left beside the file are removed.

Reading (:func:`read_bytes_bounded`, :func:`open_text_bounded`, :func:`read_stream_bounded`)
    A path is only read if it names a regular file. FIFOs (which block until a writer comes), character
    devices (``/dev/zero`` never ends, ``/dev/stdin`` waits for a user) and folders are refused at once, and
    without being opened where possible (opening some devices has effects). Symlinks are followed: a symlinked
    config is normal, and the checks apply to what the link points to. Every read is bounded by a byte limit
    that counts the bytes actually read rather than trusting ``st_size``, since a file can grow while it is
    read (and ``/proc`` files report size 0). An already open stream is accepted only by
    :func:`read_stream_bounded`: its kind was the caller's choice, so only the limit applies to it.

Errors
    Every failure raises a :class:`~alab_training.errors.FileError` (an ``AlabTrainingError`` and an
    ``OSError``) carrying ``path`` (the file), ``reason`` (a stable code, listed in :data:`REASONS`), ``errno``
    and ``strerror`` (``None`` when no system call failed) and ``message``; a missing file raises its subclass
    :class:`~alab_training.errors.FileMissingError` (also a ``FileNotFoundError``), a lock held too long
    :class:`~alab_training.errors.FileLockTimeoutError` (also a ``TimeoutError``).

Removing (:func:`check_removable`)
    A folder that is to go (a model) is checked entry by entry first, so a removal that would stop halfway is
    refused before anything is deleted.

The parts: :mod:`.reading`, :mod:`.locking`, :mod:`.writing`, :mod:`.removing`, and what they share in
:mod:`.paths`.
"""

from alab_training.files.locking import DEFAULT_LOCK_TIMEOUT, lock_path, locked
from alab_training.files.paths import REASONS
from alab_training.files.reading import (
    open_text_bounded,
    read_bytes_bounded,
    read_stream_bounded,
    regular_file_status,
)
from alab_training.files.removing import check_removable
from alab_training.files.writing import write_atomically

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "REASONS",
    "check_removable",
    "lock_path",
    "locked",
    "open_text_bounded",
    "read_bytes_bounded",
    "read_stream_bounded",
    "regular_file_status",
    "write_atomically",
]
