"""The NER trainer: Spark NLP ``NerDLApproach`` (Char CNN - BiLSTM - CRF) over offline word embeddings.

Parameters map to NerDL as ``epochs`` → ``maxEpochs``, ``learning_rate`` → ``lr``, ``decay`` → ``po``,
``dropout`` → ``dropout``, ``batch_size`` → ``batchSize``, ``seed`` → ``randomSeed``. Unset ones take
:data:`DEFAULTS`: measured, not NerDL's own (50 epochs, lr 0.001, batch 8) — on NCBI-disease with GloVe 50d,
12 epochs at lr 0.003 and batch 16 reach entity F1 0.833 on devel in about a quarter of the time 50 epochs take
(``benchmarks/ner_quality.py``). ``decay`` (0.005) and ``dropout`` (0.5) keep NerDL's values. The evaluation side
of the selection (``validation_split`` or ``test_tags``) is NerDL's test dataset, scored after every epoch in the
log, and scored again at the end, entity by entity, by :func:`alab_training.metrics.entity_scores`.
With ``base_model`` the training starts from that NER model's weights, on its embeddings
(:mod:`alab_training.trainers.ner.transfer`).
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from alab_training.metrics import entity_scores, token_scores
from alab_training.model import EpochFinished, Evaluated, TrainingEvent, TrainingStarted
from alab_training.runtime.embeddings import EmbeddingsSource, load_word_embeddings
from alab_training.runtime.fit import FitInThread
from alab_training.runtime.learned import LearnedPlan
from alab_training.trainers.base import LoadedModel, PredictionInput, Trainer, TrainingRequest
from alab_training.trainers.ner.graphs import check_graph_available, check_graph_builder, graph_folder
from alab_training.trainers.ner.transfer import BaseModel, check_ids, embeddings_for, resolve_base_model, start_from
from alab_training.trainers.running import TrainerRun, epoch_loss, resolve_source, selection_lines
from alab_training.trainers.text import check_ner_trainable, offset_mapper, write_conll_data

__all__ = ["DEFAULTS", "NerTrainer"]

#: What unset parameters become (see the module docstring for why these and not NerDL's own).
DEFAULTS = {"epochs": 12, "learning_rate": 0.003, "batch_size": 16}

_EPOCH = re.compile(r"^Epoch (\d+)/(\d+) - ([\d.]+)s - loss: (\S+)")
_GRAPH = re.compile(r"^Name of the selected graph: (.+)$")


class NerTrainer(Trainer):
    """Named-entity recognition with NerDL; see the module docstring for the parameter mapping."""

    training_type = "ner"
    #: NerDL reads one vector per token: a transformer's token states or static word vectors.
    embeddings_levels = ("token", "word")
    default_embeddings = {"en": "glove_6b_50d"}

    def predict(self, spark: Any, model: LoadedModel, items: list[PredictionInput]) -> list[list[dict[str, Any]]]:
        """Entity spans per text, as export ``labels`` items with code-point offsets and confidences."""
        from_name = model.extra.get("from_name", "label")
        to_name = model.extra.get("to_name", "text")
        results = []
        for item, chunks in zip(items, _chunks(spark, model, [item.text for item in items])):
            to_code_point = offset_mapper(item.text)
            found = []
            for begin, end, metadata in chunks:
                start, end = to_code_point(begin), to_code_point(end + 1)
                confidence = float(metadata.get("confidence") or "nan")
                found.append({"id": f"{model.model.name}-{item.task_id}-{len(found)}", "from_name": from_name,
                              "to_name": to_name, "type": "labels",
                              "value": {"start": start, "end": end, "text": item.text[start:end],
                                        "labels": [metadata.get("entity")],
                                        "confidence": None if confidence != confidence else confidence}})
            results.append(found)
        return results

    def train(self, request: TrainingRequest) -> Iterator[TrainingEvent]:
        """Train NerDL on the selection (see the module docstring)."""
        config = request.project.config
        check_ner_trainable(request, self.training_type)
        params = request.params
        base = plan = None
        if params.base_model is not None:
            base = resolve_base_model(params.base_model, request.output_dir.parent)
            check_graph_builder("starting from a base model", field="base_model")
            source = embeddings_for(base, params, request.embeddings)
        else:
            source, plan = resolve_source(request, self)
        labels = sorted({label for _, completion in request.selection.train
                         for span in completion.spans for label in span.labels if label in config.ner_labels})
        chars = len({char for task, _ in request.selection.train for char in task.text if not char.isspace()})
        # Fail on an impossible graph now, before a JVM starts or minutes of conversion run.
        check_graph_available(source.dimension, 2 * len(labels) + 1, chars)
        yield from _NerRun(request, source, base, plan).events()


#: One JVM LightPipeline per loaded pipeline (building it walks every stage, so a served model keeps its own),
#: with the JVM's JSON writer that hands its chunks over.
_LIGHT_PIPELINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _light_pipeline(spark: Any, model: LoadedModel) -> tuple[Any, Any]:
    """The JVM-side ``LightPipeline`` of the model's saved pipeline and a Jackson writer (built once each)."""
    built = _LIGHT_PIPELINES.get(model.pipeline)
    if built is None:
        from sparknlp import internal

        jvm = spark.sparkContext._jvm
        writer = jvm.com.fasterxml.jackson.databind.ObjectMapper()
        # Spark ships Jackson's Scala module; with it the annotations' Scala fields become JSON properties.
        writer.registerModule(getattr(getattr(jvm.com.fasterxml.jackson.module.scala, "DefaultScalaModule$"),
                                      "MODULE$"))
        built = (internal._LightPipeline(model.pipeline, False).apply(), writer)
        _LIGHT_PIPELINES[model.pipeline] = built
    return built


def _chunks(spark: Any, model: LoadedModel, texts: list[str]) -> list[list[tuple[int, int, dict[str, str]]]]:
    """Per text, its entity chunks as ``(begin, end inclusive, metadata)`` in UTF-16 offsets.

    In a local session the saved pipeline runs as a Spark NLP ``LightPipeline`` in the JVM, texts in parallel, and
    each text's chunks cross to Python as one JSON string: read through Py4J a field at a time, 100 abstracts' chunks
    took 16 s of calls against 4 s of annotating. On a cluster the DataFrame is kept: the driver's
    ``LightPipeline`` runs every annotator on the driver alone (seen: the cluster check's five texts were not done
    after 10 minutes on its 3 GB driver).
    """
    if str(spark.sparkContext.master).startswith("local"):
        light, writer = _light_pipeline(spark, model)
        return [[(chunk["begin"], chunk["end"], chunk["metadata"])
                 for chunk in json.loads(writer.writeValueAsString(columns.get("ner_chunk"))) or []]
                for columns in light.fullAnnotateJava(texts)]
    frame = spark.createDataFrame(list(enumerate(texts)), "row int, text string")
    found = {row["row"]: [(chunk["begin"], chunk["end"], dict(chunk["metadata"])) for chunk in row["ner_chunk"]]
             for row in model.pipeline.transform(frame).select("row", "ner_chunk").toLocalIterator()}
    return [found.get(index, []) for index in range(len(texts))]


class _NerRun(TrainerRun):
    title = "NER training"
    #: The graph built from a base model holds its weights: a few MB the saved model already has.
    scratch = (*TrainerRun.scratch, "transfer")

    def __init__(self, request: TrainingRequest, source: EmbeddingsSource, base: BaseModel | None = None,
                 plan: LearnedPlan | None = None) -> None:
        super().__init__(request, source, plan)
        self.base = base
        self.graph_name: str | None = None

    def _events(self) -> Iterator[TrainingEvent]:
        request = self.request
        yield from self.log.write(*self.header())
        yield from self.log.write(*selection_lines(request))
        spark = self.spark()

        data = write_conll_data(spark, request.selection, request.project.config, self.work, self.params.language)
        yield from self.log.write("conversion:", *("  " + line for line in data.report.lines()))
        train_path, test_path, train_count, test_count = (data.train_path, data.test_path, data.train_count,
                                                          data.test_count)
        labels = list(data.labels)

        yield from self.learn(spark)
        embeddings = load_word_embeddings(spark, self.source)
        # Also with a base model: its zero-epoch probe fit needs a graph before the initialised one is built.
        graphs = graph_folder(self.source.dimension, 2 * len(labels) + 1, len(data.chars))
        approach = self._approach(graphs)
        train_frame = embeddings.transform(self._read_conll(spark, train_path))
        plan = None
        if self.base is not None:
            # Persisted so that the probe and the training read the very same rows in the same order.
            train_frame = train_frame.persist()
            plan, transfer_graphs = start_from(self.base, approach, train_frame, self.source.dimension,
                                               self.work / "transfer")
            approach.setGraphFolder(str(transfer_graphs))
            yield from self.log.write(*plan.lines(self.base))
        test_frame = None
        if test_count:
            test_frame = embeddings.transform(self._read_conll(spark, test_path))
            test_frame.write.mode("overwrite").parquet(str(self.work / "test.parquet"))
            approach.setTestDataset(str(self.work / "test.parquet"))
        epochs = approach.getOrDefault("maxEpochs")
        yield TrainingStarted("ner", train_count, test_count, epochs)

        fitting = FitInThread(approach, train_frame, self.work / "engine_logs" / f"{approach.uid}.log")
        for line in fitting.lines():
            yield from self._engine_line(line)
        try:
            ner_model = fitting.result("ner")
        finally:
            if plan is not None:
                train_frame.unpersist()
        if plan is not None:
            check_ids(plan, ner_model)

        pipeline = self._pipeline(data.text_model, embeddings, ner_model)
        pipeline.write().overwrite().save(str(self.out / "pipeline"))
        metrics, token_level = (yield from self._scores(spark, ner_model)) if test_frame is not None else ({}, {})
        control = self.request.project.config.labels_controls[0]
        yield from self.finish(kind="ner", labels=labels, metrics=metrics, extra={
            "token_metrics": token_level, "graph": self.graph_name, "from_name": control.name,
            "to_name": control.to_name, "train_sentences": train_count, "test_sentences": test_count,
            **({"base_model": {"name": self.base.name, "path": str(self.base.path)}} if self.base else {}),
        })

    def _scores(self, spark: Any, ner_model: Any) -> Generator[TrainingEvent, None, tuple[dict, dict]]:
        """Entity-level and token-level scores of the test side, written to the log; ``(entity, token)`` dicts."""
        # The saved test set already holds its embeddings: scoring it skips the embeddings lookup.
        saved = spark.read.parquet(str(self.work / "test.parquet"))
        scored = ner_model.transform(saved).select("label.result", "ner.result").collect()
        gold, predicted = [row[0] for row in scored], [row[1] for row in scored]
        entity, token = entity_scores(gold, predicted), token_scores(gold, predicted)
        yield from self.log.write("", "entity-level scores on the test side (conlleval semantics):", entity.table(),
                                  "", "token-level scores per IOB tag (as Spark NLP counts):", token.table())
        yield Evaluated(entity.as_dict())
        return entity.as_dict(), token.as_dict()

    @staticmethod
    def _read_conll(spark: Any, path: Path):
        from sparknlp.training import CoNLL

        return CoNLL(explodeSentences=True).readDataset(spark, str(path))

    def _approach(self, graphs: Path | None):
        from sparknlp.annotator import NerDLApproach

        params = self.params
        approach = (NerDLApproach().setInputCols(["sentence", "token", "embeddings"]).setOutputCol("ner")
                    .setLabelColumn("label").setRandomSeed(params.seed).setIncludeConfidence(True)
                    .setEvaluationLogExtended(True).setEnableOutputLogs(True)
                    .setOutputLogsPath(str(self.work / "engine_logs")))
        epochs = params.epochs or DEFAULTS["epochs"]
        learning_rate = params.learning_rate or DEFAULTS["learning_rate"]
        batch_size = params.batch_size or DEFAULTS["batch_size"]
        for value, setter in ((epochs, approach.setMaxEpochs), (learning_rate, approach.setLr),
                              (params.decay, approach.setPo), (params.dropout, approach.setDropout),
                              (batch_size, approach.setBatchSize)):
            if value is not None:
                setter(value)
        if graphs is not None:
            approach.setGraphFolder(str(graphs))
        return approach

    def _engine_line(self, line: str) -> Iterator[TrainingEvent]:
        if not line.strip():
            return
        yield from self.log.write(line)
        graph = _GRAPH.match(line)
        if graph:
            self.graph_name = Path(graph.group(1)).name
        epoch = _EPOCH.match(line)
        if epoch:
            yield EpochFinished(int(epoch.group(1)), int(epoch.group(2)), epoch_loss(epoch.group(4)),
                                float(epoch.group(3)))

    @staticmethod
    def _pipeline(text_model, embeddings, ner_model):
        from pyspark.ml import PipelineModel
        from sparknlp.annotator import NerConverter

        converter = NerConverter().setInputCols(["sentence", "token", "ner"]).setOutputCol("ner_chunk")
        return PipelineModel(stages=[*text_model.stages, embeddings, ner_model, converter])
