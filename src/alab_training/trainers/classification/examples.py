"""What a classification trains on: one example per selected task, its text and its answer(s) for one ``<Choices>``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from alab_training.config.controls import ChoicesControl, LabelingConfig
from alab_training.errors import ConfigError, ParamsError
from alab_training.params import TrainingParams
from alab_training.selection import Selection

__all__ = ["LEFT_OUT", "Example", "choices_control", "choices_examples", "classes_of", "example_lines"]

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


def choices_control(config: LabelingConfig, params: TrainingParams) -> ChoicesControl:
    """The ``<Choices>`` this training learns (see :meth:`LabelingConfig.choices_to_train`).

    Raises:
        ParamsError: there is none, or none called ``params.choices_name``.
    """
    try:
        return config.choices_to_train(params.choices_name)
    except ConfigError as exc:
        raise ParamsError(exc.message, field="choices_name" if params.choices_name else "training_type",
                          value=params.choices_name or "classification") from exc


def classes_of(examples: list[Example], split: str) -> list[str]:
    """The answers given on one side, sorted."""
    return sorted({label for example in examples if example.split == split for label in example.labels})


def example_lines(examples: list[Example], left_out: Counter[str], classes: list[str]) -> list[str]:
    """What the examples are, for the training log: counts per side and class, and what was left out."""
    counts = Counter(e.split for e in examples)
    lines = [f"examples: {counts['train']} train, {counts['test']} test; {len(classes)} classes: {', '.join(classes)}"]
    lines += [f"  left out {code}: {left_out[code]} ({reason})" for code, reason in LEFT_OUT.items() if left_out[code]]
    if left_out["extra_answers"]:
        lines.append(f"  {left_out['extra_answers']} task(s) give several answers to a single-choice <Choices>: "
                     "trained on the first")
    per_class = Counter(label for e in examples if e.split == "train" for label in e.labels)
    lines.append("  train examples per class: " + ", ".join(f"{c} {per_class[c]}" for c in classes))
    unseen = sorted(set(classes_of(examples, "test")) - set(classes))
    if unseen:
        lines.append(f"  classes only on the test side (the model cannot predict them): {', '.join(unseen)}")
    return lines
