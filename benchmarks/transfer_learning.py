"""Transfer learning for NER: fine-tuning from a base model vs training from scratch, on the same short budget.

    .venv/bin/python benchmarks/transfer_learning.py [--data ../shared/data] [--base-model PATH]
        [--base-epochs 12] [--new-sentences 500] [--test-sentences 1000] [--epochs 3]

1. Base model (dataset A): NCBI-disease train, label Disease, trained with our defaults (or ``--base-model``, a model
   folder trained by alab-training on it).
2. New data (dataset B): the first ``--new-sentences`` sentences of BC5CDR train, labels Chemical (new) and Disease
   (the base label). Two trainings with the same budget (``--epochs``, lr 0.003, batch 16): one with
   ``TrainingParams(base_model=…)``, one from scratch.
3. Every model is scored, entity by entity (conlleval semantics), on NCBI-disease devel (Disease: does the model keep
   the base label's quality?) and on the first ``--test-sentences`` sentences of BC5CDR devel (Disease and Chemical),
   on the corpora's own tokens.

Prints a table of F1 per model, test set and label, the wall time of each training, and the fine-tuned / scratch
ratios. Embeddings: GloVe 6B 50d (the default), 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from alab_training import TrainingParams, load_model, load_project, train
from alab_training.exports.iob import iob_to_tasks, read_iob
from alab_training.metrics import entity_scores
from alab_training.runtime import start_session


def config_for(labels: list[str]) -> str:
    entries = "".join(f'<Label value="{label}"/>' for label in labels)
    return f'<View><Text name="text" value="$text"/><Labels name="label" toName="text">{entries}</Labels></View>'


def write_conll(sentences: list[list[tuple[str, str]]], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("-DOCSTART- -X- -X- O\n\n")
        for sentence in sentences:
            out.writelines(f"{token} NN NN {tag}\n" for token, tag in sentence)
            out.write("\n")
    return path


def score(spark, model_path: Path, conll: Path) -> dict[str, float]:
    """Entity F1 per label (and micro) of a saved model on a CoNLL file's own tokens."""
    from sparknlp.training import CoNLL

    stages = load_model(model_path, spark=spark).pipeline.stages
    embeddings = next(s for s in stages if "WORD_EMBEDDINGS" in s.uid)
    ner = next(s for s in stages if s.uid.startswith("NerDLModel"))
    frame = CoNLL(explodeSentences=False).readDataset(spark, str(conll))
    rows = ner.transform(embeddings.transform(frame)).select("label.result", "ner.result").collect()
    scores = entity_scores([r[0] for r in rows], [r[1] for r in rows]).as_dict()
    return {label: figures["f1"] for label, figures in scores.items()}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="transfer-benchmark-") as work:
        run(Path(work))


def run(work: Path) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data")
    parser.add_argument("--base-model", type=Path, help="a model trained on NCBI-disease train; default: train one")
    parser.add_argument("--base-epochs", type=int, default=12)
    parser.add_argument("--new-sentences", type=int, default=500)
    parser.add_argument("--test-sentences", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    spark = start_session()
    ncbi, bc5cdr = args.data / "ncbi_disease", args.data / "bc5cdr"
    ncbi_devel = write_conll(read_iob(ncbi / "devel.tsv"), work / "ncbi_devel.conll")
    bc5_devel_sentences = read_iob(bc5cdr / "devel.tsv")[: args.test_sentences]
    bc5_devel = write_conll(bc5_devel_sentences, work / "bc5cdr_devel.conll")
    seconds: dict[str, float] = {}

    base_path = args.base_model
    if base_path is None:
        train_tasks = iob_to_tasks(read_iob(ncbi / "train.tsv"))
        test_tasks = iob_to_tasks(read_iob(ncbi / "devel.tsv"), first_id=len(train_tasks) + 1, tags=("test",))
        project = load_project(train_tasks + test_tasks, config=config_for(["Disease"]), name="ncbi")
        started = time.monotonic()
        base_path = train(project, TrainingParams(test_tags=("test",), epochs=args.base_epochs), spark=spark,
                          output_dir=work / "models").model("ner").path
        seconds["base"] = time.monotonic() - started
        print(f"base model trained in {seconds['base'] / 60:.1f} min: {base_path}", flush=True)

    new_tasks = iob_to_tasks(read_iob(bc5cdr / "train.tsv")[: args.new_sentences])
    test_tasks = iob_to_tasks(bc5_devel_sentences, first_id=len(new_tasks) + 1, tags=("test",))
    project = load_project(new_tasks + test_tasks, config=config_for(["Chemical", "Disease"]), name="bc5cdr")
    budget = dict(test_tags=("test",), epochs=args.epochs, learning_rate=args.learning_rate,
                  batch_size=args.batch_size)
    paths = {"base": base_path}
    for run, extra in (("fine-tuned", {"base_model": str(base_path)}), ("scratch", {})):
        started = time.monotonic()
        model = train(project, TrainingParams(**budget, **extra), spark=spark, output_dir=work / run).model("ner")
        seconds[run] = time.monotonic() - started
        paths[run] = model.path
        print(f"{run}: trained in {seconds[run] / 60:.1f} min", flush=True)

    results = {run: {"ncbi": score(spark, path, ncbi_devel), "bc5cdr": score(spark, path, bc5_devel)}
               for run, path in paths.items()}
    print(f"\nNER transfer learning: base = NCBI-disease train; new data = {args.new_sentences} BC5CDR train "
          f"sentences, {args.epochs} epoch(s), lr {args.learning_rate}, batch {args.batch_size}")
    print("entity F1 (conlleval)      NCBI devel  BC5CDR devel[:%d]" % args.test_sentences)
    print("model        train time    Disease     Disease  Chemical  micro")
    for run, figures in results.items():
        time_text = f"{seconds[run] / 60:5.1f} min" if run in seconds else "    (given)"
        print(f"{run:<12} {time_text}    {figures['ncbi'].get('Disease', 0.0):.4f}      "
              f"{figures['bc5cdr'].get('Disease', 0.0):.4f}  {figures['bc5cdr'].get('Chemical', 0.0):.4f}    "
              f"{figures['bc5cdr'].get('micro', 0.0):.4f}")
    tuned, scratch = results["fine-tuned"], results["scratch"]
    for name, test, label in (("NCBI Disease (base label, base data)", "ncbi", "Disease"),
                              ("BC5CDR Disease (base label, new data)", "bc5cdr", "Disease"),
                              ("BC5CDR Chemical (new label)", "bc5cdr", "Chemical"),
                              ("BC5CDR micro", "bc5cdr", "micro")):
        a, b = tuned[test].get(label, 0.0), scratch[test].get(label, 0.0)
        print(f"fine-tuned / scratch, {name}: {a:.4f} / {b:.4f} = {a / b if b else float('inf'):.2f}")


if __name__ == "__main__":
    main()
