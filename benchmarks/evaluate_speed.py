"""What `evaluate()` costs over `predict()` of the same tasks.

    flock /tmp/spark.lock .venv/bin/python benchmarks/evaluate_speed.py [--data ../shared/data] [--sentences 1000]

Trains a small NER model on NCBI-disease's train sentences (1 epoch: its quality does not matter here), then,
on `--sentences` devel sentences (≈ 1,000, the size of NCBI-disease's test set), times `predict()` of the loaded
model on the tasks and `evaluate()` of the same loaded model on the same tasks (which predicts, then scores:
exact, nervaluate's schemes, tokens, the error table). Each runs three times in one Spark session, alternating;
the fastest run of each counts. Goal: ratio ≤ 1.2.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from alab_training import TrainingParams, evaluate, load_model, load_project, predict, train
from alab_training.exports.iob import iob_to_tasks, read_iob
from alab_training.runtime import start_session

CONFIG = ('<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="Disease"/>'
          "</Labels></View>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--train-sentences", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(args.data) / "ncbi_disease"
    train_tasks = iob_to_tasks(read_iob(folder / "train.tsv")[: args.train_sentences])
    test_tasks = iob_to_tasks(read_iob(folder / "devel.tsv")[: args.sentences], first_id=10**6, tags=("test",))
    project = load_project(train_tasks + test_tasks, config=CONFIG, name="speed")
    params = TrainingParams(test_tags=("test",), epochs=1, batch_size=16)
    spark = start_session()
    with tempfile.TemporaryDirectory() as work:
        loaded = load_model(train(project, params, spark=spark, output_dir=work).model("ner"), spark=spark)
        test_side = [task for task in project.tasks if "test" in task.tags]
        times: dict[str, list[float]] = {"predict()": [], "evaluate()": []}
        for _ in range(3):
            started = time.monotonic()
            predict(loaded, test_side)
            times["predict()"].append(time.monotonic() - started)
            started = time.monotonic()
            evaluation = evaluate(loaded, project, params, spark=spark)
            times["evaluate()"].append(time.monotonic() - started)
            print({side: [round(t, 2) for t in runs] for side, runs in times.items()}, flush=True)
    predicting, evaluating = min(times["predict()"]), min(times["evaluate()"])
    print(f"\n{args.sentences} sentences in {len(test_side)} tasks, {len(evaluation.errors)} error rows: predict() "
          f"{predicting:.2f}s, evaluate() {evaluating:.2f}s (scoring {evaluation.seconds['scoring']:.2f}s), "
          f"ratio {evaluating / predicting:.3f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
