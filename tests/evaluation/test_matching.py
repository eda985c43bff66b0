"""Span matching: nervaluate 1.2.1's four schemes on hand-made and random spans, exact counts, differences."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nervaluate import Evaluator

from alab_training import ParamsError
from alab_training.evaluation.matching import (
    SCHEMES,
    EntityScores,
    SchemeCounts,
    compare_spans,
    exact_counts,
)

LABELS = ("A", "B", "C")
FIELDS = ("correct", "incorrect", "partial", "missed", "spurious")


def nervaluate_counts(documents):
    """nervaluate's counts for ``[(gold, predicted), ...]``: ``{label | "overall": {scheme: (five counts)}}``.

    Spans go in sorted, as compare_spans takes them, with nervaluate's inclusive end.
    """
    def entities(spans):
        return [{"label": label, "start": start, "end": end - 1} for start, end, label in sorted(spans)]

    true = [entities(gold) for gold, _ in documents]
    pred = [entities(predicted) for _, predicted in documents]
    results = Evaluator(true, pred, tags=list(LABELS), loader="dict").evaluate()
    counts = {label: {s: tuple(getattr(r, f) for f in FIELDS) for s, r in by_scheme.items()}
              for label, by_scheme in results["entities"].items()}
    counts["overall"] = {s: tuple(getattr(r, f) for f in FIELDS) for s, r in results["overall"].items()}
    return counts, results


def our_counts(scores: EntityScores):
    counts = {label: {s: tuple(getattr(row[s], f) for f in FIELDS) for s in SCHEMES}
              for label, row in scores.per_label.items()}
    counts["overall"] = {s: tuple(getattr(scores.overall[s], f) for f in FIELDS) for s in SCHEMES}
    return counts


def assert_matches_nervaluate(documents):
    ours = sum((compare_spans(gold, predicted).scores for gold, predicted in documents), EntityScores())
    expected, results = nervaluate_counts(documents)
    assert our_counts(ours) == expected
    for scheme in SCHEMES:
        reference = results["overall"][scheme]
        mine = ours.overall[scheme]
        assert (mine.precision, mine.recall, mine.f1) == pytest.approx(
            (reference.precision, reference.recall, reference.f1), abs=1e-12)


def span(max_start=40, max_length=8):
    return st.tuples(st.integers(0, max_start), st.integers(1, max_length), st.sampled_from(LABELS)).map(
        lambda t: (t[0], t[0] + t[1], t[2]))


@st.composite
def document(draw, max_length=8):
    gold = draw(st.lists(span(max_length=max_length), max_size=6))
    # Predictions: some near-copies of gold spans (shifted, relabelled) plus some of their own, so every
    # outcome (correct, incorrect, partial, missed, spurious) turns up.
    predicted = []
    for start, end, label in gold:
        if draw(st.booleans()):
            shift_start, shift_end = draw(st.integers(-2, 2)), draw(st.integers(-2, 2))
            new_start, new_end = max(0, start + shift_start), end + shift_end
            if new_end > new_start:
                predicted.append((new_start, new_end, draw(st.sampled_from((label, *LABELS)))))
    predicted += draw(st.lists(span(max_length=max_length), max_size=4))
    return gold, draw(st.permutations(predicted))


# --- hand-made cases -------------------------------------------------------------------------------------------


def test_the_semeval_example_cases():
    # One of each of the cases in David Batista's write-up of the SemEval'13 schemes that nervaluate implements.
    gold = [(0, 5, "A"), (10, 15, "A"), (20, 25, "B"), (30, 35, "A"), (40, 45, "A")]
    predicted = [
        (0, 5, "A"),     # correct everywhere
        (10, 15, "B"),   # same boundaries, wrong type
        (21, 25, "B"),   # right type, wrong boundary
        (31, 36, "B"),   # both wrong
        (50, 55, "C"),   # spurious
    ]                    # (40, 45, "A") is missed
    scores = compare_spans(gold, predicted).scores
    assert scores.overall.strict == SchemeCounts(correct=1, incorrect=3, missed=1, spurious=1)
    assert scores.overall.exact == SchemeCounts(correct=2, incorrect=2, missed=1, spurious=1)
    assert scores.overall.partial == SchemeCounts(correct=2, partial=2, missed=1, spurious=1)
    assert scores.overall.ent_type == SchemeCounts(correct=2, incorrect=2, missed=1, spurious=1)
    # (correct + partial / 2) over 5 predictions and over 5 gold spans.
    assert scores.overall.partial.precision == pytest.approx(3 / 5)
    assert scores.overall.partial.recall == pytest.approx(3 / 5)
    assert_matches_nervaluate([(gold, predicted)])


def test_the_differences_reconcile_with_strict():
    gold = [(0, 5, "A"), (10, 15, "A"), (20, 25, "B"), (30, 35, "A"), (40, 45, "A")]
    predicted = [(0, 5, "A"), (10, 15, "B"), (21, 25, "B"), (31, 36, "B"), (50, 55, "C")]
    comparison = compare_spans(gold, predicted)
    kinds = [d.kind for d in comparison.differences]
    assert kinds == ["wrong_type", "wrong_boundary", "wrong_type_and_boundary", "false_negative", "false_positive"]
    assert comparison.differences[1].gold == (20, 25, "B")
    assert comparison.differences[1].predicted == (21, 25, "B")
    assert (comparison.differences[2].start, comparison.differences[2].end) == (30, 36)
    strict = comparison.scores.overall.strict
    assert len(comparison.differences) == strict.incorrect + strict.missed + strict.spurious


def test_first_come_pairing_is_nervaluates_and_independent_of_input_order():
    gold = [(0, 5, "A")]
    predicted = [(0, 5, "A"), (0, 3, "A")]
    for order in (predicted, predicted[::-1]):
        scores = compare_spans(gold, order).scores
        assert scores.overall.strict == SchemeCounts(incorrect=1, spurious=1)
        assert exact_counts(gold, order) == {"A": (1, 1, 0)}
    assert_matches_nervaluate([(gold, predicted)])


def test_empty_sides():
    assert compare_spans([], []).scores == EntityScores()
    only_gold = compare_spans([(0, 2, "A")], []).scores
    assert only_gold.overall.strict == SchemeCounts(missed=1)
    assert only_gold.overall.strict.f1 == 0.0
    only_predicted = compare_spans([], [(0, 2, "A")])
    assert only_predicted.scores.per_label["A"].exact == SchemeCounts(spurious=1)
    assert [d.kind for d in only_predicted.differences] == ["false_positive"]
    assert_matches_nervaluate([([], []), ([(0, 2, "A")], []), ([], [(0, 2, "A")])])


def test_long_gold_spans_need_one_percent_overlap_like_nervaluate():
    gold = [(0, 300, "A")]
    assert compare_spans(gold, [(299, 305, "A")]).scores.overall.partial == SchemeCounts(missed=1, spurious=1)
    assert compare_spans(gold, [(297, 305, "A")]).scores.overall.partial == SchemeCounts(partial=1)
    assert compare_spans(gold, [(299, 305, "A")], min_overlap_percentage=100).scores.overall.ent_type.missed == 1
    assert_matches_nervaluate([(gold, [(299, 305, "A")]), (gold, [(297, 305, "B")])])


def test_ent_type_takes_the_closest_gold_span():
    gold = [(0, 10, "A"), (2, 6, "A")]
    predicted = [(2, 7, "A")]
    scores = compare_spans(gold, predicted).scores
    assert scores.overall.ent_type == SchemeCounts(correct=1, missed=1)
    assert_matches_nervaluate([(gold, predicted)])


def test_malformed_input_is_refused():
    with pytest.raises(ParamsError) as caught:
        compare_spans([(3, 3, "A")], [])
    assert caught.value.field == "gold[0]"
    with pytest.raises(ParamsError) as caught:
        compare_spans([], [(0, 2, 5)])
    assert caught.value.field == "predicted[0]"
    with pytest.raises(ParamsError):
        compare_spans([], [], min_overlap_percentage=0)
    with pytest.raises(ParamsError):
        exact_counts("A", [])


def test_exact_counts_are_a_multiset_match():
    gold = [(0, 2, "A"), (0, 2, "A"), (4, 6, "B")]
    predicted = [(0, 2, "A"), (4, 6, "A"), (8, 9, "C")]
    assert exact_counts(gold, predicted) == {"A": (1, 1, 1), "B": (0, 0, 1), "C": (0, 1, 0)}


def test_as_dict_and_table():
    scores = compare_spans([(0, 5, "A")], [(0, 5, "A"), (7, 9, "B")]).scores
    data = scores.as_dict()
    assert data["overall"]["strict"]["correct"] == 1
    assert data["B"]["strict"]["spurious"] == 1
    assert data["overall"]["strict"]["precision"] == 0.5
    table = scores.table()
    assert table.splitlines()[0].split()[:3] == ["label", "scheme", "correct"]
    assert len(table.splitlines()) == 1 + 4 * 3


# --- against nervaluate on random spans ------------------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(st.lists(document(), min_size=1, max_size=4))
def test_counts_match_nervaluate(documents):
    assert_matches_nervaluate(documents)


@settings(max_examples=100, deadline=None)
@given(st.lists(document(max_length=220), min_size=1, max_size=3))
def test_counts_match_nervaluate_with_long_spans(documents):
    assert_matches_nervaluate(documents)


@settings(max_examples=200, deadline=None)
@given(document())
def test_invariants(doc):
    gold, predicted = doc
    comparison = compare_spans(gold, predicted)
    for scheme in SCHEMES:
        counts = comparison.scores.overall[scheme]
        assert counts.actual == len(predicted)
        assert counts.possible == len(gold)
    kinds = [d.kind for d in comparison.differences]
    strict = comparison.scores.overall.strict
    assert kinds.count("false_positive") == strict.spurious
    assert kinds.count("false_negative") == strict.missed
    assert len(kinds) - strict.spurious - strict.missed == strict.incorrect
    # Exact matching of the multiset never finds fewer hits than the first-come strict pairing.
    assert sum(tp for tp, _, _ in exact_counts(gold, predicted).values()) >= strict.correct
    assert compare_spans(gold, list(reversed(predicted))) == comparison


def test_random_corpus_against_nervaluate():
    rng = random.Random(7)
    documents = []
    for _ in range(300):
        gold = [(s, s + rng.randint(1, 9), rng.choice(LABELS)) for s in rng.sample(range(80), rng.randint(0, 6))]
        predicted = []
        for start, end, _ in gold:
            if rng.random() < 0.8:
                new_start = max(0, start + rng.randint(-3, 3))
                predicted.append((new_start, max(new_start + 1, end + rng.randint(-3, 3)), rng.choice(LABELS)))
        documents.append((gold, predicted))
    assert_matches_nervaluate(documents)
