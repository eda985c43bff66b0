"""Build one NerDL TensorFlow graph the engine's TensorFlow 2.4 runtime can load.

Run as ``python -m alab_training.trainers.ner.graph_builder OUT_DIR --tags T --dim D --chars C [--lstm L]``; it
writes ``OUT_DIR/blstm_T_D_L_C.pb``. :func:`alab_training.trainers.ner.graphs.graph_folder` starts it in a child
process so TensorFlow (hundreds of MB, its own thread pools, a numpy pin) never loads into a host that runs Spark.

Needs the ``graphs`` extra (``tensorflow-cpu`` 2.12 and ``tensorflow-addons``).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from alab_training.trainers.ner.graphs import GraphShape

_LOG = logging.getLogger(__name__)


def build_graph(out_dir: Path, shape: GraphShape) -> Path:
    """Write the graph for ``shape`` into ``out_dir`` and return its path.

    Spark NLP's own builder makes the graph; its TensorFlow 2.12 output then loses every attribute that only
    restates an op's default value. TensorFlow 2.4 rejects attributes it does not know (``validate_shape`` on
    ``AssignVariableOp`` is the first it meets), and all the new ones are defaulted, so stripping them leaves a
    graph that means the same to both versions.
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
    wrapper = tf.compat.v1.MetaGraphDef()
    wrapper.graph_def.CopyFrom(graph_def)
    meta_graph.strip_graph_default_valued_attrs(wrapper)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / shape.filename
    target.write_bytes(wrapper.graph_def.SerializeToString())
    _LOG.info("wrote %s (%d bytes)", target, target.stat().st_size)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alab_training.trainers.ner.graph_builder", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--tags", type=int, required=True)
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--chars", type=int, required=True)
    parser.add_argument("--lstm", type=int, default=128)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build_graph(args.out_dir, GraphShape(tags=args.tags, dim=args.dim, chars=args.chars, lstm=args.lstm))


if __name__ == "__main__":
    main()
