"""The training process of one job: ``python -m alab_training.lifecycle.jobs.worker <job folder> --lock-fd N``.

The runner starts it in a process group of its own with stdout and stderr going to ``output.log``. It reads
``spec.json`` and ``project.pickle`` from the job folder, trains, and appends to

- ``events.jsonl``: one JSON object per training event, then ``{"event": "result", …}`` or
  ``{"event": "error", "error": <class>, "message": …}`` — how the runner follows it, even a runner started
  after the one that launched it; ``{"event": "scratch", "path": …}`` names each training's scratch folder;
- ``job.log``: the same, for people.

It holds an exclusive ``flock`` on the job folder's ``lock`` file (taken by the runner before the start, passed
as ``--lock-fd``) for as long as it lives: a free lock means the process is gone, without trusting process ids.
SIGTERM (a cancel) raises inside the training, so the trainer's clean-up (its scratch folder) runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import pluggy

from alab_training.errors import PluginError
from alab_training.lifecycle.jobs.codec import event_to_json, result_to_json
from alab_training.lifecycle.training import train
from alab_training.model import EpochFinished, Evaluated, LogLine, TrainingEvent, TrainingFinished, TrainingStarted
from alab_training.params import params_from_dict
from alab_training.plugins import hookimpl
from alab_training.plugins.manager import check_hooks, get_plugin_manager

__all__ = ["Terminated", "describe", "main", "stamped"]


class Terminated(BaseException):
    """Raised in the training when the process receives SIGTERM.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no trainer's ``except Exception`` swallows it.
    """


def _terminate(signum: int, frame: Any) -> None:
    # A second SIGTERM must not cut the clean-up the first one started; SIGKILL still can.
    signal.signal(signum, signal.SIG_IGN)
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


def describe(event: TrainingEvent) -> str:
    """One line of ``job.log`` for an event."""
    if isinstance(event, TrainingStarted):
        return (f"training {event.training_type}: {event.train_examples} examples, {event.test_examples} to "
                f"test, {event.epochs} epoch(s)")
    if isinstance(event, EpochFinished):
        loss = f", loss {event.loss:.4f}" if event.loss is not None else ""
        seconds = f" ({event.seconds:.1f}s)" if event.seconds is not None else ""
        return f"epoch {event.epoch}/{event.epochs}{loss}{seconds}"
    if isinstance(event, Evaluated):
        micro = event.metrics.get("micro", {})
        figures = ", ".join(f"{k} {micro[k]:.4f}" for k in ("precision", "recall", "f1") if k in micro)
        return f"scores: micro {figures}" if figures else f"scores for {', '.join(event.metrics) or 'nothing'}"
    if isinstance(event, LogLine):
        return event.text
    if isinstance(event, TrainingFinished):
        return f"model {event.model.name} ({event.model.kind}): {event.model.path}"
    return f"{event.training_type} training failed: {event.message}"


def stamped(text: str) -> str:
    """``text`` as ``job.log`` lines: each prefixed with the UTC time."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "".join(f"{stamp} {line}\n" for line in text.splitlines() or [""])


class _Record:
    """Appends to ``events.jsonl`` and ``job.log``, flushing each line so a follower sees it at once."""

    def __init__(self, events_file: TextIO, log: TextIO) -> None:
        self.events_file = events_file
        self.log = log

    def __call__(self, record: dict[str, Any], text: str | None) -> None:
        # A SIGTERM mid-line would leave half a JSON object for the error record to be glued to.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            self.events_file.write(json.dumps(record) + "\n")
            self.events_file.flush()
            if text is not None:
                self.log.write(stamped(text))
                self.log.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


class _ScratchReporter:
    """Records each training's scratch folder before its first event, for the runner to remove should this
    process die before the training could clean up after itself."""

    def __init__(self, record: _Record) -> None:
        self.record = record
        self.reported: set[Path] = set()

    @hookimpl
    def training_event(self, request: Any) -> None:
        if request.output_dir not in self.reported:
            self.reported.add(request.output_dir)
            self.record({"event": "scratch", "path": str(request.output_dir)}, None)


def _register(modules: Sequence[str], record: _Record) -> None:
    """The host's in-process plugins, which do not cross the process boundary by themselves."""
    manager = get_plugin_manager()
    manager.register(_ScratchReporter(record), name=__name__)
    for name in modules:
        if manager.get_plugin(name) is not None:
            continue
        try:
            manager.register(importlib.import_module(name), name=name)
        except (ImportError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"cannot register {name!r} in the training process: {exc}", plugin=name) from exc
    check_hooks(manager)


def _train(folder: Path, record: _Record) -> None:
    spec = json.loads((folder / "spec.json").read_text())
    _register(spec["plugins"], record)
    project = pickle.loads((folder / "project.pickle").read_bytes())
    # The events reach ``record`` through on_event, TrainingFailed included.
    result = train(project, params_from_dict(spec["params"]), output_dir=spec["output_dir"],
                   versioning=spec["versioning"], trigger=spec["trigger"], deploy=spec["deploy"],
                   on_event=lambda event: record(event_to_json(event), describe(event)))
    record({"event": "result", "result": result_to_json(result)},
           f"trained {len(result.models)} model(s)" + (f"; logs: {result.log_bundle}" if result.log_bundle else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job in ``folder`` (see the module docstring); returns the process's exit status."""
    parser = argparse.ArgumentParser(prog="python -m alab_training.lifecycle.jobs.worker")
    parser.add_argument("folder", type=Path, help="the job folder")
    parser.add_argument("--lock-fd", type=int, required=True, help="descriptor of the held job lock")
    args = parser.parse_args(argv)
    # The lock must end with this process, not live on in the JVM or a helper process it starts.
    os.set_inheritable(args.lock_fd, False)
    signal.signal(signal.SIGTERM, _terminate)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    with open(args.folder / "events.jsonl", "a", encoding="utf-8") as events_file, \
            open(args.folder / "job.log", "a", encoding="utf-8") as log:
        record = _Record(events_file, log)
        try:
            _train(args.folder, record)
        except Terminated as exc:
            record({"event": "error", "error": "Terminated", "message": str(exc)}, str(exc))
            return 128 + signal.SIGTERM
        except Exception as exc:  # every failure becomes the job's error; the traceback goes to output.log
            traceback.print_exc()
            record({"event": "error", "error": type(exc).__name__, "message": str(exc)},
                   f"failed: {type(exc).__name__}: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
