"""The linear head: Spark ML logistic regression on the text vector beside word and character n-grams.

A single-choice ``<Choices>`` trains one multinomial regression over its classes; a multiple-choice one trains a
binary regression per label and predicts every label whose probability reaches the decision threshold:
``params.threshold``, else the one of :data:`THRESHOLDS` with the best micro F1 on a seeded tenth of the training
side the regressions were not fitted on (they are fitted on the other nine tenths: a second fit on everything
would double a cost that grows with every label, for a tenth more data). The regularisation is
``1 / (C · n)`` for ``n`` training texts — scikit-learn's ``C`` in Spark's terms — with :data:`SINGLE_LABEL_C` and
:data:`MULTI_LABEL_C` as measured on SMS spam, TREC-6 and GoEmotions (``docs/embeddings.md``). ``epochs`` sets
the solver's iterations (default :data:`MAX_ITER`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alab_training.metrics import ClassificationScores, classification_scores, multilabel_scores
from alab_training.params import TrainingParams

__all__ = ["MAX_ITER", "MULTI_LABEL_C", "SINGLE_LABEL_C", "THRESHOLDS", "fit", "predictions", "score"]

#: scikit-learn's ``C`` (inverse regularisation per example) of the single- and the multi-label regressions.
SINGLE_LABEL_C, MULTI_LABEL_C = 10.0, 0.5
#: Solver iterations when ``params.epochs`` is unset, and the relative change of the loss that ends it sooner.
MAX_ITER, TOLERANCE = 300, 1e-5
#: Features varying less than this on the training side are dropped (see :func:`_selector`).
MIN_VARIANCE = 1e-12
#: Multi-label decision thresholds tried when ``params.threshold`` is unset.
THRESHOLDS = tuple(round(0.05 + 0.025 * step, 3) for step in range(19))
#: The share of the training side held out to choose the threshold on, and its salt (apart from the test split's).
TUNING_SHARE = 0.1
_SALT = "threshold"
_NO_CLASS = "(none)"


def _regression(params: TrainingParams, c: float, rows: int, label: str, suffix: str = ""):
    from pyspark.ml.classification import LogisticRegression

    # Penalised on the features' own scale (standardization off), as scikit-learn does: standardising would
    # weigh a rare n-gram as much as a frequent one and lets the regression learn the rare ones by heart.
    return LogisticRegression(featuresCol="selected", labelCol=label, regParam=1.0 / (c * max(rows, 1)),
                              elasticNetParam=0.0, standardization=False, maxIter=params.epochs or MAX_ITER,
                              tol=TOLERANCE, family="binomial" if suffix else "multinomial",
                              probabilityCol=f"probability{suffix}", rawPredictionCol=f"raw{suffix}",
                              predictionCol=f"prediction{suffix}")


def _with_targets(frame: Any, classes: list[str]) -> Any:
    """``y_<i>``: 1.0 where the example carries class ``i``."""
    from pyspark.sql import functions

    return frame.select("*", *(functions.array_contains("label", label).cast("double").alias(f"y_{i}")
                               for i, label in enumerate(classes)))


def _binary_models(frame: Any, classes: list[str], params: TrainingParams) -> list[Any]:
    rows = frame.count()
    return [_regression(params, MULTI_LABEL_C, rows, f"y_{i}", f"_{i}").fit(frame) for i in range(len(classes))]


def _probability_columns(classes: list[str], multi_label: bool) -> list[str]:
    """The columns holding the probabilities: one vector of every class's, or one binary vector per label."""
    return [f"probability_{i}" for i in range(len(classes))] if multi_label else ["probability"]


def _scores(row: Any, classes: list[str], multi_label: bool) -> list[float]:
    """Every class's probability in a row (a label's is the second entry of its binary vector)."""
    if multi_label:
        return [float(row[f"probability_{i}"][1]) for i in range(len(classes))]
    return [float(value) for value in row["probability"]]


def _held_out(frame: Any, seed: int) -> Any:
    """Whether a row is in the seeded tenth held out for the threshold (by task id, apart from the test split)."""
    from pyspark.sql import functions

    # A hash inside the JVM, not a Python UDF: no Python worker is started for a coin toss per row.
    bucket = functions.abs(functions.xxhash64(functions.lit(f"{_SALT}\x1f{seed}"), functions.col("task"))) % 10_000
    return bucket < int(TUNING_SHARE * 10_000)


def _tuned_threshold(models: list[Any], tune_side: Any, classes: list[str]) -> tuple[float, str]:
    scored = tune_side
    for model in models:
        scored = model.transform(scored)
    rows = scored.select("label", *_probability_columns(classes, True)).collect()
    gold = [set(row["label"]) for row in rows]
    scores = [_scores(row, classes, True) for row in rows]

    def micro_f1(threshold: float) -> float:
        predicted = [[label for label, p in zip(classes, row) if p >= threshold] for row in scores]
        return multilabel_scores(gold, predicted).micro.f1

    best = max(THRESHOLDS, key=lambda t: (micro_f1(t), -t))
    return best, (f"the best micro F1 ({micro_f1(best):.4f}) among {THRESHOLDS[0]}–{THRESHOLDS[-1]} on a held-out "
                  f"tenth of the training side ({len(rows)} texts)")


def _selector(train: Any) -> Any:
    """The features that vary on the training side: a constant one (some of the encoder's 384 dimensions are
    zero to within 1e-30 for every text) teaches nothing, and Spark's solver, penalising on the features' own
    scale, divides by its variance and stalls."""
    from pyspark.ml.feature import VarianceThresholdSelector

    return VarianceThresholdSelector(featuresCol="features", outputCol="selected",
                                     varianceThreshold=MIN_VARIANCE).fit(train)


def fit(train: Any, classes: list[str], multi_label: bool,
        params: TrainingParams) -> Iterator[tuple[str, Any]]:
    """Fit the head on the training side's features; yields ``("log", line)`` and ends with ``("stages", …)``.

    The last item is ``("stages", (stages, extra))``: the fitted stages to append to the features pipeline and
    what the model card records (``threshold`` for multi-label).
    """
    from pyspark.ml.feature import IndexToString

    selector = _selector(train)
    selected = selector.transform(train if multi_label else train.filter("label_index >= 0"))
    yield "log", f"features: {len(selector.selectedFeatures)} that vary on the training side"
    if not multi_label:
        selected = selected.persist()
        try:
            model = _regression(params, SINGLE_LABEL_C, selected.count(), "label_index").fit(selected)
        finally:
            selected.unpersist()
        yield "log", f"logistic regression: {model.summary.totalIterations} iteration(s), C {SINGLE_LABEL_C:g}"
        yield "stages", ([selector, model, IndexToString(inputCol="prediction", outputCol="category",
                                                         labels=classes)], {})
        return
    targets = _with_targets(selected, classes)
    held_out = _held_out(targets, params.seed)
    tune_side = targets.filter(held_out) if params.threshold is None else targets.limit(0)
    fit_side = (targets.filter(~held_out) if tune_side.limit(1).count() else targets).persist()
    try:
        models = _binary_models(fit_side, classes, params)
    finally:
        fit_side.unpersist()
    if params.threshold is not None:
        threshold, how = params.threshold, "from the parameters"
    elif models and tune_side.limit(1).count():
        threshold, how = _tuned_threshold(models, tune_side, classes)
    else:
        threshold, how = 0.5, "the training side is too small to hold a tenth out: 0.5"
    yield "log", f"decision threshold {threshold:.3f} ({how})"
    yield "log", f"logistic regressions: one per label ({len(classes)}), C {MULTI_LABEL_C:g}"
    yield "stages", ([selector, *models], {"threshold": threshold})


def predictions(output: Any, classes: list[str], multi_label: bool, threshold: float | None,
                keys: tuple[str, ...]) -> list[tuple[tuple[Any, ...], list[str], list[float]]]:
    """Per row of the pipeline's ``output``: its ``keys`` values, the predicted classes and their probabilities."""
    found = []
    for row in output.select(*keys, *_probability_columns(classes, multi_label)).toLocalIterator():
        scores = _scores(row, classes, multi_label)
        if multi_label:
            picked = [(label, p) for label, p in zip(classes, scores) if p >= threshold]
        else:
            best = max(range(len(classes)), key=scores.__getitem__)
            picked = [(classes[best], scores[best])]
        found.append((tuple(row[key] for key in keys), [label for label, _ in picked], [p for _, p in picked]))
    return found


def score(stages: list[Any], test: Any, classes: list[str], multi_label: bool,
          threshold: float | None) -> ClassificationScores:
    """The test side's scores (every task, also those of a class never trained on)."""
    output = test
    for stage in stages:
        output = stage.transform(output)
    found = predictions(output, classes, multi_label, threshold, ("label",))
    if multi_label:
        return multilabel_scores([list(keys[0]) for keys, _, _ in found], [picked for _, picked, _ in found])
    return classification_scores([keys[0] for keys, _, _ in found],
                                 [picked[0] if picked else _NO_CLASS for _, picked, _ in found])
