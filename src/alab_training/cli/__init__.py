"""The ``alab-training`` command line: one module per group of commands, each adding its own sub-commands.

Every failure is one line on stderr and a non-zero exit status, never a traceback: ``2`` for a usage error and
for an error the library reports (:class:`~alab_training.errors.AlabTrainingError`), ``1`` for an error the
system reports (an ``OSError``) and for anything else (a bug: its traceback goes to the log at debug level),
``130`` when interrupted. Text that the terminal's encoding
cannot show (a lone surrogate in a title) is written escaped rather than failing the command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from alab_training.cli import evaluation, models, prediction, training
from alab_training.errors import AlabTrainingError
from alab_training.serving.command import add_serve_command

__all__ = ["main"]

_LOG = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line like every other failure."""

    def error(self, message: str) -> NoReturn:
        _say(sys.stderr, f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


class _Escaping:
    """A text stream that writes what its encoding cannot hold as backslash escapes instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        """Write ``text``, escaping what the stream's encoding cannot hold."""
        try:
            safe = text.encode(self._encoding, "backslashreplace").decode(self._encoding)
        except LookupError:  # an encoding Python does not know: plain ASCII then
            safe = text.encode("ascii", "backslashreplace").decode("ascii")
        return self._stream.write(safe)

    def __getattr__(self, name: str) -> object:  # flush, isatty, fileno ... as the stream has them
        return getattr(self._stream, name)


def _say(stream: TextIO, line: str) -> None:
    """One line, whatever the message holds: its line breaks are flattened."""
    _Escaping(stream).write(" ".join(line.split()) + "\n")


def _engine(args: argparse.Namespace, out: TextIO) -> int:
    from alab_training.runtime import engine_profile, provision_jars

    profile = engine_profile()
    jars = provision_jars(profile)
    out.write(f"Spark NLP {profile.spark_nlp}: {len(jars)} jars ready in {jars[0].parent}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alab-training", description="Train NLP models from annotation exports.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    training.add_commands(commands)
    models.add_commands(commands)
    evaluation.add_commands(commands)
    prediction.add_commands(commands)
    add_serve_command(commands)
    engine = commands.add_parser("engine", help="fetch and cache the Spark NLP jars (done automatically on first "
                                                "training)")
    engine.set_defaults(run=_engine)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (2 when the library refused the request)."""
    out = _Escaping(out or sys.stdout)
    args = _parser().parse_args(argv)
    # The log goes to stderr escaped too: a warning naming a file whose name is not UTF-8 must not fail.
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s",
                        stream=_Escaping(sys.stderr))
    try:
        return args.run(args, out)
    except AlabTrainingError as exc:
        _say(sys.stderr, f"alab-training: error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say(sys.stderr, "alab-training: interrupted")
        return 130
    except BrokenPipeError:  # the reader of our output went away (| head): nothing left to tell
        return 1
    except OSError as exc:  # the system refused (permissions, a full disk): not a bug, but no request of ours
        where = f": {exc.filename}" if exc.filename else ""
        _say(sys.stderr, f"alab-training: error: {exc.strerror or exc}{where}")
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug, but the command line still ends in one line
        _LOG.debug("unexpected error", exc_info=exc)
        _say(sys.stderr, f"alab-training: error: unexpected {type(exc).__name__}: {exc} (a bug: please report it)")
        return 1
