"""Token-level scores and the context tokenizer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alab_training import ParamsError
from alab_training.evaluation.tokens import simple_tokens, token_label_sets, token_scores
from alab_training.metrics import multilabel_scores
from tests.evaluation.test_matching import document


def test_token_label_sets_mark_every_touched_token():
    # "aspirin 81 mg daily": tokens at 0-7, 8-10, 11-13, 14-19.
    tokens = [(0, 7), (8, 10), (11, 13), (14, 19)]
    assert token_label_sets([(8, 13, "Dose"), (3, 9, "Drug")], tokens) == [
        frozenset({"Drug"}), frozenset({"Drug", "Dose"}), frozenset({"Dose"}), frozenset()]
    # A span lying in the whitespace between two tokens touches neither.
    assert token_label_sets([(7, 8, "X")], tokens) == [frozenset()] * 4


def test_token_scores():
    tokens = [(0, 7), (8, 10), (11, 13), (14, 19)]
    scores = token_scores([(0, 13, "Drug")], [(0, 7, "Drug"), (14, 19, "Drug")], tokens)
    drug = scores.per_label["Drug"]
    assert (drug.tp, drug.fp, drug.fn) == (1, 1, 2)
    assert scores.accuracy == pytest.approx(1 / 4)


def test_tokens_must_be_sorted_and_disjoint():
    with pytest.raises(ParamsError) as caught:
        token_label_sets([], [(0, 5), (3, 7)])
    assert caught.value.field == "tokens[1]"


@settings(max_examples=200, deadline=None)
@given(document(), st.lists(st.integers(1, 4), min_size=1, max_size=20))
def test_token_sets_match_a_brute_force_scan(doc, lengths):
    tokens, position = [], 0
    for length in lengths:
        tokens.append((position, position + length))
        position += length + 1
    gold, predicted = doc
    expected = [frozenset(label for s, e, label in gold if s < te and ts < e) for ts, te in tokens]
    assert token_label_sets(gold, tokens) == expected
    assert token_scores(gold, predicted, tokens) == multilabel_scores(expected, token_label_sets(predicted, tokens))


def test_simple_tokens():
    text = "Dr. O'Neil's BP: 120/80\nok"
    assert [text[s:e] for s, e in simple_tokens(text)] == [
        "Dr", ".", "O", "'", "Neil", "'", "s", "BP", ":", "120", "/", "80", "ok"]
    assert simple_tokens("  ") == []
    text = "Überweisung zu Müller"
    assert [text[s:e] for s, e in simple_tokens(text)] == ["Überweisung", "zu", "Müller"]
