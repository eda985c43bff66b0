"""The commands that read what was trained: ``models`` (a registry folder) and ``jobs`` (a job runner's history)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

__all__ = ["add_commands"]


def _jobs(args: argparse.Namespace, out: TextIO) -> int:
    """The job history, read from a runner's folder (safe while the host's runner is working)."""
    from alab_training.lifecycle.jobs import JobStore

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
    from alab_training.lifecycle.registry import ModelRegistry

    registry = ModelRegistry(args.root)
    models = registry.search(args.search) if args.search else registry.list(project=args.project, kind=args.kind)
    for model in models:
        micro = model.metrics.get("micro", {})
        score = f"F1 {micro['f1']:.3f}" if "f1" in micro else "not scored"
        out.write(f"{model.created_at:%Y-%m-%d %H:%M}  {model.kind:<14}  {model.name}  ({model.project}; "
                  f"{model.trigger}; {score})\n")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``jobs`` and ``models`` to the command line."""
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
