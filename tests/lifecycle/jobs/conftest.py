from __future__ import annotations

import pytest

from alab_training.lifecycle.jobs import JobRunner
from tests.lifecycle.jobs.support import PLUGINS, Gates, child_environment


@pytest.fixture
def gates(tmp_path, monkeypatch):
    folder = tmp_path / "gates"
    folder.mkdir()
    monkeypatch.setenv("ALAB_TRAINING_TEST_GATE", str(folder))
    for name, value in child_environment().items():
        monkeypatch.setenv(name, value)
    return Gates(folder)


@pytest.fixture
def make_runner(tmp_path, gates):
    """Runners on ``tmp_path/runner`` with the test plugins; whatever a test leaves running is cancelled."""
    runners = []

    def make(**options) -> JobRunner:
        runner = JobRunner(tmp_path / "runner", plugins=PLUGINS, **{"max_concurrent": 2, "grace": 5.0, **options})
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close(cancel=True)
