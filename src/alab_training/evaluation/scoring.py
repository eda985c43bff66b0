"""Scoring one model's predictions against the gold completions, in one pass over the tasks.

Each ``score_*`` function takes the evaluated tasks (``SelectedTask`` items, the gold being each item's chosen
completion), the model's own result items per task (already split out of ``predict()``'s merged results) and
returns the model's :class:`~alab_training.evaluation.results.ModelEvaluation` with its error rows. Nothing
here touches the engine: ``predict()`` has run once before, for every model together.

The definitions (which gold spans, how a missing answer counts) are in ``docs/evaluation.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from alab_training.config import LabelingConfig
from alab_training.evaluation.errors_table import ErrorRow, difference_rows, label_row
from alab_training.evaluation.matching import EntityScores, SpanTuple, compare_spans, exact_counts
from alab_training.evaluation.results import NO_ANSWER, ModelEvaluation, TaskCounts
from alab_training.evaluation.tokens import simple_tokens, token_label_sets
from alab_training.metrics import classification_scores, counted_scores, multilabel_scores
from alab_training.params import TrainingParams
from alab_training.selection import SelectedTask, Selection
from alab_training.trainers.assertion.data import assertion_examples
from alab_training.trainers.classification.examples import choices_examples
from alab_training.trainers.text import entity_spans

__all__ = ["ScoredModel", "gold_assertions", "score_assertion", "score_classification", "score_ner"]

Results = Sequence[Sequence[dict[str, Any]]]


@attrs.frozen
class ScoredModel:
    """A model's figures and its rows of the error table."""

    evaluation: ModelEvaluation
    errors: tuple[ErrorRow, ...]


def score_ner(name: str, items: Sequence[SelectedTask], results: Results, config: LabelingConfig, *,
              context_tokens: int) -> ScoredModel:
    """Entity spans: exact matches, nervaluate's schemes and token level, per label (see the module docs)."""
    schemes = EntityScores()
    totals: Counter[tuple[str, int]] = Counter()
    per_task: list[TaskCounts] = []
    gold_tokens: list[frozenset[str]] = []
    predicted_tokens: list[frozenset[str]] = []
    errors: list[ErrorRow] = []
    examples = 0
    for item, found in zip(items, results, strict=True):
        gold = entity_spans(item.completion, config)[0]
        predicted = _spans(found)
        examples += len(gold)
        comparison = compare_spans(gold, predicted)
        schemes = schemes + comparison.scores
        counts = exact_counts(gold, predicted)
        per_task.append(counts)
        for label, triple in counts.items():
            for position, value in enumerate(triple):
                totals[label, position] += value
        tokens = simple_tokens(item.task.text)
        gold_tokens.extend(token_label_sets(gold, tokens))
        predicted_tokens.extend(token_label_sets(predicted, tokens))
        errors.extend(difference_rows(item.task.id, item.completion.id, item.task.text, comparison.differences,
                                      context_tokens=context_tokens, model=name))
    labels = sorted({label for label, _ in totals})
    scores = counted_scores({label: tuple(totals[label, i] for i in range(3)) for label in labels})
    evaluation = ModelEvaluation(name=name, kind="ner", examples=examples, scores=scores, schemes=schemes,
                                 tokens=multilabel_scores(gold_tokens, predicted_tokens), per_task=tuple(per_task))
    return ScoredModel(evaluation, tuple(errors))


def gold_assertions(items: Sequence[SelectedTask], config: LabelingConfig,
                    unannotated_label: str | None) -> list[list[tuple[int, int, str, str]]]:
    """Per task, the gold ``(start, end, entity, status)`` of each entity span that has a status.

    A span without an assertion label has ``unannotated_label`` as its status when that is set, and is left
    out otherwise, exactly as the assertion trainer reads its evaluation side.
    """
    params = TrainingParams(unannotated_label=unannotated_label)
    examples, _ = assertion_examples(items, config, params)
    per_task: list[list[tuple[int, int, str, str]]] = [[] for _ in items]
    for example in examples:
        per_task[example.row].append((example.start, example.end, example.entity, example.label))
    return per_task


def score_assertion(name: str, items: Sequence[SelectedTask], results: Results,
                    gold: Sequence[Sequence[tuple[int, int, str, str]]], *, context_tokens: int) -> ScoredModel:
    """The status the model gave each gold span (by its exact offsets) against the gold status."""
    gold_labels: list[str] = []
    predicted_labels: list[str] = []
    per_task: list[TaskCounts] = []
    errors: list[ErrorRow] = []
    for item, found, spans in zip(items, results, gold, strict=True):
        statuses: dict[tuple[int, int], str] = {}
        for start, end, label in _spans(found):
            statuses.setdefault((start, end), label)  # a span given twice (gold and found alike) is one answer
        task_gold, task_predicted = [], []
        for start, end, _, status in spans:
            answer = statuses.get((start, end))
            task_gold.append(status)
            task_predicted.append(answer if answer is not None else NO_ANSWER)
            if answer != status:
                errors.append(label_row(item.task.id, item.completion.id, item.task.text, "wrong_status",
                                        (start, end), status, answer, context_tokens=context_tokens, model=name))
        gold_labels.extend(task_gold)
        predicted_labels.extend(task_predicted)
        per_task.append(_single_label_counts(task_gold, task_predicted))
    evaluation = ModelEvaluation(name=name, kind="assertion", examples=len(gold_labels),
                                 scores=classification_scores(gold_labels, predicted_labels), per_task=tuple(per_task))
    return ScoredModel(evaluation, tuple(errors))


def score_classification(name: str, selection: Selection, results: Results, control: Any, *,
                         context_tokens: int) -> ScoredModel:
    """The class(es) predicted for each task against its gold answer for ``control`` (a ``ChoicesControl``)."""
    examples, _ = choices_examples(selection, control)
    pending = iter(examples)
    example = next(pending, None)
    gold_sets: list[frozenset[str]] = []
    predicted_sets: list[frozenset[str]] = []
    per_task: list[TaskCounts] = []
    errors: list[ErrorRow] = []
    for item, found in zip(selection.items, results, strict=True):
        # choices_examples keeps the tasks' order and leaves out those without an answer (or a text).
        if example is None or example.task_id != item.task.id or example.text != item.task.text:
            per_task.append({})
            continue
        gold = frozenset(example.labels)
        picked = tuple(dict.fromkeys(choice for result in found if result.get("type") == "choices"
                                     and result.get("from_name", control.name) == control.name
                                     for choice in result["value"].get("choices", ())))
        predicted = frozenset(picked if control.multi_label else picked[:1])
        gold_sets.append(gold)
        predicted_sets.append(predicted)
        per_task.append(_multi_label_counts(gold, predicted) if control.multi_label else
                        _single_label_counts([example.labels[0]], [picked[0] if picked else NO_ANSWER]))
        errors.extend(_class_rows(item, gold, predicted, control.multi_label, context_tokens, name))
        example = next(pending, None)
    if control.multi_label:
        scores = multilabel_scores(gold_sets, predicted_sets)
    else:
        scores = classification_scores([next(iter(g)) for g in gold_sets],
                                       [next(iter(p)) if p else NO_ANSWER for p in predicted_sets])
    evaluation = ModelEvaluation(name=name, kind="classification", examples=len(gold_sets), scores=scores,
                                 control=control.name, per_task=tuple(per_task))
    return ScoredModel(evaluation, tuple(errors))


def _class_rows(item: SelectedTask, gold: frozenset[str], predicted: frozenset[str], multi_label: bool,
                context_tokens: int, name: str) -> list[ErrorRow]:
    task, completion = item.task, item.completion
    if not multi_label:
        if gold == predicted:
            return []
        answer = next(iter(predicted)) if predicted else None
        return [label_row(task.id, completion.id, task.text, "wrong_class", None, next(iter(gold)), answer,
                          context_tokens=context_tokens, model=name)]
    rows = [label_row(task.id, completion.id, task.text, "false_positive", None, None, label,
                      context_tokens=context_tokens, model=name) for label in sorted(predicted - gold)]
    rows += [label_row(task.id, completion.id, task.text, "false_negative", None, label, None,
                       context_tokens=context_tokens, model=name) for label in sorted(gold - predicted)]
    return rows


def _spans(found: Sequence[dict[str, Any]]) -> list[SpanTuple]:
    return [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in found
            if r.get("type") == "labels" and r["value"].get("labels")]


def _single_label_counts(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """``{label: (tp, fp, fn)}`` of single-label answers: a miss is a false negative of the gold label and a
    false positive of the predicted one."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, predicted, strict=True):
        if g == p:
            counts.setdefault(g, [0, 0, 0])[0] += 1
        else:
            counts.setdefault(g, [0, 0, 0])[2] += 1
            counts.setdefault(p, [0, 0, 0])[1] += 1
    return {label: (tp, fp, fn) for label, (tp, fp, fn) in counts.items()}


def _multi_label_counts(gold: frozenset[str], predicted: frozenset[str]) -> dict[str, tuple[int, int, int]]:
    return {label: (int(label in gold and label in predicted), int(label in predicted and label not in gold),
                    int(label in gold and label not in predicted)) for label in gold | predicted}
