"""From selected completions to assertion-status examples: one (task, entity span, assertion label) each.

Annotation Lab writes assertion status as a second ``labels`` item on the very offsets of an entity (or, in
Label Studio, one region carrying both labels). Pairing follows ``get_assertion_data``:

- an example is an entity span (a label of the config that is not ``assertion="true"``) with an assertion label
  on identical ``start``/``end``; a region with several assertion labels trains on the first (reported);
- an assertion label with no entity on its offsets is left out (reported);
- an entity span without an assertion label gets ``params.unannotated_label`` when it is set, otherwise it is
  left out (reported); on the training side those default examples are down-sampled per entity label by
  ``params.unannotated_sampling`` (seeded by ``params.seed``); the evaluation side is never sampled, so its
  scores describe the data as annotated.

Nothing here needs Spark, so bad data fails before a JVM starts.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable

import attrs

from alab_training.config import LabelingConfig
from alab_training.model import Completion
from alab_training.params import TrainingParams
from alab_training.selection import SelectedTask

__all__ = ["AssertionReport", "Example", "assertion_examples", "pair_spans"]


@attrs.frozen
class Example:
    """One entity span to classify; ``start``/``end`` are code points of the task text, ``end`` exclusive."""

    row: int
    start: int
    end: int
    entity: str
    label: str
    split: str = "train"
    #: ``True`` when the label is ``unannotated_label`` (the span carried no assertion label).
    unannotated: bool = False


@attrs.frozen
class AssertionReport:
    """What pairing decided, for the training log."""

    labelled: Counter = attrs.field(factory=Counter)
    unannotated: Counter = attrs.field(factory=Counter)
    sampled_out: Counter = attrs.field(factory=Counter)
    unannotated_dropped: int = 0
    orphans: int = 0
    extra_assertion_labels: int = 0

    def lines(self, examples: list[Example]) -> list[str]:
        """The report as training-log lines."""
        by_split = {split: Counter(e.label for e in examples if e.split == split) for split in ("train", "test")}
        lines = [f"{split} examples: {sum(counts.values())} ("
                 + (", ".join(f"{label} {n}" for label, n in sorted(counts.items())) or "none") + ")"
                 for split, counts in by_split.items()]
        lines.append("assertion labels on entities: "
                     + (", ".join(f"{label} {n}" for label, n in sorted(self.labelled.items())) or "none"))
        if self.unannotated:
            lines.append("entities without an assertion label, given the unannotated label: "
                         + ", ".join(f"{label} {n}" for label, n in sorted(self.unannotated.items())))
        if self.sampled_out:
            lines.append("of those, left out of the training side by unannotated_sampling: "
                         + ", ".join(f"{label} {n}" for label, n in sorted(self.sampled_out.items())))
        for count, what in (
            (self.unannotated_dropped, "entities without an assertion label left out (no unannotated_label set)"),
            (self.orphans, "assertion labels with no entity on the same offsets left out"),
            (self.extra_assertion_labels, "regions with several assertion labels trained on their first"),
        ):
            if count:
                lines.append(f"{count} {what}")
        return lines


def pair_spans(completion: Completion, config: LabelingConfig) -> tuple[list[tuple[int, int, str, str | None]],
                                                                       int, int]:
    """Entity spans with their assertion label (or ``None``): ``(pairs, orphans, extra_assertion_labels)``."""
    entity_labels, assertion_labels = set(config.ner_labels), set(config.assertion_labels)
    regions: dict[tuple[int, int], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for span in completion.spans:
        entities, assertions = regions[span.start, span.end]
        entities.extend(label for label in span.labels if label in entity_labels and label not in entities)
        assertions.extend(label for label in span.labels if label in assertion_labels and label not in assertions)
    pairs, orphans, extra = [], 0, 0
    for (start, end), (entities, assertions) in sorted(regions.items()):
        if not entities:
            orphans += bool(assertions)
            continue
        extra += len(assertions) > 1
        pairs.append((start, end, entities[0], assertions[0] if assertions else None))
    return pairs, orphans, extra


def assertion_examples(items: Iterable[SelectedTask], config: LabelingConfig,
                       params: TrainingParams) -> tuple[list[Example], AssertionReport]:
    """The examples of the selected tasks (``Example.row`` indexes ``items``), and the pairing report."""
    examples: list[Example] = []
    labelled: Counter = Counter()
    unannotated: Counter = Counter()
    dropped = orphans = extra = 0
    for row, item in enumerate(items):
        pairs, task_orphans, task_extra = pair_spans(item.completion, config)
        orphans, extra = orphans + task_orphans, extra + task_extra
        for start, end, entity, label in pairs:
            if label is not None:
                labelled[label] += 1
                examples.append(Example(row, start, end, entity, label, item.split))
            elif params.unannotated_label is not None:
                unannotated[entity] += 1
                examples.append(Example(row, start, end, entity, params.unannotated_label, item.split, True))
            else:
                dropped += 1
    examples, sampled_out = _sample(examples, dict(params.unannotated_sampling), params.seed)
    report = AssertionReport(labelled=labelled, unannotated=unannotated, sampled_out=sampled_out,
                             unannotated_dropped=dropped, orphans=orphans, extra_assertion_labels=extra)
    return examples, report


def _sample(examples: list[Example], fractions: dict[str, float], seed: int) -> tuple[list[Example], Counter]:
    """Keep ``round(fraction * n)`` (at least one) of the training side's unannotated examples per entity label."""
    candidates: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        if example.unannotated and example.split == "train" and example.entity in fractions:
            candidates[example.entity].append(index)
    rng = random.Random(seed)
    removed: set[int] = set()
    sampled_out: Counter = Counter()
    for entity in sorted(candidates):
        indexes = candidates[entity]
        keep = set(rng.sample(indexes, max(1, round(fractions[entity] * len(indexes)))))
        gone = [index for index in indexes if index not in keep]
        removed.update(gone)
        sampled_out[entity] = len(gone)
    return [e for index, e in enumerate(examples) if index not in removed], +sampled_out
