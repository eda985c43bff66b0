"""Evaluation figures: entity- and token-level NER scores, single- and multi-label classification scores.

Entity-level scores follow conlleval as seqeval 1.2.2 implements it in its default (non-strict) mode; token-level
scores count IOB tags the way Spark NLP's training log does; classification scores follow scikit-learn's
definitions with ``zero_division=0``. What each figure means is in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import attrs

from alab_training.errors import ParamsError

__all__ = [
    "ClassificationScores",
    "LabelScore",
    "NerScores",
    "classification_scores",
    "counted_scores",
    "entity_scores",
    "iob_chunks",
    "multilabel_scores",
    "token_scores",
]

_DIGITS = 4


@attrs.frozen
class LabelScore:
    """Precision, recall and F1 of one label, or of an average over labels.

    Attributes:
        precision: ``tp / (tp + fp)``, 0.0 when nothing was predicted.
        recall: ``tp / (tp + fn)``, 0.0 when there is nothing to find.
        f1: the harmonic mean of precision and recall, 0.0 when both are 0.
        support: the number of gold items (chunks, tags, samples or label assignments).
        tp: correct predictions (for an average: pooled over the labels).
        fp: predictions that are wrong.
        fn: gold items that were missed.
    """

    precision: float
    recall: float
    f1: float
    support: int
    tp: int
    fp: int
    fn: int

    def as_dict(self) -> dict[str, float | int]:
        """The figures a training log and a host UI show, JSON-ready."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


@attrs.frozen
class _Scores:
    """What NER and classification scores share: per-label, micro and macro rows, and their renderings."""

    per_label: dict[str, LabelScore]
    micro: LabelScore
    macro: LabelScore

    def rows(self) -> dict[str, LabelScore]:
        """Each label in order, then ``micro`` and ``macro``."""
        return {**self.per_label, "micro": self.micro, "macro": self.macro}

    def as_dict(self) -> dict[str, dict[str, float | int]]:
        """``{label | "micro" | "macro": {"precision", "recall", "f1", "support"}}``, JSON-ready."""
        return {name: score.as_dict() for name, score in self.rows().items()}

    def table(self) -> str:
        """An aligned plain-text table: one row per label, then micro and macro."""
        header = ("label", "precision", "recall", "f1", "support")
        body = [
            (name, *(f"{value:.{_DIGITS}f}" for value in (s.precision, s.recall, s.f1)), str(s.support))
            for name, s in self.rows().items()
        ]
        return _grid(header, body, rule_before=len(self.per_label))


@attrs.frozen
class NerScores(_Scores):
    """Scores of a NER model, per label and averaged.

    Attributes:
        per_label: entity type (entity-level) or IOB tag (token-level) → its score, sorted by name; labels that
            only occur in predictions are included, with support 0.
        micro: counts pooled over all labels.
        macro: the unweighted mean of the per-label precision, recall and F1 (each averaged on its own) over
            ``per_label``; its support and counts are the pooled ones.
    """


@attrs.frozen
class ClassificationScores(_Scores):
    """Scores of a single- or multi-label classifier.

    Attributes:
        per_label: class → its score, sorted by name; classes that are only predicted are included, with support 0.
        micro: counts pooled over all classes (for a single-label classifier precision, recall and F1 all equal
            the accuracy).
        macro: the unweighted mean of the per-class precision, recall and F1; support and counts are pooled.
        accuracy: the share of samples predicted exactly right (for multi-label: the whole label set, i.e. subset
            accuracy); 0.0 without samples.
        confusion: single-label only: ``confusion[i][j]`` counts samples of gold class ``labels[i]`` predicted as
            ``labels[j]``; ``None`` for multi-label scores, whose per-label tp/fp/fn say the same.
    """

    accuracy: float
    confusion: tuple[tuple[int, ...], ...] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes, in the order of ``per_label`` and of the confusion matrix's rows and columns."""
        return tuple(self.per_label)

    def as_dict(self) -> dict[str, dict[str, float | int]]:
        """Like :meth:`NerScores.as_dict`, plus an ``"accuracy": {"accuracy": …}`` row."""
        return {**super().as_dict(), "accuracy": {"accuracy": self.accuracy}}

    def table(self) -> str:
        """The scores table, the accuracy, then the confusion matrix (single-label) or per-label counts."""
        if self.confusion is None:
            detail = _grid(
                ("label", "tp", "fp", "fn"),
                [(name, str(s.tp), str(s.fp), str(s.fn)) for name, s in self.per_label.items()],
            )
        else:
            detail = "confusion matrix (rows: gold, columns: predicted)\n" + _grid(
                ("gold \\ predicted", *self.labels),
                [(name, *map(str, row)) for name, row in zip(self.labels, self.confusion, strict=True)],
            )
        return f"{super().table()}\n\naccuracy {self.accuracy:.{_DIGITS}f}\n\n{detail}"


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> NerScores:
    """Entity-level (chunk) scores, as conlleval and seqeval 1.2.2 (default mode) compute them.

    A chunk is a run of tags of one type; a predicted chunk counts only if its type and both boundaries match a
    gold chunk in the same sentence. Tags are ``O``, ``B-``/``I-``/``E-``/``S-`` + type, or a bare ``B``/``I``/
    ``E``/``S`` (type ``_``). An ``I-X`` that does not continue a ``B-X``/``I-X`` starts a new chunk (IOB1 and
    stray ``I-`` tags are read like conlleval does, never dropped).

    Args:
        gold: the reference tags, one sequence per sentence.
        predicted: the model's tags, aligned with ``gold``.

    Returns:
        Per entity type (sorted), micro and macro scores; support counts gold chunks.

    Raises:
        ParamsError: the two differ in their number of sentences or a sentence's length, or a tag is malformed.
    """
    _check_sentences(gold, predicted)
    gold_chunks, predicted_chunks = _tagged_chunks(gold, "gold"), _tagged_chunks(predicted, "predicted")
    return NerScores(*_summarise(
        tp=Counter(chunk[0] for chunk in gold_chunks & predicted_chunks),
        predicted=Counter(chunk[0] for chunk in predicted_chunks),
        gold=Counter(chunk[0] for chunk in gold_chunks),
    ))


def token_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> NerScores:
    """Token-level scores per tag (``B-X`` and ``I-X`` apart, ``O`` left out), as Spark NLP's training log counts.

    Each token whose tags agree is a true positive of its tag; a disagreement is a false positive of the predicted
    tag and a false negative of the gold tag (``O`` never counts).

    Args:
        gold: the reference tags, one sequence per sentence.
        predicted: the model's tags, aligned with ``gold``.

    Returns:
        Per tag (sorted), micro and macro scores; support counts gold tokens with that tag.

    Raises:
        ParamsError: the two differ in their number of sentences or a sentence's length, or a tag is not a string.
    """
    _check_sentences(gold, predicted)
    pairs = [(g, p) for gold_tags, predicted_tags in zip(gold, predicted) for g, p in zip(gold_tags, predicted_tags)]
    return NerScores(*_summarise(
        tp=Counter(g for g, p in pairs if g == p != "O"),
        predicted=Counter(p for _, p in pairs if p != "O"),
        gold=Counter(g for g, _ in pairs if g != "O"),
    ))


def classification_scores(gold: Sequence[str], predicted: Sequence[str]) -> ClassificationScores:
    """Scores of a single-label classifier, with scikit-learn's definitions (``zero_division=0``).

    Args:
        gold: the reference class of each sample.
        predicted: the predicted class of each sample, aligned with ``gold``.

    Returns:
        Per class (sorted), micro, macro, accuracy and the confusion matrix.

    Raises:
        ParamsError: the two differ in length, or a class is not a string.
    """
    _check_samples(gold, predicted)
    for field, labels in (("gold", gold), ("predicted", predicted)):
        for index, label in enumerate(labels):
            _check_str(label, f"{field}[{index}]")
    per_label, micro, macro = _summarise(
        tp=Counter(g for g, p in zip(gold, predicted) if g == p),
        predicted=Counter(predicted),
        gold=Counter(gold),
    )
    cells = Counter(zip(gold, predicted))
    return ClassificationScores(
        per_label,
        micro,
        macro,
        accuracy=micro.tp / len(gold) if gold else 0.0,
        confusion=tuple(tuple(cells[g, p] for p in per_label) for g in per_label),
    )


def multilabel_scores(gold: Sequence[Collection[str]], predicted: Sequence[Collection[str]]) -> ClassificationScores:
    """Scores of a multi-label classifier, with scikit-learn's definitions (``zero_division=0``).

    Each label is scored as its own yes/no decision over the samples; a sample's labels are a set (an empty one
    is fine, duplicates count once).

    Args:
        gold: the reference labels of each sample.
        predicted: the predicted labels of each sample, aligned with ``gold``.

    Returns:
        Per label (sorted), micro, macro and subset accuracy; per-label tp/fp/fn in place of a confusion matrix.

    Raises:
        ParamsError: the two differ in length, or a sample's labels are not a collection of strings.
    """
    _check_samples(gold, predicted)
    pairs = [
        (_label_set(gold_labels, f"gold[{index}]"), _label_set(predicted_labels, f"predicted[{index}]"))
        for index, (gold_labels, predicted_labels) in enumerate(zip(gold, predicted))
    ]
    per_label, micro, macro = _summarise(
        tp=Counter(label for g, p in pairs for label in g & p),
        predicted=Counter(label for _, p in pairs for label in p),
        gold=Counter(label for g, _ in pairs for label in g),
    )
    return ClassificationScores(
        per_label, micro, macro, accuracy=sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0
    )


def counted_scores(counts: Mapping[str, tuple[int, int, int]]) -> NerScores:
    """The figures of :func:`entity_scores` from counts already made: label → ``(tp, fp, fn)`` (e.g. summed
    :func:`alab_training.evaluation.matching.exact_counts`); per label, micro (pooled) and macro."""
    tp, predicted, gold = Counter(), Counter(), Counter()
    for label, (hits, false_positives, false_negatives) in counts.items():
        tp[label], predicted[label], gold[label] = hits, hits + false_positives, hits + false_negatives
    return NerScores(*_summarise(tp=tp, predicted=predicted, gold=gold))


def iob_chunks(tags: Sequence[str], *, field: str = "tags") -> list[tuple[str, int, int]]:
    """The chunks of one sentence's tags, as ``(type, first, last)`` token positions (``last`` included).

    This is how :func:`entity_scores` reads tags (seqeval's ``get_entities`` on one sentence), e.g.
    ``["B-Drug", "I-Drug", "O", "I-Test"]`` → ``[("Drug", 0, 1), ("Test", 3, 3)]``. A chunk ends before a
    B-/S-/O, after an E-/S-, and wherever the type changes; one starts at each B-/S-, at an I-/E- that follows O,
    E- or S- (conlleval keeps stray and IOB1 I- tags as chunk starts), and wherever the type changes.

    Args:
        tags: one sentence's tags.
        field: what errors call the sequence; a bad tag is reported as ``field[position]``.

    Raises:
        ParamsError: a tag is malformed.
    """
    chunks = []
    previous, previous_kind, begin = "O", "_", 0
    parsed = [_parse_tag(tag, f"{field}[{position}]") for position, tag in enumerate(tags)]
    # The trailing O closes a chunk that runs to the end of the sentence.
    for position, (prefix, kind) in enumerate([*parsed, ("O", "_")]):
        changed = kind != previous_kind
        if previous in "ES" or (previous in "BI" and prefix in "BSO") or (previous != "O" and changed):
            chunks.append((previous_kind, begin, position - 1))
        if prefix in "BS" or (prefix in "IE" and previous in "OES") or (prefix != "O" and changed):
            begin = position
        previous, previous_kind = prefix, kind
    return chunks


def _summarise(
    *, tp: Counter[str], predicted: Counter[str], gold: Counter[str]
) -> tuple[dict[str, LabelScore], LabelScore, LabelScore]:
    """Per-label, micro and macro scores from per-label counts of hits, predictions and gold items."""
    per_label = {
        label: _score(tp[label], predicted[label], gold[label]) for label in sorted(predicted.keys() | gold.keys())
    }
    micro = _score(tp.total(), predicted.total(), gold.total())
    scores = per_label.values()
    # seqeval leaves the macro average of no labels at NaN; 0.0 keeps the figures JSON-ready and comparable.
    count = len(scores) or 1
    macro = attrs.evolve(
        micro,
        precision=sum(s.precision for s in scores) / count,
        recall=sum(s.recall for s in scores) / count,
        f1=sum(s.f1 for s in scores) / count,
    )
    return per_label, micro, macro


def _score(tp: int, predicted: int, gold: int) -> LabelScore:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LabelScore(precision, recall, f1, support=gold, tp=tp, fp=predicted - tp, fn=gold - tp)


def _tagged_chunks(sentences: Sequence[Sequence[str]], side: str) -> set[tuple[str, int, int, int]]:
    """Every chunk of every sentence, as (type, sentence index, first, last)."""
    return {
        (kind, index, first, last)
        for index, tags in enumerate(sentences)
        for kind, first, last in iob_chunks(tags, field=f"{side}[{index}]")
    }


def _parse_tag(tag: str, field: str) -> tuple[str, str]:
    """``"B-Disease"`` → ``("B", "Disease")``; bare prefixes and ``O`` get seqeval's placeholder type ``_``."""
    _check_str(tag, field)
    if tag in ("O", "B", "I", "E", "S"):
        return tag, "_"
    if tag[:2] in ("B-", "I-", "E-", "S-"):
        return tag[0], tag[2:] or "_"
    # seqeval only warns here and then reads the first character as the prefix, which can emit chunks that
    # straddle sentences; refusing is the only result we can vouch for.
    raise ParamsError("expected O, or B-/I-/E-/S- followed by an entity type", field=field, value=tag)


def _check_sentences(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> None:
    _check_samples(gold, predicted, noun="sentences")
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        for field, tags in ((f"gold[{index}]", gold_tags), (f"predicted[{index}]", predicted_tags)):
            _check_sequence(tags, field)
            for position, tag in enumerate(tags):
                _check_str(tag, f"{field}[{position}]")
        if len(gold_tags) != len(predicted_tags):
            raise ParamsError(
                f"sentence {index} has {len(predicted_tags)} predicted tags but {len(gold_tags)} gold tags",
                field=f"predicted[{index}]",
                value=len(predicted_tags),
            )


def _check_samples(gold: Sequence[object], predicted: Sequence[object], *, noun: str = "samples") -> None:
    _check_sequence(gold, "gold")
    _check_sequence(predicted, "predicted")
    if len(gold) != len(predicted):
        raise ParamsError(
            f"{len(predicted)} predicted {noun} but {len(gold)} gold {noun}", field="predicted", value=len(predicted)
        )


def _check_sequence(value: object, field: str) -> None:
    # A string is a sequence too, but one passed here is a sentence or sample given where a list of them belongs.
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ParamsError(f"expected a list, got {type(value).__name__}", field=field, value=value)


def _check_str(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise ParamsError(f"expected a string, got {type(value).__name__}", field=field, value=value)


def _label_set(labels: object, field: str) -> frozenset[str]:
    if isinstance(labels, str) or not isinstance(labels, Collection):
        raise ParamsError(f"expected a collection of labels, got {type(labels).__name__}", field=field, value=labels)
    for label in labels:
        _check_str(label, field)
    return frozenset(labels)


def _grid(header: Sequence[str], body: Sequence[Sequence[str]], *, rule_before: int | None = None) -> str:
    """Columns padded to their widest cell, the first left-aligned, the rest right-aligned.

    A dashed rule goes under the header and, with ``rule_before``, before that body row (the averages).
    """
    widths = [max(len(row[column]) for row in (header, *body)) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))]
        return "  ".join(cells).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [line(header), rule, *map(line, body)]
    if rule_before is not None:
        lines.insert(2 + rule_before, rule)
    return "\n".join(lines)
