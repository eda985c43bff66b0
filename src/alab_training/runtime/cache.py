"""The cache every built engine artefact lives in, and its one pattern for an entry: verified, built once, published
whole.

An entry is a folder ``cache_root()/<kind>/<name>-<digest>/`` holding what was built plus a ``manifest.json`` that
records the key it was built for (everything its content depends on) and the size and SHA-256 of every file.
:func:`cached_entry` returns an intact entry as it is; otherwise it takes a cross-process lock, builds into a
temporary folder beside the entry, writes the manifest and renames the folder into place, so readers see the whole
entry or none, and two processes starting at once build it once. A damaged entry (a file missing, truncated or
changed, a stray file, an unreadable manifest) is renamed away and rebuilt. Used by the MiniLM encoders
(:mod:`.encoders`) and the learned word vectors (:mod:`.learned`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST", "Builder", "cache_root", "cached_entry", "digest", "entry_problem", "exclusive", "read_manifest",
           "sha256_file"]

_LOG = logging.getLogger(__name__)

#: The manifest's file name inside an entry.
MANIFEST = "manifest.json"

#: ``build(folder, scratch)`` fills ``folder`` (not yet existing) using ``scratch`` for anything temporary, and
#: returns what the manifest records beside the key and the file table.
Builder = Callable[[Path, Path], dict[str, Any]]


def cache_root() -> Path:
    """``$ALAB_TRAINING_CACHE``, else ``$XDG_CACHE_HOME/alab-training``, else ``~/.cache/alab-training``."""
    explicit = os.environ.get("ALAB_TRAINING_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alab-training"


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """One builder at a time per cache entry, across processes (parallel test workers, concurrent jobs)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    hashed = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hashed.update(block)
    return hashed.hexdigest()


def digest(key: Any, length: int = 12) -> str:
    """A short, stable hex digest of a JSON-able key (what names an entry)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:length]


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    files = (path for path in sorted(folder.rglob("*")) if path.is_file())
    return {path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": sha256_file(path)}
            for path in files if path.relative_to(folder).as_posix() != MANIFEST}


def entry_problem(entry: Path, key: Any, manifest_format: int) -> str | None:
    """Why ``entry`` is not a complete, intact cache entry for ``key``; ``None`` when it is."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no manifest (an interrupted build?)"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict) or manifest.get("format") != manifest_format or manifest.get("key") != key:
        return "its manifest describes another build"
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        return "its manifest lists no files"
    try:
        present = {path.relative_to(entry).as_posix() for path in entry.rglob("*") if path.is_file()} - {MANIFEST}
        if present != set(listed):
            missing, unexpected = sorted(set(listed) - present), sorted(present - set(listed))
            return f"files differ from the manifest (missing {missing[:3]}, unexpected {unexpected[:3]})"
        for name, expected in listed.items():
            path = entry / name
            # The size first: a truncated file is found without reading all of a large one.
            if path.stat().st_size != expected.get("size") or sha256_file(path) != expected.get("sha256"):
                return f"{name} does not match its SHA-256 in the manifest"
    except OSError as exc:  # removed or unreadable while being checked
        return f"unreadable ({exc})"
    return None


def _discard(entry: Path) -> None:
    """Remove a damaged entry: renamed away first, so no reader ever sees it half deleted."""
    trash = entry.with_name(f".trash-{entry.name}-{uuid.uuid4().hex[:8]}")
    try:
        entry.rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _publish(entry: Path, key: Any, manifest_format: int, build: Builder) -> None:
    """Build into a temporary folder beside ``entry``, write its manifest, and rename it into place."""
    work = Path(tempfile.mkdtemp(prefix=f".build-{entry.name}-", dir=entry.parent))
    try:
        folder = work / "entry"
        scratch = work / "scratch"
        scratch.mkdir()
        recorded = build(folder, scratch)
        manifest = {**recorded, "format": manifest_format, "key": key, "files": _file_table(folder)}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        # A directory rename onto a free name is atomic: the entry appears whole, manifest included, or not at all.
        folder.rename(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cached_entry(entry: Path, key: Any, build: Builder, *, manifest_format: int = 1,
                 what: str = "cache entry") -> tuple[Path, bool]:
    """The intact entry for ``key`` at ``entry``, built (or rebuilt) under a lock when it is missing or damaged.

    Args:
        entry: the entry's folder (its parent is created when missing).
        key: everything the content depends on (JSON-able); recorded in the manifest and compared on every use.
        build: fills the new entry (see :data:`Builder`); runs at most once per entry across processes.
        manifest_format: the manifest layout's version, bumped when it changes.
        what: how the log names the entry ("the token encoder", "learned vectors").

    Returns:
        ``(entry, built)``: ``built`` is ``False`` when an intact entry was found (by this process or after
        waiting for another one to build it).
    """
    if entry_problem(entry, key, manifest_format) is None:
        return entry, False
    entry.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(entry.parent / f"{entry.name}.lock"):
        problem = entry_problem(entry, key, manifest_format)
        if problem is None:  # another process built it while this one waited
            return entry, False
        if entry.exists():
            _LOG.warning("rebuilding %s %s: %s", what, entry, problem)
            _discard(entry)
        _LOG.info("building %s (once; cached in %s)", what, entry)
        _publish(entry, key, manifest_format, build)
    return entry, True


def read_manifest(entry: Path) -> dict[str, Any]:
    """An entry's manifest (call only on an entry :func:`cached_entry` returned)."""
    return json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
