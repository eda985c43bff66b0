"""What `train()` costs over a hand-written Spark NLP pipeline doing the same training.

    .venv/bin/python benchmarks/train_overhead.py [--data ../shared/data] [--sentences 5424] [--epochs 4]

Both sides train NerDL on the same sentences with the same embeddings (the cached GloVe 6B 50d model), graph,
epochs, learning rate, batch size, seed and test set, and both save a reloadable model. `train()` starts from an
export (texts and character spans); the hand-written side starts from the CoNLL files `train()` derived from it
(the very same sentences and tokens, ready-made: the hand-written side is not charged for making them). So the
ratio is what the library adds: tokenizing, aligning spans to tokens, scoring entity by entity, writing the
model card, the log and the log bundle. Each side runs twice in one Spark session; the faster run counts.
Goal: ratio ≤ 1.05.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from alab_training import TrainingParams, load_project, train
from alab_training.exports.iob import iob_to_tasks, read_iob
from alab_training.plugins.manager import resolve_embeddings
from alab_training.runtime import start_session
from alab_training.runtime.embeddings import load_word_embeddings
from alab_training.trainers.ner.graphs import graph_folder

CONFIG = ('<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="Disease"/>'
          "</Labels></View>")


def hand_written(spark, conll: Path, args, work: Path) -> float:
    from pyspark.ml import Pipeline
    from sparknlp.annotator import NerConverter, NerDLApproach, SentenceDetector, Tokenizer
    from sparknlp.base import DocumentAssembler
    from sparknlp.training import CoNLL

    started = time.monotonic()
    embeddings = load_word_embeddings(spark, resolve_embeddings(None))
    embeddings.transform(CoNLL().readDataset(spark, str(conll / "test.conll"))).write.mode("overwrite").parquet(
        str(work / "test.parquet"))
    chars = {c for line in (conll / "train.conll").read_text().splitlines()[1:] if line for c in line.split(" ")[0]}
    approach = (NerDLApproach().setInputCols(["sentence", "token", "embeddings"]).setOutputCol("ner")
                .setLabelColumn("label").setMaxEpochs(args.epochs).setLr(args.learning_rate)
                .setBatchSize(args.batch_size).setRandomSeed(42).setIncludeConfidence(True)
                .setGraphFolder(str(graph_folder(50, 3, len(chars)))).setTestDataset(str(work / "test.parquet")))
    ner = approach.fit(embeddings.transform(CoNLL().readDataset(spark, str(conll / "train.conll"))))
    stages = [DocumentAssembler().setInputCol("text").setOutputCol("document"),
              SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
              Tokenizer().setInputCols(["sentence"]).setOutputCol("token"), embeddings, ner,
              NerConverter().setInputCols(["sentence", "token", "ner"]).setOutputCol("ner_chunk")]
    text = spark.createDataFrame([("x",)], ["text"])
    Pipeline(stages=stages).fit(text).write().overwrite().save(str(work / "model"))
    return time.monotonic() - started


def through_train(spark, project, args, work: Path) -> tuple[float, Path]:
    started = time.monotonic()
    params = TrainingParams(test_tags=("test",), epochs=args.epochs, learning_rate=args.learning_rate,
                            batch_size=args.batch_size, seed=42)
    model = train(project, params, spark=spark, output_dir=work).model("ner")
    return time.monotonic() - started, model.path / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--sentences", type=int, default=5424)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    folder = Path(args.data) / "ncbi_disease"
    train_sentences = read_iob(folder / "train.tsv")[: args.sentences]
    test_sentences = read_iob(folder / "devel.tsv")
    tasks = iob_to_tasks(train_sentences) + iob_to_tasks(test_sentences, first_id=10**6, tags=("test",))
    project = load_project(tasks, config=CONFIG, name="overhead")
    spark = start_session()
    load_word_embeddings(spark, resolve_embeddings(None))  # built once, outside both timings
    times = {"hand-written": [], "train()": []}
    for _ in range(2):
        with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as theirs:
            seconds, conll = through_train(spark, project, args, Path(ours))
            times["train()"].append(seconds)
            times["hand-written"].append(hand_written(spark, conll, args, Path(theirs)))
        print({side: [round(t, 1) for t in runs] for side, runs in times.items()}, flush=True)
    hand, ours = min(times["hand-written"]), min(times["train()"])
    print(f"\n{len(train_sentences)} corpus sentences, {args.epochs} epochs: hand-written {hand:.1f}s, "
          f"train() {ours:.1f}s, ratio {ours / hand:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
