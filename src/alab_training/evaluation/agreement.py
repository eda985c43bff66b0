"""Inter-annotator agreement of a project: span F1, Cohen's kappa and Krippendorff's alpha, streamed.

:func:`agreement` reads the tasks once, in order, and keeps only counters per annotator pair and question
(plus a bounded heap of the worst tasks), so an iterable of 100k tasks is never held in memory.

**Which completions count.** On each task, every completion with status ``submitted`` counts, before
selection picks one; drafts (``Task.drafts`` and ``status=draft``) and skipped (cancelled) completions never
count. Completions a reviewer **rejected** count too (``include_rejected=True``, the default): agreement
measures the annotators' work before review, and leaving out what reviewers caught would hide exactly the
disagreements they found; pass ``include_rejected=False`` to drop them. An annotator is
``Completion.annotator`` as exported (case and spacing kept); a completion without one is its own annotator,
named ``"completion <id>"``. When one annotator has several counted completions on a task, only their latest
counts (``submitted_at``, else ``updated_at``, else ``created_at``; ties go to the higher id, as selection
breaks them; times without a zone are taken as UTC). A task is **compared** when two or more annotators
remain; other tasks add nothing. Annotator pairs are ordered alphabetically (``first`` < ``second``).

**Spans.** A completion's entity spans are the set of ``(start, end, label)`` for each label of its spans that
is an entity label of the config (``config.ner_labels``; a repeated span counts once). For a pair on a task,
per label: ``exact`` counts spans both gave (same start, end and label); ``overlap`` is the size of a maximum
one-to-one matching between the two annotators' spans of that label, linking spans that share at least one
code point; ``first`` / ``second`` count each annotator's spans. These add up over the pair's tasks, and F1 is
``2·matched / (first + second)``: symmetric in the two annotators (neither is the gold). An empty completion
is a statement ("no entities here"): against a non-empty one it lowers F1; two empty ones agree but add no
span, so they leave F1 unchanged. F1 is **None** when neither annotator of the pair has a span of the label
(on all their shared tasks). Micro over pairs pools the counts of all pairs first; ``overall`` pools labels.

**Choices** (one question per ``<Choices>`` control; a unit is a task):

- Single choice: an annotator's answer is the set of values they picked in that control (normally one; a
  completion with several is read as that combination, a category of its own). An annotator who picked
  nothing in it is **missing** on that unit: kappa leaves the unit out for their pairs, alpha leaves them out of
  the unit. ``per_value`` holds one-vs-rest yes/no items derived from the same answers.
- Multiple choice: each value is its own yes/no item (``per_value``); ``overall`` pools the items of all values
  (a unit is then a ``(task, value)``). An export cannot tell "ticked nothing" from "did not answer", so the
  control counts on a task only when at least one annotator ticked a value of it; every annotator of that task
  then answers every value, ticking nothing being "no".

**Assertion** (when the config has assertion labels; a unit is ``(task, start, end)``): the offsets where two or
more annotators gave an entity label (any entity label; they need not agree on it). Each such annotator's
answer is the set of assertion labels they put on spans at exactly those offsets (Annotation Lab's second
result item on the same offsets or one span carrying both labels); **no assertion label is an answer of its
own**, ``(none)``, since in Annotation Lab an unmarked entity has the default status. Annotators without an
entity at those offsets are missing there. ``per_value`` has one yes/no item per assertion label.

**Kappa and alpha** are computed as :mod:`alab_training.evaluation.nominal` defines them: kappa per pair over
the units both answered, alpha (nominal, missing answers allowed) over all annotators; both are **None**
where undefined (no units, or one and the same answer throughout, e.g. everybody said "no").

**Worst tasks.** A task's score is the mean over its annotator pairs of the Dice coefficient
``2·|A ∩ B| / (|A| + |B|)`` of their items, an item being an entity span, an assertion label on given offsets
or a picked choice value (two empty sides score 1). The ``worst`` lowest-scoring tasks below 1 are listed,
lowest first; equal scores keep the export's order.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime
from typing import Any

import attrs

from alab_training.errors import ParamsError
from alab_training.evaluation.agreement_results import (
    Agreement,
    NominalAgreement,
    PairSpans,
    QuestionAgreement,
    SpanAgreement,
    SpanCounts,
    TaskAgreement,
)
from alab_training.evaluation.nominal import AlphaCounter, KappaCounter
from alab_training.model import Completion, CompletionStatus, Project, Task

__all__ = ["agreement"]

_EPOCH = datetime.min.replace(tzinfo=UTC)
_Pair = tuple[str, str]


def agreement(
    source: Project | Iterable[Task],
    config: Any = None,
    *,
    worst: int = 10,
    include_rejected: bool = True,
) -> Agreement:
    """Inter-annotator agreement on spans, choices and assertion statuses (definitions: the module docs).

    Args:
        source: a :class:`~alab_training.Project`, or any iterable of :class:`~alab_training.Task` (a generator
            streams: tasks are read once and not kept).
        config: the labeling config (``project.config``); taken from ``source`` when it is a project.
        worst: how many of the worst-agreeing tasks to list.
        include_rejected: count completions a reviewer rejected.

    Returns:
        The figures, with ``as_dict()`` and ``table()``.

    Raises:
        ParamsError: no config for an iterable of tasks, ``worst`` is not a non-negative integer, or an item
            of ``source`` is not a Task.
    """
    if isinstance(source, Project):
        tasks: Iterable[Task] = source.tasks
        config = config if config is not None else source.config
    else:
        tasks = source
    if config is None:
        raise ParamsError("the labeling config is needed with an iterable of tasks", field="config")
    if isinstance(worst, bool) or not isinstance(worst, int) or worst < 0:
        raise ParamsError("expected a non-negative integer", field="worst", value=worst)
    accumulator = _Accumulator.for_config(config, worst=worst, include_rejected=include_rejected)
    for index, task in enumerate(tasks):
        if not isinstance(task, Task):
            raise ParamsError(f"expected a Task, got {type(task).__name__}", field=f"tasks[{index}]", value=task)
        accumulator.add(task)
    return accumulator.result()


@attrs.frozen
class _View:
    """What one annotator said on one task, reduced to what agreement compares."""

    entities: frozenset[tuple[int, int, str]]
    #: (start, end) of each entity span → the assertion labels on those offsets (possibly none).
    statuses: dict[tuple[int, int], frozenset[str]]
    #: control name → the values picked in it (controls with no pick are absent).
    choices: dict[str, frozenset[str]]

    def items(self) -> set[tuple[Hashable, ...]]:
        """Everything this annotator said, as comparable items (for the task score)."""
        found: set[tuple[Hashable, ...]] = {("span", *entity) for entity in self.entities}
        found |= {("status", *offsets, s) for offsets, statuses in self.statuses.items() for s in statuses}
        found |= {("choice", name, value) for name, values in self.choices.items() for value in values}
        return found


@attrs.define
class _Question:
    """The streaming counters of one question: kappa per pair, alpha over everybody."""

    kappas: dict[_Pair, KappaCounter] = attrs.field(factory=dict)
    alpha: AlphaCounter = attrs.field(factory=AlphaCounter)
    seen: set[str] = attrs.field(factory=set)

    def add_unit(self, answers: dict[str, frozenset[str]]) -> None:
        """One unit: annotator → answer, for the annotators who answered it."""
        if len(answers) < 2:
            return
        self.alpha.add(answers.values())
        for pair in itertools.combinations(sorted(answers), 2):
            if pair not in self.kappas:
                self.kappas[pair] = KappaCounter()
            self.kappas[pair].add(answers[pair[0]], answers[pair[1]])
        for answer in answers.values():
            self.seen |= answer

    def result(self, kind: str, name: str, values: tuple[str, ...], *, multi_label: bool) -> QuestionAgreement:
        """The figures: overall, and one yes/no item per value (the config's values first, then any other)."""
        every_value = (*values, *sorted(self.seen - set(values)))
        per_value = {}
        items = []
        for value in every_value:
            def gave(answer: frozenset[str], value: str = value) -> bool:
                return value in answer

            kappas = {pair: counter.mapped(gave) for pair, counter in self.kappas.items()}
            alpha = self.alpha.mapped(gave)
            items.append((kappas, alpha))
            per_value[value] = NominalAgreement.from_counters(kappas, alpha)
        if multi_label:
            pooled_kappas: dict[_Pair, KappaCounter] = {}
            pooled_alpha = AlphaCounter()
            for kappas, alpha in items:
                for pair, counter in kappas.items():
                    pooled_kappas[pair] = pooled_kappas.get(pair, KappaCounter()) + counter
                pooled_alpha = pooled_alpha + alpha
            overall = NominalAgreement.from_counters(pooled_kappas, pooled_alpha)
        else:
            overall = NominalAgreement.from_counters(self.kappas, self.alpha)
        return QuestionAgreement(kind, name, multi_label, overall, per_value)


@attrs.define
class _Accumulator:
    """Everything :func:`agreement` keeps while it reads the tasks."""

    ner_labels: tuple[str, ...]
    assertion_labels: tuple[str, ...]
    #: (name, values, multi_label) of each <Choices>.
    controls: tuple[tuple[str, tuple[str, ...], bool], ...]
    worst: int
    include_rejected: bool
    tasks_compared: int = 0
    annotators: set[str] = attrs.field(factory=set)
    pair_tasks: Counter[_Pair] = attrs.field(factory=Counter)
    #: pair → label → [first, second, exact, overlap]
    span_counts: dict[_Pair, dict[str, list[int]]] = attrs.field(factory=dict)
    questions: dict[str, _Question] = attrs.field(factory=dict)
    assertion: _Question = attrs.field(factory=_Question)
    #: (-score, -position, task id, annotators): the root is the best of the worst tasks kept.
    heap: list[tuple[float, int, int | str, tuple[str, ...]]] = attrs.field(factory=list)

    @classmethod
    def for_config(cls, config: Any, *, worst: int, include_rejected: bool) -> _Accumulator:
        """An empty accumulator for the labels and controls of a labeling config."""
        controls = tuple((c.name, tuple(c.values), bool(c.multi_label)) for c in config.choices_controls)
        return cls(tuple(config.ner_labels), tuple(config.assertion_labels), controls, worst, include_rejected,
                   questions={name: _Question() for name, _, _ in controls})

    def add(self, task: Task) -> None:
        """Count one task (nothing of it is kept but counts and, if it is among the worst, its id)."""
        views = {name: self._view(c) for name, c in _latest_by_annotator(task, self.include_rejected).items()}
        if len(views) < 2:
            return
        self.tasks_compared += 1
        self.annotators.update(views)
        pair_scores = []
        for first, second in itertools.combinations(sorted(views), 2):
            self.pair_tasks[first, second] += 1
            self._add_spans((first, second), views[first], views[second])
            pair_scores.append(_dice(views[first].items(), views[second].items()))
        self._add_choices(views)
        if self.assertion_labels:
            self._add_statuses(views)
        self._keep_if_worst(task.id, sum(pair_scores) / len(pair_scores), tuple(sorted(views)))

    def _view(self, completion: Completion) -> _View:
        ner, assertion = set(self.ner_labels), set(self.assertion_labels)
        entities = {(s.start, s.end, label) for s in completion.spans for label in s.labels if label in ner}
        statuses: dict[tuple[int, int], frozenset[str]] = {(start, end): frozenset() for start, end, _ in entities}
        for span in completion.spans:
            found = frozenset(label for label in span.labels if label in assertion)
            if found and (span.start, span.end) in statuses:
                statuses[span.start, span.end] |= found
        picked: dict[str, frozenset[str]] = {}
        for answer in completion.choices:
            if answer.from_name in self.questions and answer.choices:
                picked[answer.from_name] = picked.get(answer.from_name, frozenset()) | frozenset(answer.choices)
        return _View(frozenset(entities), statuses, picked)

    def _add_spans(self, pair: _Pair, first: _View, second: _View) -> None:
        by_label = self.span_counts.setdefault(pair, {})
        for label in {e[2] for e in first.entities | second.entities}:
            mine = [(s, e) for s, e, lab in first.entities if lab == label]
            theirs = [(s, e) for s, e, lab in second.entities if lab == label]
            counts = by_label.setdefault(label, [0, 0, 0, 0])
            counts[0] += len(mine)
            counts[1] += len(theirs)
            counts[2] += len(set(mine) & set(theirs))
            counts[3] += _max_overlap_matching(mine, theirs)

    def _add_choices(self, views: dict[str, _View]) -> None:
        for name, _, multi_label in self.controls:
            if multi_label:
                if any(name in view.choices for view in views.values()):
                    answers = {who: view.choices.get(name, frozenset()) for who, view in views.items()}
                    self.questions[name].add_unit(answers)
            else:
                self.questions[name].add_unit(
                    {who: view.choices[name] for who, view in views.items() if name in view.choices})

    def _add_statuses(self, views: dict[str, _View]) -> None:
        offsets = Counter(where for view in views.values() for where in view.statuses)
        for where in sorted(o for o, n in offsets.items() if n >= 2):
            self.assertion.add_unit(
                {who: view.statuses[where] for who, view in views.items() if where in view.statuses})

    def _keep_if_worst(self, task_id: int | str, score: float, annotators: tuple[str, ...]) -> None:
        if self.worst == 0 or score >= 1.0:
            return
        entry = (-score, -self.tasks_compared, task_id, annotators)
        if len(self.heap) < self.worst:
            heapq.heappush(self.heap, entry)
        elif entry > self.heap[0]:
            heapq.heapreplace(self.heap, entry)

    def result(self) -> Agreement:
        """The figures of everything added so far."""
        pairs = []
        for pair in sorted(self.pair_tasks):
            counts = self.span_counts.get(pair, {})
            per_label = {label: SpanCounts(*counts.get(label, (0, 0, 0, 0))) for label in self.ner_labels}
            pairs.append(PairSpans(pair, self.pair_tasks[pair], per_label, sum(per_label.values(), SpanCounts())))
        pooled = {label: sum((p.per_label[label] for p in pairs), SpanCounts()) for label in self.ner_labels}
        spans = SpanAgreement(tuple(pairs), pooled, sum(pooled.values(), SpanCounts()))
        choices = {
            name: self.questions[name].result("choices", name, values, multi_label=multi_label)
            for name, values, multi_label in self.controls
        }
        assertion = (self.assertion.result("assertion", "assertion", self.assertion_labels, multi_label=False)
                     if self.assertion_labels else None)
        worst = [TaskAgreement(task_id, -negative, who) for negative, _, task_id, who in sorted(self.heap,
                                                                                                 reverse=True)]
        return Agreement(self.tasks_compared, tuple(sorted(self.annotators)), spans, choices, assertion,
                         tuple(worst))


def _latest_by_annotator(task: Task, include_rejected: bool) -> dict[str, Completion]:
    """Each annotator's latest counted completion on the task."""
    latest: dict[str, Completion] = {}
    for completion in task.completions:
        if completion.status is not CompletionStatus.SUBMITTED or (completion.rejected and not include_rejected):
            continue
        who = completion.annotator if completion.annotator is not None else f"completion {completion.id}"
        if who not in latest or _recency(completion) > _recency(latest[who]):
            latest[who] = completion
    return latest


def _recency(completion: Completion) -> tuple[datetime, tuple[int, int | str]]:
    moment = completion.submitted_at or completion.updated_at or completion.created_at or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    identifier = completion.id
    if isinstance(identifier, int):
        key: tuple[int, int | str] = (0, identifier)
    else:
        key = (0, int(identifier)) if identifier.isdigit() else (1, identifier)
    return moment, key


def _dice(first: set[Hashable], second: set[Hashable]) -> float:
    if not first and not second:
        return 1.0
    return 2 * len(first & second) / (len(first) + len(second))


def _max_overlap_matching(first: list[tuple[int, int]], second: list[tuple[int, int]]) -> int:
    """The size of a maximum one-to-one matching of spans sharing a code point (augmenting paths, no recursion)."""
    neighbours = [[j for j, (s2, e2) in enumerate(second) if s2 < e1 and s1 < e2] for s1, e1 in first]
    partner_of_second = [-1] * len(second)
    partner_of_first = [-1] * len(first)
    size = 0
    for root in range(len(first)):
        reached_from: dict[int, int] = {}
        queue, visited, free = [root], {root}, -1
        for node in queue:  # breadth-first over alternating paths; the list grows while it is read
            for j in neighbours[node]:
                if j in reached_from:
                    continue
                reached_from[j] = node
                if partner_of_second[j] == -1:
                    free = j
                    break
                if partner_of_second[j] not in visited:
                    visited.add(partner_of_second[j])
                    queue.append(partner_of_second[j])
            if free != -1:
                break
        if free == -1:
            continue
        size += 1
        j = free
        while True:  # flip the path: each node on it takes the span that reached it
            node = reached_from[j]
            previous = partner_of_first[node]
            partner_of_second[j], partner_of_first[node] = node, j
            if node == root:
                break
            j = previous
    return size
