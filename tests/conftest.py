from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data"
ALAB_DEMO = DATA / "alab" / "alab_demo.json"
LABEL_STUDIO = DATA / "label_studio"

ALAB_DEMO_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="DATE"/><Label value="PROBLEM"/><Label value="TEST"/><Label value="TREATMENT"/>
    <Label value="ABSENT" assertion="true"/>
  </Labels>
  <Relations><Relation value="is_date_of"/><Relation value="is_test_of"/><Relation value="is_treatment_of"/></Relations>
  <Choices name="sentiment" toName="text" choice="single"><Choice value="Female"/><Choice value="Male"/></Choices>
</View>"""

NER_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="PROBLEM"/><Label value="TEST"/><Label value="Absent" assertion="true"/>
  </Labels>
  <Choices name="kind" toName="text" choice="multiple"><Choice value="a"/><Choice value="b"/></Choices>
</View>"""


@pytest.fixture(autouse=True)
def _isolated_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no third-party plugins unless they ask for them (then they set the variable themselves)."""
    monkeypatch.setenv("ALAB_TRAINING_LOAD_PLUGINS", "")


@pytest.fixture
def outside_tmp_path():
    """Makes folders other users can reach (tmp_path's parents are root's alone) with a given mode; removed after.

    For tests that drop to another user, to see what it may and may not do there.
    """
    made = []

    def make(mode: int) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="alab-", dir="/tmp"))
        folder.chmod(mode)
        made.append(folder)
        return folder

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def write_json(tmp_path: Path):
    def write(data: object, name: str = "export.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    return write


def pytest_report_header() -> list[str]:
    return [f"ALAB_TRAINING_CACHE={os.environ.get('ALAB_TRAINING_CACHE', '(default)')}"]


@pytest.fixture(scope="session")
def spark():
    """One embedded Spark NLP session for the whole run.

    Never skipped: if the jars cannot be provisioned the error (with Maven's own lines) fails the tests loudly.
    """
    from alab_training.runtime import start_session

    session = start_session(memory=os.environ.get("ALAB_TRAINING_TEST_MEMORY", "6g"), app_name="alab-training-tests")
    yield session
    session.stop()


@contextlib.contextmanager
def pip_installed(folder: Path, distribution: str, module: str) -> Iterator[None]:
    """A plugin package installed with pip from ``folder``, as a user would, and removed afterwards."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(folder)], check=True)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "--yes", distribution], check=True)
        sys.modules.pop(module, None)
