"""Build one NerDL TensorFlow graph the engine's TensorFlow 2.4 runtime can load.

Run as ``python -m alab_training.trainers.ner.graph_builder OUT_DIR --tags T --dim D --chars C [--lstm L]
[--init-from SPEC]``; it writes ``OUT_DIR/blstm_T_D_L_C.pb``. :mod:`alab_training.trainers.ner.graphs` starts it in
a child process so TensorFlow (hundreds of MB, its own thread pools, a numpy pin) never loads into a host that runs
Spark.

With ``--init-from``, the graph's variables start from a trained model's weights instead of random values (transfer
learning, see :mod:`alab_training.trainers.ner.transfer`). ``SPEC`` is a JSON file::

    {"weights": "<the NerDLModel stage's 'tensorflow' file>",
     "tags": [[new_id, base_id], ...], "chars": [[new_id, base_id], ...]}

Needs the ``graphs`` extra (``tensorflow-cpu`` 2.12 and ``tensorflow-addons``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from alab_training.trainers.ner.graphs import GraphShape

_LOG = logging.getLogger(__name__)

#: The op NerDL runs once before the first epoch (``TensorflowNer.initKey``); it groups every variable's assignment.
_INIT_OP = "training_1/init"
#: Optimizer state (Adam moments, beta powers): restarts from zero, as a new training's would.
_OPTIMIZER_SCOPES = ("training/", "training_1/")
#: Variables with an axis per tag or per character id: their entries move from the base's ids to this run's.
_TAG_AXES = {"context_repr/W": (1,), "context_repr/b": (0,), "inference/transition_params": (0, 1)}
_CHAR_AXES = {"char_repr_cnn/char_embeddings": (0,), "char_repr_lstm/char_embeddings": (0,)}
#: Keras numbers its LSTM cells per process (``lstm_cell_1``), and the jar's older graphs have no such level: the
#: same weight under either name is one weight.
_CELL_LEVEL = re.compile(r"/lstm_cell(_\d+)?(?=/)")


class TransferError(Exception):
    """The base model's weights do not fit the graph (reported to the parent through stderr)."""


def build_graph(out_dir: Path, shape: GraphShape, init: dict[str, Any] | None = None) -> Path:
    """Write the graph for ``shape`` into ``out_dir`` and return its path.

    Spark NLP's own builder makes the graph; its TensorFlow 2.12 output then loses every attribute that only
    restates an op's default value. TensorFlow 2.4 rejects attributes it does not know (``validate_shape`` on
    ``AssignVariableOp`` is the first it meets), and all the new ones are defaulted, so stripping them leaves a
    graph that means the same to both versions.

    Args:
        init: the ``--init-from`` spec (see the module docstring); ``None`` keeps the builder's random
            initialisers.
    """
    # Silences TensorFlow's start-up chatter; set before the import reads it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from sparknlp.training._tf_graph_builders.ner_dl.create_graph import create_graph
    from tensorflow.python.framework import meta_graph

    with tempfile.TemporaryDirectory() as raw_dir:
        create_graph(
            raw_dir,
            ntags=shape.tags,
            embeddings_dim=shape.dim,
            nchars=shape.chars,
            lstm_size=shape.lstm,
            model_filename=shape.filename,
        )
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString((Path(raw_dir) / shape.filename).read_bytes())
    if init is not None:
        _initialise_from(graph_def, init)
    wrapper = tf.compat.v1.MetaGraphDef()
    wrapper.graph_def.CopyFrom(graph_def)
    meta_graph.strip_graph_default_valued_attrs(wrapper)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / shape.filename
    target.write_bytes(wrapper.graph_def.SerializeToString())
    _LOG.info("wrote %s (%d bytes)", target, target.stat().st_size)
    return target


def _key(variable: str) -> str:
    return _CELL_LEVEL.sub("", variable)


def _read_weights(saved: Path) -> dict[str, Any]:
    """The trained (non-optimizer) variables of a saved NerDLModel, by :func:`_key`.

    The engine saves a model's TensorFlow part as a zip of a TF checkpoint (``variables.index``,
    ``variables.data-*``) and the graph (``saved_model.pb``).
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(saved) as archive:
            members = [name for name in archive.namelist() if name.startswith("variables.")]
            if "variables.index" not in members:
                raise TransferError(f"{saved} holds no TensorFlow checkpoint (entries: {archive.namelist()})")
            archive.extractall(folder, members)
        reader = tf.train.load_checkpoint(str(Path(folder) / "variables"))
        return {_key(name): reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                if not name.startswith(_OPTIMIZER_SCOPES)}


def _initialise_from(graph_def: Any, init: dict[str, Any]) -> None:
    """Point every model variable's initial assignment at a constant holding the base model's weights.

    The values start as the graph's own initial ones (random), so rows of tags and characters the base model has
    never seen keep a fresh initialisation; rows it has seen are taken from it, moved to this run's ids.
    """
    import numpy as np
    import tensorflow as tf

    base = _read_weights(Path(init["weights"]))
    pairs = {"tags": np.array(init["tags"], dtype=np.int64).reshape(-1, 2),
             "chars": np.array(init["chars"], dtype=np.int64).reshape(-1, 2)}
    nodes = {node.name: node for node in graph_def.node}
    if _INIT_OP not in nodes:
        raise TransferError(f"the graph has no {_INIT_OP} op: not a NerDL graph")
    assigns = [nodes[name.lstrip("^")] for name in nodes[_INIT_OP].input]
    assigns = [node for node in assigns if not node.input[0].startswith(_OPTIMIZER_SCOPES)]
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        # The builder pins some ops to a GPU; soft placement runs them on the CPU, as the engine does.
        config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
        with tf.compat.v1.Session(graph=graph, config=config) as session:
            fresh = session.run({node.input[0]: f"{node.input[1]}:0" for node in assigns})
    for node in assigns:
        variable = node.input[0]
        key = _key(variable)
        if key not in base:
            raise TransferError(f"the base model has no weight for {variable}: its graph was not made by Spark NLP's "
                                "NerDL graph builder")
        value = _moved(key, fresh[variable], base[key], pairs)
        constant = graph_def.node.add()
        constant.name = f"{variable}/Initializer/from_base_model"
        constant.op = "Const"
        constant.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        constant.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        node.input[1] = constant.name


def _moved(key: str, fresh: Any, trained: Any, pairs: dict[str, Any]) -> Any:
    import numpy as np

    axes = _TAG_AXES.get(key) or _CHAR_AXES.get(key) or ()
    moves = pairs["tags"] if key in _TAG_AXES else pairs["chars"]
    if fresh.ndim != trained.ndim or any(fresh.shape[axis] != trained.shape[axis]
                                         for axis in range(fresh.ndim) if axis not in axes):
        raise TransferError(f"{key} is {trained.shape} in the base model but {fresh.shape} here: the embeddings "
                            "width or the LSTM size differ")
    if not axes:
        return trained.astype(fresh.dtype)
    value = fresh.copy()
    new = [moves[:, 0] if axis in axes else np.arange(fresh.shape[axis]) for axis in range(fresh.ndim)]
    old = [moves[:, 1] if axis in axes else np.arange(fresh.shape[axis]) for axis in range(fresh.ndim)]
    value[np.ix_(*new)] = trained[np.ix_(*old)]
    return value


def main(argv: list[str] | None = None) -> None:
    """Build one graph from the command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m alab_training.trainers.ner.graph_builder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--tags", type=int, required=True)
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--chars", type=int, required=True)
    parser.add_argument("--lstm", type=int, default=128)
    parser.add_argument("--init-from", type=Path, help="JSON spec of the weights to start from")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    init = json.loads(args.init_from.read_text()) if args.init_from else None
    try:
        build_graph(args.out_dir, GraphShape(tags=args.tags, dim=args.dim, chars=args.chars, lstm=args.lstm), init)
    except TransferError as exc:
        parser.exit(3, f"cannot start from the base model: {exc}\n")


if __name__ == "__main__":
    main()
