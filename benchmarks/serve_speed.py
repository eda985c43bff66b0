"""Pre-annotation speed through the Label Studio backend (``alab-training serve``), beside ``predict()`` in-process.

    .venv/bin/python benchmarks/serve_speed.py [--model MODEL_DIR] [--requests 60] [--memory 4g]

An NCBI-disease NER model (``--model``, else one trained here on the bundled NCBI export, 2 epochs: the speed of a
model does not depend on how well it was trained) is served by a real ``alab-training serve`` process on
127.0.0.1. The texts are NCBI-disease devel abstracts (sentences joined into texts of about 1,400 characters).
After a warm-up it measures, over HTTP:

- ``/predict`` of one abstract (Label Studio's interactive path): p50 and p95 over ``--requests`` calls;
- ``/predict`` of 100 abstracts in one request (Label Studio's "Retrieve predictions"): the median of 3;
- ``/setup`` and ``/health`` p95 while a training runs beside it (a CLI training in its own process);

and the same model's ``predict()`` in this process (one abstract, 100 abstracts) for the ratio. Goals: one
abstract p50 ≤ 100 ms, p95 ≤ 250 ms; 100 abstracts ≤ 5 s; ``/setup`` and ``/health`` p95 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import DATA, peak_memory

from alab_training import TrainingParams, load_model, load_project, predict, train
from alab_training.exports.iob import read_iob
from alab_training.runtime import start_session
from alab_training.serving.state import StateStore

REPO = Path(__file__).resolve().parents[1]
CONFIG = (REPO / "examples" / "ncbi_disease" / "config.xml").read_text()


def abstracts(count: int) -> list[str]:
    """NCBI-disease devel sentences joined into texts of about 1,400 characters."""
    texts, current = [], []
    for sentence in read_iob(DATA / "ncbi_disease" / "devel.tsv"):
        current.append(" ".join(token for token, _ in sentence))
        if sum(len(s) + 1 for s in current) >= 1400:
            texts.append(" ".join(current))
            current = []
        if len(texts) == count:
            break
    return texts


def trained_model(spark, folder: Path) -> Path:
    """A small NCBI model (2 epochs on the bundled export's first 60 tasks)."""
    tasks = json.loads((REPO / "examples" / "ncbi_disease" / "export.json").read_text())[:60]
    project = load_project(tasks, config=CONFIG, name="ncbi_speed")
    return train(project, TrainingParams(training_type="ner", epochs=2), spark=spark, output_dir=folder).model(
        "ner").path


def call(port: int, path: str, body: dict | None = None) -> tuple[float, dict]:
    """Milliseconds and the JSON answer of one request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as answer:
        payload = json.loads(answer.read())
    return (time.perf_counter() - started) * 1000, payload


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def serve(model: Path, root: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, int]:
    """A service whose project 1 serves ``model``, as it would after a training (its state says so)."""
    shutil.copytree(model, root / "models" / model.name)
    store = StateStore(root / "serving")
    store.update(1, label_config=CONFIG, name="ncbi_speed")
    store.serve(1, "benchmark", (model.name,))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ALAB_TRAINING_DRIVER_MEMORY": args.memory}
    process = subprocess.Popen([sys.executable, "-m", "alab_training", "serve", "--root", str(root), "--port",
                                str(port), "--log-level", "WARNING"], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            call(port, "/health")
            return process, port
        except OSError:
            time.sleep(1)
    raise SystemExit("the service did not answer /health within 300 s")


def tasks_of(texts: list[str]) -> list[dict]:
    return [{"id": index, "data": {"text": text}} for index, text in enumerate(texts)]


def measure_service(port: int, texts: list[str], args: argparse.Namespace) -> list[str]:
    payload = {"project": "1.0", "label_config": CONFIG}
    call(port, "/setup", {"project": "1.0", "schema": CONFIG})
    for text in texts[:5]:  # warm-up: the models load on the service's first prediction
        call(port, "/predict", {**payload, "tasks": tasks_of([text])})
    single = [call(port, "/predict", {**payload, "tasks": tasks_of([texts[i % len(texts)]])})[0]
              for i in range(args.requests)]
    batch = [call(port, "/predict", {**payload, "tasks": tasks_of(texts[:100])})[0] for _ in range(3)]
    return [f"service /predict, one abstract: p50 {percentile(single, 0.5):.0f} ms, p95 "
            f"{percentile(single, 0.95):.0f} ms (goals 100 / 250 ms)",
            f"service /predict, 100 abstracts in one request: {statistics.median(batch) / 1000:.2f} s (goal 5 s)"]


def measure_under_training(port: int, work: Path) -> list[str]:
    """``/setup`` and ``/health`` while a CLI training keeps the cores busy."""
    log = open(work / "training.log", "w")
    training = subprocess.Popen([sys.executable, "-m", "alab_training", "train",
                                 str(REPO / "examples" / "ncbi_disease" / "export.json"), "--config",
                                 str(REPO / "examples" / "ncbi_disease" / "config.xml"), "--epochs", "3",
                                 "--output", str(work / "busy")], stdout=log, stderr=log)
    time.sleep(60)  # past the JVM start, into the fit
    setup, health = [], []
    for _ in range(200):
        setup.append(call(port, "/setup", {"project": "1.0", "schema": CONFIG})[0])
        health.append(call(port, "/health")[0])
    running = training.poll() is None
    training.kill()
    return [f"service /setup p95 {percentile(setup, 0.95):.1f} ms, /health p95 {percentile(health, 0.95):.1f} ms "
            f"while a training {'ran' if running else 'had already ended (!)'} (goal 20 ms)"]


def measure_in_process(spark, model: Path, texts: list[str]) -> tuple[list[str], float, float]:
    loaded = load_model(model, spark=spark)
    for text in texts[:5]:
        predict(loaded, [text])
    single = []
    for text in texts[:30]:
        started = time.perf_counter()
        predict(loaded, [text])
        single.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    predict(loaded, texts[:100])
    batch = time.perf_counter() - started
    return ([f"in-process predict(), one abstract: p50 {percentile(single, 0.5):.0f} ms",
             f"in-process predict(), 100 abstracts: {batch:.2f} s"], percentile(single, 0.5), batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="an NCBI NER model folder (default: train a small one)")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--memory", default="4g")
    args = parser.parse_args()
    texts = abstracts(100)
    spark = start_session(memory=args.memory, app_name="serve-speed")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model = args.model or trained_model(spark, work / "trained")
        lines, single_ms, batch_s = measure_in_process(spark, model, texts)
        process, port = serve(model, work / "root", args)
        try:
            service = measure_service(port, texts, args)
            service += measure_under_training(port, work)
        finally:
            process.terminate()
            process.wait(60)
    print("\n".join(lines + service + [f"peak {peak_memory(spark)} (this process)"]))


if __name__ == "__main__":
    main()
