"""Every public function checks its arguments: a wrong one is a ParamsError naming it, raised before anything is
read, written or started — never an AttributeError or TypeError from deep inside. And the training parameters
refuse what would only fail later."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alab_training
from alab_training import (
    ActiveLearning,
    JobRunner,
    ModelRegistry,
    ParamsError,
    TrainingParams,
    agreement,
    compare,
    compare_with_previous,
    deploy,
    evaluate,
    iter_tasks,
    iter_training,
    learning_curve,
    load_model,
    load_project,
    plot_learning_curve,
    predict,
    rank_by_uncertainty,
    select_completions,
    train,
    write_report,
)
from alab_training.arguments import expect_bool, expect_names, expect_number, expect_path, shown
from alab_training.errors import AlabTrainingError
from alab_training.model import TrainedModel
from tests.conftest import NER_CONFIG

#: Values no argument of the library takes where another type is expected.
ODD = [None, 5, 1.5, float("nan"), True, "", "x", b"x", [], [[1]], {}, {"epochs": 3}, set(), object(), 10**5000,
       "with\0nul", Path("."), ("a",)]


@pytest.fixture(scope="module")
def project():
    return load_project([{"id": 1, "data": {"text": "Fever."}}], config=NER_CONFIG, name="p")


def calls(project, tmp_path):
    """Each public function with one argument of the wrong type, and the argument's name."""
    model = TrainedModel(name="ner_x", kind="ner", path=tmp_path, labels=("PROBLEM",))
    return {
        "train.project": lambda odd: train(odd), "train.params": lambda odd: train(project, odd),
        "train.output_dir": lambda odd: train(project, output_dir=odd),
        "train.versioning": lambda odd: train(project, versioning=odd),
        "train.deploy": lambda odd: train(project, deploy=odd),
        "train.trigger": lambda odd: train(project, trigger=odd),
        "train.known_models": lambda odd: train(project, known_models=odd),
        "train.on_event": lambda odd: train(project, on_event=odd),
        "train.spark": lambda odd: train(project, spark=odd),
        "load_model.spark": lambda odd: load_model(model, spark=odd),
        "learning_curve.spark": lambda odd: learning_curve(project, TrainingParams(validation_split=0.5), spark=odd),
        "ActiveLearning.runner": lambda odd: ActiveLearning(tmp_path / "state", runner=odd),
        "iter_training.project": lambda odd: iter_training(odd),
        "select_completions.project": lambda odd: select_completions(odd),
        "select_completions.params": lambda odd: select_completions(project, odd),
        "load_model.path": lambda odd: load_model(odd),
        "deploy.target": lambda odd: deploy(odd, model), "deploy.model": lambda odd: deploy(NER_CONFIG, odd),
        "deploy.registry": lambda odd: deploy(NER_CONFIG, model, registry=odd),
        "deploy.known_models": lambda odd: deploy(NER_CONFIG, model, known_models=odd),
        "deploy.dry_run": lambda odd: deploy(NER_CONFIG, model, dry_run=odd),
        "deploy.replace_pretrained": lambda odd: deploy(NER_CONFIG, model, replace_pretrained=odd),
        "ModelRegistry.root": lambda odd: ModelRegistry(odd),
        "ModelRegistry.get.name": lambda odd: ModelRegistry(tmp_path).get(odd),
        "load_project.export": lambda odd: load_project(odd, config=NER_CONFIG),
        "load_project.name": lambda odd: load_project([], config=NER_CONFIG, name=odd),
        "load_project.strict": lambda odd: load_project([], config=NER_CONFIG, strict=odd),
        "predict.models": lambda odd: predict(odd, ["text"]),
        "rank_by_uncertainty.project": lambda odd: rank_by_uncertainty([], odd),
        "learning_curve.project": lambda odd: learning_curve(odd, TrainingParams(validation_split=0.5)),
        "learning_curve.params": lambda odd: learning_curve(project, odd),
        "plot_learning_curve.curve": lambda odd: plot_learning_curve(odd, tmp_path / "x.png"),
        "ActiveLearning.state_dir": lambda odd: ActiveLearning(odd),
        "JobRunner.root": lambda odd: JobRunner(odd),
        "evaluate.project": lambda odd: evaluate(model, odd),
        "evaluate.params": lambda odd: evaluate(model, project, odd),
        "compare.project": lambda odd: compare(model, model, odd),
        "compare_with_previous.name": lambda odd: compare_with_previous(odd, project, registry=tmp_path),
        "compare_with_previous.project": lambda odd: compare_with_previous("ner_x", odd, registry=tmp_path),
        "agreement.params": lambda odd: agreement(project, odd),
        "iter_tasks.export": lambda odd: iter_tasks(odd, config=NER_CONFIG),
        "write_report.result": lambda odd: write_report(odd, tmp_path / "report.html"),
    }


#: Values that are of the right type for an argument, so not refused there (a type: every value of it).
ACCEPTED = {
    "train.params": (None,), "evaluate.params": (None,), "agreement.params": (None,),
    "iter_tasks.export": ("x", Path(".")), "compare_with_previous.name": ("x", "with\0nul"),
    "select_completions.params": (None,), "learning_curve.params": (None,),
    "train.known_models": (None, {}), "deploy.known_models": (None, {}), "deploy.registry": (None,),
    "train.on_event": (None,), "deploy.model": (("a",), "", "x", "with\0nul"), "train.output_dir": ("x", Path(".")),
    "load_model.path": ("x", Path("."), "with\0nul"), "deploy.target": ("", "x", b"x", Path("."), "with\0nul"),
    "ModelRegistry.root": ("x", Path(".")), "ModelRegistry.get.name": ("", "x", "with\0nul"),
    "load_project.export": (str, list, dict, Path), "load_project.name": (None, "x", "with\0nul"),
    "train.trigger": ("x", "with\0nul"), "ActiveLearning.state_dir": ("x", Path(".")),
    "JobRunner.root": ("x", Path(".")),
    "train.spark": (None,), "load_model.spark": (None,), "learning_curve.spark": (None,),
    "ActiveLearning.runner": (None,),
    **{name: (True,) for name in ("train.versioning", "train.deploy", "deploy.dry_run", "deploy.replace_pretrained",
                                  "load_project.strict")},
}


@pytest.mark.parametrize("odd", ODD, ids=lambda odd: type(odd).__name__ + (f"={odd!r}"[:12] if isinstance(
    odd, (str, bytes, float, bool)) else ""))
def test_a_wrong_argument_is_a_params_error_naming_it(project, tmp_path, monkeypatch, odd):
    monkeypatch.chdir(tmp_path)  # the names that are fine as paths are looked up, and found empty, here
    for name, call in calls(project, tmp_path).items():
        if any(isinstance(odd, value) if isinstance(value, type) else odd is value
               or (type(odd) is type(value) and odd == value) for value in ACCEPTED.get(name, ())):
            continue
        with pytest.raises(AlabTrainingError) as error:
            call(odd)
        assert isinstance(error.value, ParamsError), (name, error.value)
        assert error.value.field.split("[")[0] == name.rsplit(".", 1)[1], (name, error.value.field)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_a_runner_checks_the_arguments_of_its_methods(tmp_path):
    with JobRunner(tmp_path) as runner:
        for call, field in ((lambda: runner.subscribe("not a function"), "listener"),
                            (lambda: runner.close(wait="no"), "wait"), (lambda: runner.close(cancel=1), "cancel"),
                            (lambda: runner.is_training(None), "project"), (lambda: runner.get(5), "job_id")):
            with pytest.raises(ParamsError) as error:
                call()
            assert error.value.field == field
        assert runner.jobs() == []  # still open: nothing was done by the refused calls


def test_predicting_with_no_model_is_refused_before_the_engine_starts():
    with pytest.raises(ParamsError) as error:
        predict([], ["text"])
    assert error.value.field == "models"


def test_every_public_function_is_covered(project, tmp_path):
    functions = {name for name in alab_training.__all__ if callable(getattr(alab_training, name))
                 and getattr(alab_training, name).__module__.startswith("alab_training.")
                 and not isinstance(getattr(alab_training, name), type)}
    checked = {name.split(".")[0] for name in calls(project, tmp_path)}
    assert functions - checked <= {"hookimpl", "load_config"}  # the marker; load_config: tests/config


# -- the training parameters ------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["validation_split", "seed", "language", "completion_filter", "tie_breaker",
                                   "unannotated_sampling", "options"])
def test_fields_with_a_value_by_default_refuse_none(field):
    with pytest.raises(ParamsError) as error:
        TrainingParams(**{field: None})
    assert error.value.field == field


@pytest.mark.parametrize("field", ["training_type", "epochs", "learning_rate", "decay", "dropout", "batch_size",
                                   "embeddings", "base_model", "choices_name", "threshold", "script",
                                   "script_timeout", "tags"])
def test_fields_where_none_means_the_default_take_it(field):
    assert getattr(TrainingParams(**{field: None}), field) in (None, ())


@pytest.mark.parametrize("value", ["ner\n", "ner ", "\nner", "ñer", "NER", "ner\x00"])
def test_type_names_match_in_full(value):
    with pytest.raises(ParamsError):
        TrainingParams(training_type=value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([f.name for f in attrs.fields(TrainingParams)]),
                       st.sampled_from(ODD) | st.lists(st.sampled_from(ODD), max_size=3)
                       | st.dictionaries(st.sampled_from(ODD[5:8] + ["A"]), st.sampled_from(ODD), max_size=3),
                       max_size=4))
def test_any_value_for_any_field_is_accepted_or_a_params_error(fields):
    try:
        params = TrainingParams(**fields)
    except ParamsError as error:
        assert error.field.split(".")[0] in {f.name for f in attrs.fields(TrainingParams)}
        return
    hash(params)  # and what is accepted is a value: hashable, comparable
    assert params == attrs.evolve(params)


def test_unhashable_and_unsortable_collections_are_params_errors():
    for fields in ({"tags": [["a"]]}, {"test_tags": [{"a": 1}]}, {"annotator_priority": [set()]},
                   {"unannotated_sampling": {"A": 0.5, 1: 0.5}}, {"unannotated_sampling": [("A", [1]), ("A", 2)]},
                   {"unannotated_sampling": ("a",)}, {"unannotated_sampling": [("A", 0.5, 1)]}):
        with pytest.raises(ParamsError):
            TrainingParams(**fields)


# -- the checks themselves ---------------------------------------------------------------------------------------

def test_shown_never_raises_and_stays_short():
    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert shown(Broken()) == "<Broken>" and shown(10**5000) == "<int>" and len(shown("x" * 1000)) == 80


@pytest.mark.parametrize("value", [float("inf"), math.nan, True, "3", None])
def test_numbers_are_finite_and_not_bools(value):
    with pytest.raises(ParamsError):
        expect_number(value, "n")


@given(st.integers() | st.just(10**5000) | st.floats())
def test_numbers_out_of_bounds_are_params_errors_whatever_their_size(value):
    try:
        assert 0 <= expect_number(value, "n", minimum=0, maximum=2**53) <= 2**53
    except ParamsError as error:
        assert error.field == "n"


def test_bools_paths_and_names():
    assert expect_bool(False, "b") is False and expect_path("a", "p") == Path("a")
    assert expect_names(iter(["a", "b"]), "n") == ["a", "b"]
    assert expect_names({"a": None}, "n", values=(str, type(None))) == {"a": None}
    for bad in ("no", 0, 1, None):
        with pytest.raises(ParamsError):
            expect_bool(bad, "b")
    for bad in ("abc", {"a": 1}, [1], b"ab"):
        with pytest.raises(ParamsError):
            expect_names(bad, "n")


@given(st.dictionaries(st.sampled_from([5, 1.5, True, "", b"x", ("a",), "epochs", "1"]) | st.integers(),
                       st.sampled_from(ODD), max_size=4))
def test_a_params_dict_with_any_keys_is_read_or_a_params_error(data):
    from alab_training.params import params_from_dict

    try:
        params_from_dict(data)
    except ParamsError:
        pass


@pytest.mark.parametrize("options", [{"grace": 10**5000}, {"grace": float("inf")}, {"memory_per_job": "9" * 5000 + "g"},
                                     {"memory_per_job": "0g"}, {"memory_per_job": "99999999999999999t"}])
def test_a_runner_refuses_sizes_and_waits_no_machine_has(tmp_path, options):
    with pytest.raises(ParamsError) as error:
        JobRunner(tmp_path, **options)
    assert error.value.field == next(iter(options)) and len(str(error.value)) < 200
