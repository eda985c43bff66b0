"""The text classification trainer: one ``<Choices>`` control, learnt from the text of each task.

The classifier learns the answers of the control :meth:`~alab_training.config.LabelingConfig.choices_to_train`
picks, single- or multiple-choice. Each text becomes one vector (:mod:`.features`): by default the
all-MiniLM-L6-v2 sentence encoder's (``minilm_l6_v2_sentence``); word- or token-level embeddings are averaged.
Two heads learn from it, chosen with ``options={"classification": {"head": …}}``:

- ``linear`` (the default): Spark ML logistic regression on the text vector beside word and character n-grams
  (:mod:`.linear`) — measured best on SMS spam, TREC-6 and GoEmotions (``docs/embeddings.md``);
- ``classifierdl``: Spark NLP's ClassifierDL / MultiClassifierDL on the text vector alone (:mod:`.deep`).

The evaluation side of the selection (``validation_split`` or ``test_tags``) is scored at the end by
:func:`alab_training.metrics.classification_scores` (single) or :func:`~alab_training.metrics.multilabel_scores`
(multiple). Tasks whose chosen completion gives no answer for the control, or whose text is empty, are left out
and counted in the training log. Every text is embedded once per training.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import attrs

from alab_training.config.controls import ChoicesControl
from alab_training.errors import ParamsError, SelectionError
from alab_training.model import EpochFinished, Evaluated, Project, TrainingEvent, TrainingStarted
from alab_training.params import TrainingParams
from alab_training.runtime.embeddings import EmbeddingsSource
from alab_training.runtime.fit import FitInThread
from alab_training.runtime.learned import LearnedPlan
from alab_training.selection import REASONS
from alab_training.trainers.base import LoadedModel, PredictionInput, Trainer, TrainingRequest, safe_name
from alab_training.trainers.classification import deep, linear
from alab_training.trainers.classification.examples import (
    Example,
    choices_control,
    choices_examples,
    classes_of,
    example_lines,
)
from alab_training.trainers.classification.features import featurize, linear_feature_stages, text_vector_stages
from alab_training.trainers.running import TrainerRun, resolve_source, selection_lines

__all__ = ["HEADS", "ClassificationOptions", "ClassificationTrainer"]

HEADS = ("linear", "classifierdl")
#: ClassifierDL's limits (ClassifierDLApproach.scala); MultiClassifierDL documents the same class limit.
MIN_CLASSES, MAX_CLASSES, MAX_DIMENSION = 2, 100, 1024


@attrs.frozen
class ClassificationOptions:
    """``options={"classification": {...}}``.

    Attributes:
        head: ``linear`` (logistic regression on the text vector and n-grams) or ``classifierdl`` (Spark NLP's
            ClassifierDL / MultiClassifierDL on the text vector).
    """

    head: str = attrs.field(default="linear", validator=attrs.validators.in_(HEADS))


class ClassificationTrainer(Trainer):
    """Text classification of one ``<Choices>``; see the module docstring."""

    training_type = "classification"
    options_type = ClassificationOptions
    #: A pooled sentence vector first; token or word vectors are averaged per text.
    embeddings_levels = ("sentence", "token", "word")
    default_embeddings = {"en": "minilm_l6_v2_sentence"}

    def model_name(self, project: Project, params: TrainingParams) -> str:
        """``classification_<Choices name>_annotation_manual``, the name made safe (``a-b`` → ``a_b``)."""
        return f"classification_{safe_name(choices_control(project.config, params).name)}_annotation_manual"

    def predict(self, spark: Any, model: LoadedModel, items: list[PredictionInput]) -> list[list[dict[str, Any]]]:
        """One ``choices`` item per text with the predicted class(es) and their mean confidence.

        A multi-label model that predicts nothing for a text (no label reaches its threshold), and an empty
        text, give an empty list.
        """
        extra = model.extra
        wanted = [(i, item.text) for i, item in enumerate(items) if item.text.strip()]
        output = model.pipeline.transform(spark.createDataFrame(wanted, "row int, text string")) if wanted else None
        if output is None:
            found = {}
        elif extra.get("head", "classifierdl") == "linear":
            found = {keys[0]: (picked, scores) for keys, picked, scores in linear.predictions(
                output, list(extra["classes"]), bool(extra.get("multi_label")), extra.get("threshold"), ("row",))}
        else:
            found = {keys[0]: (picked, scores) for keys, picked, scores in deep.predictions(output, ("row",))}
        results: list[list[dict[str, Any]]] = []
        for index, item in enumerate(items):
            choices, scores = found.get(index, ([], []))
            results.append([{"id": f"{model.model.name}-{item.task_id}-0", "from_name": extra.get("from_name",
                                                                                                  "choices"),
                             "to_name": extra.get("to_name", "text"), "type": "choices",
                             "value": {"choices": choices,
                                       "confidence": sum(scores) / len(scores) if scores else None}}]
                           if choices else [])
        return results

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Train the classifier of one ``<Choices>`` (see the module docstring)."""
        control = choices_control(request.project.config, request.params)
        examples, left_out = choices_examples(request.selection, control)
        if not any(example.split == "train" for example in examples):
            counts = ", ".join(f"{code} {n}" for code, n in sorted(request.selection.excluded_counts().items()))
            raise SelectionError(
                f"no task is left to train on: {left_out['no_answer']} selected task(s) have no answer for "
                f"<Choices name={control.name!r}>, {left_out['empty_text']} have no text "
                f"(excluded by selection: {counts or 'none'}; reason codes: {', '.join(REASONS)})")
        classes = classes_of(examples, "train")
        if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
            raise ParamsError(
                f"<Choices name={control.name!r}> has {len(classes)} distinct answer(s) on the training side "
                f"({', '.join(classes[:10])}{' …' if len(classes) > 10 else ''}); the classifier needs "
                f"{MIN_CLASSES} to {MAX_CLASSES}", field="choices_name", value=control.name)
        source, plan = resolve_source(request, self)
        if source.dimension > MAX_DIMENSION:
            raise ParamsError(f"the classifier takes embeddings of at most {MAX_DIMENSION} dimensions, "
                              f"{source.name} has {source.dimension}", field="embeddings", value=source.name)
        options = request.options or ClassificationOptions()
        yield from _ClassificationRun(request, source, control, examples, left_out, classes, options.head,
                                      plan).events()


class _ClassificationRun(TrainerRun):
    title = "classification training"
    scratch = ("features.parquet", "engine_test.parquet", "engine_logs")

    def __init__(self, request: TrainingRequest, source: EmbeddingsSource, control: ChoicesControl,
                 examples: list[Example], left_out: Counter[str], classes: list[str], head: str,
                 plan: LearnedPlan | None = None) -> None:
        super().__init__(request, source, plan)
        self.control = control
        self.examples = examples
        self.left_out = left_out
        self.classes = classes
        self.head = head
        self.multi = control.multi_label

    def _events(self) -> Iterator[TrainingEvent]:
        request, control = self.request, self.control
        engine = {"linear": "logistic regression", "classifierdl": "ClassifierDL"}[self.head]
        engine = "MultiClassifierDL" if self.head == "classifierdl" and self.multi else engine
        yield from self.log.write(
            *self.header(),
            f"choices: <Choices name={control.name!r} toName={control.to_name!r} choice={control.choice!r}> "
            f"→ {engine} on the {self.source.level}-level embeddings' text vector"
            + (" beside word and character n-grams" if self.head == "linear" else ""))
        yield from self.log.write(*selection_lines(request), *example_lines(self.examples, self.left_out,
                                                                            self.classes))
        spark = self.spark()
        for side in ("train", "test"):
            self._write_jsonl([e for e in self.examples if e.split == side], self.work / f"{side}.jsonl")
        yield from self.learn(spark)
        stages = text_vector_stages(spark, self.source, self.params.language)
        if self.head == "linear":
            stages += linear_feature_stages()
        column = "features" if self.head == "linear" else "sentence_embeddings"
        features, train, test = featurize(spark, stages, self.examples, self.classes, self.multi,
                                          self.work / "features.parquet", columns=(column,))
        counts = Counter(e.split for e in self.examples)
        fit = self._linear(train) if self.head == "linear" else self._deep(spark, train, test, counts["test"])
        head_stages, extra = yield from fit
        from pyspark.ml import PipelineModel

        PipelineModel(stages=[*features.stages, *head_stages]).write().overwrite().save(str(self.out / "pipeline"))
        metrics: dict[str, Any] = {}
        if counts["test"]:
            scores = (linear.score(head_stages, test, self.classes, self.multi, extra.get("threshold"))
                      if self.head == "linear" else deep.score(head_stages[0], test, self.multi))
            metrics = scores.as_dict()
            yield from self.log.write("", f"scores on the test side ({counts['test']} task(s)):", scores.table())
            yield Evaluated(metrics)
        yield from self.finish(kind="classification", labels=self.classes, metrics=metrics, extra={
            "from_name": control.name, "to_name": control.to_name, "multi_label": self.multi, "head": self.head,
            "classes": self.classes, "engine": engine, "train_examples": counts["train"],
            "test_examples": counts["test"], "left_out": dict(self.left_out), **extra,
        })

    def _linear(self, train: Any) -> Generator[TrainingEvent, None, tuple[list[Any], dict[str, Any]]]:
        counts = Counter(e.split for e in self.examples)
        yield TrainingStarted("classification", counts["train"], counts["test"], 1)
        result: tuple[list[Any], dict[str, Any]] = ([], {})
        for kind, value in linear.fit(train, self.classes, self.multi, self.params):
            if kind == "log":
                yield from self.log.write(value)
            else:
                result = value
        yield EpochFinished(1, 1)
        return result

    def _deep(self, spark: Any, train: Any, test: Any,
              test_count: int) -> Generator[TrainingEvent, None, tuple[list[Any], dict[str, Any]]]:
        estimator = deep.approach(self.params, self.multi, self.work / "engine_logs")
        if test_count:
            yield from self._engine_test_side(test, estimator, test_count)
        yield TrainingStarted("classification", train.count(), test_count, estimator.getOrDefault("maxEpochs"))
        train = train.persist()  # threshold tuning reads the same features again after the fit
        try:
            fitting = FitInThread(estimator, train, self.work / "engine_logs" / f"{estimator.uid}.log")
            for line in fitting.lines():
                if line.strip():
                    text, epoch = deep.engine_line(line)
                    yield from self.log.write(text)
                    if epoch is not None:
                        yield epoch
            classifier = fitting.result("classification")
            yield from self.log.write(*deep.engine_checks(self.work / "engine_logs"))
            extra: dict[str, Any] = {}
            if self.multi:
                classifier, extra["threshold"], how = deep.with_threshold(classifier, train, self.params)
                yield from self.log.write(f"decision threshold {extra['threshold']:.2f} ({how})")
        finally:
            train.unpersist()
        return [classifier], extra

    def _engine_test_side(self, test: Any, estimator: Any, test_count: int) -> Iterator[TrainingEvent]:
        """The engine's per-epoch check only takes classes it trains on; the final scores count every task."""
        known = {str(e.task_id) for e in self.examples if e.split == "test" and set(e.labels) <= set(self.classes)}
        if known:
            test.filter(test.task.isin(sorted(known))).write.mode("overwrite").parquet(
                str(self.work / "engine_test.parquet"))
            estimator.setTestDataset(str(self.work / "engine_test.parquet"))
        if len(known) < test_count:
            yield from self.log.write(f"  {test_count - len(known)} test task(s) have a class never seen in "
                                      "training: left out of the engine's per-epoch check, scored at the end")

    @staticmethod
    def _write_jsonl(examples: list[Example], path: Path) -> None:
        with path.open("w", encoding="utf-8") as handle:
            for e in examples:
                handle.write(json.dumps({"task": e.task_id, "text": e.text, "labels": list(e.labels)},
                                        ensure_ascii=False, default=str) + "\n")
