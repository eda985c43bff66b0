"""Inter-annotator agreement: hand-computed cases, scikit-learn's kappa, the krippendorff package's alpha."""

from __future__ import annotations

import gc
import itertools
import json
import math
import random
import tracemalloc
import warnings
import weakref
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from krippendorff import alpha as reference_alpha
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from sklearn.metrics import cohen_kappa_score

from alab_training import (
    ChoiceAnswer,
    Completion,
    CompletionStatus,
    ParamsError,
    Project,
    Review,
    Span,
    Task,
    load_config,
)
from alab_training.evaluation.agreement import _max_overlap_matching, agreement
from alab_training.evaluation.nominal import AlphaCounter, KappaCounter, cohen_kappa, krippendorff_alpha

CONFIG = load_config("""<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="PROBLEM"/><Label value="TEST"/>
    <Label value="Absent" assertion="true"/><Label value="Family" assertion="true"/>
  </Labels>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="pos"/><Choice value="neg"/><Choice value="neutral"/>
  </Choices>
  <Choices name="topics" toName="text" choice="multiple"><Choice value="a"/><Choice value="b"/></Choices>
</View>""")
T0 = datetime(2024, 3, 1, tzinfo=UTC)
_ids = itertools.count(1)


def completion(who, spans=(), *, choices=None, status=CompletionStatus.SUBMITTED, at=T0, approved=None, id=None):
    """A completion; spans are (start, end, *labels), choices {control: [values]}."""
    return Completion(
        id=id if id is not None else next(_ids),
        status=status,
        annotator=who,
        submitted_at=at if status is CompletionStatus.SUBMITTED else None,
        review=Review(approved=approved) if approved is not None else None,
        spans=tuple(Span(s, e, "t" * (e - s), tuple(labels)) for s, e, *labels in spans),
        choices=tuple(ChoiceAnswer(name, tuple(values)) for name, values in (choices or {}).items()),
    )


def task(*completions, id=None, drafts=()):
    return Task(id=id if id is not None else next(_ids), text="t" * 200, completions=completions, drafts=drafts)


def choice_task(answers, control="sentiment"):
    """A task where annotator i answered answers[i] (None: no answer) in one single-choice control."""
    return task(*(completion(f"a{i}", choices={control: [a]} if a is not None else None)
                  for i, a in enumerate(answers)))


# --- spans -------------------------------------------------------------------------------------------------------


def test_span_f1_exact_and_overlap_by_hand():
    tasks = [
        task(completion("ann", [(0, 5, "PROBLEM"), (10, 14, "TEST"), (20, 25, "PROBLEM")]),
             completion("bob", [(0, 5, "PROBLEM"), (11, 14, "TEST"), (30, 32, "TEST")])),
    ]
    result = agreement(tasks, CONFIG)
    assert result.tasks_compared == 1
    [pair] = result.spans.pairs
    assert pair.annotators == ("ann", "bob")
    problem, test = pair.per_label["PROBLEM"], pair.per_label["TEST"]
    assert (problem.first, problem.second, problem.exact, problem.overlap) == (2, 1, 1, 1)
    assert problem.exact_f1 == pytest.approx(2 / 3)
    assert (test.first, test.second, test.exact, test.overlap) == (1, 2, 0, 1)
    assert test.exact_f1 == 0.0
    assert test.overlap_f1 == pytest.approx(2 / 3)
    assert pair.overall.exact_f1 == pytest.approx(2 * 1 / 6)
    assert pair.overall.overlap_f1 == pytest.approx(2 * 2 / 6)


def test_overlap_is_one_to_one():
    # One long span of ann overlaps two of bob's: only one of them can be matched to it.
    tasks = [task(completion("ann", [(0, 20, "PROBLEM")]), completion("bob", [(0, 5, "PROBLEM"), (8, 12, "PROBLEM")]))]
    counts = agreement(tasks, CONFIG).spans.overall
    assert (counts.overlap, counts.overlap_f1) == (1, pytest.approx(2 / 3))


def test_micro_over_pairs_pools_counts():
    tasks = [
        task(completion("ann", [(0, 5, "PROBLEM")]), completion("bob", [(0, 5, "PROBLEM")]),
             completion("cat", [(0, 6, "PROBLEM"), (8, 9, "PROBLEM")])),
    ]
    result = agreement(tasks, CONFIG)
    by_pair = {p.annotators: p.overall for p in result.spans.pairs}
    assert by_pair["ann", "bob"].exact_f1 == 1.0
    assert by_pair["ann", "cat"].exact_f1 == 0.0
    # Pooled: exact 1 of (1+1) + (1+2) + (1+2) spans.
    assert result.spans.per_label["PROBLEM"].exact_f1 == pytest.approx(2 * 1 / 8)
    assert result.spans.overall == result.spans.per_label["PROBLEM"]


def test_empty_sides():
    both_empty = agreement([task(completion("ann"), completion("bob"))], CONFIG)
    assert both_empty.tasks_compared == 1
    assert both_empty.spans.pairs[0].tasks == 1
    assert both_empty.spans.overall.exact_f1 is None
    assert both_empty.spans.per_label["PROBLEM"].overlap_f1 is None
    assert both_empty.worst_tasks == ()  # two empty sides agree
    one_empty = agreement([task(completion("ann", [(0, 5, "PROBLEM")]), completion("bob"))], CONFIG)
    assert one_empty.spans.overall.exact_f1 == 0.0
    # An empty completion lowers F1 against a full one, two empty ones leave it unchanged.
    mixed = agreement([
        task(completion("ann", [(0, 5, "PROBLEM")]), completion("bob", [(0, 5, "PROBLEM")])),
        task(completion("ann"), completion("bob")),
    ], CONFIG)
    assert mixed.spans.overall.exact_f1 == 1.0


def test_a_label_only_one_annotator_used():
    result = agreement([task(completion("ann", [(0, 5, "PROBLEM"), (7, 9, "TEST")]),
                             completion("bob", [(0, 5, "PROBLEM")]))], CONFIG)
    assert result.spans.per_label["TEST"].exact_f1 == 0.0
    assert result.spans.per_label["TEST"].overlap_f1 == 0.0
    assert result.spans.per_label["PROBLEM"].exact_f1 == 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 6), st.sampled_from(["PROBLEM", "TEST"])),
                max_size=6),
       st.lists(st.tuples(st.integers(0, 30), st.integers(1, 6), st.sampled_from(["PROBLEM", "TEST"])),
                max_size=6))
def test_span_f1_is_symmetric_between_annotators(mine, theirs):
    def spans(drawn):
        return [(s, s + n, label) for s, n, label in drawn]

    forward = agreement([task(completion("ann", spans(mine)), completion("bob", spans(theirs)))], CONFIG)
    backward = agreement([task(completion("ann", spans(theirs)), completion("bob", spans(mine)))], CONFIG)
    for label in ("PROBLEM", "TEST"):
        a, b = forward.spans.per_label[label], backward.spans.per_label[label]
        assert (a.exact_f1, a.overlap_f1, a.first, a.second) == (b.exact_f1, b.overlap_f1, b.second, b.first)
        assert a.exact <= a.overlap <= min(a.first, a.second)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 25), st.integers(1, 8)), max_size=7),
       st.lists(st.tuples(st.integers(0, 25), st.integers(1, 8)), max_size=7))
def test_overlap_matching_is_maximum(first, second):
    first = [(s, s + n) for s, n in first]
    second = [(s, s + n) for s, n in second]
    expected = 0
    if first and second:
        graph = csr_matrix(np.array([[int(s2 < e1 and s1 < e2) for s2, e2 in second] for s1, e1 in first]))
        expected = int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
    assert _max_overlap_matching(first, second) == expected


# --- which completions count -------------------------------------------------------------------------------------


def test_drafts_and_skipped_never_count():
    tasks = [task(completion("ann", [(0, 5, "PROBLEM")]),
                  completion("bob", [(0, 5, "TEST")], status=CompletionStatus.DRAFT),
                  completion("cat", [(0, 5, "TEST")], status=CompletionStatus.CANCELLED),
                  drafts=(completion("dan", status=CompletionStatus.DRAFT),))]
    result = agreement(tasks, CONFIG)
    assert result.tasks_compared == 0
    assert result.annotators == ()
    assert result.spans.pairs == ()


def test_rejected_completions_count_unless_asked_not_to():
    tasks = [task(completion("ann", [(0, 5, "PROBLEM")]), completion("bob", [(0, 5, "TEST")], approved=False))]
    assert agreement(tasks, CONFIG).tasks_compared == 1
    assert agreement(tasks, CONFIG, include_rejected=False).tasks_compared == 0


def test_an_annotators_latest_completion_counts():
    tasks = [task(completion("ann", [(0, 5, "PROBLEM")]),
                  completion("bob", [(0, 5, "TEST")], at=T0),
                  completion("bob", [(0, 5, "PROBLEM")], at=T0 + timedelta(hours=1)),
                  completion("bob", [(9, 12, "TEST")], at=T0 - timedelta(hours=1)))]
    result = agreement(tasks, CONFIG)
    assert result.annotators == ("ann", "bob")
    assert result.spans.overall.exact_f1 == 1.0


def test_anonymous_completions_are_their_own_annotators():
    tasks = [task(completion(None, [(0, 5, "PROBLEM")], id=7), completion(None, [(0, 5, "PROBLEM")], id=8))]
    result = agreement(tasks, CONFIG)
    assert result.annotators == ("completion 7", "completion 8")
    assert result.spans.overall.exact_f1 == 1.0


# --- choices -----------------------------------------------------------------------------------------------------


def test_kappa_and_alpha_by_hand():
    # Two annotators, four tasks: agreement on 3; p_o = 3/4, p_e = (2·3 + 2·1)/16 = 1/2, kappa = 1/2.
    answers = [("pos", "pos"), ("pos", "pos"), ("neg", "pos"), ("neg", "neg")]
    sentiment = agreement([choice_task(a) for a in answers], CONFIG).choices["sentiment"]
    [pair] = sentiment.overall.pairs
    assert (pair.units, pair.observed, pair.kappa) == (4, 0.75, pytest.approx(0.5))
    # Coincidences: o[pos,pos] = 4, o[neg,neg] = 2, o[pos,neg] = o[neg,pos] = 1; n = 8, n_pos = 5, n_neg = 3.
    # alpha = 1 - 7 · 2 / (2 · 5 · 3) = 8/15.
    assert sentiment.overall.alpha == pytest.approx(8 / 15)
    assert sentiment.overall.units == 4
    assert sentiment.overall.values == 8
    assert sentiment.per_value["neutral"].alpha is None  # nobody used it
    assert sentiment.per_value["pos"].alpha == pytest.approx(8 / 15)  # two categories: pos or not


def test_perfect_agreement_gives_one():
    tasks = [choice_task(["pos", "pos", "pos"]), choice_task(["neg", "neg", "neg"]), choice_task(["pos", "pos", None])]
    overall = agreement(tasks, CONFIG).choices["sentiment"].overall
    assert overall.alpha == 1.0
    assert [p.kappa for p in overall.pairs] == [1.0, 1.0, 1.0]


def test_one_category_throughout_is_undefined():
    overall = agreement([choice_task(["pos", "pos"]) for _ in range(3)], CONFIG).choices["sentiment"].overall
    assert overall.alpha is None
    assert overall.pairs[0].kappa is None
    assert overall.pairs[0].observed == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(cohen_kappa_score(["pos"] * 3, ["pos"] * 3))


def test_missing_answers_leave_the_unit_out():
    tasks = [choice_task(["pos", None]), choice_task(["pos", "neg"]), choice_task(["neg", "pos"])]
    overall = agreement(tasks, CONFIG).choices["sentiment"].overall
    assert overall.units == 2
    assert overall.pairs[0].units == 2
    assert agreement([choice_task(["pos", None])], CONFIG).choices["sentiment"].overall.alpha is None


def test_multi_choice_is_a_yes_no_item_per_value():
    tasks = [
        task(completion("ann", choices={"topics": ["a", "b"]}), completion("bob", choices={"topics": ["a"]})),
        task(completion("ann", choices={"topics": ["b"]}), completion("bob")),  # bob ticked nothing: "no"
        task(completion("ann"), completion("bob")),  # nobody ticked anything: not a unit
    ]
    topics = agreement(tasks, CONFIG).choices["topics"]
    assert topics.multi_label
    assert topics.per_value["a"].units == 2
    # a: (yes, yes), (no, no): perfect. b: (yes, no), (yes, no).
    assert topics.per_value["a"].alpha == 1.0
    assert topics.per_value["a"].pairs[0].kappa == 1.0
    assert topics.per_value["b"].pairs[0].observed == 0.0
    assert topics.overall.units == 4
    assert topics.overall.pairs[0].observed == 0.5


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abcd")), min_size=1, max_size=30))
def test_kappa_matches_scikit_learn(answers):
    first, second = [a for a, _ in answers], [b for _, b in answers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cohen_kappa_score(first, second)
    ours = cohen_kappa(first, second)
    if math.isnan(expected):
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=1e-12)
    assert cohen_kappa(second, first) == ours  # symmetric


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([None, 0, 1, 2]), min_size=3, max_size=3), min_size=1, max_size=25))
def test_alpha_matches_the_krippendorff_package(units):
    ours = krippendorff_alpha(units)
    data = np.array([[np.nan if v is None else v for v in unit] for unit in units], dtype=float).T
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = float(reference_alpha(reliability_data=data, level_of_measurement="nominal"))
    except ValueError:  # fewer than two values, or no unit two coders answered
        expected = math.nan
    if math.isnan(expected):
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([None, "pos", "neg", "neutral"]), min_size=3, max_size=3),
                min_size=1, max_size=15))
def test_agreement_alpha_and_kappas_match_the_references(units):
    result = agreement([choice_task(unit) for unit in units], CONFIG).choices["sentiment"].overall
    assert result.alpha == (None if krippendorff_alpha(units) is None else pytest.approx(krippendorff_alpha(units)))
    for pair in result.pairs:
        i, j = (int(name[1:]) for name in pair.annotators)
        both = [(u[i], u[j]) for u in units if u[i] is not None and u[j] is not None]
        assert pair.units == len(both)
        assert pair.kappa == cohen_kappa([a for a, _ in both], [b for _, b in both])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([None, "x", "y", "z"]), min_size=2, max_size=4), min_size=1, max_size=12))
def test_alpha_is_one_exactly_when_every_pairable_unit_is_unanimous(units):
    alpha = krippendorff_alpha(units)
    pairable = [[v for v in unit if v is not None] for unit in units]
    pairable = [unit for unit in pairable if len(unit) >= 2]
    unanimous = all(len(set(unit)) == 1 for unit in pairable)
    several_answers = len({v for unit in pairable for v in unit}) >= 2
    if not pairable or not several_answers:
        assert alpha is None
    else:
        assert (alpha == 1.0) == unanimous


def test_counters_recode_and_pool():
    counter = KappaCounter()
    for a, b in [("x", "x"), ("x", "y"), ("z", "z")]:
        counter.add(a, b)
    collapsed = counter.mapped(lambda answer: answer == "x")
    assert collapsed.cells == {(True, True): 1, (True, False): 1, (False, False): 1}
    assert (counter + counter).units == 6
    alpha = AlphaCounter()
    alpha.add(["x", "x", "y"])
    alpha.add(["x"])  # not pairable
    assert alpha.units == 1
    assert alpha.values == 3
    # Pooling two counters is alpha over all their units together.
    assert (alpha + alpha).alpha == krippendorff_alpha([["x", "x", "y"], ["x", "x", "y"]])
    assert (alpha + alpha).units == 2


# --- assertion -----------------------------------------------------------------------------------------------------


def test_assertion_on_shared_spans():
    tasks = [task(
        completion("ann", [(0, 5, "PROBLEM", "Absent"), (10, 14, "TEST"), (20, 22, "PROBLEM", "Absent")]),
        # Annotation Lab form: the status as a second item on the same offsets; another entity label is fine.
        completion("bob", [(0, 5, "TEST"), (0, 5, "Absent"), (10, 14, "TEST", "Family")]),
    )]
    assertion = agreement(tasks, CONFIG).assertion
    # Shared offsets: (0, 5) Absent/Absent, (10, 14) (none)/Family; (20, 22) is ann's alone.
    assert assertion.overall.units == 2
    assert assertion.overall.pairs[0].observed == 0.5
    assert assertion.per_value["Absent"].pairs[0].observed == 1.0
    assert assertion.per_value["Family"].pairs[0].observed == 0.5
    assert agreement(tasks, load_config(
        '<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="PROBLEM"/>'
        '<Label value="TEST"/></Labels></View>')).assertion is None


# --- worst tasks, results, streaming ------------------------------------------------------------------------------


def test_worst_tasks_are_a_bounded_list_lowest_first():
    tasks = [
        choice_task(["pos", "pos"]),                      # 1.0: never listed
        choice_task(["pos", "neg"]),                      # 0.0
        task(completion("ann", [(0, 5, "PROBLEM")]), completion("bob", [(0, 5, "PROBLEM"), (7, 9, "TEST")])),  # 2/3
        choice_task(["neg", "pos"]),                      # 0.0, after the other 0.0
    ]
    result = agreement(tasks, CONFIG, worst=2)
    assert [t.task_id for t in result.worst_tasks] == [tasks[1].id, tasks[3].id]
    assert [t.score for t in result.worst_tasks] == [0.0, 0.0]
    three = agreement(tasks, CONFIG, worst=3).worst_tasks
    assert three[2].task_id == tasks[2].id
    assert three[2].score == pytest.approx(2 / 3)
    assert three[2].annotators == ("ann", "bob")
    assert agreement(tasks, CONFIG, worst=0).worst_tasks == ()


def test_as_dict_is_json_ready_and_table_has_every_section():
    tasks = [choice_task(["pos", "neg"]), task(completion("ann", [(0, 5, "PROBLEM", "Absent")]),
                                               completion("bob", [(0, 5, "PROBLEM")]))]
    result = agreement(Project(name="p", tasks=tuple(tasks), config=CONFIG))
    data = json.loads(json.dumps(result.as_dict()))
    assert data["tasks_compared"] == 2
    assert data["spans"]["labels"]["PROBLEM"]["exact_f1"] == 1.0
    assert data["spans"]["labels"]["TEST"]["exact_f1"] is None
    assert data["choices"]["sentiment"]["overall"]["pairs"][0]["annotators"] == ["a0", "a1"]
    assert data["assertion"]["values"]["Absent"]["units"] == 1
    assert data["worst_tasks"][0]["task_id"] == tasks[0].id
    table = result.table()
    for heading in ("tasks compared: 2", "spans (micro over pairs)", "spans per annotator pair",
                    "choices sentiment (single choice)", "choices topics (multiple choice)",
                    "assertion statuses of shared spans", "worst-agreeing tasks"):
        assert heading in table


def test_bad_arguments():
    with pytest.raises(ParamsError) as caught:
        agreement([])
    assert caught.value.field == "config"
    with pytest.raises(ParamsError):
        agreement([], CONFIG, worst=-1)
    with pytest.raises(ParamsError) as caught:
        agreement([choice_task(["pos", "pos"]), {"id": 1}], CONFIG)
    assert caught.value.field == "tasks[1]"


def synthetic_tasks(count, seed=0):
    """A stream of tasks, each made when it is asked for: three annotators, spans, choices, statuses."""
    rng = random.Random(seed)
    for index in range(count):
        completions = []
        for who in ("ann", "bob", "cat"):
            spans = [(s, s + rng.randint(2, 6), rng.choice(("PROBLEM", "TEST")), *rng.choice(((), ("Absent",))))
                     for s in range(0, 120, rng.randint(15, 30))]
            completions.append(completion(who, spans, choices={"sentiment": [rng.choice(("pos", "neg"))],
                                                               "topics": rng.sample(("a", "b"), rng.randint(0, 2))}))
        yield task(*completions, id=index)


def test_no_task_is_kept():
    alive = []

    def watched(count):
        for item in synthetic_tasks(count):
            alive.append(weakref.ref(item))
            yield item

    result = agreement(watched(300), CONFIG)
    gc.collect()
    assert result.tasks_compared == 300
    assert not any(ref() is not None for ref in alive)


def test_a_generator_streams_in_bounded_memory():
    def peak(make):
        gc.collect()
        tracemalloc.start()
        try:
            kept = make()
            return kept, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    streamed, streamed_peak = peak(lambda: agreement(synthetic_tasks(1000), CONFIG))
    tasks, tasks_memory = peak(lambda: list(synthetic_tasks(1000)))
    assert streamed.tasks_compared == 1000
    # What the counters and the one task in hand take, next to holding the tasks (which is less than the JSON).
    assert streamed_peak < tasks_memory / 4
    # And streaming gives what a list gives.
    assert agreement(tasks, CONFIG) == streamed
