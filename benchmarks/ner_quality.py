"""NER quality on public corpora: train through the public API, score on the corpus' devel split.

    .venv/bin/python benchmarks/ner_quality.py [--data ../shared/data] [--epochs 12] [--corpora ncbi_disease bc5cdr]

For each corpus: the train split becomes an Annotation Lab export, the devel split becomes tasks tagged "test",
and `train(project, TrainingParams(test_tags=("test",), ...))` trains NerDL on GloVe 6B 50d (the default
embeddings). Prints entity-level micro F1 (conlleval semantics), per-label F1 and wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from alab_training import TrainingParams, load_project, train
from alab_training.exports.iob import iob_to_tasks, read_iob

CONFIGS = {
    "ncbi_disease": ["Disease"],
    "bc5cdr": ["Chemical", "Disease"],
}


def config_for(labels: list[str]) -> str:
    entries = "".join(f'<Label value="{label}"/>' for label in labels)
    return f'<View><Text name="text" value="$text"/><Labels name="label" toName="text">{entries}</Labels></View>'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--corpora", nargs="+", default=list(CONFIGS))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    rows = []
    for corpus in args.corpora:
        folder = Path(args.data) / corpus
        train_tasks = iob_to_tasks(read_iob(folder / "train.tsv"))
        devel_tasks = iob_to_tasks(read_iob(folder / "devel.tsv"), first_id=len(train_tasks) + 1, tags=("test",))
        project = load_project(train_tasks + devel_tasks, config=config_for(CONFIGS[corpus]), name=corpus)
        params = TrainingParams(test_tags=("test",), epochs=args.epochs, learning_rate=args.learning_rate,
                                batch_size=args.batch_size)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as output:
            model = train(project, params, output_dir=output).model("ner")
        seconds = time.monotonic() - started
        per_label = ", ".join(f"{label} {model.metrics[label]['f1']:.4f}" for label in CONFIGS[corpus])
        rows.append((corpus, model.metrics["micro"]["f1"], per_label, seconds))
        print(f"{corpus}: entity micro F1 {model.metrics['micro']['f1']:.4f} ({per_label}); "
              f"{seconds / 60:.1f} min for {args.epochs} epochs", flush=True)
    print("\ncorpus        micro F1  per label                              wall time")
    for corpus, f1, per_label, seconds in rows:
        print(f"{corpus:<13} {f1:.4f}    {per_label:<38} {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
