"""Writing files so that a crash leaves the old content or the new, never a torn file."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Replace ``path`` with ``data``: a temporary file beside it, flushed to disk, renamed over it.

    An existing file keeps its permissions; a symlink keeps pointing where it did (its target is rewritten).
    Text is written as UTF-8.

    Raises:
        OSError: the folder cannot be written; ``path`` is then unchanged and no temporary file is left.
    """
    path = Path(path).resolve()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # Not mkstemp: its 0600 would stick to new files; "x" opens a fresh file with the usual umask.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as stream:
            stream.write(raw)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return path
