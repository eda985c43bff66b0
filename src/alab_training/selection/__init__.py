"""Completion selection: which completion of each task is learned from, and why tasks are left out."""

from alab_training.selection.rules import (
    REASONS,
    ExclusionReason,
    SelectedTask,
    Selection,
    choose_completion,
    select_completions,
)
from alab_training.selection.split import in_validation_split, split_point

__all__ = [
    "REASONS",
    "ExclusionReason",
    "SelectedTask",
    "Selection",
    "choose_completion",
    "in_validation_split",
    "select_completions",
    "split_point",
]
