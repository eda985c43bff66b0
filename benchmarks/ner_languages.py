"""German and Spanish NER with no downloadable vectors: ours with learned vectors, ours with none, spaCy with none.

    .venv/bin/python benchmarks/ner_languages.py [--corpora conll2002_es germeval2014_de]
        [--rows learned none spacy] [--tune] [--epochs N] [--limit N] [--memory 6g] [--spacy-python PATH]

Corpora (read from ``../shared/data``, never copied here):

- ``conll2002_es``: CoNLL-2002 Spanish, train on ``esp.train``, score on ``esp.testa`` (PER, ORG, LOC, MISC);
- ``germeval2014_de``: GermEval 2014 outer entities (the third column: 12 types, PER/LOC/ORG/OTH with their
  ``deriv`` and ``part`` forms), train on ``NER-de-test.tsv``, score on ``NER-de-dev.tsv`` (the official train file
  is not in our data).

Rows, each trained on the same sentences and scored on the same ones:

- ``learned``: ``train(project, TrainingParams(training_type="ner", language=…, test_tags=("test",)))`` with every
  default: the project (training sentences, and the evaluation sentences as ``test``-tagged tasks, 10 sentences a
  task, gold tokens joined by spaces) has no vectors for the language, so the trainer learns them from all its
  task texts (:mod:`alab_training.runtime.learned`);
- ``none``: the same training with ``embeddings=`` a vectors file holding one word no text contains (zeros, 100d,
  the learned width): every token's vector is the zero one, so NerDL learns from its character CNN alone;
- ``spacy``: spaCy 3.8's CPU "efficiency" NER config with no vectors, on the gold tokens, in its own venv
  (``benchmarks/peer_spacy.py``), ``max_epochs`` 12 (our NER default), the evaluation sentences as its dev set and
  its last model scored.

One scorer for every row: entity-level F1 per label and micro (``alab_training.metrics.entity_scores``, conlleval
semantics) on the corpus' own tokens — ours from ``predict()`` of the model reloaded from its folder, its spans put
back on the tokens; spaCy's from its predictions on the gold tokens. Our rows also print the exact character-span
F1 of ``predict()`` against the tasks' gold spans. Wall time is training plus predicting; peak memory is the
Python process's and the JVM's (both grow over a run: rows run in order, one Spark training at a time) and the
spaCy worker's.

``--tune`` never reads the evaluation file: it holds the last 15 % of the training file's sentences out as the
evaluation side and trains on the rest — what defaults are to be chosen on (``docs/languages.md``). ``--w2v
dimension=100,epochs=5,…`` and the NerDL options override the defaults for such runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import attrs
from common import DATA, entity_f1, gold_spans, ner_config, peak_memory, tasks_of
from peer_spacy import peer_python, run_spacy, tags_on_corpus_tokens

from alab_training import TrainingParams, load_model, load_project, predict, train
from alab_training.exports.iob import read_iob
from alab_training.metrics import entity_scores
from alab_training.runtime import learned, start_session

#: corpus → (training file, evaluation file, language, read_iob columns, what peers reached).
CORPORA = {
    "conll2002_es": ("esp.train", "esp.testa", "es", {},
                     ("spaCy, no vectors, efficiency, gold tokens: 0.744 on testa (issue #14); Lample et al. 2016 "
                     "LSTM-CRF with pretrained embeddings: 85.75 on testb")),
    "germeval2014_de": ("NER-de-test.tsv", "NER-de-dev.tsv", "de", {"token_column": 1, "tag_column": 2},
                        "spaCy, no vectors, efficiency, gold tokens: 0.528 on dev, 12 outer types (issue #14)"),
}
TUNING_SHARE = 0.15


def sentences(corpus: str, args: argparse.Namespace) -> tuple[list, list, str]:
    """``(train, test, language)`` sentences of ``(token, tag)``."""
    train_file, test_file, language, columns, _ = CORPORA[corpus]
    folder = Path(args.data) / corpus
    training = read_iob(folder / train_file, **columns)
    if args.tune:
        cut = round(len(training) * (1 - TUNING_SHARE))
        training, scored = training[:cut], training[cut:]
    else:
        scored = read_iob(folder / test_file, **columns)
    if args.limit:  # a smoke run of the script itself, not a measurement
        training, scored = training[:args.limit], scored[:args.limit]
    return training, scored, language


def no_vectors_file(folder: Path, dimension: int) -> Path:
    """A vectors file whose one word occurs in no text: every token gets the zero vector (char CNN only)."""
    path = folder / "no_vectors.txt"
    path.write_text("\u2400no-such-token\u2400 " + " ".join(["0"] * dimension) + "\n", encoding="utf-8")
    return path


def run_ours(train_sents, test_sents, language, labels, args, spark, embeddings: str | None) -> dict:
    train_tasks = tasks_of(train_sents)
    test_tasks = tasks_of(test_sents, first_id=len(train_tasks) + 1, test=True)
    project = load_project(train_tasks + test_tasks, config=ner_config(labels), name=f"bench_{language}")
    params = TrainingParams(training_type="ner", language=language, test_tags=("test",), embeddings=embeddings,
                            epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
                            dropout=args.dropout)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as output:
        model = train(project, params, spark=spark, output_dir=output).model("ner")
        train_seconds = time.monotonic() - started
        started = time.monotonic()
        predictions = predict(load_model(model.path, spark=spark), test_tasks)
        predict_seconds = time.monotonic() - started
        found = [[(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in prediction["result"]]
                 for prediction in predictions]
        spans = entity_f1(gold_spans(test_tasks), found)
        log_lines = [line for line in model.log_path.read_text().splitlines() if line.startswith(("embeddings:",
                                                                                                   "  settings:"))]
    return {"tags": tags_on_corpus_tokens(test_sents, predictions), "train_seconds": train_seconds,
            "predict_seconds": predict_seconds, "span_f1": spans["micro"]["f1"], "embeddings": model.embeddings,
            "log": log_lines, "peak": peak_memory(spark)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--rows", nargs="+", default=["learned", "none", "spacy"], choices=["learned", "none", "spacy"])
    parser.add_argument("--tune", action="store_true", help="score on a slice held out of the training file")
    parser.add_argument("--w2v", default="", help="Word2Vec settings to try, e.g. dimension=100,epochs=10")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, help="only the first N sentences of each side (checks the script)")
    parser.add_argument("--memory", default="6g", help="Spark driver memory")
    parser.add_argument("--spacy-python", help="a Python with spaCy installed (default: a venv made once)")
    args = parser.parse_args()
    if args.w2v:
        overrides = dict(item.split("=") for item in args.w2v.split(","))
        types = {field.name: field.type for field in attrs.fields(learned.Word2VecSettings)}
        converted = {key: (value.lower() == "true") if types[key] in (bool, "bool") else
                     (float(value) if types[key] in (float, "float") else int(value))
                     for key, value in overrides.items()}
        learned.DEFAULT_SETTINGS = attrs.evolve(learned.DEFAULT_SETTINGS, **converted)
    if "spacy" in args.rows:
        peer_python(args)  # installed before anything is timed
    spark = start_session(memory=args.memory, app_name="ner-languages") if {"learned", "none"} & set(args.rows) \
        else None
    report = []
    for corpus in args.corpora:
        report += run_corpus(corpus, args, spark)
        print("\n".join(report), flush=True)
    print("\n\n" + "\n".join(report))


def run_corpus(corpus: str, args: argparse.Namespace, spark) -> list[str]:
    train_sents, test_sents, language = sentences(corpus, args)
    labels = sorted({tag[2:] for sentence in train_sents for _, tag in sentence if tag != "O"})
    gold = [[tag for _, tag in sentence] for sentence in test_sents]
    split = "tuning slice (last 15% of the training file)" if args.tune else CORPORA[corpus][1]
    lines = [(f"\n{corpus}: {len(train_sents)} training sentences, {len(test_sents)} scored ({split}); "
             f"{len(labels)} labels; Word2Vec {learned.DEFAULT_SETTINGS.line()}")]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for row in args.rows:
            if row == "spacy":
                before = time.monotonic()
                result = run_spacy(train_sents, test_sents, argparse.Namespace(epochs=args.epochs or 12,
                                                                               seed=args.seed,
                                                                               spacy_python=args.spacy_python),
                                   None, language)
                result["wall"] = time.monotonic() - before
                result["peak"] = f"spaCy worker {result['peak_mb']:.0f} MB"
                title = f"spaCy {result['version']} efficiency, no vectors"
            else:
                embeddings = None if row == "learned" else str(no_vectors_file(Path(scratch), 100))
                result = run_ours(train_sents, test_sents, language, labels, args, spark, embeddings)
                result["wall"] = result["train_seconds"] + result["predict_seconds"]
                title = ("NerDL + learned vectors (defaults)" if row == "learned" else
                         "NerDL, no vectors (char CNN only)")
            results[title] = result
            print(f"{corpus} {title}: done in {result['wall'] / 60:.1f} min", flush=True)
    lines.append(f"{'':<38} {'micro F1':>8} " + " ".join(f"{label[:9]:>9}" for label in labels)
                 + f" {'minutes':>8}  peak memory")
    for title, result in results.items():
        score = entity_scores(gold, result["tags"])
        per_label = " ".join(f"{score.per_label[label].f1 if label in score.per_label else 0.0:>9.4f}"
                             for label in labels)
        lines.append(f"{title:<38} {score.micro.f1:>8.4f} {per_label} {result['wall'] / 60:>8.1f}  {result['peak']}")
    for title, result in results.items():
        if "span_f1" in result:
            lines.append(f"  {title}: predict() character-span micro F1 {result['span_f1']:.4f}; "
                         f"{result['embeddings']}")
            lines += ["    " + line for line in result["log"]]
    lines.append(f"  peers: {CORPORA[corpus][4]}")
    return lines


if __name__ == "__main__":
    main()
