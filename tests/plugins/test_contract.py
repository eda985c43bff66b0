"""The trainer contract as docs/plugins.md states it: a trainer written from that page alone installs, receives its
typed option and trains; registration runs once per manager; names are used as given or refused loudly."""

from __future__ import annotations

import re

import attrs
import pytest

import alab_training.plugins.manager as plugins
from alab_training import (
    Evaluated,
    ParamsError,
    PluginError,
    TrainedModel,
    Trainer,
    TrainingFinished,
    TrainingParams,
    TrainingStarted,
    hookimpl,
    load_project,
    train,
)
from alab_training.plugins.manager import create_plugin_manager, get_plugin_manager
from tests.conftest import NER_CONFIG, REPO, pip_installed

PAGE = (REPO / "docs" / "plugins.md").read_text()
BLOCKS = dict(re.findall(r'^```\w+ title="([^"]+)"\n(.*?)^```$', PAGE, re.S | re.M))


def fever_tasks(count: int = 12, rare_every: int = 4) -> list[dict]:
    """``fever`` in every task; ``rash`` labelled only in every ``rare_every``-th one."""
    tasks = []
    for i in range(count):
        result = [{"type": "labels", "from_name": "label", "value": {"start": 0, "end": 5, "labels": ["PROBLEM"]}}]
        if i % rare_every == 0:
            result.append({"type": "labels", "from_name": "label",
                           "value": {"start": 10, "end": 14, "labels": ["PROBLEM"]}})
        tasks.append({"id": i, "data": {"text": "Fever and rash."}, "completions": [
            {"id": i, "submitted_at": "2024-01-01T00:00:00", "honeypot": False, "result": result}]})
    return tasks


@pytest.fixture
def phrases_package(tmp_path, monkeypatch):
    """The page's package, pip-installed from its own files; the process-wide plugin manager reloaded."""
    assert set(BLOCKS) == {"alab_training_phrases.py", "pyproject.toml"}
    package = tmp_path / "alab-training-phrases"
    package.mkdir()
    for name, text in BLOCKS.items():
        (package / name).write_text(text)
    monkeypatch.setenv("ALAB_TRAINING_LOAD_PLUGINS", "phrases")
    monkeypatch.setattr(plugins, "_manager", None)
    with pip_installed(package, "alab-training-phrases", "alab_training_phrases"):
        yield


def test_a_trainer_written_from_the_page_receives_its_option_and_trains(phrases_package, tmp_path):
    project = load_project(fever_tasks(), config=NER_CONFIG, name="fevers")
    kept = {}
    for min_count in (1, 4):
        params = TrainingParams(training_type="phrases", options={"phrases": {"min_count": min_count}})
        model = train(project, params, output_dir=tmp_path / f"models{min_count}").model("phrases")
        assert model.path == tmp_path / f"models{min_count}" / "phrases_fevers_annotation_manual"
        kept[min_count] = (model.path / "phrases.txt").read_text().split("\n")
    assert kept == {1: ["fever", "rash"], 4: ["fever"]}  # "rash" is labelled in 3 of the 12 tasks

    with pytest.raises(ParamsError) as bad:
        train(project, TrainingParams(training_type="phrases", options={"phrases": {"min_count": 0}}),
              output_dir=tmp_path / "bad")
    assert bad.value.field == "options.phrases.min_count"
    with pytest.raises(ParamsError) as unknown:
        train(project, TrainingParams(training_type="phrases", options={"phrases": {"minimum": 2}}),
              output_dir=tmp_path / "bad")
    assert unknown.value.field == "options.phrases.minimum"
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


# -- the host's side of the contract ---------------------------------------------------------------------------


@attrs.frozen
class CountOptions:
    minimum: int = attrs.field(default=1, validator=attrs.validators.ge(1))


class CountTrainer(Trainer):
    """Counts its training tasks; names its model as told by ``name``."""

    training_type = "counter"
    options_type = CountOptions
    name = "counter_model"

    def model_name(self, project, params):
        return self.name

    def train(self, request):
        yield TrainingStarted(self.training_type, len(request.selection.train), 0, 1)
        (request.output_dir / "options.txt").write_text(str(request.options.minimum))
        yield Evaluated({})
        yield TrainingFinished(TrainedModel(name=request.model_name, kind=self.training_type,
                                            path=request.output_dir))


class Counting:
    """A plugin object that counts how often its registration hook runs."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.calls = 0

    @hookimpl
    def register_trainers(self, register):
        self.calls += 1
        register(self.trainer)


@pytest.fixture
def counting():
    plugin = Counting(CountTrainer())
    manager = get_plugin_manager()
    manager.register(plugin, name="counting")
    yield plugin
    manager.unregister(name="counting")


def test_registration_runs_once_per_manager(counting, tmp_path):
    project = load_project(fever_tasks(), config=NER_CONFIG, name="fevers")
    for _ in range(3):
        train(project, TrainingParams(training_type="counter"), output_dir=tmp_path)
        get_plugin_manager().trainers()
    assert counting.calls == 1
    get_plugin_manager().register(object(), name="another")  # a registration rebuilds the registry, once
    get_plugin_manager().trainers()
    get_plugin_manager().trainers()
    get_plugin_manager().unregister(name="another")
    get_plugin_manager().trainers()
    assert counting.calls == 3  # rebuilt after the register and after the unregister


def test_the_model_name_is_used_as_given(counting, tmp_path):
    project = load_project(fever_tasks(), config=NER_CONFIG, name="fevers")
    counting.trainer.name = "My_Counter_2"
    model = train(project, TrainingParams(training_type="counter"), output_dir=tmp_path).model("counter")
    assert model.name == "My_Counter_2" and model.path == tmp_path / "My_Counter_2"


@pytest.mark.parametrize("name", ["my counter", "../escape", "", "x/y", "ünïcode", "_hidden"])
def test_a_model_name_that_cannot_be_one_is_refused_before_training(counting, tmp_path, name):
    project = load_project(fever_tasks(), config=NER_CONFIG, name="fevers")
    counting.trainer.name = name
    with pytest.raises(PluginError, match="model name"):
        train(project, TrainingParams(training_type="counter"), output_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_options_reach_the_trainer_typed(counting, tmp_path):
    project = load_project(fever_tasks(), config=NER_CONFIG, name="fevers")
    model = train(project, TrainingParams(training_type="counter", options={"counter": {"minimum": 3}}),
                  output_dir=tmp_path).model("counter")
    assert (model.path / "options.txt").read_text() == "3"


@pytest.mark.parametrize(("options", "field"), [
    ({"counter": {"minimum": 0}}, "options.counter.minimum"),        # attrs' own validator
    ({"counter": {"maximum": 3}}, "options.counter.maximum"),        # an unknown key
    ({"countr": {"minimum": 3}}, "options.countr"),                   # no trainer of that type
    ({"gazetteer_x": {}}, "options.gazetteer_x"),
    ({"ner": {"anything": 1}}, "options.ner"),                        # a trainer that takes no options
])
def test_bad_options_name_their_path(counting, tmp_path, options, field):
    project = load_project(fever_tasks(), config=NER_CONFIG, name="fevers")
    with pytest.raises(ParamsError) as error:
        train(project, TrainingParams(training_type="counter", options=options), output_dir=tmp_path)
    assert error.value.field == field


@pytest.mark.parametrize("options", [[], {"Counter": {}}, {"counter": []}, {"counter": {1: 2}}])
def test_malformed_options_are_refused_by_the_params(options):
    with pytest.raises(ParamsError) as error:
        TrainingParams(options=options)
    assert error.value.field.startswith("options")


def test_a_structural_trainer_gets_the_defaults():
    class Plain:
        training_type = "plain"

        def train(self, request):
            return iter(())

    manager = create_plugin_manager(load_entry_points=False)

    class Plugin:
        @hookimpl
        def register_trainers(self, register):
            register(Plain())

    manager.register(Plugin())
    trainer = manager.trainers()["plain"]
    assert isinstance(trainer, Trainer) and not trainer.can_predict and trainer.options_type is None
    assert trainer.model_name(load_project(fever_tasks(), config=NER_CONFIG, name="Dept A"),
                              TrainingParams()) == "plain_Dept_A_annotation_manual"
