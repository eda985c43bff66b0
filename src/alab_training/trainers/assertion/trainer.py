"""The assertion-status trainer: context features of each entity span and a Spark ML logistic regression.

Open-source Spark NLP has no assertion annotator, so this is "option B" of the research notes, the open
counterpart of the licensed ``AssertionLogRegApproach``: the saved Spark NLP pipeline (sentences, tokens, word
embeddings — the NER trainer's ``text_stages()``) gives every token its vector; each entity span becomes the
averaged vectors of itself and of ``WINDOW`` tokens on each side plus bags of the lower-cased context words
(see :mod:`.features`); a multinomial ``LogisticRegression`` (Spark ML) learns the assertion label from them.
Because the entity's words only enter as one averaged vector, the cues (``no``, ``denies``, ``history of``,
``if``…) are learned from the context.

``epochs`` → the regression's ``maxIter`` (default 200); the classes are weighted inversely to their
frequency on the training side, so a rare status (``Negated`` is about a fifth of NegEx) is not drowned by
the default one. Other optimiser parameters do not apply and are ignored.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from alab_training.errors import ParamsError
from alab_training.metrics import classification_scores
from alab_training.model import EpochFinished, Evaluated, TrainingEvent, TrainingStarted
from alab_training.runtime.embeddings import EmbeddingsSource, load_word_embeddings
from alab_training.runtime.fit import FitInThread
from alab_training.runtime.learned import LearnedPlan
from alab_training.trainers.assertion import features
from alab_training.trainers.assertion.data import Example, assertion_examples
from alab_training.trainers.base import LoadedModel, PredictionInput, Trainer, TrainingRequest
from alab_training.trainers.running import TrainerRun, check_selection, resolve_source, selection_lines

__all__ = ["AssertionTrainer"]

#: ``maxIter`` of the logistic regression when ``epochs`` is not given.
DEFAULT_MAX_ITER = 200
#: L2 regularisation of the logistic regression.
REG_PARAM = 0.01
#: Context words seen fewer times than this on the training side get no feature of their own.
MIN_COUNT = 2


class AssertionTrainer(Trainer):
    """Assertion status of entity spans; see the module docstring."""

    training_type = "assertion"
    #: The span's and its window's vectors: a transformer's token states or static word vectors.
    embeddings_levels = ("token", "word")
    default_embeddings = {"en": "glove_6b_50d"}

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Train the assertion classifier (see the module docstring)."""
        config = request.project.config
        if not config.assertion_labels:
            raise ParamsError('the labeling config has no assertion labels (<Label … assertion="true"/>) to train '
                              "assertion status on", field="training_type", value="assertion")
        if not config.ner_labels:
            raise ParamsError("the labeling config has no entity labels for assertion labels to sit on",
                              field="training_type", value="assertion")
        check_selection(request)
        examples, report = assertion_examples(request.selection.items, config, request.params)
        classes = Counter(e.label for e in examples if e.split == "train")
        if not classes:
            hint = ("" if request.params.unannotated_label is not None else
                    "; set unannotated_label to train on the entities nobody marked")
            raise ParamsError(f"the training side has no entity span with an assertion label{hint}",
                              field="unannotated_label", value=request.params.unannotated_label)
        if len(classes) < 2:
            (only,) = classes
            hint = ("; set unannotated_label (e.g. 'Present') to give unmarked entities a class"
                    if request.params.unannotated_label is None else "")
            raise ParamsError(f"assertion status needs at least two classes on the training side, found only "
                              f"{only!r} ({classes[only]} span(s)){hint}", field="unannotated_label",
                              value=request.params.unannotated_label)
        source, plan = resolve_source(request, self)
        yield from _AssertionRun(request, source, examples, report, plan).events()

    def predict(self, spark: Any, model: LoadedModel, items: list[PredictionInput]) -> list[list[dict[str, Any]]]:
        """One assertion ``labels`` item per known entity, on the entity's offsets (code points)."""
        from pyspark.ml import PipelineModel

        classes = set(model.model.labels)
        targets = [[(start, end) for start, end, label in item.entities if label not in classes] for item in items]
        results: list[list[dict[str, Any]]] = [[] for _ in items]
        wanted = [index for index, spans in enumerate(targets) if spans]
        if not wanted:
            return results
        window = int(model.extra.get("window", features.WINDOW))
        dimension = int(model.extra["dimension"])
        sentences = features.token_sentences(spark, model.pipeline, [items[i].text for i in wanted])
        rows, keys = [], []
        for index, task_sentences in zip(wanted, sentences):
            for number, context in enumerate(features.span_contexts(task_sentences, targets[index], window)):
                rows.append({**features.feature_row(context, dimension), "key": len(keys)})
                keys.append((index, number))
        classifier = PipelineModel.load(str(model.model.path / model.extra.get("classifier", "classifier")))
        frame = features.feature_frame(spark, rows, extra=(("key", "int"),))
        scored = {row["key"]: (row["assertion"], float(max(row["probability"])))
                  for row in classifier.transform(frame).select("key", "assertion", "probability").toLocalIterator()}
        from_name = model.extra.get("from_name", "label")
        to_name = model.extra.get("to_name", "text")
        for key, (index, number) in enumerate(keys):
            label, confidence = scored[key]
            start, end = targets[index][number]
            item = items[index]
            results[index].append({
                "id": f"{model.model.name}-{item.task_id}-{number}", "from_name": from_name, "to_name": to_name,
                "type": "labels",
                "value": {"start": start, "end": end, "text": item.text[start:end], "labels": [label],
                          "confidence": round(confidence, 4)},
            })
        return results


class _AssertionRun(TrainerRun):
    title = "assertion status training"

    def __init__(self, request: TrainingRequest, source: EmbeddingsSource, examples: list[Example],
                 report: Any, plan: LearnedPlan | None = None) -> None:
        super().__init__(request, source, plan)
        self.examples = examples
        self.report = report

    def _events(self) -> Iterator[TrainingEvent]:
        request, params = self.request, self.params
        max_iter = params.epochs or DEFAULT_MAX_ITER
        yield from self.log.write(
            *self.header(),
            f"model: context window {features.WINDOW} tokens each side (near: {features.NEAR}), multinomial "
            f"logistic regression, maxIter {max_iter}, regParam {REG_PARAM}, class-balanced weights, "
            f"context words seen at least {MIN_COUNT} times")
        yield from self.log.write(*selection_lines(request))
        yield from self.log.write("pairing:", *("  " + line for line in self.report.lines(self.examples)))
        spark = self.spark()

        yield from self.learn(spark)
        embeddings = load_word_embeddings(spark, self.source)
        text_model = features.text_pipeline(spark, embeddings, params.language)
        rows = self._feature_rows(spark, text_model)
        train_rows = [row for row, e in zip(rows, self.examples) if e.split == "train"]
        test_rows = [row for row, e in zip(rows, self.examples) if e.split == "test"]
        counts = Counter(row["label"] for row in train_rows)
        classes = sorted(counts)
        for row in rows:  # class-balanced weights: every class weighs as much in total
            row["label_index"] = float(classes.index(row["label"])) if row["label"] in counts else -1.0
            row["weight"] = len(train_rows) / (len(classes) * counts[row["label"]]) if row["label"] in counts else 0.0
        extra = (("label", "string"), ("label_index", "double"), ("weight", "double"))
        yield TrainingStarted("assertion", len(train_rows), len(test_rows), 1)

        estimator = features.classifier_pipeline(classes, max_iter=max_iter, reg_param=REG_PARAM,
                                                 min_count=MIN_COUNT)
        fit_started = time.monotonic()
        fitting = FitInThread(estimator, features.feature_frame(spark, train_rows, extra),
                              self.work / "engine.log")
        for line in fitting.lines():
            yield from self.log.write(line)
        classifier = fitting.result("assertion")
        regression = classifier.stages[-2]
        history = list(regression.summary.objectiveHistory)
        yield from self.log.write(
            f"logistic regression: {regression.summary.totalIterations} iteration(s), loss "
            + " → ".join(f"{value:.4f}" for value in history[:: max(1, len(history) // 10)] + history[-1:]),
            "vocabulary: " + ", ".join(f"{bag} {len(stage.vocabulary)}" for bag, stage in
                                       zip(features.BAGS, classifier.stages[1:1 + len(features.BAGS)])))
        yield EpochFinished(1, 1, history[-1] if history else None, time.monotonic() - fit_started)

        text_model.write().overwrite().save(str(self.out / "pipeline"))
        classifier.write().overwrite().save(str(self.out / "classifier"))
        metrics: dict[str, Any] = {}
        if test_rows:
            frame = features.feature_frame(spark, test_rows, extra)
            scored = classifier.transform(frame).select("label", "assertion").collect()
            scores = classification_scores([row["label"] for row in scored], [row["assertion"] for row in scored])
            metrics = scores.as_dict()
            yield from self.log.write("", "scores on the test side:", scores.table())
            yield Evaluated(metrics)
        control = request.project.config.labels_controls[0]
        yield from self.finish(kind="assertion", labels=classes, metrics=metrics, extra={
            "classifier": "classifier", "from_name": control.name, "to_name": control.to_name,
            "window": features.WINDOW, "near": features.NEAR, "dimension": self.source.dimension,
            "classes": classes, "entity_labels": sorted({e.entity for e in self.examples}),
            "unannotated_label": params.unannotated_label, "train_examples": len(train_rows),
            "test_examples": len(test_rows),
        })

    def _feature_rows(self, spark: Any, text_model: Any) -> list[dict[str, Any]]:
        """One feature row (plus its ``label``) per example, in the order of ``self.examples``."""
        items = self.request.selection.items
        rows_used = sorted({e.row for e in self.examples})
        sentences = dict(zip(rows_used, features.token_sentences(spark, text_model,
                                                                 [items[r].task.text for r in rows_used])))
        by_row: dict[int, list[int]] = {}
        for index, example in enumerate(self.examples):
            by_row.setdefault(example.row, []).append(index)
        rows: list[dict[str, Any]] = [{} for _ in self.examples]
        for row, indexes in by_row.items():
            spans = [(self.examples[i].start, self.examples[i].end) for i in indexes]
            for index, context in zip(indexes, features.span_contexts(sentences[row], spans, features.WINDOW)):
                rows[index] = {**features.feature_row(context, self.source.dimension),
                               "label": self.examples[index].label}
        return rows
