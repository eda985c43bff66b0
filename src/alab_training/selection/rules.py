"""Choosing the one completion of each task to learn from, and saying why a task was left out.

The rules (Annotation Lab's, made exact):

1. With ``params.tags``, only tasks carrying at least one of them (case-insensitive). Tasks carrying a
   ``params.test_tags`` tag are kept too: they are the evaluation side, whatever the filter says.
2. Drafts, skipped (cancelled) completions and completions a reviewer rejected are never used.
3. A completion a reviewer accepted wins; among several, the most recently submitted.
4. Otherwise the most recently submitted completion (``submitted_at``, else ``updated_at``, else the creation
   time; ties go to the higher id) — or, with ``tie_breaker="annotator_priority"``, the completion of the
   highest-priority annotator (most recent among theirs; annotators not listed come last).
5. With ``completion_filter="reviewed_only"``, tasks without an accepted completion are left out.
6. A submitted completion with an empty result is a valid example (a text with no entities).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone

import attrs

from alab_training.arguments import expect
from alab_training.exports.values import integer_text
from alab_training.model import Completion, CompletionStatus, Project, Task
from alab_training.params import TrainingParams, params_argument
from alab_training.selection.split import in_validation_split

__all__ = ["REASONS", "ExclusionReason", "Selection", "select_completions"]

#: Every reason code a task can be left out for, with its explanation.
REASONS = {
    "tag_filtered": "carries none of the requested tags",
    "no_completions": "has no completions",
    "only_drafts": "has only drafts (saved, never submitted)",
    "only_skipped": "has only skipped (cancelled) completions",
    "no_submitted": "has drafts and skipped completions but nothing submitted",
    "all_rejected": "every submitted completion was rejected by a reviewer",
    "not_reviewed": "no completion was accepted by a reviewer (reviewed_only)",
}

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


@attrs.frozen
class ExclusionReason:
    """Why a task is not trained on: ``code`` is stable (see :data:`REASONS`), ``message`` is for people."""

    code: str
    message: str


@attrs.frozen
class SelectedTask:
    """A task in the selection: the completion chosen for it and its side."""

    task: Task
    completion: Completion
    #: ``"train"`` or ``"test"`` (the evaluation side: test-tagged, or in the seeded validation split).
    split: str


@attrs.frozen
class Selection:
    """The outcome of :func:`select_completions`.

    Iterating yields ``(task, completion)`` for each used task, in task order.
    """

    items: tuple[SelectedTask, ...]
    excluded: tuple[tuple[Task, ExclusionReason], ...]
    params: TrainingParams

    def __iter__(self) -> Iterator[tuple[Task, Completion]]:
        return ((item.task, item.completion) for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def train(self) -> tuple[tuple[Task, Completion], ...]:
        """The training side's ``(task, completion)`` pairs."""
        return tuple((i.task, i.completion) for i in self.items if i.split == "train")

    @property
    def test(self) -> tuple[tuple[Task, Completion], ...]:
        """The evaluation side's ``(task, completion)`` pairs."""
        return tuple((i.task, i.completion) for i in self.items if i.split == "test")

    def excluded_counts(self) -> dict[str, int]:
        """How many tasks each reason left out, e.g. ``{"only_drafts": 2}``."""
        return dict(Counter(reason.code for _, reason in self.excluded))


def _id_key(value: int | str) -> tuple[int, int | str]:
    """Ids ``7`` and ``"7"`` order alike; other strings (``"²"``, 5000 digits) after every number."""
    if isinstance(value, int):
        return (0, value)
    number = integer_text(value)
    return (0, number) if number is not None else (1, value)


def recency_key(completion: Completion) -> tuple[datetime, tuple[int, int | str]]:
    """How recent a completion is: its submission (else update, else creation) time, then its id."""
    moment = completion.submitted_at or completion.updated_at or completion.created_at or _EPOCH
    return (moment, _id_key(completion.id))


def _priority_rank(completion: Completion, priority: dict[str, int]) -> int:
    annotator = (completion.annotator or "").casefold()
    return priority.get(annotator, len(priority))


def _reason(code: str) -> ExclusionReason:
    return ExclusionReason(code=code, message=f"the task {REASONS[code]}")


def _no_submitted_reason(task: Task) -> ExclusionReason:
    if not task.completions and not task.drafts:
        return _reason("no_completions")
    drafts = bool(task.drafts) or any(c.status is CompletionStatus.DRAFT for c in task.completions)
    skipped = any(c.status is CompletionStatus.CANCELLED for c in task.completions)
    if drafts and not skipped:
        return _reason("only_drafts")
    if skipped and not drafts:
        return _reason("only_skipped")
    return _reason("no_submitted")


def choose_completion(task: Task, params: TrainingParams) -> Completion | ExclusionReason:
    """The completion rules 2–6 pick for one task, or why there is none."""
    submitted = [c for c in task.completions if c.status is CompletionStatus.SUBMITTED]
    if not submitted:
        return _no_submitted_reason(task)
    usable = [c for c in submitted if not c.rejected]
    if not usable:
        return _reason("all_rejected")
    accepted = [c for c in usable if c.accepted]
    if accepted:
        return max(accepted, key=recency_key)
    if params.completion_filter == "reviewed_only":
        return _reason("not_reviewed")
    if params.tie_breaker == "annotator_priority":
        priority = _priority_map(params.annotator_priority)
        best_rank = min(_priority_rank(c, priority) for c in usable)
        usable = [c for c in usable if _priority_rank(c, priority) == best_rank]
    return max(usable, key=recency_key)


@functools.cache
def _priority_map(annotators: tuple[str, ...]) -> dict[str, int]:
    """Annotator (case-folded) → rank, the first listed ranking highest; built once per priority list."""
    return {name.casefold(): rank for rank, name in reversed(list(enumerate(annotators)))}


def select_completions(project: Project, params: TrainingParams | None = None) -> Selection:
    """Apply the selection rules (module docstring) to every task of ``project``.

    Every task ends up either in the selection (with its train/test side) or in ``excluded`` with a reason.

    Raises:
        ParamsError: ``project`` is no :class:`~alab_training.model.Project`, or ``params`` no
            :class:`~alab_training.params.TrainingParams` (nor ``None``).
    """
    expect(project, "project", Project, "a Project (load_project)")
    params = params_argument(params)
    wanted = {tag.casefold() for tag in params.tags}
    test_tags = {tag.casefold() for tag in params.test_tags}
    items: list[SelectedTask] = []
    excluded: list[tuple[Task, ExclusionReason]] = []
    for task in project.tasks:
        tags = {tag.casefold() for tag in task.tags}
        is_test = bool(test_tags & tags)
        if wanted and not (wanted & tags) and not is_test:
            excluded.append((task, _reason("tag_filtered")))
            continue
        outcome = choose_completion(task, params)
        if isinstance(outcome, ExclusionReason):
            excluded.append((task, outcome))
            continue
        if not test_tags:
            is_test = in_validation_split(task.id, params.validation_split, params.seed)
        items.append(SelectedTask(task=task, completion=outcome, split="test" if is_test else "train"))
    return Selection(items=tuple(items), excluded=tuple(excluded), params=params)
