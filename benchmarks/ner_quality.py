"""NER quality on public corpora: train through the public API, score ``predict()`` of the reloaded model.

    .venv/bin/python benchmarks/ner_quality.py [--corpora ncbi_disease conll2003_en] [--embeddings minilm_l6_v2]
        [--epochs N] [--learning-rate X] [--batch-size N] [--train-sentences N] [--memory 8g]

For each corpus the training split becomes an Annotation Lab export and the evaluation split tasks tagged
``test``; ``train(project, TrainingParams(training_type="ner", test_tags=("test",), …))`` trains with the
library's defaults unless an option says otherwise. The model is then loaded from its folder and ``predict()``
pre-annotates the evaluation tasks; their spans are scored against the gold spans (exact boundaries and label).
Prints entity micro F1 and per label, wall time and peak memory (Python and JVM), beside the peers' published
figures (``../shared/docs/baselines.md``; they are on the corpora's test splits, which are not here).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import DATA, Clock, entity_f1, gold_spans, ner_config, peak_memory, predicted_spans, tasks_of

from alab_training import TrainingParams, load_project, train
from alab_training.exports.iob import read_iob
from alab_training.runtime import start_session

#: corpus → (training file, evaluation file, labels, read_iob columns, what the peers reached).
CORPORA = {
    "ncbi_disease": ("train.tsv", "devel.tsv", ["Disease"], {}, "spaCy + GloVe 50d 0.809 on test; anchor 0.891"),
    "bc5cdr": ("train.tsv", "devel.tsv", ["Chemical", "Disease"], {}, ""),
    "conll2003_en": ("eng.train", "eng.testa", ["LOC", "MISC", "ORG", "PER"], {},
                     "spaCy + GloVe 50d 0.880 on test; BiLSTM-CRF + GloVe 100d 0.90-0.91 on test"),
}


def run(corpus: str, args: argparse.Namespace, spark) -> str:
    train_file, test_file, labels, columns, peers = CORPORA[corpus]
    folder = Path(args.data) / corpus
    training = read_iob(folder / train_file, **columns)[: args.train_sentences]
    train_tasks = tasks_of(training)
    test_tasks = tasks_of(read_iob(folder / test_file, **columns), first_id=len(train_tasks) + 1, test=True)
    project = load_project(train_tasks + test_tasks, config=ner_config(labels), name=corpus)
    params = TrainingParams(training_type="ner", test_tags=("test",), embeddings=args.embeddings,
                            epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size)
    clock = Clock()
    with tempfile.TemporaryDirectory() as output:
        model = train(project, params, spark=spark, output_dir=output).model("ner")
        trained = clock.minutes()
        scores = entity_f1(gold_spans(test_tasks), predicted_spans(model.path, test_tasks, spark))
    per_label = ", ".join(f"{label} {scores.get(label, {'f1': 0.0})['f1']:.4f}" for label in labels)
    return (f"{corpus} ({len(training)} train sentences, {model.embeddings}): entity micro F1 "
            f"{scores['micro']['f1']:.4f} (P {scores['micro']['precision']:.4f}, R {scores['micro']['recall']:.4f}; "
            f"{per_label}); training log's F1 {model.metrics['micro']['f1']:.4f}; {trained:.1f} min to train, "
            f"{clock.minutes():.1f} min with predicting; peak {peak_memory(spark)}"
            + (f"\n    peers: {peers}" if peers else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--corpora", nargs="+", default=["ncbi_disease"], choices=list(CORPORA))
    parser.add_argument("--embeddings", help="default: the NER trainer's")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--train-sentences", type=int, help="only the first N training sentences")
    parser.add_argument("--memory", default="8g", help="Spark driver memory")
    args = parser.parse_args()
    spark = start_session(memory=args.memory, app_name="ner-quality")
    lines = []
    for corpus in args.corpora:
        lines.append(run(corpus, args, spark))
        print(lines[-1], flush=True)
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
