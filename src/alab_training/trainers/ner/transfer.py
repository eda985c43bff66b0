"""Transfer learning for NER: a NerDL training that starts from a trained model's weights.

Open-source NerDL has no fine-tuning switch. ``NerDLApproach.train`` (Spark NLP 5.5.3) imports a graph file,
hands ``TensorflowNer.train`` empty variables, and that runs the graph's ``training_1/init`` op before the first
epoch, which gives every variable its initial value; no parameter loads weights (there is no pretrained-model
path, unlike the licensed ``MedicalNerApproach``). The initial values, though, are ops *in the graph*. So the graph
NerDL gets here has them replaced by constants holding the base model's trained weights (built by
:mod:`~alab_training.trainers.ner.graph_builder` with ``--init-from``), and NerDL's own training starts from there.

What moves between the models:

- the weights that do not depend on the tag or character sets (character CNN and LSTM, word BiLSTM, hidden layer)
  are copied whole; their shapes depend on the embeddings' width and the LSTM size only, and their meaning on the
  very vectors they were trained on, which is why the embeddings must be the base model's own;
- the output layer's columns, its bias and the CRF transition matrix are indexed by tag id, the character
  embeddings by character id. NerDL numbers both in the order its Scala hash set yields them for the training data,
  so the ids are re-mapped: a tag or character the base model knows starts from its trained entries, a new one
  from the builder's random initialisation;
- the optimizer (Adam) starts afresh.

This run's ids are known only once NerDL has read the data, so a probe fit of zero epochs reads them first; the real
fit reads the same persisted frame the same way, and the trained model's ids are checked against the probe's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ModelCardError, ParamsError, TrainingError
from alab_training.model_card import read_model_card
from alab_training.params import TrainingParams
from alab_training.runtime.embeddings import EmbeddingsCatalog, EmbeddingsSource
from alab_training.trainers.ner.graphs import GraphShape, initialised_graph_folder

__all__ = [
    "BaseModel",
    "EngineIndex",
    "TransferPlan",
    "check_ids",
    "embeddings_for",
    "resolve_base_model",
    "start_from",
]

_LOG = logging.getLogger(__name__)


@attrs.frozen
class BaseModel:
    """A trained NER model (one of ours: a folder with ``model.json``) to start a training from.

    Attributes:
        path: the model folder.
        name: its name.
        labels: the entity labels it predicts.
        embeddings: the word embeddings saved in its own pipeline.
        ner_stage: the saved ``NerDLModel`` stage; its ``tensorflow`` file holds the trained weights.
        lstm: the width of its word-level BiLSTM.
    """

    path: Path
    name: str
    labels: tuple[str, ...]
    embeddings: EmbeddingsSource
    ner_stage: Path
    lstm: int = 128


def resolve_base_model(spec: str, models_root: Path) -> BaseModel:
    """What ``params.base_model`` means: a model folder, or the name of a model in ``models_root``. No Spark.

    Raises:
        ParamsError (field ``base_model``): nothing there, not a model of ours, not an NER model, or its pipeline
            lacks the NerDL weights or the embeddings.
    """
    candidates = [Path(spec).expanduser(), models_root / spec]
    folder = next((candidate for candidate in candidates if candidate.is_dir()), None)
    if folder is None:
        raise ParamsError(f"{spec!r} is neither a model folder nor the name of a model in {models_root}",
                          field="base_model", value=spec)
    try:
        model, extra = read_model_card(folder)
    except ModelCardError as exc:
        raise ParamsError(f"{exc}; the base model must be one trained by alab-training", field="base_model",
                          value=spec) from exc
    if model.kind != "ner":
        raise ParamsError(f"{folder} is a {model.kind!r} model; NER training can only start from an NER model",
                          field="base_model", value=spec)
    stages = folder / extra.get("pipeline", "pipeline") / "stages"
    ner_stages = sorted(stages.glob("*_NerDLModel_*"))
    embeddings_stages = sorted(path for pattern in ("*_WORD_EMBEDDINGS_MODEL_*", "*_BERT_EMBEDDINGS_*")
                               for path in stages.glob(pattern))
    if len(ner_stages) != 1 or not (ner_stages[0] / "tensorflow").is_file():
        raise ParamsError(f"{folder} has no NerDL stage with saved weights in {stages} (found "
                          f"{[p.name for p in ner_stages] or 'none'}): it cannot be fine-tuned",
                          field="base_model", value=spec)
    if len(embeddings_stages) != 1:
        raise ParamsError(f"{folder} has no word embeddings stage in {stages}: its embeddings cannot be reused",
                          field="base_model", value=spec)
    try:
        embeddings = EmbeddingsCatalog().resolve(str(embeddings_stages[0]))
    except ParamsError as exc:
        raise ParamsError(f"the embeddings of {folder} are unreadable: {exc.message}", field="base_model",
                          value=spec) from exc
    graph = GraphShape.from_filename(str(extra.get("graph") or ""))
    return BaseModel(path=folder, name=model.name, labels=model.labels, embeddings=embeddings,
                     ner_stage=ner_stages[0], lstm=graph.lstm if graph else 128)


def embeddings_for(base: BaseModel, params: TrainingParams, catalog: EmbeddingsCatalog) -> EmbeddingsSource:
    """The embeddings a training from ``base`` uses: the base model's, which ``params.embeddings`` may only name
    (resolved with ``catalog``).

    Raises:
        ParamsError (field ``embeddings``): ``params.embeddings`` are other vectors than the base model's.
    """
    if params.embeddings is None:
        return base.embeddings
    requested = catalog.resolve(params.embeddings, params.language)
    if (requested.name, requested.dimension) != (base.embeddings.name, base.embeddings.dimension):
        raise ParamsError(
            f"the base model {base.name} was trained on the embeddings {base.embeddings.name!r} "
            f"({base.embeddings.dimension}d), but these are {requested.name!r} ({requested.dimension}d); its weights "
            "only mean something on its own vectors: leave embeddings unset to use them",
            field="embeddings", value=params.embeddings)
    return requested


@attrs.frozen
class EngineIndex:
    """How a NerDL model numbers tags and characters.

    Attributes:
        tags: ``tags[i]`` has id ``i``; ``O`` is always 0.
        chars: ``chars[i]`` has id ``i + 1``; 0 is padding and every character the model has not seen.
    """

    tags: tuple[str, ...]
    chars: tuple[str, ...]

    @classmethod
    def of(cls, ner_model: Any) -> EngineIndex:
        """Read the ids of a fitted or loaded ``NerDLModel`` (its encoder's ``DatasetEncoderParams``)."""
        java = ner_model._java_obj
        chars = java.datasetParams().getOrDefault().chars()
        return cls(tags=tuple(java.getClasses()), chars=tuple(chars.apply(i) for i in range(chars.size())))


@attrs.frozen
class TransferPlan:
    """Which of this run's tag and character ids start from which of the base model's."""

    base: EngineIndex
    run: EngineIndex

    @property
    def tag_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(run id, base id)`` of every tag both know."""
        base_ids = {tag: i for i, tag in enumerate(self.base.tags)}
        return tuple((i, base_ids[tag]) for i, tag in enumerate(self.run.tags) if tag in base_ids)

    @property
    def char_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(run id, base id)`` of every character both know, and of id 0 (padding and unknown characters)."""
        base_ids = {char: i + 1 for i, char in enumerate(self.base.chars)}
        return ((0, 0), *((i + 1, base_ids[char]) for i, char in enumerate(self.run.chars) if char in base_ids))

    def lines(self, base: BaseModel) -> list[str]:
        """What the log says about the transfer."""
        known = set(self.base.tags)
        new = [tag for tag in self.run.tags if tag not in known]
        dropped = [tag for tag in self.base.tags if tag not in set(self.run.tags)]
        lines = [f"transfer learning: starting from {base.name} ({base.path})",
                 f"  tags from the base model: {len(self.tag_pairs)} of {len(self.run.tags)}; "
                 f"new: {', '.join(new) or 'none'}",
                 f"  characters from the base model: {len(self.char_pairs) - 1} of {len(self.run.chars)}"]
        if dropped:
            lines.append(f"  base model tags absent from this training data, which the new model cannot predict: "
                         f"{', '.join(dropped)}")
        return lines


def start_from(base: BaseModel, approach: Any, frame: Any, dim: int, folder: Path) -> tuple[TransferPlan, Path]:
    """Prepare ``approach`` to train ``frame`` from ``base``'s weights: returns the plan and the graph folder.

    ``frame`` should be persisted: it is read twice (the probe, then the training) and both must see it alike.
    Pass the returned folder to ``approach.setGraphFolder``, and check the fitted model with :func:`check_ids`.

    Raises:
        ParamsError: TensorFlow (the ``graphs`` extra) is not installed.
        EngineError: the base model's weights do not fit (e.g. its graph has another layout).
    """
    from sparknlp.annotator import NerDLModel

    _LOG.info("reading how %s and this training set number tags and characters", base.name)
    base_index = EngineIndex.of(NerDLModel.load(str(base.ner_stage)))
    # Zero epochs: NerDL reads the data, numbers its tags and characters, and stops. No log file of its own, so
    # the training log tails only the real fit.
    probe = approach.copy().setMaxEpochs(0).setEnableOutputLogs(False)
    plan = TransferPlan(base=base_index, run=EngineIndex.of(probe.fit(frame)))
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "init.json"
    spec.write_text(json.dumps({"weights": str(base.ner_stage / "tensorflow"), "tags": plan.tag_pairs,
                                "chars": plan.char_pairs}))
    shape = GraphShape(tags=len(plan.run.tags), dim=dim, chars=len(plan.run.chars) + 1, lstm=base.lstm)
    return plan, initialised_graph_folder(shape, spec, folder / "graph")


def check_ids(plan: TransferPlan, ner_model: Any) -> None:
    """Make sure the fitted model numbered tags and characters as the probe did, so its start was the base's.

    Raises:
        TrainingError: they differ (then the re-mapped weights sat on the wrong ids).
    """
    trained = EngineIndex.of(ner_model)
    if trained != plan.run:
        raise TrainingError("the engine numbered tags or characters differently in the training than in its "
                            f"probe (tags {trained.tags} vs {plan.run.tags}), so the weights taken from the base "
                            "model sat on the wrong ids; train again, or without base_model",
                            training_type="ner")
