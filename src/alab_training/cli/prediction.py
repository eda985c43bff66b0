"""The commands that put trained models to work on a project: ``predict`` and ``deploy``.

``predict`` writes pre-annotations to import: the export's tasks, each with its ``data`` as the export holds it
and one prediction (Label Studio's import format, which Annotation Lab reads too). ``deploy`` points the
labeling config's ``model=`` attributes at the models, as ``train --deploy`` does.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from alab_training.cli.lookup import model_folder, trained_model
from alab_training.cli.options import add_models_folder, add_project
from alab_training.cli.render import deployment_summary
from alab_training.errors import ParamsError
from alab_training.exports import load_project
from alab_training.files import write_atomically
from alab_training.model import Project, Task

__all__ = ["add_commands"]


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)  # also through a symlink
    except OSError:  # one of them is not there (yet): the same place only if the paths say so
        return first.resolve() == second.resolve()


def _check_output(output: str, inputs: dict[str, str]) -> Path:
    """``-o``, checked before minutes of prediction: never a file the command reads, in a folder that exists."""
    path = Path(output)
    for what, source in inputs.items():
        if _same_file(path, Path(source)):
            raise ParamsError(f"{output} is the {what}, which predict reads: write the predictions to another "
                              f"file (the {what} is left as it is)", field="--output", value=output)
    if path.is_dir():
        raise ParamsError(f"{output} is a folder: name the file to write", field="--output", value=output)
    if not path.parent.is_dir():
        raise ParamsError(f"{path.parent} is not a folder, so {path.name} cannot be written there",
                          field="--output", value=output)
    return path


def _task_data(task: Task, project: Project) -> dict[str, Any]:
    """The task's ``data`` to write back: as the export holds it, since Label Studio refuses an import whose data
    lacks a ``$variable`` of the config; the text under the config's key for a task built in code."""
    if task.data:
        return dict(task.data)
    key = project.config.text_key
    return {key: task.text, **({"title": task.title} if task.title is not None and key != "title" else {})}


def _predict(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.lifecycle.prediction import load_model, predict
    from alab_training.runtime import start_session
    from alab_training.serving.protocol import ls_prediction

    output = _check_output(args.output, {"export": args.export, "labeling config": args.config})
    folders = [model_folder(text, args.models) for text in args.model]
    project = load_project(args.export, config=args.config)
    spark = start_session()
    predictions = predict([load_model(folder, spark=spark) for folder in folders], project.tasks)
    tasks = [{"id": task.id, "data": _task_data(task, project), "predictions": [ls_prediction(prediction)]}
             for task, prediction in zip(project.tasks, predictions)]
    written = write_atomically(output, json.dumps(tasks, indent=2) + "\n")
    regions = sum(len(prediction["result"]) for prediction in predictions)
    empty = sum(not prediction["result"] for prediction in predictions)
    version = predictions[0]["model_version"] if predictions else ", ".join(folder.name for folder in folders)
    out.write(f"{len(tasks)} task(s) pre-annotated by {version}: {regions} result item(s), {empty} task(s) "
              f"with none\npredictions: {written}\n")
    if project.warnings:
        out.write(f"{len(project.warnings)} item(s) of the export left out while loading (see select)\n")
    return 0


def _known_models(items: list[str]) -> dict[str, str | None] | None:
    """``NAME`` or ``NAME=EMBEDDINGS`` items as deploy's ``known_models``."""
    known: dict[str, str | None] = {}
    for item in items:
        name, _, embeddings = item.partition("=")
        if not name.strip():
            raise ParamsError(f"expected NAME or NAME=EMBEDDINGS, got {item!r}", field="--known-models", value=item)
        known[name.strip()] = embeddings.strip() or None
    return known or None


def _where(item: Any) -> str:
    """An element of the config, as a deploy result names it: its path and line."""
    return f"{item.path} (line {item.line})" if item.line else item.path


def _deploy(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.lifecycle.deploy import deploy
    from alab_training.lifecycle.registry import ModelRegistry

    models = [trained_model(text, args.models) for text in args.model]
    result = deploy(args.config, models, registry=ModelRegistry(args.models),
                    known_models=_known_models(args.known_models), replace_pretrained=args.replace_pretrained,
                    dry_run=args.dry_run)
    for item in result.changed:
        out.write(f"{_where(item)}: {item.before or 'none'} -> {item.after}\n")
    for item in result.kept:
        out.write(f"{_where(item)}: kept {item.before} (another model's; --replace-pretrained takes it over)\n")
    out.write(deployment_summary(result, "nowhere (--dry-run)" if args.dry_run
                                 else "nowhere (it already named these models)"))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``predict`` and ``deploy`` to the command line."""
    predict = commands.add_parser("predict", help="pre-annotate an export's tasks with trained models: a tasks "
                                                  "file with predictions to import")
    predict.add_argument("model", nargs="+", help="model folders or names (in --models); several models' results "
                                                  "are merged per task")
    add_project(predict, name_help=None)
    predict.add_argument("-o", "--output", required=True, metavar="JSON",
                         help="the tasks with their predictions, written atomically (never the export)")
    add_models_folder(predict)
    predict.set_defaults(run=_predict)

    deploy = commands.add_parser("deploy", help="point the labeling config's labels at trained models (the file "
                                                "is rewritten atomically)")
    deploy.add_argument("config", help="the labeling config XML file to rewrite")
    deploy.add_argument("model", nargs="+", help="model folders or names (in --models), deployed all or nothing")
    add_models_folder(deploy, "the registry: where names are looked up, and the models the config may name "
                              "(default ./models)")
    deploy.add_argument("--known-models", nargs="+", default=[], metavar="NAME[=EMBEDDINGS]",
                        help="other models the config may name (pretrained ones), with their embeddings if known")
    deploy.add_argument("--replace-pretrained", action="store_true",
                        help="also take over labels that another project's or a pretrained model predicts")
    deploy.add_argument("--dry-run", action="store_true", help="check and show the changes, write nothing")
    deploy.set_defaults(run=_deploy)
