"""The commands that judge models and annotators: ``evaluate``, ``compare`` and ``agreement``."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from alab_training.cli.lookup import model_folder
from alab_training.cli.options import add_models_folder, add_project
from alab_training.errors import ParamsError
from alab_training.exports import load_project
from alab_training.params import TrainingParams

__all__ = ["add_commands", "write_outputs"]


def write_outputs(result: Any, args: argparse.Namespace, out: TextIO) -> None:
    """What every command of this group prints: the JSON or the table, then the files it was asked for."""
    from alab_training.evaluation.report import write_report

    if getattr(args, "json", False):
        json.dump(result.as_dict(), out, indent=2, default=str)
        out.write("\n")
    else:
        out.write(result.table() + "\n")
    written = []
    if getattr(args, "errors", None):
        written.append(f"errors: {result.to_csv(args.errors)}")
    if getattr(args, "report", None):
        written.append(f"report: {write_report(result, args.report)}")
    if written and not getattr(args, "json", False):
        out.write("\n" + "\n".join(written) + "\n")


def _params(args: argparse.Namespace) -> TrainingParams:
    return TrainingParams(tags=tuple(args.tags), test_tags=tuple(args.test_tags),
                          validation_split=args.validation_split, seed=args.seed,
                          completion_filter="reviewed_only" if args.reviewed_only else "all_submitted",
                          choices_name=args.choices_name, unannotated_label=args.unannotated_label)


def _evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.evaluation.evaluate import evaluate
    from alab_training.runtime import start_session

    models = [model_folder(text, args.models) for text in args.model]
    project = load_project(args.export, config=args.config, name=args.name)
    write_outputs(evaluate(models, project, _params(args), spark=start_session()), args, out)
    return 0


def _compare(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.evaluation.comparison import compare, compare_with_previous
    from alab_training.runtime import start_session

    expected = 1 if args.previous else 2
    if len(args.model) != expected:
        what = "one model (its previous version is the baseline)" if args.previous else "two models: BASELINE " \
                                                                                          "CANDIDATE"
        raise ParamsError(f"expected {what}, got {len(args.model)}", field="model", value=args.model)
    project = load_project(args.export, config=args.config, name=args.name)
    settings = {"resamples": args.resamples, "seed": args.bootstrap_seed, "spark": start_session()}
    if args.previous:
        result = compare_with_previous(args.model[0], project, _params(args), registry=args.models, **settings)
    else:
        baseline, candidate = (model_folder(text, args.models) for text in args.model)
        result = compare(baseline, candidate, project, _params(args), **settings)
    write_outputs(result, args, out)
    return 0


def _agreement(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.evaluation.annotators import agreement

    params = TrainingParams(tags=tuple(args.tags))
    result = agreement(args.export, params, config=args.config, worst=args.worst,
                       include_rejected=not args.exclude_rejected)
    write_outputs(result, args, out)
    return 0


def _project_options(command: argparse.ArgumentParser) -> None:
    """The export, its config and which tasks and completions are scored (as ``select`` reads them)."""
    add_project(command)
    add_models_folder(command)
    command.add_argument("--tags", nargs="+", default=[], metavar="TAG", help="only tasks with one of these tags")
    command.add_argument("--test-tags", nargs="+", default=[], metavar="TAG",
                         help="score only the tasks with these tags")
    command.add_argument("--validation-split", type=float, default=0.0,
                         help="score only this seeded share of the tasks (as train held it out)")
    command.add_argument("--seed", type=int, default=42, help="seed of the split")
    command.add_argument("--reviewed-only", action="store_true", help="use only reviewer-accepted completions")
    command.add_argument("--choices-name", help="the <Choices> a classifier is scored on (default: its own)")
    command.add_argument("--unannotated-label", help="the gold status of an entity without an assertion label "
                                                     "(default: the assertion model's)")
    command.add_argument("--report", metavar="HTML", help="also write a report to look at (one HTML file)")
    command.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``compare`` and ``agreement`` to the command line."""
    evaluate = commands.add_parser("evaluate", help="score trained models on an export's test tasks, without "
                                                    "training")
    evaluate.add_argument("model", nargs="+", help="model folders or names (in --models), one of each kind")
    _project_options(evaluate)
    evaluate.add_argument("--errors", metavar="CSV", help="also write every error with its context as CSV")
    evaluate.set_defaults(run=_evaluate)

    compare = commands.add_parser("compare", help="two models on the same tasks: F1 deltas with bootstrap "
                                                  "intervals and a verdict")
    compare.add_argument("model", nargs="+", help="BASELINE CANDIDATE (folders or names), or with --previous "
                                                  "one registered model's name")
    _project_options(compare)
    compare.add_argument("--previous", action="store_true", help="compare the model with its previous version "
                                                                 "in --models (…_v3 against …_v2)")
    compare.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (at least 1000)")
    compare.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resampling")
    compare.set_defaults(run=_compare)

    agreement = commands.add_parser("agreement", help="how far the annotators agree: span F1, Cohen's kappa, "
                                                      "Krippendorff's alpha, the worst tasks")
    add_project(agreement, export_help="the export file (streamed: any size)", name_help=None)
    agreement.add_argument("--tags", nargs="+", default=[], metavar="TAG", help="only tasks with one of these tags")
    agreement.add_argument("--worst", type=int, default=10, help="how many of the worst-agreeing tasks to list")
    agreement.add_argument("--exclude-rejected", action="store_true",
                           help="leave out completions a reviewer rejected")
    agreement.add_argument("--report", metavar="HTML", help="also write a report to look at (one HTML file)")
    agreement.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    agreement.set_defaults(run=_agreement)
