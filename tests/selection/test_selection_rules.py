"""The selection rules, one behaviour at a time, plus properties over random projects."""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alab_training import TrainingParams, load_project, select_completions
from alab_training.selection import REASONS, in_validation_split
from tests.conftest import NER_CONFIG


def completion(cid, minute=0, *, submitted=True, annotator="alice", review=None, cancelled=False, reviews=None,
               result=None):
    item = {"id": cid, "created_username": annotator, "honeypot": False,
            "result": result if result is not None else [
                {"type": "labels", "from_name": "label", "to_name": "text",
                 "value": {"start": 0, "end": 5, "text": "Fever", "labels": ["PROBLEM"]}}]}
    if submitted:
        item["submitted_at"] = f"2024-03-01T10:{minute:02d}:00"
    if review is not None:
        item["review_status"] = {"approved": review, "reviewer": "rita", "comment": "",
                                 "reviewed_at": "2024-03-02T10:00:00"}
    if reviews is not None:
        item["reviews"] = reviews
    if cancelled:
        item["was_cancelled"] = True
    return item


def task(tid, *completions, tags=None, meta_tags=None):
    item = {"id": tid, "data": {"text": "Fever and cough."}, "completions": list(completions)}
    if tags is not None:
        item["tags"] = tags
    if meta_tags is not None:
        item["meta"] = {"tags": meta_tags}
    return item


def chosen(tasks, **params):
    selection = select_completions(load_project(tasks, config=NER_CONFIG), TrainingParams(**params))
    picked = {t.id: c.id for t, c in selection}
    return picked, {t.id: r.code for t, r in selection.excluded}


def test_latest_submitted_wins():
    assert chosen([task(1, completion(10, 5), completion(11, 9), completion(12, 7))])[0] == {1: 11}


def test_ties_go_to_the_higher_id():
    assert chosen([task(1, completion(10, 5), completion(11, 5))])[0] == {1: 11}


def test_falls_back_to_updated_then_created_time():
    a = completion(10, submitted=False)
    a.pop("honeypot"), a.pop("created_username")  # an early Label Studio completion: no submitted_at concept
    a["updated_at"] = "2024-03-05T00:00:00Z"
    b = completion(11, 1)
    assert chosen([task(1, a, b)])[0] == {1: 10}


def test_accepted_beats_newer():
    assert chosen([task(1, completion(10, 1, review=True), completion(11, 9))])[0] == {1: 10}


def test_latest_of_several_accepted():
    assert chosen([task(1, completion(10, 1, review=True), completion(11, 3, review=True),
                        completion(12, 9))])[0] == {1: 11}


def test_rejected_is_never_used():
    picked, excluded = chosen([task(1, completion(10, 1), completion(11, 9, review=False)),
                               task(2, completion(20, 1, review=False))])
    assert picked == {1: 10}
    assert excluded == {2: "all_rejected"}


def test_drafts_and_skips_are_never_used():
    picked, excluded = chosen([
        task(1, completion(10, 9, submitted=False), completion(11, 1)),
        task(2, completion(20, submitted=False)),
        task(3, completion(30, 1, cancelled=True)),
        task(4, completion(40, submitted=False), completion(41, 1, cancelled=True)),
        task(5),
    ])
    assert picked == {1: 11}
    assert excluded == {2: "only_drafts", 3: "only_skipped", 4: "no_submitted", 5: "no_completions"}


def test_reviewed_only():
    picked, excluded = chosen([task(1, completion(10, 1, review=True), completion(11, 9)),
                               task(2, completion(20, 1))], completion_filter="reviewed_only")
    assert picked == {1: 10}
    assert excluded == {2: "not_reviewed"}


def test_label_studio_reviews_latest_wins():
    reviews = [{"accepted": True, "created_by": 3, "created_at": "2024-03-02T10:00:00Z"},
               {"accepted": False, "created_by": 3, "created_at": "2024-03-03T10:00:00Z"}]
    picked, excluded = chosen([task(1, completion(10, 1, reviews=reviews))])
    assert excluded == {1: "all_rejected"}
    reversed_order = [reviews[1] | {"created_at": "2024-03-01T00:00:00Z"}, reviews[0]]
    assert chosen([task(1, completion(10, 1, reviews=reversed_order))], completion_filter="reviewed_only")[0] == {1: 10}


def test_empty_result_is_a_valid_example():
    assert chosen([task(1, completion(10, 1), completion(11, 9, result=[]))])[0] == {1: 11}


def test_annotator_priority():
    tasks = [task(1, completion(10, 9, annotator="bob"), completion(11, 1, annotator="alice"),
                  completion(12, 5, annotator="alice")),
             task(2, completion(20, 9, annotator="carol"), completion(21, 1, annotator="bob"))]
    picked, _ = chosen(tasks, tie_breaker="annotator_priority", annotator_priority=("alice", "bob"))
    assert picked == {1: 12, 2: 21}
    # A reviewer's acceptance still wins over priority.
    tasks[0]["completions"][0]["review_status"] = {"approved": True}
    assert chosen(tasks, tie_breaker="annotator_priority", annotator_priority=("Alice",))[0][1] == 10


def test_tag_filter_reads_tags_and_meta_tags():
    tasks = [task(1, completion(10), tags=["batch1"]), task(2, completion(20), meta_tags=["Batch1", "x"]),
             task(3, completion(30), tags=["batch2"]), task(4, completion(40))]
    picked, excluded = chosen(tasks, tags=("batch1",))
    assert picked == {1: 10, 2: 20}
    assert excluded == {3: "tag_filtered", 4: "tag_filtered"}


def test_test_tags_form_the_test_side_even_outside_the_filter():
    tasks = [task(1, completion(10), tags=["batch1"]), task(2, completion(20), tags=["test"]),
             task(3, completion(30), tags=["batch1", "Test"]), task(4, completion(40))]
    selection = select_completions(load_project(tasks, config=NER_CONFIG),
                                   TrainingParams(tags=("batch1",), test_tags=("test",)))
    assert [t.id for t, _ in selection.train] == [1]
    assert [t.id for t, _ in selection.test] == [2, 3]
    assert selection.excluded_counts() == {"tag_filtered": 1}


def test_every_reason_code_is_documented():
    assert set(REASONS) == {"tag_filtered", "no_completions", "only_drafts", "only_skipped", "no_submitted",
                            "all_rejected", "not_reviewed"}


def test_validation_split_is_deterministic_and_stable():
    tasks = [task(i, completion(i * 10)) for i in range(200)]
    project = load_project(tasks, config=NER_CONFIG)
    first = select_completions(project, TrainingParams(validation_split=0.25, seed=3))
    again = select_completions(project, TrainingParams(validation_split=0.25, seed=3))
    assert [t.id for t, _ in first.test] == [t.id for t, _ in again.test]
    assert 30 <= len(first.test) <= 70
    shuffled = attrs.evolve(project, tasks=tuple(random.Random(1).sample(project.tasks, len(project.tasks))))
    assert {t.id for t, _ in select_completions(shuffled, first.params).test} == {t.id for t, _ in first.test}
    other_seed = select_completions(project, TrainingParams(validation_split=0.25, seed=4))
    assert {t.id for t, _ in other_seed.test} != {t.id for t, _ in first.test}


@given(st.integers(0, 10_000), st.floats(0, 0.99), st.floats(0, 0.99), st.integers(0, 100))
def test_split_is_monotone_in_the_fraction(task_id, a, b, seed):
    low, high = sorted((a, b))
    if in_validation_split(task_id, low, seed):
        assert in_validation_split(task_id, high, seed)
    assert in_validation_split(task_id, low, seed) == in_validation_split(str(task_id), low, seed)


# -- properties over random tasks ---------------------------------------------------------------------------

completion_specs = st.lists(
    st.fixed_dictionaries({
        "minute": st.integers(0, 59),
        "state": st.sampled_from(["submitted", "draft", "cancelled"]),
        "review": st.sampled_from([None, True, False]),
        "annotator": st.sampled_from(["alice", "bob", "carol"]),
    }),
    max_size=5,
)


def build(specs_per_task):
    tasks = []
    for tid, specs in enumerate(specs_per_task):
        items = [completion(tid * 100 + n, spec["minute"], submitted=spec["state"] != "draft",
                            cancelled=spec["state"] == "cancelled", review=spec["review"],
                            annotator=spec["annotator"]) for n, spec in enumerate(specs)]
        tasks.append(task(tid, *items))
    return tasks


@settings(max_examples=150, deadline=None)
@given(st.lists(completion_specs, min_size=1, max_size=6),
       st.sampled_from(["all_submitted", "reviewed_only"]),
       st.sampled_from([(), ("bob",), ("carol", "alice")]))
def test_selection_properties(specs_per_task, completion_filter, priority):
    params = TrainingParams(completion_filter=completion_filter,
                            tie_breaker="annotator_priority" if priority else "latest", annotator_priority=priority)
    project = load_project(build(specs_per_task), config=NER_CONFIG)
    selection = select_completions(project, params)
    # Every task is either used or excluded with a documented reason, exactly once, in task order.
    used = [t.id for t, _ in selection]
    assert sorted(used + [t.id for t, _ in selection.excluded]) == [t.id for t in project.tasks]
    assert used == sorted(used)
    assert all(reason.code in REASONS for _, reason in selection.excluded)
    for chosen_task, picked in selection:
        assert picked in chosen_task.completions
        assert picked.status.value == "submitted" and not picked.rejected
        accepted = [c for c in chosen_task.completions if c.accepted and c.status.value == "submitted"]
        if accepted or completion_filter == "reviewed_only":
            assert picked.accepted
        # The choice does not depend on the order completions are listed in.
        reordered = attrs.evolve(chosen_task, completions=tuple(reversed(chosen_task.completions)))
        again = select_completions(attrs.evolve(project, tasks=(reordered,)), params)
        assert [c for _, c in again] == [picked]


@pytest.mark.parametrize("completion_filter", ["all_submitted", "reviewed_only"])
def test_reviewed_only_is_a_subset(completion_filter):
    tasks = build([[{"minute": 1, "state": "submitted", "review": r, "annotator": "alice"}]
                   for r in (None, True, False)])
    picked, _ = chosen(tasks, completion_filter=completion_filter)
    assert picked == ({1: 100} if completion_filter == "reviewed_only" else {0: 0, 1: 100})


def test_an_id_with_a_lone_surrogate_still_gets_a_side():
    from alab_training.selection.split import split_point

    assert 0 <= split_point("\ud800", 42) < 1 and split_point("\ud800", 42) != split_point("\ud801", 42)
    assert split_point(7, 42) == split_point("7", 42)
