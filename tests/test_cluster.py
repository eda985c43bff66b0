"""``train(project, params, spark=session)`` against a Spark standalone cluster started on this machine.

``tools/cluster_check.py`` starts a master and two workers from the pyspark distribution, trains NER through the
public API with a session bound to that master, and checks with the master's, the workers' and the driver's own
figures that the Spark jobs ran in the workers' executors. It runs in a child process: a Python process holds one
SparkContext, and the tests' embedded session may be running in this one.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("embeddings", ["glove_6b_50d", "minilm_l6_v2"])
def test_training_runs_on_the_workers_of_a_standalone_cluster(embeddings):
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "cluster_check.py"), "--train-tasks", "10", "--test-tasks", "5",
         "--epochs", "1", "--driver-memory", "3g", "--embeddings", embeddings],
        capture_output=True, text=True, timeout=1200, check=False)
    report = done.stdout[-4000:] + "\n" + done.stderr[-4000:]
    assert done.returncode == 0, report
    assert "cluster check passed" in done.stdout, report
    executors = re.findall(r"^(\d+)\s+(worker-\S+)\s+127\.0\.0\.1:\d+\s+(\d+)\s+0\s", done.stdout, re.M)
    assert len(executors) == 2, report
    assert len({worker for _, worker, _ in executors}) == 2  # one executor on each worker
    assert all(int(tasks) > 0 for *_, tasks in executors), report
    assert re.search(r"tasks completed on the workers: [1-9]\d*; on the driver: 0$", done.stdout, re.M), report
    assert re.search(rf"embeddings \S*{embeddings}\S*: entity micro F1 [01]\.\d{{4}} in [\d.]+s; model saved: True",
                     done.stdout), report
