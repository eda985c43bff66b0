from __future__ import annotations

import attrs
import pytest

from alab_training import ParamsError, TrainingParams
from alab_training.params import params_from_dict, params_to_dict


def test_defaults():
    params = TrainingParams()
    assert params.training_type is None
    assert params.epochs is None and params.batch_size is None  # the trainer's engine defaults
    assert (params.completion_filter, params.tie_breaker, params.language, params.validation_split) == (
        "all_submitted", "latest", "en", 0.0)


def test_frozen_and_evolve():
    params = TrainingParams(epochs=5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        params.epochs = 6  # type: ignore[misc]
    assert attrs.evolve(params, epochs=6).epochs == 6
    with pytest.raises(ParamsError):
        attrs.evolve(params, epochs=0)


def test_sequences_become_tuples():
    params = TrainingParams(tags=["a", "b", "a"], test_tags="test")
    assert params.tags == ("a", "b") and params.test_tags == ("test",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0), ("epochs", 2.5), ("epochs", True), ("learning_rate", 0), ("learning_rate", 2),
        ("dropout", 1.0), ("dropout", -0.1), ("batch_size", 0), ("validation_split", 1.0),
        ("validation_split", float("nan")), ("completion_filter", "reviewed"), ("tie_breaker", "oldest"),
        ("training_type", "NER!"), ("language", "english"), ("seed", -1), ("tags", [""]), ("tags", [3]),
        ("embeddings", ""), ("decay", -1),
    ],
)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ParamsError) as error:
        TrainingParams(**{field: value})
    assert error.value.field == field


def test_annotator_priority_needs_names():
    with pytest.raises(ParamsError) as error:
        TrainingParams(tie_breaker="annotator_priority")
    assert error.value.field == "annotator_priority"
    assert TrainingParams(tie_breaker="annotator_priority", annotator_priority=["alice"]).annotator_priority == (
        "alice",)


def test_dict_round_trip_and_unknown_keys():
    params = TrainingParams(epochs=3, tags=("x",), training_type="ner")
    assert params_from_dict(params_to_dict(params)) == params
    with pytest.raises(ParamsError) as error:
        params_from_dict({"epoch": 3})
    assert error.value.field == "epoch"
    with pytest.raises(ParamsError):
        params_from_dict([])  # type: ignore[arg-type]
