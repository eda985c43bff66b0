"""The deep head: Spark NLP ``ClassifierDLApproach`` / ``MultiClassifierDLApproach`` on the text vector.

A ``choice="single"`` control trains ClassifierDL (a small DNN, 2 to 100 classes) on the one answer of each
task; ``choice="multiple"`` trains MultiClassifierDL (BiGRU + CNN, one sigmoid per label) on the set of answers;
its decision threshold is ``params.threshold``, else the one of 0.05, 0.10, … 0.50 with the best micro F1 on the
training side (the engine's fixed 0.5 predicts almost nothing when a text has one of many labels).

Parameters map to the engine as ``epochs`` → ``maxEpochs``, ``learning_rate`` → ``lr``, ``batch_size`` →
``batchSize``, ``dropout`` → ``dropout`` (ClassifierDL only), ``seed`` → ``randomSeed``. Unset ones keep the
engine's own defaults, except ClassifierDL's learning rate and batch size (:data:`SINGLE_LABEL_DEFAULTS`): with
its own 0.005 and 64, ClassifierDL on averaged GloVe 50d collapsed to the majority class on the full SMS spam
set, while 0.001 and 8 reached accuracy 0.963 (``benchmarks/classification_quality.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alab_training.metrics import ClassificationScores, classification_scores, multilabel_scores
from alab_training.model import EpochFinished
from alab_training.params import TrainingParams
from alab_training.trainers.running import epoch_loss

__all__ = ["SINGLE_LABEL_DEFAULTS", "approach", "engine_checks", "engine_line", "predictions", "score",
           "with_threshold"]

#: ClassifierDL's unset parameters become these (measured; see the module docstring).
SINGLE_LABEL_DEFAULTS = {"learning_rate": 0.001, "batch_size": 8}
#: The engine's log FILE counts epochs from 0 (its console from 1): ``Epoch 0/30 - 0.52s - loss: 12.3 - …``.
_EPOCH = re.compile(r"^Epoch (\d+)/(\d+) - ([\d.]+)s - loss: (\S+)(.*)$")
_AVERAGES = ("Macro-average", "Micro-average")
_NO_CLASS = "(none)"
#: Multi-label decision thresholds tried when ``params.threshold`` is unset (the engine's default is 0.5).
_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 11))
_LOWEST_THRESHOLD = 1e-6


def approach(params: TrainingParams, multi_label: bool, logs: Path) -> Any:
    """The engine's estimator, with the parameters mapped (see the module docstring)."""
    from sparknlp.annotator import ClassifierDLApproach, MultiClassifierDLApproach

    estimator = MultiClassifierDLApproach() if multi_label else ClassifierDLApproach()
    estimator = (estimator.setInputCols(["sentence_embeddings"]).setOutputCol("category").setLabelColumn("label")
                 .setRandomSeed(params.seed).setEnableOutputLogs(True).setEvaluationLogExtended(True)
                 .setOutputLogsPath(str(logs)))
    learning_rate, batch_size = params.learning_rate, params.batch_size
    if not multi_label:
        learning_rate = learning_rate or SINGLE_LABEL_DEFAULTS["learning_rate"]
        batch_size = batch_size or SINGLE_LABEL_DEFAULTS["batch_size"]
    settings = [(params.epochs, estimator.setMaxEpochs), (learning_rate, estimator.setLr),
                (batch_size, estimator.setBatchSize)]
    if not multi_label:
        settings.append((params.dropout, estimator.setDropout))
    for value, setter in settings:
        if value is not None:
            setter(value)
    return estimator


def engine_line(line: str) -> tuple[str, EpochFinished | None]:
    """A line of the engine's log as the training log shows it, and the epoch it reports, if one."""
    epoch = _EPOCH.match(line)
    if epoch is None:
        return line, None
    # The file counts from 0; the log and the events count from 1, as the engine's console does.
    number, total = int(epoch.group(1)) + 1, int(epoch.group(2))
    text = f"Epoch {number}/{total} - {epoch.group(3)}s - loss: {epoch.group(4)}{epoch.group(5)}"
    return text, EpochFinished(number, total, epoch_loss(epoch.group(4)), float(epoch.group(3)))


def engine_checks(engine_logs: Path) -> list[str]:
    """The engine's per-epoch test-side averages; it writes each check to a file of its own."""
    files = sorted(engine_logs.glob("ClassifierMetrics_*.log"), key=lambda p: p.stat().st_mtime_ns)
    lines = []
    for number, path in enumerate(files, 1):
        averages = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if line.startswith(_AVERAGES)]
        lines += [f"  check {number}: {line}" for line in averages]
    heading = "the engine's own test-side check after each epoch (its counting; the final scores are ours):"
    return [heading, *lines] if lines else []


def with_threshold(classifier: Any, train: Any, params: TrainingParams) -> tuple[Any, float, str]:
    """The multi-label classifier with its decision threshold: the parameter's, else tuned on the training side."""
    from sparknlp.annotator import MultiClassifierDLModel

    # sparknlp 5.5.3's Python wraps the fitted Java MultiClassifierDLModel as a ClassifierDLModel, which hides
    # setThreshold; rewrap the same Java object.
    classifier = MultiClassifierDLModel(java_model=classifier._java_obj)
    if params.threshold is not None:
        threshold, how = params.threshold, "from the parameters"
    else:
        classifier.setThreshold(_LOWEST_THRESHOLD)  # every label's score is then in each row's metadata
        rows = classifier.transform(train).select("label", "category").collect()
        scored = [(set(row["label"]), {label: float(value) for label, value in row["category"][0]["metadata"].items()
                                       if label != "sentence"} if row["category"] else {}) for row in rows]
        threshold = max(_THRESHOLDS, key=lambda t: (multilabel_scores(
            [gold for gold, _ in scored], [[label for label, value in scores.items() if value >= t]
                                           for _, scores in scored]).micro.f1, t))
        how = f"the best micro F1 on the training side among {_THRESHOLDS[0]}–{_THRESHOLDS[-1]}"
    classifier.setThreshold(threshold)
    return classifier, threshold, how


def predictions(output: Any, keys: tuple[str, ...]) -> Iterator[tuple[tuple[Any, ...], list[str], list[float]]]:
    """Per row of the pipeline's ``output``: its ``keys`` values, the predicted classes and their confidences."""
    for row in output.select(*keys, "category").toLocalIterator():
        annotations = [a for a in row["category"] or [] if a["result"]]
        choices = list(dict.fromkeys(a["result"] for a in annotations))
        scores = [float(a["metadata"][a["result"]]) for a in annotations if a["result"] in a["metadata"]]
        yield tuple(row[key] for key in keys), choices, scores


def score(classifier: Any, test: Any, multi_label: bool) -> ClassificationScores:
    """The test side's scores (every task, also those of a class never trained on)."""
    rows = classifier.transform(test).select("label", "category.result").collect()
    if multi_label:
        return multilabel_scores([row["label"] for row in rows], [row["result"] for row in rows])
    return classification_scores([row["label"] for row in rows],
                                 [row["result"][0] if row["result"] else _NO_CLASS for row in rows])
