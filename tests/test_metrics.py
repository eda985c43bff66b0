"""Evaluation figures: entity-level scores agree with seqeval 1.2.2, the rest with hand-computed examples."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval import metrics as seqeval
from seqeval.metrics.sequence_labeling import get_entities

from alab_training import metrics
from alab_training.errors import ParamsError
from alab_training.metrics import (
    LabelScore,
    classification_scores,
    entity_scores,
    iob_chunks,
    multilabel_scores,
    token_scores,
)

TYPES = ("Disease", "Drug", "Test")
IOB_TAGS = ("O", *(f"{prefix}-{kind}" for prefix in "BI" for kind in TYPES))
ALL_TAGS = (*IOB_TAGS, *(f"{prefix}-{kind}" for prefix in "ES" for kind in TYPES), "B", "I", "E", "S")


def approx(value: float):
    return pytest.approx(value, abs=1e-9)


def tagged(tags: tuple[str, ...]):
    """(gold, predicted) sentences; each predicted tag is the gold one or a random one, so chunks partly match."""
    token = st.tuples(st.sampled_from(tags), st.sampled_from(tags), st.booleans())
    # seqeval refuses an empty list of sentences (it cannot tell it is a list of lists).
    sentences = st.lists(st.lists(token, max_size=12), min_size=1, max_size=6)
    return sentences.map(lambda drawn: (
        [[gold for gold, _, _ in sentence] for sentence in drawn],
        [[gold if keep else other for gold, other, keep in sentence] for sentence in drawn],
    ))


def assert_row(ours: LabelScore, theirs: dict) -> None:
    assert (ours.precision, ours.recall, ours.f1) == (
        approx(theirs["precision"]), approx(theirs["recall"]), approx(theirs["f1-score"])
    )
    assert ours.support == theirs["support"]


def assert_matches_seqeval(gold: list[list[str]], predicted: list[list[str]]) -> None:
    ours = entity_scores(gold, predicted)
    # zero_division=0 gives seqeval's default figures without its UndefinedMetricWarning; with no chunks at all,
    # seqeval averages an empty array (NaN plus a numpy RuntimeWarning), a case checked below on its own.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = seqeval.classification_report(gold, predicted, output_dict=True, zero_division=0)
    averages = {name: report.pop(name) for name in ("micro avg", "macro avg", "weighted avg")}

    assert list(ours.per_label) == list(report)
    for label, row in report.items():
        assert_row(ours.per_label[label], row)
    assert_row(ours.micro, averages["micro avg"])
    assert ours.micro.precision == approx(seqeval.precision_score(gold, predicted, zero_division=0))
    assert ours.micro.recall == approx(seqeval.recall_score(gold, predicted, zero_division=0))
    assert ours.micro.f1 == approx(seqeval.f1_score(gold, predicted, zero_division=0))
    if report:
        assert_row(ours.macro, averages["macro avg"])
    else:
        assert (ours.macro.precision, ours.macro.recall, ours.macro.f1) == (0.0, 0.0, 0.0)
    for score in ours.rows().values():
        assert score.tp + score.fn == score.support


# --- entity-level: against seqeval ----------------------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(tagged(IOB_TAGS))
def test_entity_scores_match_seqeval_on_iob_tags_with_stray_i(sentences):
    assert_matches_seqeval(*sentences)


@settings(max_examples=400, deadline=None)
@given(tagged(ALL_TAGS))
def test_entity_scores_match_seqeval_on_iobes_and_bare_tags(sentences):
    assert_matches_seqeval(*sentences)


def test_seqeval_docstring_example():
    gold = [["O", "O", "B-MISC", "I-MISC", "B-MISC", "O", "O"], ["B-PER", "I-PER", "O"]]
    predicted = [["O", "O", "B-MISC", "I-MISC", "B-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = entity_scores(gold, predicted)
    assert scores.per_label == {
        "MISC": LabelScore(0.5, 0.5, 0.5, support=2, tp=1, fp=1, fn=1),
        "PER": LabelScore(1.0, 1.0, 1.0, support=1, tp=1, fp=0, fn=0),
    }
    assert scores.micro.f1 == approx(2 / 3)
    assert (scores.macro.precision, scores.macro.recall, scores.macro.f1) == (0.75, 0.75, 0.75)
    assert (scores.macro.support, scores.macro.tp, scores.macro.fp, scores.macro.fn) == (3, 2, 1, 1)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(ALL_TAGS), max_size=20))
def test_iob_chunks_match_seqeval_get_entities(tags):
    assert iob_chunks(tags) == get_entities(tags)


@pytest.mark.parametrize(
    ("tags", "chunks", "iob2"),
    [
        ("I-Drug I-Drug O", [("Drug", 0, 1)], "B-Drug I-Drug O"),  # IOB1: a chunk may open with I-
        ("O I-Drug I-Drug", [("Drug", 1, 2)], "O B-Drug I-Drug"),  # a stray I- after O opens a chunk, never dropped
        ("B-Drug I-Disease", [("Drug", 0, 0), ("Disease", 1, 1)], "B-Drug B-Disease"),  # I- of another type
        ("I-Drug B-Drug I-Drug", [("Drug", 0, 0), ("Drug", 1, 2)], "B-Drug B-Drug I-Drug"),  # IOB1's B- splits
        ("B-Drug E-Drug E-Drug", [("Drug", 0, 1), ("Drug", 2, 2)], "B-Drug I-Drug B-Drug"),
        ("S-Drug B-Disease E-Disease I-Disease", [("Drug", 0, 0), ("Disease", 1, 2), ("Disease", 3, 3)],
         "B-Drug B-Disease I-Disease B-Disease"),  # an I- after E- opens a chunk
        ("B I O S", [("_", 0, 1), ("_", 3, 3)], "B-_ I-_ O B-_"),  # bare prefixes: seqeval's placeholder type
    ],
)
def test_unusual_tags_are_read_like_conlleval(tags, chunks, iob2):
    assert iob_chunks(tags.split()) == chunks
    scores = entity_scores([tags.split()], [iob2.split()])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (len(chunks), 0, 0)


def test_a_chunk_needs_both_boundaries_and_the_type():
    gold = [["B-Drug", "I-Drug", "O", "B-Test"]]
    predicted = [["B-Drug", "O", "O", "B-Disease"]]
    scores = entity_scores(gold, predicted)
    assert scores.micro == LabelScore(0.0, 0.0, 0.0, support=2, tp=0, fp=2, fn=2)
    assert list(scores.per_label) == ["Disease", "Drug", "Test"]
    assert scores.per_label["Disease"].support == 0  # only predicted, yet averaged into macro (as seqeval does)


def test_chunks_never_cross_sentences():
    scores = entity_scores([["B-Drug"], ["I-Drug"]], [["B-Drug"], ["B-Drug"]])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (2, 0, 0)


@settings(max_examples=200, deadline=None)
@given(tagged(ALL_TAGS))
def test_perfect_prediction_scores_one(sentences):
    gold, _ = sentences
    scores = entity_scores(gold, gold)
    assert scores.micro.fp == scores.micro.fn == 0
    if scores.per_label:
        assert all((s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0) for s in scores.rows().values())


@settings(max_examples=200, deadline=None)
@given(tagged(ALL_TAGS))
def test_predicting_nothing_recalls_nothing(sentences):
    gold, _ = sentences
    scores = entity_scores(gold, [["O"] * len(sentence) for sentence in gold])
    assert all((s.precision, s.recall, s.f1, s.tp) == (0.0, 0.0, 0.0, 0) for s in scores.rows().values())
    assert scores.micro.fn == scores.micro.support


def test_no_chunks_at_all_scores_zero_not_nan():
    scores = entity_scores([["O", "O"]], [["O", "O"]])
    assert scores.per_label == {}
    assert scores.micro == scores.macro == LabelScore(0.0, 0.0, 0.0, support=0, tp=0, fp=0, fn=0)


# --- token-level --------------------------------------------------------------------------------------------------


def test_token_scores_count_each_tag_apart():
    gold = [["B-Drug", "I-Drug", "O", "B-Test"], ["O", "B-Drug"]]
    predicted = [["B-Drug", "B-Drug", "B-Test", "B-Test"], ["B-Drug", "O"]]
    scores = token_scores(gold, predicted)
    assert scores.per_label == {
        # hits: token 0; false positives: sentence 0 token 1 and sentence 1 token 0; missed: sentence 1 token 1
        "B-Drug": LabelScore(1 / 3, 1 / 2, 0.4, support=2, tp=1, fp=2, fn=1),
        "B-Test": LabelScore(1 / 2, 1.0, 2 / 3, support=1, tp=1, fp=1, fn=0),
        "I-Drug": LabelScore(0.0, 0.0, 0.0, support=1, tp=0, fp=0, fn=1),
    }
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn, scores.micro.support) == (2, 3, 2, 4)
    assert scores.micro.precision == approx(2 / 5)
    assert scores.macro.f1 == approx((0.4 + 2 / 3 + 0.0) / 3)


@settings(max_examples=200, deadline=None)
@given(tagged(ALL_TAGS))
def test_token_counts_add_up(sentences):
    gold, predicted = sentences
    pairs = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)]
    micro = token_scores(gold, predicted).micro
    assert micro.tp == sum(g == p != "O" for g, p in pairs)
    assert micro.tp + micro.fn == sum(g != "O" for g, _ in pairs)
    assert micro.tp + micro.fp == sum(p != "O" for _, p in pairs)


# --- classification -----------------------------------------------------------------------------------------------


def test_single_label_classification_by_hand():
    gold = ["pos", "pos", "neg", "neg", "neg", "neu"]
    predicted = ["pos", "neg", "neg", "neg", "pos", "pos"]
    scores = classification_scores(gold, predicted)
    assert scores.labels == ("neg", "neu", "pos")
    assert scores.confusion == ((2, 0, 1), (0, 0, 1), (1, 0, 1))
    assert scores.per_label["neg"] == LabelScore(approx(2 / 3), approx(2 / 3), approx(2 / 3), 3, 2, 1, 1)
    assert scores.per_label["neu"] == LabelScore(0.0, 0.0, 0.0, support=1, tp=0, fp=0, fn=1)
    assert scores.per_label["pos"] == LabelScore(approx(1 / 3), 0.5, approx(0.4), support=2, tp=1, fp=2, fn=1)
    assert (scores.micro.precision, scores.micro.recall, scores.micro.f1, scores.accuracy) == (0.5, 0.5, 0.5, 0.5)
    assert scores.macro.precision == approx(1 / 3)
    assert scores.macro.recall == approx(7 / 18)
    assert scores.macro.f1 == approx(16 / 45)
    assert scores.macro.support == 6


def test_only_predicted_classes_get_a_row_and_a_column():
    scores = classification_scores(["a", "a"], ["a", "b"])
    assert scores.confusion == ((1, 1), (0, 0))
    assert scores.per_label["b"] == LabelScore(0.0, 0.0, 0.0, support=0, tp=0, fp=1, fn=0)
    assert scores.macro.recall == 0.25  # (1/2 + 0) / 2, as scikit-learn averages over gold and predicted labels


def test_multilabel_classification_by_hand():
    gold = [{"a", "b"}, {"b"}, set(), ["c"]]
    predicted = [("a",), {"b", "c"}, {"a"}, ["c", "c"]]  # a repeated label counts once
    scores = multilabel_scores(gold, predicted)
    assert scores.confusion is None
    assert scores.per_label == {
        "a": LabelScore(0.5, 1.0, approx(2 / 3), support=1, tp=1, fp=1, fn=0),
        "b": LabelScore(1.0, 0.5, approx(2 / 3), support=2, tp=1, fp=0, fn=1),
        "c": LabelScore(0.5, 1.0, approx(2 / 3), support=1, tp=1, fp=1, fn=0),
    }
    assert scores.micro == LabelScore(approx(0.6), 0.75, approx(2 / 3), support=4, tp=3, fp=2, fn=1)
    assert (scores.macro.precision, scores.macro.recall, scores.macro.f1) == (approx(2 / 3), approx(5 / 6),
                                                                              approx(2 / 3))
    assert scores.accuracy == 0.25  # subset accuracy: only the last sample is exactly right


def test_no_samples_score_zero():
    assert classification_scores([], []).accuracy == 0.0
    assert multilabel_scores([], []).micro == LabelScore(0.0, 0.0, 0.0, support=0, tp=0, fp=0, fn=0)


# --- renderings ---------------------------------------------------------------------------------------------------


def test_as_dict_is_json_ready_with_averages_last():
    scores = entity_scores([["B-Drug", "O", "B-Test"]], [["B-Drug", "O", "O"]])
    figures = json.loads(json.dumps(scores.as_dict()))
    assert list(figures) == ["Drug", "Test", "micro", "macro"]
    assert figures["Test"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert figures["micro"] == {"precision": 1.0, "recall": 0.5, "f1": approx(2 / 3), "support": 2}


def test_classification_as_dict_adds_accuracy():
    figures = classification_scores(["a", "b"], ["a", "a"]).as_dict()
    assert list(figures) == ["a", "b", "micro", "macro", "accuracy"]
    assert figures["accuracy"] == {"accuracy": 0.5}


def test_table_is_aligned_with_averages_last():
    scores = entity_scores([["B-Disease", "O", "B-Drug"]], [["B-Disease", "O", "O"]])
    lines = scores.table().splitlines()
    assert lines[0].split() == ["label", "precision", "recall", "f1", "support"]
    assert [line.split()[0] for line in lines if not line.startswith("-")][1:] == ["Disease", "Drug", "micro", "macro"]
    assert "Disease     1.0000  1.0000  1.0000        1" in lines
    assert len({len(line) for line in lines}) == 1


def test_classification_tables_show_the_confusion_matrix_or_the_counts():
    single = classification_scores(["yes", "no"], ["yes", "yes"]).table()
    assert "accuracy 0.5000" in single
    assert single.endswith("no                 0    1\nyes                0    1")
    multi = multilabel_scores([{"x"}], [{"x", "y"}]).table()
    assert multi.endswith("label  tp  fp  fn\n-----------------\nx       1   0   0\ny       0   1   0")


# --- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [entity_scores, token_scores])
def test_a_different_number_of_sentences_is_refused(score):
    with pytest.raises(ParamsError, match="2 predicted sentences but 1 gold sentences") as caught:
        score([["O"]], [["O"], ["O"]])
    assert caught.value.field == "predicted"


@pytest.mark.parametrize("score", [entity_scores, token_scores])
def test_a_sentence_of_another_length_is_named(score):
    with pytest.raises(ParamsError, match="sentence 1 has 1 predicted tags but 2 gold tags") as caught:
        score([["O"], ["O", "B-Drug"]], [["O"], ["O"]])
    assert caught.value.field == "predicted[1]"


@pytest.mark.parametrize("score", [entity_scores, token_scores])
def test_a_flat_list_of_tags_is_refused(score):
    with pytest.raises(ParamsError, match="expected a list, got str") as caught:
        score(["B-Drug", "O"], ["B-Drug", "O"])
    assert caught.value.field == "gold[0]"


@pytest.mark.parametrize("score", [entity_scores, token_scores])
def test_a_tag_must_be_a_string(score):
    with pytest.raises(ParamsError, match="expected a string, got NoneType") as caught:
        score([["O", "O"]], [["O", None]])
    assert caught.value.field == "predicted[0][1]"


@pytest.mark.parametrize("tag", ["B_Drug", "Drug", "b-Drug", "", "-Drug", "O-Drug"])
def test_entity_scores_refuse_malformed_tags(tag):
    with pytest.raises(ParamsError, match="expected O, or B-/I-/E-/S-") as caught:
        entity_scores([["O", tag]], [["O", "O"]])
    assert (caught.value.field, caught.value.value) == ("gold[0][1]", tag)
    with pytest.raises(ParamsError) as caught:
        iob_chunks(["O", "O", tag], field="line:12")
    assert caught.value.field == "line:12[2]"


def test_classification_input_is_checked():
    with pytest.raises(ParamsError, match="1 predicted samples but 2 gold samples"):
        classification_scores(["a", "b"], ["a"])
    with pytest.raises(ParamsError, match="expected a string, got int") as caught:
        classification_scores(["a", 1], ["a", "b"])
    assert caught.value.field == "gold[1]"
    with pytest.raises(ParamsError, match="expected a list, got str"):
        classification_scores("ab", "ab")


def test_multilabel_input_is_checked():
    with pytest.raises(ParamsError, match="expected a collection of labels, got str") as caught:
        multilabel_scores([{"a"}, "b"], [{"a"}, {"b"}])
    assert caught.value.field == "gold[1]"
    with pytest.raises(ParamsError, match="expected a string, got int") as caught:
        multilabel_scores([{"a"}], [{"a", 2}])
    assert caught.value.field == "predicted[0]"


# --- docs ---------------------------------------------------------------------------------------------------------


def test_every_public_name_is_documented():
    text = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text()
    assert [name for name in metrics.__all__ if f"`{name}" not in text] == []
