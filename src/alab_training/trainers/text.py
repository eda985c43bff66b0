"""Texts as the Spark trainers see them: the sentence and token stages, and token-level IOB (CoNLL) training data.

Shared by the NER, assertion and script trainers. Texts are split by the very pipeline the trained model predicts
with (:func:`text_stages`: Spark NLP's ``SentenceDetector`` and ``Tokenizer``, set for the texts' language by
:mod:`alab_training.runtime.languages`), so training and prediction see the same tokens, with offsets in code
points (:func:`offset_mapper`). Character spans are then aligned to tokens:

- only entity labels train NER; assertion labels (``assertion="true"``) are left out;
- a region with several entity labels trains on the first and the rest is reported;
- overlapping spans (nested or crossing) cannot both be IOB-tagged: the longer span wins, then the earlier one,
  and the dropped span is reported;
- a token belongs to a span when they share at least one character; a span cut by a sentence boundary
  restarts with ``B-`` in the next sentence (both are reported, since they usually mean a tokenization or
  annotation slip).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from alab_training.config import LabelingConfig
from alab_training.errors import ParamsError, SelectionError
from alab_training.model import Completion, Task
from alab_training.runtime.languages import sentence_detector, tokenizer
from alab_training.selection import Selection
from alab_training.trainers.base import TrainingRequest
from alab_training.trainers.running import check_selection

__all__ = [
    "ConllData",
    "ConversionReport",
    "Sentence",
    "Token",
    "check_ner_trainable",
    "entity_spans",
    "offset_mapper",
    "tag_selection",
    "tag_sentences",
    "text_stages",
    "tokenize",
    "write_conll",
    "write_conll_data",
]


@attrs.frozen
class Token:
    """A token of a task text, offsets in code points."""

    text: str
    #: Code-point offsets in the task text, ``end`` exclusive.
    begin: int
    end: int


@attrs.frozen
class Sentence:
    """The tokens of one sentence of a task, with their IOB tags once tagged."""

    task_id: int | str
    tokens: tuple[Token, ...]
    tags: tuple[str, ...] = ()


@attrs.frozen
class ConversionReport:
    """What the conversion had to decide, for the training log."""

    tasks: int = 0
    sentences: int = 0
    tokens: int = 0
    entities: Counter = attrs.field(factory=Counter)
    extra_entity_labels: int = 0
    overlaps_dropped: int = 0
    split_by_sentence: int = 0
    partial_tokens: int = 0
    spans_without_tokens: int = 0

    def merge(self, other: ConversionReport) -> ConversionReport:
        """The counts of both reports added up."""
        return ConversionReport(
            tasks=self.tasks + other.tasks,
            sentences=self.sentences + other.sentences,
            tokens=self.tokens + other.tokens,
            entities=self.entities + other.entities,
            extra_entity_labels=self.extra_entity_labels + other.extra_entity_labels,
            overlaps_dropped=self.overlaps_dropped + other.overlaps_dropped,
            split_by_sentence=self.split_by_sentence + other.split_by_sentence,
            partial_tokens=self.partial_tokens + other.partial_tokens,
            spans_without_tokens=self.spans_without_tokens + other.spans_without_tokens,
        )

    def lines(self) -> list[str]:
        """The report as training-log lines."""
        notes = [
            f"tasks: {self.tasks}, sentences: {self.sentences}, tokens: {self.tokens}",
            "entities: " + (", ".join(f"{label} {count}" for label, count in sorted(self.entities.items())) or "none"),
        ]
        for count, what in (
            (self.extra_entity_labels, "regions with several entity labels trained on their first label"),
            (self.overlaps_dropped, "overlapping spans dropped (the longer, then earlier, span was kept)"),
            (self.split_by_sentence, "spans cut by a sentence boundary (tagged B- again after the boundary)"),
            (self.partial_tokens, "spans that begin or end inside a token (the whole token was tagged)"),
            (self.spans_without_tokens, "spans covering no token (whitespace only) left out"),
        ):
            if count:
                notes.append(f"{count} {what}")
        return notes


def entity_spans(completion: Completion, config: LabelingConfig) -> tuple[list[tuple[int, int, str]], int, int]:
    """The completion's entity spans after overlap resolution: ``(spans, extra_labels, dropped)``."""
    entity_labels = set(config.ner_labels)
    candidates = []
    extra = 0
    for span in completion.spans:
        labels = [label for label in span.labels if label in entity_labels]
        if not labels:
            continue  # assertion status only
        extra += len(labels) > 1
        candidates.append((span.start, span.end, labels[0]))
    candidates = list(dict.fromkeys(candidates))  # the same span labelled twice alike is one span
    kept: list[tuple[int, int, str]] = []
    for candidate in sorted(candidates, key=lambda s: (s[0] - s[1], s[0], s[2])):
        if all(candidate[1] <= other[0] or other[1] <= candidate[0] for other in kept):
            kept.append(candidate)
    return sorted(kept), extra, len(candidates) - len(kept)


def tag_sentences(sentences: Sequence[Sentence], spans: Iterable[tuple[int, int, str]]) -> tuple[list[Sentence],
                                                                                                   ConversionReport]:
    """IOB2 tags for the sentences of one task."""
    tags = [["O"] * len(sentence.tokens) for sentence in sentences]
    positions = [(s, t) for s, sentence in enumerate(sentences) for t in range(len(sentence.tokens))]
    ends = [sentences[s].tokens[t].end for s, t in positions]  # ascending: tokens never overlap
    split = partial = empty = 0
    entities: Counter = Counter()
    for start, end, label in spans:
        covered = []
        for index in range(bisect.bisect_right(ends, start), len(positions)):
            s, t = positions[index]
            if sentences[s].tokens[t].begin >= end:
                break
            if tags[s][t] == "O":
                covered.append((s, t))
        if not covered:
            empty += 1
            continue
        entities[label] += 1
        first_token = sentences[covered[0][0]].tokens[covered[0][1]]
        last_token = sentences[covered[-1][0]].tokens[covered[-1][1]]
        partial += first_token.begin < start or last_token.end > end
        previous_sentence = None
        for s, t in covered:
            tags[s][t] = ("B-" if s != previous_sentence else "I-") + label
            previous_sentence = s
        split += len({s for s, _ in covered}) > 1
    tagged = [attrs.evolve(sentence, tags=tuple(sentence_tags)) for sentence, sentence_tags in zip(sentences, tags)]
    report = ConversionReport(tasks=1, sentences=len(sentences), tokens=sum(len(s.tokens) for s in sentences),
                              entities=entities, split_by_sentence=split, partial_tokens=partial,
                              spans_without_tokens=empty)
    return tagged, report


def tag_selection(items: Sequence[Any], sentences: Sequence[Sequence[Sentence]],
                  config: LabelingConfig) -> tuple[list[list[Sentence]], ConversionReport]:
    """The IOB-tagged sentences of each selected task (``SelectedTask`` items, in order), and what tagging decided."""
    tagged, report = [], ConversionReport()
    for item, task_sentences in zip(items, sentences):
        spans, extra, dropped = entity_spans(item.completion, config)
        task_tagged, task_report = tag_sentences(task_sentences, spans)
        report = report.merge(task_report).merge(ConversionReport(extra_entity_labels=extra,
                                                                  overlaps_dropped=dropped))
        tagged.append(task_tagged)
    return tagged, report


def offset_mapper(text: str):
    """Maps Spark NLP (Java UTF-16) offsets to Python code-point offsets for ``text``.

    They differ only after characters outside the Basic Multilingual Plane (emoji, rare CJK), which take two
    UTF-16 units; for texts without any, the mapping is the identity and costs nothing.
    """
    if text.isascii() or all(ord(char) <= 0xFFFF for char in text):
        return lambda offset: offset
    positions = list(itertools.accumulate((2 if ord(char) > 0xFFFF else 1 for char in text), initial=0))
    to_code_point = {unit: index for index, unit in enumerate(positions)}
    return lambda offset: to_code_point.get(offset, to_code_point[max(u for u in positions if u <= offset)])


def write_conll(sentences: Iterable[Sentence], path: Path) -> int:
    """Write the CoNLL-2003 layout Spark NLP's reader expects (``token POS chunk tag``); returns the sentences."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("-DOCSTART- -X- -X- O\n\n")
        for sentence in sentences:
            if not sentence.tokens:
                continue
            for token, tag in zip(sentence.tokens, sentence.tags):
                out.write(f"{token.text} NN NN {tag}\n")
            out.write("\n")
            count += 1
    return count


def text_stages(language: str = "en") -> list[Any]:
    """The text → sentence → token stages of ``language``, shared by training-data conversion and the saved model
    (:mod:`alab_training.runtime.languages`: English keeps the engine's own rules)."""
    from sparknlp.base import DocumentAssembler

    return [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        sentence_detector(language),
        tokenizer(language),
    ]


def tokenize(spark: Any, tasks: list[Task], language: str = "en") -> tuple[Any, list[list[Sentence]]]:
    """Sentences and tokens of each task as the model will see them, offsets in code points.

    Returns the fitted text pipeline (to reuse in the saved model) and the sentences per task.
    """
    from pyspark.ml import Pipeline

    frame = spark.createDataFrame([(index, task.text) for index, task in enumerate(tasks)], "row int, text string")
    fitted = Pipeline(stages=text_stages(language)).fit(frame)
    rows = fitted.transform(frame).select("row", "token.result", "token.begin", "token.end", "token.metadata")
    per_task: list[list[Sentence]] = [[] for _ in tasks]
    for row in rows.collect():  # one job; the token lists are needed in full anyway
        task = tasks[row["row"]]
        to_code_point = offset_mapper(task.text)
        grouped: dict[str, list[Token]] = {}
        for text, begin, end, metadata in zip(row["result"], row["begin"], row["end"], row["metadata"]):
            token = Token(text=text, begin=to_code_point(begin), end=to_code_point(end + 1))
            grouped.setdefault(metadata.get("sentence", "0"), []).append(token)
        per_task[row["row"]] = [Sentence(task_id=task.id, tokens=tuple(tokens))
                                for _, tokens in sorted(grouped.items(), key=lambda item: int(item[0]))]
    return fitted, per_task


@attrs.frozen
class ConllData:
    """A selection tokenized, IOB-tagged and written as ``train.conll`` and ``test.conll``."""

    #: The fitted text pipeline (sentences, tokens), reused in the saved model.
    text_model: Any
    #: The tagged sentences of each selected task, in selection order.
    tagged: list[list[Sentence]]
    report: ConversionReport
    train_path: Path
    test_path: Path
    train_count: int
    test_count: int
    #: The entity types tagged on the training side.
    labels: tuple[str, ...]
    #: The training side's characters (for the graph's shape).
    chars: frozenset[str]


def write_conll_data(spark: Any, selection: Selection, config: LabelingConfig, folder: Path,
                     language: str = "en") -> ConllData:
    """Tokenize (as ``language`` is) and tag the selected completions, write each side as CoNLL into ``folder``.

    Raises:
        SelectionError: the training side holds no token.
    """
    items = selection.items
    text_model, sentences = tokenize(spark, [item.task for item in items], language)
    tagged, report = tag_selection(items, sentences, config)
    sides = {side: [s for item, task in zip(items, tagged) if item.split == side for s in task]
             for side in ("train", "test")}
    train_path, test_path = folder / "train.conll", folder / "test.conll"
    train_count = write_conll(sides["train"], train_path)
    test_count = write_conll(sides["test"], test_path)
    if not train_count:
        raise SelectionError("the selected tasks hold no tokens to train on")
    return ConllData(
        text_model=text_model, tagged=tagged, report=report, train_path=train_path, test_path=test_path,
        train_count=train_count, test_count=test_count,
        labels=tuple(sorted({tag[2:] for s in sides["train"] for tag in s.tags if tag != "O"})),
        chars=frozenset(char for s in sides["train"] for token in s.tokens for char in token.text))


def check_ner_trainable(request: TrainingRequest, training_type: str) -> None:
    """Refuse, before anything starts, an NER training with no entity labels or nothing to train on."""
    if not request.project.config.ner_labels:
        raise ParamsError("the labeling config has no entity labels to train NER on", field="training_type",
                          value=training_type)
    check_selection(request)
