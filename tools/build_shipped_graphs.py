"""Regenerate the NerDL graphs shipped in ``src/alab_training/trainers/ner/graph_files/``.

Run from the repository root with the ``graphs`` extra installed:

    .venv/bin/python tools/build_shipped_graphs.py

Each graph goes through the same child-process builder the library uses at run time, so a shipped graph and one
built on demand for the same shape are byte-identical (the build is deterministic).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alab_training.trainers.ner.graphs import GraphShape

#: For the default GloVe 6B 50d embeddings. Tags are 2 x entity labels + 1 (IOB plus ``O``); characters are the
#: distinct characters of the training tokens plus one. English clinical text uses about 90 characters.
SHAPES = (
    GraphShape(tags=21, dim=50, chars=200),  # up to 10 labels, Latin-script text
    GraphShape(tags=61, dim=50, chars=400),  # up to 30 labels, accented and symbol-rich text
    GraphShape(tags=201, dim=50, chars=1000),  # up to 100 labels, mixed scripts
)

OUT = Path(__file__).resolve().parents[1] / "src" / "alab_training" / "trainers" / "ner" / "graph_files"


def main() -> None:
    for stale in OUT.glob("blstm_*.pb"):
        stale.unlink()
    for shape in SHAPES:
        subprocess.run(
            [sys.executable, "-m", "alab_training.trainers.ner.graph_builder", str(OUT),
             "--tags", str(shape.tags), "--dim", str(shape.dim), "--chars", str(shape.chars),
             "--lstm", str(shape.lstm)],
            check=True,
        )


if __name__ == "__main__":
    main()
