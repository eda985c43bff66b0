"""Assertion status (negation) on the NegEx annotated set: our trained model vs medspaCy's ConText rules.

    .venv/bin/python benchmarks/assertion_vs_rules.py [--data ../shared/data] [--rules-python /tmp/rulesvenv/bin/python]
                                                      [--rules-predictions rules.json] [--folds 0 1 2 3 4]

5-fold cross-validation by report, with the folds of ``splits/negex_folds.json`` (its per-row target offsets;
the 11 rows whose condition runs past the sentence are left out). For each fold, the other four become an
Annotation Lab export (a ``CONDITION`` span per row, plus a ``Negated`` span on it when negated; unmarked spans
become ``Affirmed`` through ``unannotated_label``) and ``train(...)`` trains the assertion model through the
public API; the fold is its test side. The rule baseline labels the same targets on the same rows.

The rules run in a separate virtual environment (medspaCy pins spaCy versions that clash with ours):

    python3 -m venv /tmp/rulesvenv && /tmp/rulesvenv/bin/pip install medspacy==1.3.1
    .venv/bin/python benchmarks/assertion_vs_rules.py --rules-python /tmp/rulesvenv/bin/python

This script then runs itself in that venv (``--rules-worker``: rows as JSON on stdin, ``{row: label}`` on
stdout, nothing of alab_training imported). ``--rules-predictions FILE`` takes that JSON precomputed instead.
The rules: ``medspacy.load()`` (default ConText rules, PyRuSH sentences), the target set as the one entity of
the doc at its offsets, ``Negated`` when ConText marks it ``is_negated``.
Prints macro-F1 (mean ± sd over folds), per-label F1 and accuracy for both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="CONDITION"/><Label value="Negated" assertion="true"/>
  </Labels>
</View>"""


def read_rows(data: Path) -> list[dict]:
    """Every aligned row: ``{row, fold, text, start, end, label}``."""
    folds = json.loads((data / "splits" / "negex_folds.json").read_text())["rows"]
    lines = (data / "negex_context" / "rsAnnotations-1-120-random.txt").read_text(encoding="ascii").splitlines()[1:]
    rows = []
    for line in lines:
        number, _condition, sentence, negation, *_ = line.split("\t")
        info = folds[number]
        if info["target_start"] is None:
            continue
        rows.append({"row": int(number), "fold": info["fold"], "text": sentence, "start": info["target_start"],
                     "end": info["target_end"], "label": negation})
    return rows


def export(rows: list[dict], test_fold: int) -> list[dict]:
    tasks = []
    for row in rows:
        value = {"start": row["start"], "end": row["end"], "text": row["text"][row["start"]:row["end"]]}
        result = [{"id": f"c{row['row']}", "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {**value, "labels": ["CONDITION"]}}]
        if row["label"] == "Negated":
            result.append({"id": f"n{row['row']}", "from_name": "label", "to_name": "text", "type": "labels",
                           "value": {**value, "labels": ["Negated"]}})
        tasks.append({"id": row["row"], "data": {"text": row["text"]},
                      "tags": ["test"] if row["fold"] == test_fold else [],
                      "completions": [{"id": row["row"], "submitted_at": "2024-01-01T00:00:00Z", "result": result}]})
    return tasks


def rules_worker() -> None:
    """Runs inside the rules venv: rows on stdin → ``{row: "Negated" | "Affirmed"}`` on stdout."""
    import medspacy
    from spacy.tokens import Span

    nlp = medspacy.load()
    context = nlp.get_pipe("medspacy_context")
    predictions = {}
    for row in json.load(sys.stdin):
        doc = nlp.make_doc(row["text"])
        for name, proc in nlp.pipeline:
            if name in ("medspacy_pyrush",):
                doc = proc(doc)
        span = doc.char_span(row["start"], row["end"], label="CONDITION", alignment_mode="expand")
        doc.ents = [Span(doc, span.start, span.end, label="CONDITION")] if span is not None else []
        doc = context(doc)
        negated = bool(doc.ents) and doc.ents[0]._.is_negated
        predictions[str(row["row"])] = "Negated" if negated else "Affirmed"
    json.dump(predictions, sys.stdout)


def rule_predictions(rows: list[dict], args: argparse.Namespace) -> dict[str, str]:
    if args.rules_predictions:
        return json.loads(Path(args.rules_predictions).read_text())
    payload = json.dumps([{k: row[k] for k in ("row", "text", "start", "end")} for row in rows])
    done = subprocess.run([args.rules_python, __file__, "--rules-worker"], input=payload, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--rules-python", default="/tmp/rulesvenv/bin/python")
    parser.add_argument("--rules-predictions", help="precomputed {row: label} JSON instead of running the rules")
    parser.add_argument("--save-rules", help="write the rule predictions to this JSON file")
    parser.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--memory", default="3g", help="Spark driver memory")
    parser.add_argument("--embeddings", help="default: the assertion trainer's")
    parser.add_argument("--no-rules", action="store_true", help="ours only (the rules' figures: baselines.md)")
    parser.add_argument("--rules-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rules_worker:
        rules_worker()
        return

    import tempfile

    from alab_training import TrainingParams, load_project, train
    from alab_training.metrics import classification_scores
    from alab_training.runtime import start_session

    rows = read_rows(Path(args.data))
    print(f"{len(rows)} aligned rows; running the rules …", flush=True)
    rules = {} if args.no_rules else rule_predictions(rows, args)
    if args.save_rules:
        Path(args.save_rules).write_text(json.dumps(rules))
    spark = start_session(memory=args.memory, app_name="assertion-benchmark")
    ours, theirs = [], []
    for fold in args.folds:
        started = time.monotonic()
        project = load_project(export(rows, fold), config=CONFIG, name=f"negex_fold{fold}")
        params = TrainingParams(training_type="assertion", test_tags=("test",), unannotated_label="Affirmed",
                                embeddings=args.embeddings)
        with tempfile.TemporaryDirectory() as out:
            model = train(project, params, spark=spark, output_dir=out).model("assertion")
        test = [row for row in rows if row["fold"] == fold]
        ours.append(model.metrics)
        line = (f"fold {fold}: {len(test)} test rows, ours macro-F1 {model.metrics['macro']['f1']:.4f} "
                f"(Negated {model.metrics['Negated']['f1']:.4f})")
        if rules:
            rule_scores = classification_scores([r["label"] for r in test], [rules[str(r["row"])] for r in test])
            theirs.append(rule_scores.as_dict())
            line += f", rules {rule_scores.macro.f1:.4f} (Negated {rule_scores.per_label['Negated'].f1:.4f})"
        print(f"{line} [{time.monotonic() - started:.0f}s]", flush=True)

    def summary(name: str, runs: list[dict]) -> str:
        def stat(key: str, field: str = "f1") -> str:
            values = [run[key][field] for run in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.3f} ± {spread:.3f}"

        return (f"{name:<28} macro-F1 {stat('macro')}   Affirmed F1 {stat('Affirmed')}   "
                f"Negated F1 {stat('Negated')}   accuracy {stat('accuracy', 'accuracy')}")

    print()
    print(summary("alab-training assertion", ours))
    if theirs:
        print(summary("medspaCy 1.3.1 ConText", theirs))
    else:
        print("medspaCy ConText (baselines.md): macro-F1 0.953 ± 0.014; with prune_on_target_overlap 0.972 ± 0.015")


if __name__ == "__main__":
    main()
