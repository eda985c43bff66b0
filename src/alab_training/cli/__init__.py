"""The ``alab-training`` command line: one module per group of commands, each adding its own sub-commands.

Every failure the library reports is one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from alab_training.cli import models, training
from alab_training.errors import AlabTrainingError

__all__ = ["main"]


def _engine(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.runtime import engine_profile, provision_jars

    profile = engine_profile()
    jars = provision_jars(profile)
    out.write(f"Spark NLP {profile.spark_nlp}: {len(jars)} jars ready in {jars[0].parent}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alab-training", description="Train NLP models from annotation exports.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    training.add_commands(commands)
    models.add_commands(commands)
    engine = commands.add_parser("engine", help="fetch and cache the Spark NLP jars (done automatically on first "
                                                "training)")
    engine.set_defaults(run=_engine)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (2 when the library refused the request)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.run(args, out)
    except AlabTrainingError as exc:
        sys.stderr.write(f"alab-training: error: {exc}\n")
        return 2
