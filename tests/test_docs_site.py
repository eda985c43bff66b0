"""The documentation site builds strictly, and what its pages show works: the tutorial's plugin, the CLI reference."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import alab_training.plugins.manager as plugins
from alab_training.cli import main
from tests.conftest import DATA, REPO, pip_installed

DOCS = REPO / "docs"
SMS = DATA / "sms_spam" / "sms_spam_200.tsv"


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # the theme's banner, not a problem


def nav_pages(config: Path) -> list[str]:
    return re.findall(r"^\s*- (?:.*: )?([\w./-]+\.md)\s*$", config.read_text(), re.M)


# -- the site --------------------------------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path):
    done = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    for page in nav_pages(REPO / "mkdocs.yml"):
        built = tmp_path / "site" / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), page


@pytest.fixture
def site_copy(tmp_path):
    """Our ``mkdocs.yml`` over stand-in pages (one per nav entry, linking each other), which builds cleanly."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    pages = nav_pages(tmp_path / "mkdocs.yml")
    (tmp_path / "docs").mkdir()
    for page, following in zip(pages, pages[1:] + pages[:1], strict=True):
        (tmp_path / "docs" / page).write_text(f"# {page}\n\nNext: [the section]({following}#a-section).\n\n"
                                              "## A section\n")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    return tmp_path


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda docs: (docs / "trainers.md").unlink(), "trainers.md"),
    (lambda docs: (docs / "cli.md").write_text("# CLI\n\nSee [the engine](no-such-page.md).\n"), "no-such-page.md"),
    (lambda docs: (docs / "cli.md").write_text("# CLI\n\nSee [graphs](engine.md#no-such-heading).\n"),
     "no-such-heading"),
    (lambda docs: (docs / "stray.md").write_text("# A page nobody links\n"), "stray.md"),
])
def test_the_strict_build_fails_on(site_copy, breakage, message):
    breakage(site_copy / "docs")
    done = build(site_copy / "mkdocs.yml", site_copy / "site")
    assert done.returncode != 0
    assert message in done.stderr


# -- the plugin tutorial ---------------------------------------------------------------------------------------


def titled_blocks(page: Path) -> dict[str, str]:
    """The page's fenced code blocks that carry a ``title="<file name>"``, by file name."""
    return dict(re.findall(r'^```\w+ title="([^"]+)"\n(.*?)^```$', page.read_text(), re.S | re.M))


TUTORIAL = titled_blocks(DOCS / "plugin-tutorial.md")


def test_the_tutorial_trainer_is_under_40_lines():
    assert set(TUTORIAL) == {"alab_training_keywords.py", "pyproject.toml", "train_keywords.py"}
    assert len(TUTORIAL["alab_training_keywords.py"].splitlines()) < 40


@pytest.fixture
def tutorial_package(tmp_path, monkeypatch):
    """The tutorial's package, pip-installed from the page's files; the process-wide plugin manager reloaded."""
    package = tmp_path / "alab-training-keywords"
    package.mkdir()
    for name in ("alab_training_keywords.py", "pyproject.toml"):
        (package / name).write_text(TUTORIAL[name])
    monkeypatch.setenv("ALAB_TRAINING_LOAD_PLUGINS", "keywords")
    monkeypatch.setattr(plugins, "_manager", None)
    with pip_installed(package, "alab-training-keywords", "alab_training_keywords"):
        yield


def test_the_tutorial_trains_through_its_entry_point(tutorial_package, tmp_path, monkeypatch):
    rows = [line.split("\t", 1) for line in SMS.read_text(encoding="utf-8").splitlines()[1:]]
    tasks = [{"id": i, "data": {"text": text}, "completions": [{"id": i, "submitted_at": "2024-01-01T00:00:00",
             "result": [{"type": "choices", "from_name": "spam", "to_name": "text", "value": {"choices": [label]}}]}]}
             for i, (label, text) in enumerate(rows)]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    (tmp_path / "config.xml").write_text('<View><Text name="text" value="$text"/><Choices name="spam" toName="text">'
                                         '<Choice value="ham"/><Choice value="spam"/></Choices></View>')
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(TUTORIAL["train_keywords.py"], "train_keywords.py", "exec"), namespace)

    assert plugins.get_plugin_manager().get_plugin("keywords") is not None  # loaded through the entry point
    model = namespace["model"]
    assert model.kind == "keywords" and model.labels == ("ham", "spam")
    assert printed.getvalue().splitlines()[0] == "models/keywords_sms_annotation_manual"
    assert sorted(p.name for p in model.path.iterdir()) == ["keywords.json", "model.json"]
    # Measured: macro F1 0.967, accuracy 0.979 on the 48 held-out messages (always "ham": macro F1 ≈ 0.44).
    assert model.metrics["macro"]["f1"] >= 0.9 and model.metrics["macro"]["support"] == 48


# -- the command-line reference --------------------------------------------------------------------------------


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_the_cli_reference_has_every_command_and_option(capsys):
    reference = (DOCS / "cli.md").read_text()
    commands = re.search(r"\{([\w,-]+)\}", help_text(capsys)).group(1).split(",")
    assert commands and all(f"## `alab-training {command}`" in reference for command in commands)
    for command in commands:
        section = re.search(rf"^## `alab-training {command}`\n(.*?)(?=^## |\Z)", reference, re.S | re.M).group(1)
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text(capsys, command))) - {"--help"}
        assert [option for option in sorted(options) if f"`{option}`" not in section] == [], command
