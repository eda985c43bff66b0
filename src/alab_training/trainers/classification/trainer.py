"""The text classification trainer: Spark NLP ``ClassifierDLApproach`` / ``MultiClassifierDLApproach``.

A task's text becomes one sentence embedding — the average of its GloVe word vectors (``SentenceEmbeddings``,
pooling ``AVERAGE``) — and the classifier learns the answers of one ``<Choices>`` control (see
:meth:`~alab_training.config.model.LabelingConfig.choices_to_train`). A ``choice="single"`` control trains
ClassifierDL (a small DNN, 2 to 100 classes) on the one answer of each task; ``choice="multiple"`` trains
MultiClassifierDL (BiGRU + CNN, one sigmoid per label) on the set of answers; its decision threshold is
``params.threshold``, else the one of 0.05, 0.10, … 0.50 with the best micro F1 on the training side (the
engine's fixed 0.5 predicts almost nothing when a text has one of many labels).

Parameters map to the engine as ``epochs`` → ``maxEpochs``, ``learning_rate`` → ``lr``, ``batch_size`` →
``batchSize``, ``dropout`` → ``dropout`` (ClassifierDL only), ``seed`` → ``randomSeed``. Unset ones keep the
engine's own defaults, except ClassifierDL's learning rate and batch size (:data:`SINGLE_LABEL_DEFAULTS`): with
its own 0.005 and 64, ClassifierDL on averaged GloVe 50d collapsed to the majority class on the full SMS spam
set (accuracy 0.866, spam F1 0.0), while 0.001 and 8 reached accuracy 0.963, spam F1 0.856, macro F1 0.918
(``benchmarks/classification_quality.py --corpora sms``):

=================  ===================  ========================
parameter          ClassifierDL         MultiClassifierDL
=================  ===================  ========================
``epochs``         30                   10
``learning_rate``  0.001 (engine 0.005) 0.001
``batch_size``     8 (engine 64)        64
``dropout``        0.5                  (not used)
``seed``           42 (ours)            42 (ours)
=================  ===================  ========================

``decay`` is not used by either. The evaluation side of the selection (``validation_split`` or ``test_tags``) is
the engine's test dataset, checked after every epoch, and is scored again at the end by
:func:`alab_training.metrics.classification_scores` (single) or :func:`~alab_training.metrics.multilabel_scores`
(multiple). Tasks whose chosen completion gives no answer for the control, or whose text is empty, are left out
and counted in the training log.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import attrs

from alab_training.config.controls import ChoicesControl, LabelingConfig
from alab_training.errors import ConfigError, ParamsError, SelectionError
from alab_training.metrics import ClassificationScores, classification_scores, multilabel_scores
from alab_training.model import EpochFinished, Evaluated, Project, TrainingEvent, TrainingStarted
from alab_training.params import TrainingParams
from alab_training.runtime.embeddings import EmbeddingsSource, load_word_embeddings
from alab_training.runtime.fit import FitInThread
from alab_training.selection import REASONS, Selection
from alab_training.trainers.base import LoadedModel, PredictionInput, Trainer, TrainingRequest, safe_name
from alab_training.trainers.running import TrainerRun, epoch_loss, selection_lines

__all__ = ["ClassificationTrainer", "Example", "choices_examples", "feature_stages"]

#: ClassifierDL's unset parameters become these (measured; see the module docstring).
SINGLE_LABEL_DEFAULTS = {"learning_rate": 0.001, "batch_size": 8}

#: The engine's log FILE counts epochs from 0 (its console from 1): ``Epoch 0/30 - 0.52s - loss: 12.3 - …``.
_EPOCH = re.compile(r"^Epoch (\d+)/(\d+) - ([\d.]+)s - loss: (\S+)(.*)$")
_AVERAGES = ("Macro-average", "Micro-average")
#: ClassifierDL's limits (ClassifierDLApproach.scala); MultiClassifierDL documents the same class limit.
MIN_CLASSES, MAX_CLASSES, MAX_DIMENSION = 2, 100, 1024
_NO_CLASS = "(none)"
#: Multi-label decision thresholds tried when ``params.threshold`` is unset (the engine's default is 0.5).
_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 11))
_LOWEST_THRESHOLD = 1e-6

#: Why a selected task is not a training example, for the log.
LEFT_OUT = {
    "no_answer": "the chosen completion has no answer for the <Choices>",
    "empty_text": "the task's text is empty",
}


@attrs.frozen
class Example:
    """One task as the classifier sees it: its text and its answer(s) for the trained ``<Choices>``."""

    task_id: Any
    text: str
    labels: tuple[str, ...]
    #: ``"train"`` or ``"test"``, as the selection put the task.
    split: str


def choices_examples(selection: Selection, control: ChoicesControl) -> tuple[list[Example], Counter[str]]:
    """The training and test examples for ``control``, and how many selected tasks were left out, by reason.

    A task's answer is the ``choices`` of its chosen completion whose ``from_name`` is the control's name (the
    reader already merged repeated ones). For a single-choice control only the first answer is kept; the count
    of tasks that had more is reported as ``extra_answers`` (those tasks are kept).
    """
    examples, counts = [], Counter()
    for item in selection.items:
        picked = tuple(dict.fromkeys(choice for answer in item.completion.choices if answer.from_name == control.name
                                     for choice in answer.choices))
        if not picked:
            counts["no_answer"] += 1
            continue
        if not item.task.text.strip():
            counts["empty_text"] += 1
            continue
        if not control.multi_label and len(picked) > 1:
            counts["extra_answers"] += 1
            picked = picked[:1]
        examples.append(Example(task_id=item.task.id, text=item.task.text, labels=picked, split=item.split))
    return examples, counts


def feature_stages(source_embeddings: Any) -> list[Any]:
    """text → document → token → word embeddings → averaged sentence embedding (training and the model)."""
    from sparknlp.annotator import SentenceEmbeddings, Tokenizer
    from sparknlp.base import DocumentAssembler

    return [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        source_embeddings,
        SentenceEmbeddings().setInputCols(["document", "embeddings"]).setOutputCol("sentence_embeddings")
        .setPoolingStrategy("AVERAGE"),
    ]


def _control(config: LabelingConfig, params: TrainingParams) -> ChoicesControl:
    try:
        return config.choices_to_train(params.choices_name)
    except ConfigError as exc:
        raise ParamsError(exc.message, field="choices_name" if params.choices_name else "training_type",
                          value=params.choices_name or "classification") from exc


def _classes(examples: list[Example], split: str) -> list[str]:
    return sorted({label for example in examples if example.split == split for label in example.labels})


class ClassificationTrainer(Trainer):
    """Text classification with ClassifierDL or MultiClassifierDL; see the module docstring for the parameters."""

    training_type = "classification"

    def model_name(self, project: Project, params: TrainingParams) -> str:
        """``classification_<Choices name>_annotation_manual``, the name made safe (``a-b`` → ``a_b``)."""
        return f"classification_{safe_name(_control(project.config, params).name)}_annotation_manual"

    def predict(self, spark: Any, model: LoadedModel, items: list[PredictionInput]) -> list[list[dict[str, Any]]]:
        """One ``choices`` item per text with the predicted class(es) and their mean confidence.

        A multi-label model that predicts nothing for a text (no label above its threshold) gives an empty list.
        """
        frame = spark.createDataFrame([(i, item.text) for i, item in enumerate(items)], "row int, text string")
        found = {row["row"]: row["category"] for row in
                 model.pipeline.transform(frame).select("row", "category").toLocalIterator()}
        from_name = model.extra.get("from_name", "choices")
        to_name = model.extra.get("to_name", "text")
        results: list[list[dict[str, Any]]] = []
        for index, item in enumerate(items):
            annotations = [a for a in found.get(index) or [] if a["result"]]
            if not annotations:
                results.append([])
                continue
            choices = list(dict.fromkeys(a["result"] for a in annotations))
            scores = [float(a["metadata"][a["result"]]) for a in annotations if a["result"] in a["metadata"]]
            results.append([{"id": f"{model.model.name}-{item.task_id}-0", "from_name": from_name,
                             "to_name": to_name, "type": "choices",
                             "value": {"choices": choices,
                                       "confidence": sum(scores) / len(scores) if scores else None}}])
        return results

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Train the classifier of one ``<Choices>`` (see the module docstring)."""
        control = _control(request.project.config, request.params)
        examples, left_out = choices_examples(request.selection, control)
        if not any(example.split == "train" for example in examples):
            counts = ", ".join(f"{code} {n}" for code, n in sorted(request.selection.excluded_counts().items()))
            raise SelectionError(
                f"no task is left to train on: {left_out['no_answer']} selected task(s) have no answer for "
                f"<Choices name={control.name!r}>, {left_out['empty_text']} have no text "
                f"(excluded by selection: {counts or 'none'}; reason codes: {', '.join(REASONS)})")
        classes = _classes(examples, "train")
        if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
            raise ParamsError(
                f"<Choices name={control.name!r}> has {len(classes)} distinct answer(s) on the training side "
                f"({', '.join(classes[:10])}{' …' if len(classes) > 10 else ''}); the classifier needs "
                f"{MIN_CLASSES} to {MAX_CLASSES}", field="choices_name", value=control.name)
        source = request.embeddings.resolve(request.params.embeddings, request.params.language)
        if source.dimension > MAX_DIMENSION:
            raise ParamsError(f"the classifier takes embeddings of at most {MAX_DIMENSION} dimensions, "
                              f"{source.name} has {source.dimension}", field="embeddings", value=source.name)
        yield from _ClassificationRun(request, source, control, examples, left_out, classes).events()


class _ClassificationRun(TrainerRun):
    title = "classification training"
    scratch = ("test.parquet", "engine_test.parquet", "engine_logs")

    def __init__(self, request: TrainingRequest, source: EmbeddingsSource, control: ChoicesControl,
                 examples: list[Example], left_out: Counter[str], classes: list[str]) -> None:
        super().__init__(request, source)
        self.control = control
        self.examples = examples
        self.left_out = left_out
        self.classes = classes

    def _events(self) -> Iterator[TrainingEvent]:
        request, control = self.request, self.control
        engine = "MultiClassifierDL" if control.multi_label else "ClassifierDL"
        yield from self.log.write(
            *self.header(),
            f"choices: <Choices name={control.name!r} toName={control.to_name!r} choice={control.choice!r}> "
            f"→ {engine}; embeddings averaged per task (SentenceEmbeddings AVERAGE)")
        yield from self.log.write(*selection_lines(request))
        yield from self.log.write(*self._example_lines())
        spark = self.spark()

        train = [e for e in self.examples if e.split == "train"]
        test = [e for e in self.examples if e.split == "test"]
        self._write_jsonl(train, self.work / "train.jsonl")
        self._write_jsonl(test, self.work / "test.jsonl")
        embeddings = load_word_embeddings(spark, self.source, input_cols=("document", "token"))
        from pyspark.ml import Pipeline

        train_frame = self._frame(spark, train)
        features = Pipeline(stages=feature_stages(embeddings)).fit(train_frame)
        approach = self._approach()
        test_frame = (yield from self._test_frames(spark, features, approach, test)) if test else None
        epochs = approach.getOrDefault("maxEpochs")
        yield TrainingStarted("classification", len(train), len(test), epochs)

        engine_logs = self.work / "engine_logs"
        # Persisted: threshold tuning reads the same features again after the fit.
        train_features = features.transform(train_frame).persist()
        fitting = FitInThread(approach, train_features, engine_logs / f"{approach.uid}.log")
        for line in fitting.lines():
            yield from self._engine_line(line)
        classifier = fitting.result("classification")
        yield from self.log.write(*self._engine_checks(engine_logs))
        extra: dict[str, Any] = {}
        if control.multi_label:
            classifier = yield from self._with_threshold(classifier, train_features, extra)
        train_features.unpersist()

        from pyspark.ml import PipelineModel

        PipelineModel(stages=[*features.stages, classifier]).write().overwrite().save(str(self.out / "pipeline"))
        metrics: dict[str, Any] = {}
        if test_frame is not None:
            scores = self._score(classifier, test_frame)
            metrics = scores.as_dict()
            yield from self.log.write("", f"scores on the test side ({len(test)} task(s)):", scores.table())
            yield Evaluated(metrics)
        yield from self.finish(kind="classification", labels=self.classes, metrics=metrics, extra={
            "from_name": control.name, "to_name": control.to_name, "multi_label": control.multi_label,
            "classes": self.classes, "engine": engine, "train_examples": len(train), "test_examples": len(test),
            "left_out": dict(self.left_out), **extra,
        })

    def _test_frames(self, spark: Any, features: Any, approach: Any,
                     test: list[Example]) -> Generator[TrainingEvent, None, Any]:
        """The test side's features, saved for the final scores and, as far as it can take them, the engine's."""
        features.transform(self._frame(spark, test)).write.mode("overwrite").parquet(str(self.work / "test.parquet"))
        # The engine's per-epoch check only takes classes it trains on; the final scores count every task.
        known = [e for e in test if set(e.labels) <= set(self.classes)]
        if known:
            features.transform(self._frame(spark, known)).write.mode("overwrite").parquet(
                str(self.work / "engine_test.parquet"))
            approach.setTestDataset(str(self.work / "engine_test.parquet"))
        if len(known) < len(test):
            yield from self.log.write(f"  {len(test) - len(known)} test task(s) have a class never seen in "
                                      "training: left out of the engine's per-epoch check, scored at the end")
        return spark.read.parquet(str(self.work / "test.parquet"))

    def _with_threshold(self, classifier: Any, train_features: Any,
                        extra: dict[str, Any]) -> Generator[TrainingEvent, None, Any]:
        """The multi-label classifier with its decision threshold: the parameter's, else tuned on the training side."""
        from sparknlp.annotator import MultiClassifierDLModel

        # sparknlp 5.5.3's Python wraps the fitted Java MultiClassifierDLModel as a ClassifierDLModel, which hides
        # setThreshold; rewrap the same Java object.
        classifier = MultiClassifierDLModel(java_model=classifier._java_obj)
        threshold = self.params.threshold
        extra["threshold"], how = ((threshold, "from the parameters") if threshold is not None
                                   else self._tuned_threshold(classifier, train_features))
        classifier.setThreshold(extra["threshold"])
        yield from self.log.write(f"decision threshold {extra['threshold']:.2f} ({how})")
        return classifier

    def _example_lines(self) -> list[str]:
        counts = Counter(e.split for e in self.examples)
        lines = [f"examples: {counts['train']} train, {counts['test']} test; "
                 f"{len(self.classes)} classes: {', '.join(self.classes)}"]
        lines += [f"  left out {code}: {self.left_out[code]} ({reason})"
                  for code, reason in LEFT_OUT.items() if self.left_out[code]]
        if self.left_out["extra_answers"]:
            lines.append(f"  {self.left_out['extra_answers']} task(s) give several answers to a single-choice "
                         "<Choices>: trained on the first")
        per_class = Counter(label for e in self.examples if e.split == "train" for label in e.labels)
        lines.append("  train examples per class: " + ", ".join(f"{c} {per_class[c]}" for c in self.classes))
        unseen = sorted(set(_classes(self.examples, "test")) - set(self.classes))
        if unseen:
            lines.append(f"  classes only on the test side (the model cannot predict them): {', '.join(unseen)}")
        return lines

    def _frame(self, spark: Any, examples: list[Example]):
        label_type = "array<string>" if self.control.multi_label else "string"
        rows = [(str(e.task_id), e.text, list(e.labels) if self.control.multi_label else e.labels[0])
                for e in examples]
        return spark.createDataFrame(rows, f"task string, text string, label {label_type}")

    @staticmethod
    def _write_jsonl(examples: list[Example], path: Path) -> None:
        with path.open("w", encoding="utf-8") as handle:
            for e in examples:
                handle.write(json.dumps({"task": e.task_id, "text": e.text, "labels": list(e.labels)},
                                        ensure_ascii=False, default=str) + "\n")

    def _approach(self):
        from sparknlp.annotator import ClassifierDLApproach, MultiClassifierDLApproach

        params = self.params
        approach = MultiClassifierDLApproach() if self.control.multi_label else ClassifierDLApproach()
        approach = (approach.setInputCols(["sentence_embeddings"]).setOutputCol("category").setLabelColumn("label")
                    .setRandomSeed(params.seed).setEnableOutputLogs(True).setEvaluationLogExtended(True)
                    .setOutputLogsPath(str(self.work / "engine_logs")))
        learning_rate, batch_size = params.learning_rate, params.batch_size
        if not self.control.multi_label:
            learning_rate = learning_rate or SINGLE_LABEL_DEFAULTS["learning_rate"]
            batch_size = batch_size or SINGLE_LABEL_DEFAULTS["batch_size"]
        settings = [(params.epochs, approach.setMaxEpochs), (learning_rate, approach.setLr),
                    (batch_size, approach.setBatchSize)]
        if not self.control.multi_label:
            settings.append((params.dropout, approach.setDropout))
        for value, setter in settings:
            if value is not None:
                setter(value)
        return approach

    def _engine_line(self, line: str) -> Iterator[TrainingEvent]:
        if not line.strip():
            return
        epoch = _EPOCH.match(line)
        if epoch is None:
            yield from self.log.write(line)
            return
        # The file counts from 0; the log and the events count from 1, as the engine's console does.
        number, total = int(epoch.group(1)) + 1, int(epoch.group(2))
        yield from self.log.write(f"Epoch {number}/{total} - {epoch.group(3)}s - loss: {epoch.group(4)}"
                                  f"{epoch.group(5)}")
        yield EpochFinished(number, total, epoch_loss(epoch.group(4)), float(epoch.group(3)))

    @staticmethod
    def _engine_checks(engine_logs: Path) -> list[str]:
        """The engine's per-epoch test-side averages; it writes each check to a file of its own."""
        files = sorted(engine_logs.glob("ClassifierMetrics_*.log"), key=lambda p: p.stat().st_mtime_ns)
        lines = []
        for number, path in enumerate(files, 1):
            averages = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                        if line.startswith(_AVERAGES)]
            lines += [f"  check {number}: {line}" for line in averages]
        heading = "the engine's own test-side check after each epoch (its counting; the final scores are ours):"
        return [heading, *lines] if lines else []

    @staticmethod
    def _tuned_threshold(classifier: Any, train_frame: Any) -> tuple[float, str]:
        """The threshold with the best micro F1 on the training side.

        MultiClassifierDL's fixed 0.5 predicts almost nothing when a text has one of many labels (GoEmotions:
        micro F1 0.09); the training side is used so that the test side stays unseen.
        """
        classifier.setThreshold(_LOWEST_THRESHOLD)  # every label's score is then in each row's metadata
        rows = classifier.transform(train_frame).select("label", "category").collect()
        scored = [(set(row["label"]), {label: float(score) for label, score in row["category"][0]["metadata"].items()
                                       if label != "sentence"} if row["category"] else {}) for row in rows]
        best = max(_THRESHOLDS, key=lambda t: (multilabel_scores(
            [gold for gold, _ in scored], [[label for label, score in scores.items() if score >= t]
                                           for _, scores in scored]).micro.f1, t))
        return best, f"the best micro F1 on the training side among {_THRESHOLDS[0]}–{_THRESHOLDS[-1]}"

    def _score(self, classifier: Any, test_frame: Any) -> ClassificationScores:
        rows = classifier.transform(test_frame).select("task", "label", "category.result").collect()
        if self.control.multi_label:
            return multilabel_scores([row["label"] for row in rows], [row["result"] for row in rows])
        return classification_scores([row["label"] for row in rows],
                                     [row["result"][0] if row["result"] else _NO_CLASS for row in rows])

