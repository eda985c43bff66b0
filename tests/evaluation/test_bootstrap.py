"""The paired bootstrap: verdicts, determinism, and the resampling checked against a plain implementation."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alab_training import ParamsError
from alab_training.evaluation.bootstrap import paired_bootstrap as compare
from alab_training.evaluation.matching import exact_counts


def noisy_tasks(count, *, miss_rate, seed):
    """Per-task counts of a model that misses each gold entity with ``miss_rate`` and adds a false positive."""
    rng = random.Random(seed)
    tasks = []
    for _ in range(count):
        task = {}
        for label in ("Drug", "Disease"):
            gold = rng.randint(0, 4)
            found = sum(rng.random() > miss_rate for _ in range(gold))
            task[label] = (found, int(rng.random() < miss_rate), gold - found)
        tasks.append(task)
    return tasks


def same_gold(model, *, miss_rate, seed):
    """Another model scored against the gold of ``model``."""
    rng = random.Random(seed)
    other = []
    for task in model:
        counts = {}
        for label, (tp, _, fn) in task.items():
            found = sum(rng.random() > miss_rate for _ in range(tp + fn))
            counts[label] = (found, int(rng.random() < miss_rate), tp + fn - found)
        other.append(counts)
    return other


def test_identical_models_show_no_difference():
    model = noisy_tasks(60, miss_rate=0.3, seed=1)
    result = compare(model, model, seed=3)
    for delta in [*result.per_label.values(), result.micro]:
        assert delta.delta == 0.0
        assert delta.low <= 0.0 <= delta.high
        assert delta.verdict == "no detectable difference"


def test_a_clearly_better_model_is_better_and_the_baseline_worse():
    baseline = noisy_tasks(150, miss_rate=0.5, seed=1)
    candidate = same_gold(baseline, miss_rate=0.05, seed=2)
    result = compare(baseline, candidate, resamples=2000, seed=0)
    assert result.micro.verdict == "better"
    assert result.micro.low > 0
    assert result.per_label["Drug"].verdict == "better"
    assert compare(candidate, baseline, seed=0).micro.verdict == "worse"


def test_a_small_difference_on_few_tasks_is_not_detectable():
    baseline = noisy_tasks(8, miss_rate=0.3, seed=4)
    candidate = [dict(task) for task in baseline]
    tp, fp, fn = candidate[0]["Drug"]
    candidate[0]["Drug"] = (tp, fp + 1, fn)  # one more false positive on one task
    assert compare(baseline, candidate).micro.verdict == "no detectable difference"


def test_the_observed_figures():
    baseline = [{"A": (1, 1, 1)}, {"A": (1, 0, 0), "B": (0, 0, 2)}]
    candidate = [{"A": (2, 0, 0)}, {"A": (1, 0, 0), "B": (1, 0, 1)}]
    result = compare(baseline, candidate)
    assert result.per_label["A"].baseline == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert result.per_label["A"].candidate == 1.0
    assert result.per_label["B"].baseline == 0.0
    assert result.per_label["B"].candidate == pytest.approx(2 / 3)
    assert result.micro.baseline == pytest.approx(4 / (4 + 1 + 3))
    assert result.micro.delta == pytest.approx(result.micro.candidate - result.micro.baseline)
    assert result.tasks == 2


def test_seeded_draws_are_deterministic():
    baseline = noisy_tasks(40, miss_rate=0.4, seed=5)
    candidate = same_gold(baseline, miss_rate=0.3, seed=6)
    first, again = compare(baseline, candidate, seed=11), compare(baseline, candidate, seed=11)
    assert first == again
    other = compare(baseline, candidate, seed=12)
    assert (other.micro.low, other.micro.high) != (first.micro.low, first.micro.high)
    assert other.micro.delta == first.micro.delta


def test_the_resampling_is_a_paired_bootstrap_of_tasks():
    """Weights from one draw of task indices per resample equal pooling the drawn tasks one by one."""
    baseline = noisy_tasks(25, miss_rate=0.4, seed=7)
    candidate = same_gold(baseline, miss_rate=0.2, seed=8)
    result = compare(baseline, candidate, resamples=1000, seed=9)
    rng = np.random.default_rng(9)

    def micro_f1(model, drawn):
        tp = sum(model[i][label][0] for i in drawn for label in model[i])
        errors = sum(model[i][label][1] + model[i][label][2] for i in drawn for label in model[i])
        return 2 * tp / (2 * tp + errors) if tp + errors else 0.0

    deltas = []
    for _ in range(1000):
        drawn = rng.integers(0, len(baseline), size=len(baseline))
        deltas.append(micro_f1(candidate, drawn) - micro_f1(baseline, drawn))
    low, high = np.percentile(deltas, [2.5, 97.5])
    assert (result.micro.low, result.micro.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 30), st.integers(0, 1000))
def test_swapping_the_models_mirrors_the_interval(count, seed):
    baseline = noisy_tasks(count, miss_rate=0.4, seed=seed)
    candidate = same_gold(baseline, miss_rate=0.3, seed=seed + 1)
    forward, backward = compare(baseline, candidate, seed=seed), compare(candidate, baseline, seed=seed)
    assert backward.micro.delta == pytest.approx(-forward.micro.delta)
    assert backward.micro.low == pytest.approx(-forward.micro.high, abs=1e-9)
    assert backward.micro.high == pytest.approx(-forward.micro.low, abs=1e-9)
    assert forward.micro.low <= forward.micro.high


def test_counts_from_matching_feed_it():
    gold = [[(0, 4, "Drug")], [(2, 5, "Drug"), (7, 9, "Disease")]]
    baseline = [exact_counts(g, []) for g in gold]
    candidate = [exact_counts(g, g) for g in gold]
    result = compare(baseline, candidate)
    assert result.micro.candidate == 1.0
    assert result.micro.baseline == 0.0


def test_as_dict_and_table():
    model = noisy_tasks(10, miss_rate=0.3, seed=1)
    result = compare(model, same_gold(model, miss_rate=0.1, seed=2))
    data = json.loads(json.dumps(result.as_dict()))
    assert set(data["per_label"]) == {"Disease", "Drug"}
    assert data["resamples"] == 1000
    table = result.table()
    assert "95% interval" in table.splitlines()[0]
    assert table.splitlines()[-2].startswith("micro")
    assert "1000 paired bootstrap resamples" in table


def test_bad_inputs():
    model = [{"A": (1, 0, 0)}]
    with pytest.raises(ParamsError) as caught:
        compare(model, model, resamples=999)
    assert caught.value.field == "resamples"
    for settings_ in ({"confidence": 1.0}, {"confidence": 0}, {"seed": -1}, {"seed": 1.5}):
        with pytest.raises(ParamsError):
            compare(model, model, **settings_)
    with pytest.raises(ParamsError):
        compare([], [])
    with pytest.raises(ParamsError) as caught:
        compare(model, model + model)
    assert caught.value.field == "candidate"
    with pytest.raises(ParamsError) as caught:
        compare(model, [{"A": (1, 0, 1)}])  # a gold span the baseline never saw
    assert caught.value.field == "candidate[0]"
    with pytest.raises(ParamsError) as caught:
        compare(model, [{"A": (1, -1, 0)}])
    assert caught.value.field == "candidate[0]['A']"
    with pytest.raises(ParamsError):
        compare({"A": (1, 0, 0)}, model)
