"""What `agreement()` of a large export costs in memory, against `json.load` of the same file.

    .venv/bin/python benchmarks/agreement_memory.py [--tasks 100000] [--annotators 3]

Writes an export of that many tasks, each annotated by every annotator (spans that sometimes differ, a choice,
an assertion label), then measures in two fresh child processes the peak resident memory (``ru_maxrss``) of
`json.load` of the file and of `agreement(path, config=…)`, which streams it. Goal: agreement ≤ 2 × json.load.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text"><Label value="PROBLEM"/><Label value="Absent" assertion="true"/></Labels>
  <Choices name="sentiment" toName="text" choice="single"><Choice value="pos"/><Choice value="neg"/></Choices>
</View>"""
TEXT = "fever and cough, then a rash and pain in the left knee, no chest pain reported at the visit"
SPANS = [(0, 5), (10, 15), (24, 28), (33, 37), (59, 69)]

MEASURE = """
import json, resource, sys, time
started = time.monotonic()
if sys.argv[1] == "json.load":
    with open(sys.argv[2], encoding="utf-8") as handle:
        json.load(handle)
else:
    from alab_training import agreement
    agreement(sys.argv[2], config=sys.argv[3])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, time.monotonic() - started)
"""


def span(start: int, end: int, label: str) -> dict:
    return {"type": "labels", "from_name": "label", "to_name": "text",
            "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [label]}}


def write_export(path: Path, tasks: int, annotators: int) -> None:
    """One task at a time, so that writing the file holds no more than one task either."""
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for task_id in range(1, tasks + 1):
            completions = []
            for who in range(annotators):
                spans = [s for s in SPANS if rng.random() < 0.8]
                result = [span(s, e, "PROBLEM") for s, e in spans]
                result += [span(s, e, "Absent") for s, e in spans if rng.random() < 0.2]
                result.append({"type": "choices", "from_name": "sentiment", "to_name": "text",
                               "value": {"choices": [rng.choice(("pos", "neg"))]}})
                completions.append({"id": task_id * 10 + who, "created_username": f"annotator{who}",
                                    "submitted_at": "2024-01-01T00:00:00Z", "result": result})
            handle.write(("," if task_id > 1 else "")
                         + json.dumps({"id": task_id, "data": {"text": TEXT}, "completions": completions}))
        handle.write("]")


def measure(what: str, export: Path, config: Path) -> tuple[int, float]:
    shown = subprocess.run([sys.executable, "-c", MEASURE, what, str(export), str(config)], check=True,
                           capture_output=True, text=True).stdout.split()
    return int(shown[0]), float(shown[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        export, config = Path(scratch) / "export.json", Path(scratch) / "config.xml"
        config.write_text(CONFIG)
        started = time.monotonic()
        write_export(export, args.tasks, args.annotators)
        print(f"export: {args.tasks} tasks x {args.annotators} annotators, {export.stat().st_size / 2**20:.0f} MiB "
              f"(written in {time.monotonic() - started:.0f}s)")
        loaded, loaded_seconds = measure("json.load", export, config)
        streamed, streamed_seconds = measure("agreement", export, config)
    print(f"json.load:   peak RSS {loaded / 2**20:.0f} MiB ({loaded_seconds:.1f}s)")
    print(f"agreement(): peak RSS {streamed / 2**20:.0f} MiB ({streamed_seconds:.1f}s)")
    print(f"ratio: {streamed / loaded:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
