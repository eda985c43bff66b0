"""The deterministic train/evaluation split.

A task's side depends only on its id and the seed — not on file order or on the other tasks — so reruns,
re-exports and growing projects keep every task where it was (a task in the evaluation side at 20% stays
there at 30%).
"""

from __future__ import annotations

import hashlib

__all__ = ["in_validation_split", "split_point"]


def split_point(task_id: int | str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by ``(seed, task_id)``; ids ``7`` and ``"7"`` land alike."""
    # surrogatepass: a JSON export may hold a lone surrogate ("\ud800") in an id, which plain UTF-8 refuses
    digest = hashlib.blake2b(f"{seed}\x1f{task_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_validation_split(task_id: int | str, fraction: float, seed: int) -> bool:
    """Whether the task belongs to the evaluation side of a ``fraction`` split."""
    return fraction > 0 and split_point(task_id, seed) < fraction
