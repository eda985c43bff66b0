"""The commands that read what was trained: ``models`` (a registry folder) and ``jobs`` (a job runner's history).

Both only read: a folder that is not there is an error (a typo would otherwise list nothing), and the job
history is never created by looking at it.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path
from typing import TextIO

from alab_training.cli.render import figure
from alab_training.errors import ParamsError

__all__ = ["add_commands"]

_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _folder(value: str, option: str) -> Path:
    """The folder a reading command looks at, which must be there."""
    folder = Path(value)
    try:
        status = folder.stat()
    except OSError as exc:  # also a folder this user may not enter, which is_dir() would raise for
        what = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
        raise ParamsError(f"{value} {what}", field=option, value=value) from exc
    if not stat.S_ISDIR(status.st_mode):
        raise ParamsError(f"{value} is not a folder", field=option, value=value)
    try:
        os.scandir(folder).close()
    except OSError as exc:
        raise ParamsError(f"{value} cannot be read ({exc.strerror or exc})", field=option, value=value) from exc
    return folder


def _jobs(args: argparse.Namespace, out: TextIO) -> int:
    """The job history, read from a runner's folder (safe while the host's runner is working)."""
    from alab_training.errors import JobNotFoundError
    from alab_training.lifecycle.jobs import JobStore

    path = _folder(args.root, "--root") / "jobs.sqlite"
    if not path.exists():  # a runner that never ran: no history, and looking must not create one
        if args.id:
            raise JobNotFoundError(f"no such job (no job history in {args.root})", job_id=args.id)
        return 0
    store = JobStore(path, create=False)
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
    from alab_training.lifecycle.registry import ModelRegistry

    registry = ModelRegistry(_folder(args.root, "root"))
    models = registry.search(args.search) if args.search else registry.list(project=args.project, kind=args.kind)
    for model in models:
        f1 = figure(model.metrics.get("micro", {}).get("f1"))
        score = f"F1 {f1}" if f1 else "not scored"
        out.write(f"{model.created_at:%Y-%m-%d %H:%M}  {model.kind:<14}  {model.name}  ({model.project}; "
                  f"{model.trigger}; {score})\n")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``jobs`` and ``models`` to the command line."""
    jobs = commands.add_parser("jobs", help="a job runner's history: every training it ran, queued or runs")
    jobs.add_argument("id", nargs="?", help="one job, in detail")
    jobs.add_argument("--root", required=True, help="the runner's folder")
    jobs.add_argument("--project", help="only this project's jobs")
    jobs.add_argument("--status", choices=_STATUSES, help="only the jobs in this state")
    jobs.set_defaults(run=_jobs)

    models = commands.add_parser("models", help="list the trained models in a folder, newest first")
    models.add_argument("root", nargs="?", default="models", help="the models folder (default ./models)")
    models.add_argument("--project", help="only this project's models")
    models.add_argument("--kind", help="ner, assertion, classification, …")
    models.add_argument("--search", help="models whose project or name contains this text")
    models.set_defaults(run=_models)
