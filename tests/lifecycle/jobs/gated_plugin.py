"""A test-only trainer: the example gazetteer's real training, held after it starts until the test opens a gate.

The gate is the file ``$ALAB_TRAINING_TEST_GATE/<project name>``. Once it exists the training goes on; if it
says ``crash``, the process kills itself with SIGKILL instead, as the kernel's out-of-memory killer would. With
``ALAB_TRAINING_TEST_IGNORE_SIGTERM=1`` the process ignores SIGTERM, so only SIGKILL can stop it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from alab_training_gazetteer import GazetteerTrainer

from alab_training import hookimpl

#: A forgotten gate must not leave a process behind for long.
_PATIENCE = 120.0


class GatedTrainer(GazetteerTrainer):
    training_type = "gated"

    def train(self, request):
        steps = super().train(request)
        if os.environ.get("ALAB_TRAINING_TEST_IGNORE_SIGTERM") == "1":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as a process stuck where signals wait would
        yield next(steps)  # TrainingStarted: the job is visibly training from here on
        gate = Path(os.environ["ALAB_TRAINING_TEST_GATE"]) / request.project.name
        deadline = time.monotonic() + _PATIENCE
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"nobody opened {gate}")
            time.sleep(0.05)
        if gate.read_text() == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        yield from steps


@hookimpl
def register_trainers(register):
    register(GatedTrainer())
