"""Do the annotators agree? :func:`agreement` of a project, a task stream or an export file, streamed.

The statistics are :func:`alab_training.evaluation.agreement.agreement`'s (definitions in its module docs and
``docs/evaluation.md``). This adds what a project's user asks for:

- an export **path** is streamed (:func:`alab_training.exports.iter_tasks`): each task is read, counted and
  dropped, so a 100k-task export never sits in memory;
- ``params.tags`` keep only tasks carrying one of them (tasks with a ``params.test_tags`` tag too), as
  selection's first rule does. Nothing else of the params applies: agreement compares every annotator's
  submitted completion, before selection picks one (so ``completion_filter``, ``tie_breaker``,
  ``annotator_priority`` do not), and both sides of a split alike (so ``validation_split`` and ``seed`` do not).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from alab_training.config import LabelingConfig, load_config
from alab_training.errors import ParamsError
from alab_training.evaluation.agreement import agreement as agreement_of_tasks
from alab_training.evaluation.agreement_results import Agreement
from alab_training.exports import iter_tasks
from alab_training.model import Project, Task
from alab_training.params import TrainingParams, params_argument

__all__ = ["agreement"]


def agreement(
    project: Project | str | os.PathLike[str] | Iterable[Task],
    params: TrainingParams | None = None,
    *,
    config: Any = None,
    worst: int = 10,
    include_rejected: bool = True,
) -> Agreement:
    """Inter-annotator agreement on spans, choices and assertion statuses (see the module docs).

    Args:
        project: a loaded project; or an export file's path (streamed; ``config`` needed); or an iterable of
            tasks (``config`` needed).
        params: ``tags`` (and ``test_tags``) filter the tasks; nothing else applies.
        config: the labeling config (a path, XML text or a loaded config), for a path or an iterable.
        worst: how many of the worst-agreeing tasks to list.
        include_rejected: count completions a reviewer rejected (they are the annotators' work too).

    Returns:
        The figures, with ``as_dict()`` and ``table()``.

    Raises:
        ParamsError: no config for a path or an iterable, or a bad setting.
        ExportError, ConfigError: the export or the config cannot be read.
    """
    params = params_argument(params)
    if isinstance(project, Project):
        config = config if config is not None else project.config
    elif config is None:
        raise ParamsError("the labeling config is needed with an export path or an iterable of tasks",
                          field="config")
    if not isinstance(config, LabelingConfig):
        config = load_config(config)
    if isinstance(project, Project):
        tasks: Iterable[Task] = project.tasks
    elif isinstance(project, (str, os.PathLike)):
        tasks = iter_tasks(project, config=config)
    else:
        tasks = project
    return agreement_of_tasks(_tagged(tasks, params), config, worst=worst, include_rejected=include_rejected)


def _tagged(tasks: Iterable[Task], params: TrainingParams) -> Iterator[Task]:
    """The tasks selection's first rule keeps: any when no tags are asked for."""
    wanted = {tag.casefold() for tag in (*params.tags, *params.test_tags)} if params.tags else set()
    for task in tasks:
        # Anything but a task passes, for the statistics to report it with its position.
        if not wanted or not isinstance(task, Task) or wanted & {tag.casefold() for tag in task.tags}:
            yield task
