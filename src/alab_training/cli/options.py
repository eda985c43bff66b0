"""The arguments several commands share, declared once: the project a command reads and where models are found."""

from __future__ import annotations

import argparse

__all__ = ["EXPORT_HELP", "add_models_folder", "add_project"]

EXPORT_HELP = "the export file (.json, or Label Studio .csv/.tsv)"


def add_project(command: argparse.ArgumentParser, *, export_help: str = EXPORT_HELP,
                name_help: str | None = "the project name (default: the export's file name)") -> None:
    """The export (positional), ``--config`` and, unless ``name_help`` is None, ``--name``."""
    command.add_argument("export", help=export_help)
    command.add_argument("--config", required=True, help="the labeling config XML")
    if name_help is not None:
        command.add_argument("--name", help=name_help)


def add_models_folder(command: argparse.ArgumentParser,
                      help_text: str = "where models named by name are looked up (default ./models)") -> None:
    """``--models DIR``: the registry folder models given by name are found in."""
    command.add_argument("--models", default="models", metavar="DIR", help=help_text)
