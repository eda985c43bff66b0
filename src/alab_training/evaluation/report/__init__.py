"""The report: one self-contained HTML file to look at, for an evaluation, a comparison, annotator agreement,
a training's models or a learning curve.

:func:`write_report` writes it: inline CSS and SVG charts drawn in Python, no script and no external resource,
so it opens offline, by mail, in any browser. Every figure printed carries a ``data-metric`` key
(:mod:`.html`), the same figure the API returns.
"""

from __future__ import annotations

import os
from pathlib import Path

from alab_training.errors import ParamsError
from alab_training.evaluation.agreement_results import Agreement
from alab_training.evaluation.comparison import Comparison
from alab_training.evaluation.report.annotators import agreement_sections
from alab_training.evaluation.report.html import page
from alab_training.evaluation.report.models import (
    comparison_sections,
    curve_sections,
    evaluation_sections,
    training_sections,
)
from alab_training.evaluation.results import Evaluation
from alab_training.files import write_atomically
from alab_training.lifecycle.learning_curve import LearningCurve
from alab_training.model import TrainingResult

__all__ = ["render_report", "write_report"]

Reportable = Evaluation | Comparison | Agreement | TrainingResult | LearningCurve


def render_report(result: Reportable, *, title: str | None = None) -> str:
    """The report's HTML text (see the module docs).

    Raises:
        ParamsError: ``result`` is none of the reportable results.
    """
    if isinstance(result, Evaluation):
        heading, subtitle, sections = "Evaluation", result.project, evaluation_sections(result)
    elif isinstance(result, Comparison):
        heading = f"{result.candidate.name} against {result.baseline.name}"
        subtitle, sections = f"{result.project}: model comparison", comparison_sections(result)
    elif isinstance(result, Agreement):
        heading, subtitle, sections = "Annotator agreement", "", agreement_sections(result)
    elif isinstance(result, TrainingResult):
        heading, subtitle, sections = "Training", result.project, training_sections(result)
    elif isinstance(result, LearningCurve):
        heading, subtitle, sections = "Learning curve", result.project, curve_sections(result)
    else:
        raise ParamsError("expected an Evaluation, a Comparison, an Agreement, a TrainingResult or a LearningCurve",
                          field="result", value=type(result).__name__)
    return page(title or heading, subtitle or "alab-training report", sections)


def write_report(result: Reportable, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the report of ``result`` to ``path`` as one HTML file, atomically; returns the path.

    Raises:
        ParamsError: ``result`` is none of the reportable results.
        OSError: the file cannot be written.
    """
    return write_atomically(path, render_report(result, title=title))

