"""The commands that read a project: ``select``, ``train`` and ``learning-curve``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from alab_training.cli.options import add_project
from alab_training.cli.render import Progress, deployment_summary, score_table, selection_report
from alab_training.exports import load_project
from alab_training.files import write_atomically
from alab_training.lifecycle.learning_curve import DEFAULT_FRACTIONS
from alab_training.params import TrainingParams
from alab_training.selection import select_completions

__all__ = ["add_commands"]


def _select(args: argparse.Namespace, out: TextIO) -> int:
    params = TrainingParams(
        completion_filter="reviewed_only" if args.reviewed_only else "all_submitted",
        tags=tuple(args.tags),
        test_tags=tuple(args.test_tags),
        tie_breaker="annotator_priority" if args.annotator_priority else "latest",
        annotator_priority=tuple(args.annotator_priority),
        validation_split=args.validation_split,
        seed=args.seed,
    )
    project = load_project(args.export, config=args.config, name=args.name, strict=args.strict)
    selection = select_completions(project, params)
    beside = _agreement_of(project, params) if args.agreement else None
    if args.json:
        json.dump({
            "used": [{"task": i.task.id, "completion": i.completion.id, "split": i.split} for i in selection.items],
            "excluded": [{"task": t.id, "reason": r.code, "message": r.message} for t, r in selection.excluded],
            "warnings": [{"path": w.path, "code": w.code, "message": w.message} for w in project.warnings],
            **({"agreement": beside.as_dict()} if beside is not None else {}),
        }, out, indent=2)
        out.write("\n")
        return 0
    selection_report(selection, out)
    if beside is not None:
        out.write(f"\nannotator agreement (every submitted completion, before selection)\n{beside.table()}\n")
    if project.warnings:
        out.write(f"\n{len(project.warnings)} item(s) left out while loading:\n")
        for warning in project.warnings:
            out.write(f"  {warning.path}: {warning.message}\n")
    return 0


def _agreement_of(project: Any, params: TrainingParams) -> Any:
    from alab_training.evaluation.annotators import agreement

    return agreement(project, params)


def _training_params(args: argparse.Namespace) -> TrainingParams:
    return TrainingParams(
        training_type=args.type, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        dropout=args.dropout, validation_split=args.validation_split, test_tags=tuple(args.test_tags),
        tags=tuple(args.tags), completion_filter="reviewed_only" if args.reviewed_only else "all_submitted",
        embeddings=args.embeddings, language=args.language, unlabelled_corpus=args.unlabelled_corpus,
        seed=args.seed, threshold=args.threshold,
        base_model=args.base_model, script=args.script, script_timeout=args.script_timeout,
    )


def _train(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.lifecycle.training import train
    from alab_training.runtime import start_session

    params = _training_params(args)
    project = load_project(args.export, config=args.config, name=args.name)
    spark = start_session()
    result = train(project, params, spark=spark, output_dir=args.output, versioning=args.versioning,
                   deploy=args.deploy, on_event=Progress(sys.stderr))
    for model in result.models:
        out.write(f"\n{model.name} ({model.kind})\n")
        if model.metrics:
            out.write("\n".join(score_table(model.metrics)) + "\n")
        out.write(f"model: {model.path}\nlog:   {model.log_path}\n")
    if result.deployment is not None:
        out.write(deployment_summary(result.deployment, "nowhere (the config did not come from a file)"))
    _report(result, args, out)
    return 0


def _report(result: Any, args: argparse.Namespace, out: TextIO) -> None:
    if args.report:
        from alab_training.evaluation.report import write_report

        out.write(f"report: {write_report(result, args.report)}\n")


def _learning_curve(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.lifecycle.learning_curve import learning_curve, plot_learning_curve, require_plotting
    from alab_training.runtime import start_session

    if args.plot:
        require_plotting()  # before minutes of training, not after
    params = _training_params(args)
    project = load_project(args.export, config=args.config, name=args.name)
    spark = start_session()
    curve = learning_curve(project, params, fractions=args.fractions, spark=spark, output_dir=args.scratch,
                           on_event=Progress(sys.stderr))
    out.write(f"\n{curve.project}: {len(curve.test_tasks)} evaluation task(s), the same for every point; "
              f"{curve.available_train_tasks} training task(s) in all\n{curve.table()}\n")
    if args.json:
        write_atomically(args.json, json.dumps(curve.as_dict(), indent=2))
        out.write(f"figures: {args.json}\n")
    if args.plot:
        out.write(f"plot:    {plot_learning_curve(curve, args.plot)}\n")
    _report(curve, args, out)
    return 0


def _training_options(command: argparse.ArgumentParser) -> None:
    """What ``train`` and ``learning-curve`` share: the project and the training parameters."""
    add_project(command, name_help="the project name, used in model names (default: the export's file name)")
    command.add_argument("--type", help="ner, assertion, classification or a plugin's type (default: every type "
                                        "the config supports)")
    command.add_argument("--epochs", type=int)
    command.add_argument("--learning-rate", type=float)
    command.add_argument("--batch-size", type=int)
    command.add_argument("--dropout", type=float)
    command.add_argument("--validation-split", type=float, default=0.2,
                         help="share of tasks held out for scoring (default 0.2; ignored with --test-tags)")
    command.add_argument("--test-tags", nargs="+", default=[], metavar="TAG", help="tasks with these tags are "
                                                                                   "scored, not trained on")
    command.add_argument("--tags", nargs="+", default=[], metavar="TAG", help="only tasks with one of these tags")
    command.add_argument("--reviewed-only", action="store_true", help="use only reviewer-accepted completions")
    command.add_argument("--embeddings", help="a GloVe/word2vec file, a saved Spark NLP embeddings model, a "
                                              "registered name, or 'learned' (default: each type's own for English, "
                                              "vectors learned from the project's texts for other languages)")
    command.add_argument("--language", default="en")
    command.add_argument("--unlabelled-corpus", metavar="FILE|FOLDER", help="more text (one text per line; a folder "
                                                                           "of .txt files) for learned vectors")
    command.add_argument("--seed", type=int, default=42)
    command.add_argument("--threshold", type=float, help="multi-label classification: the decision threshold "
                                                         "(default: tuned on the training side)")
    command.add_argument("--base-model", help="NER: a trained model to start from (a folder; train also takes the "
                                              "name of a model in --output)")
    command.add_argument("--script", help="with --type script: your training script (see docs/custom-scripts.md)")
    command.add_argument("--script-timeout", type=float, help="seconds before the script is stopped")
    command.add_argument("--report", metavar="HTML", help="also write a report to look at (one HTML file)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``select``, ``train`` and ``learning-curve`` to the command line."""
    select = commands.add_parser("select", help="show which completion of each task would be trained on, and why "
                                                "tasks are left out")
    add_project(select)
    select.add_argument("--reviewed-only", action="store_true", help="use only reviewer-accepted completions")
    select.add_argument("--tags", nargs="+", default=[], metavar="TAG", help="only tasks with one of these tags")
    select.add_argument("--test-tags", nargs="+", default=[], metavar="TAG", help="tasks with these tags form the "
                                                                                  "test side")
    select.add_argument("--annotator-priority", nargs="+", default=[], metavar="ANNOTATOR",
                        help="prefer these annotators' completions, in this order (default: the latest)")
    select.add_argument("--validation-split", type=float, default=0.0, help="share of tasks on the test side")
    select.add_argument("--seed", type=int, default=42, help="seed of the split")
    select.add_argument("--strict", action="store_true", help="fail on the first bad item instead of leaving it out")
    select.add_argument("--json", action="store_true", help="print the outcome as JSON")
    select.add_argument("--agreement", action="store_true", help="also show how far the annotators agree "
                                                                 "(before selection picks one completion)")
    select.set_defaults(run=_select)

    training = commands.add_parser("train", help="train models from an export")
    _training_options(training)
    training.add_argument("--output", default="models", help="where models go (default ./models)")
    training.add_argument("--versioning", action="store_true", help="keep older models: name them _v1, _v2, …")
    training.add_argument("--deploy", action="store_true", help="then point the config file's labels at the new "
                                                                "models (rewritten atomically)")
    training.set_defaults(run=_train)

    curve = commands.add_parser("learning-curve", help="train on growing shares of the training tasks, score each "
                                                       "model on the same test tasks: does more annotation help?")
    _training_options(curve)
    curve.add_argument("--fractions", nargs="+", type=float, default=list(DEFAULT_FRACTIONS), metavar="F",
                       help="shares of the training tasks, each in (0, 1] (default 0.25 0.5 0.75 1)")
    curve.add_argument("--plot", metavar="PNG", help="also draw the curve into this PNG (needs matplotlib: "
                                                     "pip install 'alab-training[plot]')")
    curve.add_argument("--json", metavar="FILE", help="also write every point's figures to this JSON file")
    curve.add_argument("--scratch", help="where each point's model is trained and then deleted (default: the "
                                         "system's temporary folder)")
    curve.set_defaults(run=_learning_curve)
