"""Fixtures of the service's unit tests: a fake Label Studio API, services on real job runners whose trainings
are the example gazetteer (and its gated variant), so that no test here needs Spark, and one behind HTTP."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from alab_training import TrainingParams
from alab_training.serving import Service, ServiceConfig
from alab_training.serving.http import create_app
from tests.lifecycle.jobs.support import PLUGINS, Gates, gates_in
from tests.serving.support import AUTH, LEGACY_TOKEN, FakeLabelStudio

GAZETTEER = TrainingParams(training_type="gazetteer")
GATED = TrainingParams(training_type="gated")


class FakeModels:
    """``load``/``predict`` stand-ins: a gazetteer model is its phrase table; every call is counted."""

    def __init__(self) -> None:
        self.loads: list[Path] = []
        self.predictions = 0

    def load(self, path: Path) -> dict[str, Any]:
        self.loads.append(path)
        return {"name": path.name, "phrases": json.loads((path / "gazetteer.json").read_text())}

    def predict(self, models: list[dict[str, Any]], tasks: list[Any]) -> list[dict[str, Any]]:
        self.predictions += 1
        answers = []
        for index, task in enumerate(tasks):
            text = task if isinstance(task, str) else task["data"]["text"]
            result = []
            for model in models:
                for phrase, label in sorted(model["phrases"].items()):
                    for match in re.finditer(re.escape(phrase), text.lower()):
                        result.append({"id": f"{model['name']}-{len(result)}", "from_name": "label",
                                       "to_name": "text", "type": "labels",
                                       "value": {"start": match.start(), "end": match.end(),
                                                 "text": text[match.start():match.end()], "labels": [label],
                                                 "confidence": 0.75}})
            answers.append({"task": task["id"] if isinstance(task, dict) else index,
                            "model_version": ",".join(model["name"] for model in models),
                            "score": 0.75 if result else None, "result": result})
        return answers


@pytest.fixture
def fake_ls():
    server = FakeLabelStudio()
    yield server
    server.close()


@pytest.fixture
def gates(tmp_path, monkeypatch) -> Gates:
    """The gated trainer's gates; also puts the test plugins on the training processes' path."""
    return gates_in(tmp_path, monkeypatch)


@pytest.fixture
def fake_models() -> FakeModels:
    return FakeModels()


@pytest.fixture
def make_service(tmp_path, fake_ls, gates, fake_models):
    """Started services on ``tmp_path/root`` (the same root each call, as a restart would use); closed after the
    test, their unfinished trainings cancelled."""
    services: list[Service] = []

    def make(**options: Any) -> Service:
        settings = {"root": tmp_path / "root", "label_studio": fake_ls.url, "token": LEGACY_TOKEN,
                    "params": GAZETTEER, "plugins": PLUGINS, "max_concurrent": 1, **options}
        load, predict = settings.pop("load", fake_models.load), settings.pop("predict", fake_models.predict)
        service = Service(ServiceConfig(**settings), load=load, predict=predict).start()
        services.append(service)
        return service

    yield make
    for service in services:
        if service.runner is not None and not service.closed:
            for job in service.runner.jobs(status=["queued", "running"]):
                service.runner.cancel(job.id)
            service.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(make_service):
    """``(url, service)``: a service behind create_app on uvicorn, with basic auth and a 4 KiB body limit."""
    service = make_service()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, basic_auth=AUTH, max_body=4096), host="127.0.0.1",
                                           port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", service
    server.should_exit = True
    thread.join(20)
