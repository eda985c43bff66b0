"""The ``alab-training`` command line."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from alab_training import events
from alab_training.errors import AlabTrainingError
from alab_training.export import load_project
from alab_training.files import write_atomically
from alab_training.learning_curve import DEFAULT_FRACTIONS
from alab_training.params import TrainingParams
from alab_training.selection import REASONS, Selection, select_completions

__all__ = ["main"]


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")


def _selection_report(selection: Selection, out: TextIO) -> None:
    rows = [
        (str(item.task.id), item.task.title or "", item.split, str(item.completion.id), item.completion.annotator or "",
         "accepted" if item.completion.accepted else "")
        for item in selection.items
    ]
    rows += [(str(task.id), task.title or "", "excluded", "", "", reason.code) for task, reason in selection.excluded]
    _table(rows, ("task", "title", "use", "completion", "annotator", "review / reason"), out)
    train, test = len(selection.train), len(selection.test)
    out.write(f"\nused {len(selection)} task(s): {train} train, {test} test; excluded {len(selection.excluded)}\n")
    for code, count in sorted(selection.excluded_counts().items()):
        out.write(f"  {code}: {count} — {REASONS[code]}\n")


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
    if args.json:
        json.dump({
            "used": [{"task": i.task.id, "completion": i.completion.id, "split": i.split} for i in selection.items],
            "excluded": [{"task": t.id, "reason": r.code, "message": r.message} for t, r in selection.excluded],
            "warnings": [{"path": w.path, "code": w.code, "message": w.message} for w in project.warnings],
        }, out, indent=2)
        out.write("\n")
        return 0
    _selection_report(selection, out)
    if project.warnings:
        out.write(f"\n{len(project.warnings)} item(s) left out while loading:\n")
        for warning in project.warnings:
            out.write(f"  {warning.path}: {warning.message}\n")
    return 0


class _Progress:
    """Renders training events on a terminal: a bar per training, epoch losses, then the scores."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()

    def __call__(self, event: events.TrainingEvent) -> None:
        if isinstance(event, events.TrainingStarted):
            self.stream.write(f"training {event.training_type}: {event.train_examples} examples, "
                              f"{event.test_examples} to test, {event.epochs} epochs\n")
        elif isinstance(event, events.EpochFinished):
            width = 30
            done = int(width * event.epoch / max(event.epochs, 1))
            loss = f"loss {event.loss:.2f}" if event.loss is not None else ""
            line = f"  [{'#' * done}{'.' * (width - done)}] epoch {event.epoch}/{event.epochs} {loss} " \
                   f"({event.seconds or 0:.1f}s)"
            self.stream.write(("\r" + line) if self.interactive else line + "\n")
            if self.interactive and event.epoch == event.epochs:
                self.stream.write("\n")
        elif isinstance(event, events.TrainingFailed):
            self.stream.write(f"training {event.training_type} failed\n")
        self.stream.flush()


def _score_table(metrics: dict[str, dict[str, float]]) -> list[str]:
    rows = [(label, f"{v.get('precision', 0):.3f}", f"{v.get('recall', 0):.3f}", f"{v.get('f1', 0):.3f}",
             str(int(v.get("support", 0)))) for label, v in metrics.items() if isinstance(v, dict) and "f1" in v]
    buffer = io.StringIO()
    _table(rows, ("label", "precision", "recall", "f1", "support"), buffer)
    return buffer.getvalue().splitlines()


def _silence_engine_stdout(spark) -> None:
    """Spark NLP prints every log line to the JVM's stdout; the CLI shows them as a progress bar instead.

    Only the CLI owns its process, so only the CLI may redirect the JVM's stdout (the log file is unaffected).
    """
    jvm = spark.sparkContext._jvm
    jvm.java.lang.System.setOut(jvm.java.io.PrintStream(jvm.java.io.OutputStream.nullOutputStream()))


def _training_params(args: argparse.Namespace) -> TrainingParams:
    return TrainingParams(
        training_type=args.type, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        dropout=args.dropout, validation_split=args.validation_split, test_tags=tuple(args.test_tags),
        tags=tuple(args.tags), completion_filter="reviewed_only" if args.reviewed_only else "all_submitted",
        embeddings=args.embeddings, language=args.language, seed=args.seed, threshold=args.threshold,
        base_model=args.base_model, script=args.script, script_timeout=args.script_timeout,
    )


def _train(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.engine import start_session
    from alab_training.training import train

    params = _training_params(args)
    project = load_project(args.export, config=args.config, name=args.name)
    spark = start_session()
    _silence_engine_stdout(spark)
    result = train(project, params, spark=spark, output_dir=args.output, versioning=args.versioning,
                   deploy=args.deploy, on_event=_Progress(sys.stderr))
    for model in result.models:
        out.write(f"\n{model.name} ({model.kind})\n")
        if model.metrics:
            out.write("\n".join(_score_table(model.metrics)) + "\n")
        out.write(f"model: {model.path}\nlog:   {model.log_path}\n")
    if result.deployment is not None:
        where = result.deployment.written or "nowhere (the config did not come from a file)"
        out.write(f"\ndeployed: {len(result.deployment.changed)} model attribute(s) set; config written to {where}\n")
    return 0


def _learning_curve(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.engine import start_session
    from alab_training.learning_curve import learning_curve, plot_learning_curve, require_plotting

    if args.plot:
        require_plotting()  # before minutes of training, not after
    params = _training_params(args)
    project = load_project(args.export, config=args.config, name=args.name)
    spark = start_session()
    _silence_engine_stdout(spark)
    curve = learning_curve(project, params, fractions=args.fractions, spark=spark, output_dir=args.scratch,
                           on_event=_Progress(sys.stderr))
    out.write(f"\n{curve.project}: {len(curve.test_tasks)} evaluation task(s), the same for every point; "
              f"{curve.available_train_tasks} training task(s) in all\n{curve.table()}\n")
    if args.json:
        write_atomically(args.json, json.dumps(curve.as_dict(), indent=2))
        out.write(f"figures: {args.json}\n")
    if args.plot:
        out.write(f"plot:    {plot_learning_curve(curve, args.plot)}\n")
    return 0


def _jobs(args: argparse.Namespace, out: TextIO) -> int:
    """The job history, read from a runner's folder (safe while the host's runner is working)."""
    from alab_training.jobs import JobStore

    store = JobStore(Path(args.root) / "jobs.sqlite")
    if args.id:
        job = store.get(args.id)
        out.write(f"{job.id}  {job.project}  {job.status.value}  trigger {job.trigger}\n"
                  f"submitted {job.created_at:%Y-%m-%d %H:%M:%S}  log {job.log_path}\n")
        if job.progress.epochs:
            out.write(f"epoch {job.progress.epoch}/{job.progress.epochs}  loss {job.progress.loss}\n")
        if job.error:
            out.write(f"error: {job.error}\n")
        for model in job.result.models if job.result else ():
            out.write(f"model {model.name}: {model.path}\n")
        return 0
    for job in store.jobs(project=args.project, status=args.status):
        out.write(f"{job.id}  {job.created_at:%Y-%m-%d %H:%M}  {job.status.value:<9}  {job.project}\n")
    return 0


def _models(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.registry import ModelRegistry

    registry = ModelRegistry(args.root)
    models = registry.search(args.search) if args.search else registry.list(project=args.project, kind=args.kind)
    for model in models:
        micro = model.metrics.get("micro", {})
        score = f"F1 {micro['f1']:.3f}" if "f1" in micro else "not scored"
        out.write(f"{model.created_at:%Y-%m-%d %H:%M}  {model.kind:<14}  {model.name}  ({model.project}; "
                  f"{model.trigger}; {score})\n")
    return 0


def _engine(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.engine import engine_profile, provision_jars

    profile = engine_profile()
    jars = provision_jars(profile)
    out.write(f"Spark NLP {profile.spark_nlp}: {len(jars)} jars ready in {jars[0].parent}\n")
    return 0


def _training_options(command: argparse.ArgumentParser) -> None:
    """What ``train`` and ``learning-curve`` share: the project and the training parameters."""
    command.add_argument("export", help="the export file (.json, or Label Studio .csv/.tsv)")
    command.add_argument("--config", required=True, help="the labeling config XML")
    command.add_argument("--name", help="the project name, used in model names (default: the export's file name)")
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
    command.add_argument("--embeddings", help="a GloVe/word2vec file, a saved Spark NLP embeddings model, or a "
                                              "registered name (default: GloVe 6B 50d for English)")
    command.add_argument("--language", default="en")
    command.add_argument("--seed", type=int, default=42)
    command.add_argument("--threshold", type=float, help="multi-label classification: the decision threshold "
                                                         "(default: tuned on the training side)")
    command.add_argument("--base-model", help="NER: a trained model to start from (a folder; train also takes the "
                                              "name of a model in --output)")
    command.add_argument("--script", help="with --type script: your training script (see docs/custom-scripts.md)")
    command.add_argument("--script-timeout", type=float, help="seconds before the script is stopped")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alab-training", description="Train NLP models from annotation exports.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    select = commands.add_parser("select", help="show which completion of each task would be trained on, and why "
                                                "tasks are left out")
    select.add_argument("export", help="the export file (.json, or Label Studio .csv/.tsv)")
    select.add_argument("--config", required=True, help="the labeling config XML")
    select.add_argument("--name", help="the project name (default: the export's file name)")
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

    jobs = commands.add_parser("jobs", help="a job runner's history: every training it ran, queued or runs")
    jobs.add_argument("id", nargs="?", help="one job, in detail")
    jobs.add_argument("--root", required=True, help="the runner's folder")
    jobs.add_argument("--project", help="only this project's jobs")
    jobs.add_argument("--status", help="queued, running, succeeded, failed or cancelled")
    jobs.set_defaults(run=_jobs)

    models = commands.add_parser("models", help="list the trained models in a folder, newest first")
    models.add_argument("root", nargs="?", default="models", help="the models folder (default ./models)")
    models.add_argument("--project", help="only this project's models")
    models.add_argument("--kind", help="ner, assertion, classification, …")
    models.add_argument("--search", help="models whose project or name contains this text")
    models.set_defaults(run=_models)

    engine = commands.add_parser("engine", help="fetch and cache the Spark NLP jars (done automatically on first "
                                                "training)")
    engine.set_defaults(run=_engine)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.run(args, out)
    except AlabTrainingError as exc:
        sys.stderr.write(f"alab-training: error: {exc}\n")
        return 2
