"""``alab-training serve``: the Label Studio ML backend on the command line.

    alab-training serve --root DIR [--host 127.0.0.1] [--port 9090] [--label-studio URL --token TOKEN]
                        [--every N] [--deploy/--no-deploy] [--basic-auth USER] [training options]

The CLI adds it with :func:`add_serve_command`; ``python -m alab_training.serving`` takes the same options.
Secrets stay off the command line if you like: the token may come from ``$LABEL_STUDIO_API_KEY`` and the basic
auth password comes from ``$ALAB_TRAINING_SERVE_PASSWORD``; neither is ever logged.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
from typing import Any, TextIO

import attrs

from alab_training.errors import AlabTrainingError, ParamsError, ServingError
from alab_training.params import TrainingParams

__all__ = ["add_serve_command", "add_serve_options", "run"]

TOKEN_VARIABLE = "LABEL_STUDIO_API_KEY"
PASSWORD_VARIABLE = "ALAB_TRAINING_SERVE_PASSWORD"
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the CLI's sub-commands (``parser.add_subparsers()``); it runs :func:`run`."""
    command = subparsers.add_parser("serve", help="serve trained models to Label Studio and train from its "
                                                  "annotations (an ML backend)")
    add_serve_options(command)
    command.set_defaults(run=run)
    return command


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``serve`` (shared with ``python -m alab_training.serving``)."""
    parser.add_argument("--root", required=True, help="the service's folder: jobs, models, state (nothing is "
                                                      "written elsewhere)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other "
                                                             "needs --basic-auth)")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--label-studio", metavar="URL", help="Label Studio's URL, to fetch annotations from")
    parser.add_argument("--token", help=f"Label Studio API token: legacy or personal access token (default "
                                        f"${TOKEN_VARIABLE})")
    parser.add_argument("--every", type=int, metavar="N", help="active learning: train every N new submitted "
                                                               "annotations (default: only START_TRAINING trains)")
    parser.add_argument("--deploy", action=argparse.BooleanOptionalAction, default=True,
                        help="serve each new model as soon as its training succeeded (default: on)")
    parser.add_argument("--basic-auth", metavar="USER", help=f"require HTTP basic auth as USER, with the "
                                                             f"password in ${PASSWORD_VARIABLE}")
    parser.add_argument("--max-body", type=int, default=64 * 2**20, metavar="BYTES",
                        help="largest request body accepted (default 64 MiB)")
    training = parser.add_argument_group("training")
    training.add_argument("--type", help="ner, assertion, classification or a plugin's type (default: every type "
                                         "the labeling config supports)")
    training.add_argument("--epochs", type=int)
    training.add_argument("--learning-rate", type=float)
    training.add_argument("--batch-size", type=int)
    training.add_argument("--validation-split", type=float, help="share of tasks held out for scoring")
    training.add_argument("--params", metavar="JSON", help='any other training parameters, e.g. '
                                                           '\'{"embeddings": "glove_100d"}\'')
    training.add_argument("--max-concurrent", type=int, help="trainings at once (default: from the machine)")
    training.add_argument("--memory-per-job", help="each training's Spark driver memory, e.g. 4g")
    training.add_argument("--memory", help="the service's own Spark driver memory (predictions), e.g. 3g")
    training.add_argument("--plugins", nargs="+", default=[], metavar="MODULE",
                          help="plugin modules to register in every training process")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def training_params(args: argparse.Namespace) -> TrainingParams:
    """The training parameters the options describe.

    Raises:
        ParamsError: a bad value, an unknown key in ``--params``, or ``--params`` that is not a JSON object.
    """
    extra: dict[str, Any] = {}
    if args.params:
        try:
            extra = json.loads(args.params)
        except ValueError as exc:
            raise ParamsError(f"--params is not JSON: {exc}", field="params", value=args.params) from None
        if not isinstance(extra, dict):
            raise ParamsError("--params must be a JSON object", field="params", value=extra)
    given = {"training_type": args.type, "epochs": args.epochs, "learning_rate": args.learning_rate,
             "batch_size": args.batch_size, "validation_split": args.validation_split}
    values = {**extra, **{key: value for key, value in given.items() if value is not None}}
    known = {field.name for field in attrs.fields(TrainingParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParamsError(f"unknown parameter(s) {', '.join(unknown)}", field=unknown[0], value=values[unknown[0]])
    try:
        return TrainingParams(**values)
    except TypeError as exc:
        raise ParamsError(str(exc), field="params", value=values) from None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class RedactSecrets(logging.Filter):
    """Replaces secrets in log records (message and traceback) by ``<hidden>``: a second line of defence, the
    service never formats them into a record in the first place."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        """Hide the secrets in ``record`` (changed in place); always lets it through."""
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self._hide(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._hide(record.exc_text)
        return True

    def _hide(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<hidden>")
        return text


def _logging(level: str, secrets: list[str]) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("alab_training", "uvicorn"):
        logging.getLogger(name).setLevel(level)
    redact = RedactSecrets(secrets)
    for handler in root.handlers:
        handler.addFilter(redact)


def service_config(args: argparse.Namespace) -> Any:
    """The :class:`~alab_training.serving.service.ServiceConfig` the options describe."""
    from alab_training.serving.service import ServiceConfig

    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if args.label_studio and not token:
        raise ServingError(f"--label-studio needs a token: --token or ${TOKEN_VARIABLE}")
    return ServiceConfig(root=args.root, label_studio=args.label_studio, token=token if args.label_studio else None,
                         every=args.every, deploy=args.deploy, params=training_params(args),
                         max_concurrent=args.max_concurrent, memory_per_job=args.memory_per_job,
                         plugins=tuple(args.plugins), spark_memory=args.memory)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status.

    Raises:
        AlabTrainingError: bad options (e.g. another host than loopback without ``--basic-auth``), or a root
            another service uses.
    """
    password = os.environ.get(PASSWORD_VARIABLE) or None
    basic_auth = None
    if args.basic_auth:
        if not password:
            raise ServingError(f"--basic-auth needs the password in ${PASSWORD_VARIABLE}")
        basic_auth = (args.basic_auth, password)
    if not is_loopback(args.host) and basic_auth is None:
        raise ServingError(f"binding {args.host} makes the service reachable from other machines: give "
                           f"--basic-auth USER (and ${PASSWORD_VARIABLE}), or bind 127.0.0.1")
    if args.max_body < 1024:
        raise ServingError("--max-body: expected at least 1024 bytes")
    config = service_config(args)
    _logging(args.log_level, [config.token or "", password or ""])
    from alab_training.serving.http import run_server  # the serve extra: only needed from here on
    from alab_training.serving.service import Service

    service = Service(config)
    out.write(f"alab-training ML backend for Label Studio on http://{args.host}:{args.port} (root {config.root})\n")
    out.flush()
    run_server(service, host=args.host, port=args.port, basic_auth=basic_auth, max_body=args.max_body)
    return 0


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """``python -m alab_training.serving``: the options of ``alab-training serve``."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m alab_training.serving",
                                     description="Serve trained models to Label Studio (an ML backend).")
    add_serve_options(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, out or sys.stdout)
    except AlabTrainingError as exc:
        sys.stderr.write(f"alab-training serve: error: {exc}\n")
        return 2
