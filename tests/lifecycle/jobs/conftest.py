from __future__ import annotations

import pytest

from alab_training.lifecycle.jobs import JobRunner
from tests.lifecycle.jobs.support import PLUGINS, gates_in


@pytest.fixture
def gates(tmp_path, monkeypatch):
    return gates_in(tmp_path, monkeypatch)


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
