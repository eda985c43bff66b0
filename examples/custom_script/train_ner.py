"""A custom training script for alab-training: NerDL (Spark NLP) on the CoNLL files it is given.

alab-training runs it with ``training_type="script"`` as (see docs/custom-scripts.md)::

    python -u train_ner.py --train data/train.conll --test data/test.conll --selection data/selection.json \
        --params data/params.json --model-dir model --metrics metrics.json

and it runs by hand the same way on any CoNLL-2003 files. It starts its own Spark session with alab-training's
engine helpers (jars, word embeddings, NerDL graphs), trains NerDL, saves a Spark ``PipelineModel`` that reads raw
text (so ``alab_training.load_model`` and ``predict`` use it like a built-in NER model), scores the test sentences
entity by entity with ``alab_training.metrics`` and prints a ``PROGRESS`` line per epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

#: What unset parameters become: the built-in NER trainer's measured defaults.
DEFAULTS = {"epochs": 12, "learning_rate": 0.003, "batch_size": 16}
#: NerDL's per-epoch log line.
EPOCH = re.compile(r"^Epoch (\d+)/(\d+) - ([\d.]+)s - loss: (\S+)")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="training sentences (CoNLL-2003)")
    parser.add_argument("--test", type=Path, help="sentences to score (CoNLL-2003; may hold none)")
    parser.add_argument("--selection", type=Path, help="the selected tasks (not needed by this script)")
    parser.add_argument("--params", type=Path, help="the training parameters (JSON)")
    parser.add_argument("--model-dir", type=Path, required=True, help="where to save the model (must not exist)")
    parser.add_argument("--metrics", type=Path, required=True, help="where to write the scores (JSON)")
    return parser.parse_args(argv)


def read_conll(path: Path) -> list[list[tuple[str, str]]]:
    """``(token, tag)`` pairs per sentence; the ``-DOCSTART-`` line is not a sentence."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if current:
                sentences.append(current)
            current = []
        else:
            current.append((fields[0], fields[-1]))
    if current:
        sentences.append(current)
    return sentences


def progress(epoch: int, epochs: int, loss: float | None, seconds: float | None) -> None:
    """One line alab-training turns into an ``EpochFinished`` event."""
    print("PROGRESS " + json.dumps({"epoch": epoch, "epochs": epochs, "loss": loss, "seconds": seconds}), flush=True)


def write_json(data: object, path: Path) -> None:
    """Atomically: alab-training must never read a half-written file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.model_dir.exists():
        sys.exit(f"{args.model_dir} exists already; refusing to overwrite it")
    params = json.loads(args.params.read_text(encoding="utf-8")) if args.params else {}
    setting = {name: params.get(name) or default for name, default in DEFAULTS.items()}
    train = read_conll(args.train)
    test = read_conll(args.test) if args.test and args.test.exists() else []
    labels = sorted({tag[2:] for sentence in train for _, tag in sentence if tag != "O"})
    if not labels:
        sys.exit(f"{args.train} has no entity tags to learn")
    print(f"{len(train)} training sentences, {len(test)} test sentences, labels: {', '.join(labels)}", flush=True)

    # Imported here so that --help works without Spark.
    from pyspark.ml import Pipeline, PipelineModel
    from sparknlp.annotator import NerConverter, NerDLApproach
    from sparknlp.training import CoNLL

    from alab_training.metrics import entity_scores
    from alab_training.plugins.manager import resolve_embeddings
    from alab_training.runtime import start_session
    from alab_training.runtime.embeddings import load_word_embeddings
    from alab_training.runtime.fit import FitInThread
    from alab_training.trainers.ner.graphs import distinct_chars, graph_folder
    from alab_training.trainers.text import text_stages

    spark = start_session(app_name="custom-ner-script")  # driver memory: $ALAB_TRAINING_DRIVER_MEMORY
    try:
        source = resolve_embeddings(params.get("embeddings"), params.get("language") or "en")
        embeddings = load_word_embeddings(spark, source)
        graphs = graph_folder(source.dimension, 2 * len(labels) + 1,
                              distinct_chars(token for sentence in train for token, _ in sentence))
        with tempfile.TemporaryDirectory(prefix="nerdl-logs-") as engine_logs:
            approach = (NerDLApproach().setInputCols(["sentence", "token", "embeddings"]).setOutputCol("ner")
                        .setLabelColumn("label").setMaxEpochs(setting["epochs"]).setLr(setting["learning_rate"])
                        .setBatchSize(setting["batch_size"]).setRandomSeed(params.get("seed", 42))
                        .setIncludeConfidence(True).setEnableOutputLogs(True).setOutputLogsPath(engine_logs))
            if params.get("dropout") is not None:
                approach.setDropout(params["dropout"])
            if graphs is not None:
                approach.setGraphFolder(str(graphs))
            train_frame = embeddings.transform(CoNLL(explodeSentences=True).readDataset(spark, str(args.train)))
            # NerDL trains inside one blocking call; its log file is read as it grows to report every epoch.
            fitting = FitInThread(approach, train_frame, Path(engine_logs) / f"{approach.uid}.log")
            for line in fitting.lines():
                epoch = EPOCH.match(line)
                if epoch:
                    loss = float(epoch.group(4))
                    progress(int(epoch.group(1)), int(epoch.group(2)), loss if math.isfinite(loss) else None,
                             float(epoch.group(3)))
            ner = fitting.result("ner")

        text = Pipeline(stages=text_stages()).fit(spark.createDataFrame([("",)], "text string"))
        converter = NerConverter().setInputCols(["sentence", "token", "ner"]).setOutputCol("ner_chunk")
        PipelineModel(stages=[*text.stages, embeddings, ner, converter]).write().save(str(args.model_dir))
        print(f"model saved to {args.model_dir}", flush=True)

        metrics = {}
        if test:
            test_frame = embeddings.transform(CoNLL(explodeSentences=True).readDataset(spark, str(args.test)))
            rows = ner.transform(test_frame).select("label.result", "ner.result").collect()
            scores = entity_scores([row[0] for row in rows], [row[1] for row in rows])
            print(scores.table(), flush=True)
            metrics = scores.as_dict()
        write_json(metrics, args.metrics)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
