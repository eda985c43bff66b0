from __future__ import annotations

import sys
from pathlib import Path

import pytest

from alab_training import PluginError, TrainingParams, hookimpl, load_project, select_completions
from alab_training.model import Evaluated, TrainingFinished, TrainingStarted
from alab_training.plugins.manager import available_trainers, create_plugin_manager
from alab_training.trainers import Trainer, TrainingRequest
from tests.conftest import NER_CONFIG, pip_installed

EXAMPLE_PLUGIN = Path(__file__).parents[2] / "examples" / "plugins" / "alab-training-gazetteer"


class EchoTrainer:
    training_type = "echo"

    def train(self, request):
        yield TrainingStarted("echo", len(request.selection.train), len(request.selection.test), epochs=1)


class EchoPlugin:
    @hookimpl
    def register_trainers(self, register):
        register(EchoTrainer())


def test_registers_in_process_plugins():
    manager = create_plugin_manager(load_entry_points=False)
    manager.register(EchoPlugin(), name="echo")
    trainers = available_trainers(manager)
    assert isinstance(trainers["echo"], Trainer)


def test_two_plugins_cannot_claim_one_training_type():
    manager = create_plugin_manager(load_entry_points=False)
    manager.register(EchoPlugin(), name="echo")
    manager.register(EchoPlugin(), name="echo-again")
    with pytest.raises(PluginError, match="already provided"):
        available_trainers(manager)


@pytest.mark.parametrize("trainer", [object(), type("T", (), {"training_type": "Bad Name", "train": print})()])
def test_malformed_trainers_are_refused(trainer):
    class Plugin:
        @hookimpl
        def register_trainers(self, register):
            register(trainer)

    manager = create_plugin_manager(load_entry_points=False)
    manager.register(Plugin())
    with pytest.raises(PluginError):
        available_trainers(manager)


def test_a_misspelt_hook_fails_fast(monkeypatch):
    class Misspelt:
        @hookimpl
        def register_trainer(self, register):  # singular: not a hook
            pass

    import alab_training.plugins.manager as plugins

    monkeypatch.setattr(plugins, "DEFAULT_PLUGINS", ("tests.test_plugins_misspelt",))
    monkeypatch.setitem(sys.modules, "tests.test_plugins_misspelt", Misspelt())
    with pytest.raises(PluginError, match="unknown hook"):
        create_plugin_manager(load_entry_points=False)


def test_unknown_plugin_names_in_the_env_fail(monkeypatch):
    monkeypatch.setenv("ALAB_TRAINING_LOAD_PLUGINS", "no-such-plugin")
    with pytest.raises(PluginError, match="not installed"):
        create_plugin_manager()


@pytest.fixture(scope="module")
def installed_example_plugin():
    """pip-install the example third-party package, as a user would, and remove it afterwards."""
    with pip_installed(EXAMPLE_PLUGIN, "alab-training-gazetteer", "alab_training_gazetteer"):
        yield


def test_example_plugin_is_found_through_its_entry_point(installed_example_plugin, monkeypatch, tmp_path):
    monkeypatch.delenv("ALAB_TRAINING_LOAD_PLUGINS")
    manager = create_plugin_manager()
    assert manager.get_plugin("gazetteer") is not None
    trainer = available_trainers(manager)["gazetteer"]

    text = "Fever and cough. No fever today."
    tasks = [{"id": i, "data": {"text": text}, "completions": [{
        "id": i, "submitted_at": "2024-01-01T00:00:00", "honeypot": False,
        "result": [{"type": "labels", "from_name": "label", "value": {"start": 0, "end": 5, "labels": ["PROBLEM"]}},
                   {"type": "labels", "from_name": "label",
                    "value": {"start": 20, "end": 25, "labels": ["PROBLEM"]}}]}]} for i in range(20)]
    project = load_project(tasks, config=NER_CONFIG, name="fevers")
    params = TrainingParams(training_type="gazetteer", validation_split=0.3)
    selection = select_completions(project, params)
    events = list(trainer.train(TrainingRequest(project, selection, params, tmp_path, model_name="gazetteer_fevers")))
    assert isinstance(events[0], TrainingStarted) and events[0].train_examples + events[0].test_examples == 20
    (evaluated,) = [e for e in events if isinstance(e, Evaluated)]
    assert evaluated.metrics["micro"]["f1"] == 1.0
    finished = events[-1]
    assert isinstance(finished, TrainingFinished)
    assert finished.model.name == "gazetteer_fevers" and finished.model.path.exists()


def test_entry_points_can_be_switched_off(installed_example_plugin):
    # The autouse fixture sets ALAB_TRAINING_LOAD_PLUGINS="": nothing third-party is loaded.
    assert create_plugin_manager().get_plugin("gazetteer") is None
