"""Loading, selecting and converting a large export, against `json.load` of the same file.

    .venv/bin/python benchmarks/selection_scale.py [--data ../shared/data] [--tasks 100000] [--runs 3] [--keep DIR]

Builds a synthetic Annotation Lab export in a temporary folder: 100k tasks whose texts are 2–6 real NCBI-disease
sentences, 1–4 completions per task (submitted, drafts, reviewed, starred, a few relations, assertion labels on
the same offsets as their entity) plus some model predictions, about a million labelled spans in all. Then, each
in a fresh subprocess so that the peaks do not mix:

- json: `json.load` of the file;
- ours: `load_project` + `select_completions` + conversion. Conversion is the pure-Python part of the NER
  trainer before Spark tokenises: for each selected completion its entity spans after overlap resolution
  (`trainers.text.entity_spans`), gathered as `(task id, text, spans, split)` training rows.

Time is the wall time of the step alone (imports excluded), the best of `--runs`; the CPU time is printed
too, as the steadier figure on a shared machine. Memory is the growth of the process' peak resident set during
the step (`ru_maxrss` at the end minus the resident set before it), the largest of the runs: the same measure on
both sides, counting everything the step held at its worst (for `json.load`: the file's text and the parsed
objects). What each side still holds when done is printed too (for `json.load`: the parsed JSON alone), and our
peak is also compared with that, the stricter reading of "the parsed JSON". Goals: time ratio ≤ 1.5, memory
ratio ≤ 2.
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

CONFIG = ('<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="Disease"/>'
          '<Label value="ABSENT" assertion="true"/></Labels>'
          '<Relations><Relation value="is_related_to"/></Relations></View>')
ANNOTATORS = ("luca.martial", "hasham", "rita", "dmitri", "aisha", "mei.ling", "oskar", "priya")
REVIEWERS = ("admin", "lead.annotator")


def corpus_sentences(data: Path) -> list[tuple[str, list[tuple[int, int]]]]:
    """NCBI-disease sentences as texts (tokens joined by spaces) with their Disease spans."""
    from alab_training.exports.iob import read_iob
    from alab_training.metrics import iob_chunks

    sentences = []
    for name in ("train.tsv", "devel.tsv"):
        for sentence in read_iob(data / "ncbi_disease" / name):
            tokens = [token for token, _ in sentence]
            starts, offset = [], 0
            for token in tokens:
                starts.append(offset)
                offset += len(token) + 1
            spans = [(starts[first], starts[last] + len(tokens[last]))
                     for _, first, last in iob_chunks([tag for _, tag in sentence])]
            sentences.append((" ".join(tokens), spans))
    return sentences


def _moment(rng: random.Random) -> str:
    return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:" \
           f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z"


def _region_id(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", k=10))


def _labels_item(text: str, start: int, end: int, label: str, rng: random.Random) -> dict:
    return {"value": {"start": start, "end": end, "text": text[start:end], "labels": [label], "confidence": 1},
            "id": _region_id(rng), "from_name": "label", "to_name": "text", "type": "labels"}


def _completion(task_id: int, number: int, text: str, spans: list[tuple[int, int]], rng: random.Random) -> dict:
    result = []
    for start, end in spans:
        if rng.random() < 0.08:
            continue  # this annotator missed it
        entity = _labels_item(text, start, end, "Disease", rng)
        result.append(entity)
        if rng.random() < 0.15:
            result.append(_labels_item(text, start, end, "ABSENT", rng))
    entities = [item for item in result if item["value"]["labels"] == ["Disease"]]
    if len(entities) >= 2 and rng.random() < 0.05:
        result.append({"from_id": entities[0]["id"], "to_id": entities[1]["id"], "type": "relation",
                       "direction": "right", "labels": ["is_related_to"]})
    annotator = rng.choice(ANNOTATORS)
    updated = _moment(rng)
    completion = {"created_username": annotator, "created_ago": updated, "lead_time": rng.randint(5, 600),
                  "result": result, "honeypot": rng.random() < 0.1, "id": task_id * 1000 + number,
                  "confidence_range": [0, 1], "updated_at": updated, "updated_by": annotator}
    if rng.random() >= 0.1:  # the rest are drafts: saved, never submitted
        completion["submitted_at"] = updated.rstrip("Z")
        if rng.random() < 0.3:
            completion["review_status"] = {"approved": rng.random() < 0.8, "reviewer": rng.choice(REVIEWERS),
                                           "comment": "", "reviewed_at": _moment(rng)}
    return completion


def _task(task_id: int, sentences: list[tuple[str, list[tuple[int, int]]]], rng: random.Random) -> dict:
    parts, spans, offset = [], [], 0
    for sentence, sentence_spans in rng.choices(sentences, k=rng.randint(2, 6)):
        parts.append(sentence)
        spans.extend((offset + start, offset + end) for start, end in sentence_spans)
        offset += len(sentence) + 1
    text = " ".join(parts)
    completions = [_completion(task_id, number, text, spans, rng)
                   for number in range(1, rng.choices((1, 2, 3, 4), weights=(2, 3, 3, 2))[0] + 1)]
    predictions = []
    if rng.random() < 0.1:
        predictions.append({"created_username": "ner_disease_model", "result": [
            {**_labels_item(text, start, end, "Disease", rng), "confidence": f"{rng.random():.4f}"}
            for start, end in spans]})
    task = {"completions": completions, "predictions": predictions, "created_at": _moment(rng)[:19].replace("T", " "),
            "created_by": "admin", "data": {"text": text, "title": f"Note {task_id}"}, "id": task_id}
    if rng.random() < 0.2:
        task["tags"] = ["test"] if rng.random() < 0.5 else ["batch-2"]
    return task


def build_export(path: Path, data: Path, tasks: int, seed: int = 7) -> dict[str, int]:
    """Writes the export (one task per line, as compact JSON) and returns what it holds."""
    rng = random.Random(seed)
    sentences = corpus_sentences(data)
    counts = {"tasks": tasks, "completions": 0, "spans": 0}
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for task_id in range(1, tasks + 1):
            task = _task(task_id, sentences, rng)
            counts["completions"] += len(task["completions"])
            counts["spans"] += sum(item["type"] == "labels" for c in task["completions"] for item in c["result"])
            out.write(json.dumps(task) + (",\n" if task_id < tasks else "\n"))
        out.write("]\n")
    return counts


def _resident() -> int:
    """The resident set now, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure(side: str, path: str) -> dict[str, float]:
    """One side, in this process: wall and CPU time, peak resident-set growth, and what is still held after."""
    if side == "ours":
        from alab_training import TrainingParams, load_project, select_completions
        from alab_training.trainers.text import entity_spans

        params = TrainingParams(test_tags=("test",))
    started_rss, started, started_cpu = _resident(), time.perf_counter(), time.process_time()
    if side == "json":
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
        count = len(result)
    else:
        project = load_project(path, config=CONFIG, name="scale")
        selection = select_completions(project, params)
        rows = []
        for item in selection.items:
            spans, _, _ = entity_spans(item.completion, project.config)
            rows.append((item.task.id, item.task.text, spans, item.split))
        result, count = (project, selection, rows), len(rows)  # result: all held until measured
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - started_rss
    return {"seconds": seconds, "cpu": cpu, "peak": peak, "held": _resident() - started_rss, "count": count}


def run_side(side: str, path: Path) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--measure", side, str(path)], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="build the export in this folder and keep it (reused if already there)")
    parser.add_argument("--measure", nargs=2, metavar=("SIDE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep) if args.keep else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"alab_export_{args.tasks}.json"
        started = time.perf_counter()
        if not path.exists():
            counts = build_export(path, Path(args.data), args.tasks)
            print(f"built {path.name} in {time.perf_counter() - started:.0f}s: {counts['tasks']} tasks, "
                  f"{counts['completions']} completions, {counts['spans']} spans, "
                  f"{path.stat().st_size / 2**20:.0f} MiB", flush=True)
        runs = {"json": [], "ours": []}
        for _ in range(args.runs):
            for side in runs:
                runs[side].append(run_side(side, path))
            print("wall s / cpu s / peak MiB:", {side: [f"{r['seconds']:.2f}/{r['cpu']:.2f}/{r['peak'] / 2**20:.0f}"
                                                       for r in done] for side, done in runs.items()}, flush=True)
    best = {side: {key: min(r[key] for r in done) for key in ("seconds", "cpu")} for side, done in runs.items()}
    peak, held = ({side: max(r[key] for r in done) for side, done in runs.items()} for key in ("peak", "held"))
    print(f"\n{args.tasks} tasks, {runs['ours'][0]['count']} training rows; best of {args.runs} runs")
    for side, what in (("json", "json.load"), ("ours", "load_project + select_completions + conversion")):
        print(f"{what}: {best[side]['seconds']:.2f}s wall, {best[side]['cpu']:.2f}s CPU, "
              f"peak +{peak[side] / 2**20:.0f} MiB, held after +{held[side] / 2**20:.0f} MiB")
    print(f"time ratio {best['ours']['seconds'] / best['json']['seconds']:.2f} wall, "
          f"{best['ours']['cpu'] / best['json']['cpu']:.2f} CPU (goal <= 1.5); "
          f"memory ratio {peak['ours'] / peak['json']:.2f} (goal <= 2; "
          f"{peak['ours'] / held['json']:.2f} against the parsed JSON held after json.load)")


if __name__ == "__main__":
    main()
