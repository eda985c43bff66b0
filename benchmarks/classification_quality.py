"""Classification quality on public corpora, on the fixed rows ``../shared/docs/baselines.md`` was measured on.

    .venv/bin/python benchmarks/classification_quality.py [--data ../shared/data] [--corpora sms trec goemotions]
        [--embeddings NAME] [--head linear|classifierdl] [--epochs N] [--learning-rate X] [--batch-size N]
        [--threshold T] [--memory 6g]

The rows come from ``<data>/splits/classification_splits.json``:

- SMS spam: its seeded stratified 80/20 split (``sms.train_idx`` / ``sms.test_idx``, 0-based rows after the
  header); prints accuracy, spam F1 and macro F1 (peers: TF-IDF + LR acc 0.981 / spam F1 0.925, spaCy textcat
  0.978 / 0.910, majority acc 0.866).
- TREC-6: the official split (``train_5500.label`` → ``TREC_10.label``), coarse labels; prints accuracy (peers:
  TF-IDF + LR 0.890, spaCy textcat 0.864).
- GoEmotions: ``dev.csv`` rows ``goemo.train_idx`` train, ``test.csv`` rows ``goemo.test_idx`` are scored (28
  labels, deduplicated rows); prints micro and macro F1 (peers: TF-IDF + LR with a tuned threshold micro 0.369 /
  macro 0.248, spaCy 0.32–0.33).

Every corpus trains through the public API (``train`` with ``test_tags=("test",)`` and the library's defaults,
unless an option says otherwise); the model is then loaded from its folder and ``predict()`` labels the test
texts, which are scored against the gold answers. Prints wall time and peak memory (Python and the JVM).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import tempfile
from pathlib import Path

from common import DATA, Clock, peak_memory

from alab_training import TrainingParams, load_model, load_project, predict, train
from alab_training.metrics import classification_scores, multilabel_scores
from alab_training.runtime import start_session


def _export(rows: list[tuple[str, list[str], bool]], from_name: str) -> list[dict]:
    """Annotation Lab tasks from ``(text, answers, is_test)``."""
    return [{"id": index, "data": {"text": text}, "tags": ["test"] if is_test else [],
             "completions": [{"id": index, "submitted_at": "2024-01-01T00:00:00",
                              "result": [{"type": "choices", "from_name": from_name, "to_name": "text",
                                          "value": {"choices": answers}}]}]}
            for index, (text, answers, is_test) in enumerate(rows, 1)]


def _config(name: str, values: list[str], multiple: bool) -> str:
    choices = "".join(f'<Choice value="{value}"/>' for value in values)
    return (f'<View><Text name="text" value="$text"/><Choices name="{name}" toName="text" '
            f'choice="{"multiple" if multiple else "single"}">{choices}</Choices></View>')


def _checked(path: Path, md5: str) -> Path:
    if hashlib.md5(path.read_bytes()).hexdigest() != md5:
        raise SystemExit(f"{path} is not the file the splits were made from (md5 {md5})")
    return path


def sms_rows(data: Path, splits: dict) -> list[tuple[str, list[str], bool]]:
    """``(text, [label], is_test)`` of the SMS split."""
    path = _checked(data / "sms_spam" / "SMSSpamCollection", splits["md5"])
    with path.open(encoding="utf-8") as handle:
        next(handle)  # this copy has a header line
        messages = [line.rstrip("\n").split("\t", 1) for line in handle]
    test = set(splits["test_idx"])
    return [(messages[i][1], [messages[i][0]], i in test) for i in sorted(splits["train_idx"] + splits["test_idx"])]


def trec_rows(data: Path, splits: dict) -> list[tuple[str, list[str], bool]]:
    """``(question, [coarse label], is_test)`` of the official TREC split (the files are Latin-1)."""
    def read(name: str, md5: str) -> list[tuple[str, str]]:
        lines = _checked(data / name, md5).read_bytes().decode("latin-1").splitlines()
        return [(text, label.split(":")[0]) for label, text in (line.split(" ", 1) for line in lines)]

    train_rows = read(splits["train_file"], splits["train_md5"])
    test_rows = read(splits["test_file"], splits["test_md5"])
    return ([(train_rows[i][0], [train_rows[i][1]], False) for i in splits["train_idx"]]
            + [(test_rows[i][0], [test_rows[i][1]], True) for i in splits["test_idx"]])


def goemotions_rows(data: Path, splits: dict) -> tuple[list[tuple[str, list[str], bool]], list[str]]:
    """``(comment, emotions, is_test)`` of the deduplicated GoEmotions rows, and the 28 labels."""
    folder = data / "goemotions"
    emotions = [line.strip() for line in (folder / "emotions.txt").read_text().splitlines() if line.strip()]

    def records(name: str, md5: str) -> list[dict]:
        with _checked(folder / name, md5).open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    dev, test = records("dev.csv", splits["dev_md5"]), records("test.csv", splits["test_md5"])
    rows = [(r["text"], [e for e in emotions if r[e] == "1"], False) for r in (dev[i] for i in splits["train_idx"])]
    rows += [(r["text"], [e for e in emotions if r[e] == "1"], True) for r in (test[i] for i in splits["test_idx"])]
    return rows, emotions


CORPORA = {"sms": ("spam", False), "trec": ("question", False), "goemotions": ("emotion", True)}


def project_of(corpus: str, data: Path, splits: dict):
    """The corpus as a project, and its rows."""
    name, multiple = CORPORA[corpus]
    if corpus == "goemotions":
        rows, labels = goemotions_rows(data, splits["goemo"])
    else:
        rows = sms_rows(data, splits["sms"]) if corpus == "sms" else trec_rows(data, splits["trec"])
        labels = sorted({label for _, answers, _ in rows for label in answers})
    return load_project(_export(rows, name), config=_config(name, labels, multiple), name=corpus), rows


def figures(corpus: str, gold: list[list[str]], predicted: list[list[str]]) -> str:
    """The corpus' figures, ours and the peers', on one line."""
    if corpus == "goemotions":
        scores = multilabel_scores(gold, predicted)
        return (f"micro F1 {scores.micro.f1:.4f} (P {scores.micro.precision:.4f}, R {scores.micro.recall:.4f}), "
                f"macro F1 {scores.macro.f1:.4f} | peers: TF-IDF + LR micro 0.369 / macro 0.248, spaCy 0.32-0.33")
    scores = classification_scores([g[0] for g in gold], [p[0] if p else "(none)" for p in predicted])
    if corpus == "sms":
        return (f"accuracy {scores.accuracy:.4f}, spam F1 {scores.per_label['spam'].f1:.4f}, macro F1 "
                f"{scores.macro.f1:.4f} | peers: TF-IDF + LR 0.981 / 0.925, spaCy 0.978 / 0.910, majority 0.866")
    return f"accuracy {scores.accuracy:.4f}, macro F1 {scores.macro.f1:.4f} | peers: TF-IDF + LR 0.890, spaCy 0.864"


def run(corpus: str, args: argparse.Namespace, data: Path, splits: dict, spark) -> str:
    project, rows = project_of(corpus, data, splits)
    options = {"classification": {"head": args.head}} if args.head else {}
    params = TrainingParams(training_type="classification", test_tags=("test",), embeddings=args.embeddings,
                            epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
                            threshold=args.threshold, options=options)
    clock = Clock()
    test = [(text, answers) for text, answers, is_test in rows if is_test]
    with tempfile.TemporaryDirectory() as output:
        model = train(project, params, spark=spark, output_dir=output).model("classification")
        trained = clock.minutes()
        found = predict(load_model(model.path, spark=spark), [text for text, _ in test])
    predicted = [p["result"][0]["value"]["choices"] if p["result"] else [] for p in found]
    train_count = sum(1 for *_, is_test in rows if not is_test)
    return (f"{corpus} ({train_count} train / {len(test)} test, {model.embeddings}): "
            f"{figures(corpus, [answers for _, answers in test], predicted)}; {trained:.1f} min to train, "
            f"{clock.minutes():.1f} min with predicting; peak {peak_memory(spark)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--embeddings", help="default: the classification trainer's")
    parser.add_argument("--head", choices=["linear", "classifierdl"], help="default: the trainer's")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--threshold", type=float, help="multi-label: default tuned on the training side")
    parser.add_argument("--memory", default="6g", help="Spark driver memory")
    args = parser.parse_args()
    data = Path(args.data)
    splits = json.loads((data / "splits" / "classification_splits.json").read_text())
    spark = start_session(memory=args.memory, app_name="classification-quality")
    lines = []
    for corpus in args.corpora:
        lines.append(run(corpus, args, data, splits, spark))
        print(lines[-1], flush=True)
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
