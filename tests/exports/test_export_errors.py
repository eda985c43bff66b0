"""Bad input: per-item problems become warnings with their JSON path; structural ones raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alab_training import AlabTrainingError, ExportError, load_project, select_completions
from tests.conftest import NER_CONFIG

TEXT = "Fever and cough, no rash."


def span(start, end, label="PROBLEM", text=None, **extra):
    value = {"start": start, "end": end, "labels": [label]}
    if text is not False:
        value["text"] = TEXT[start:end] if text is None else text
    return {"type": "labels", "from_name": "label", "to_name": "text", "value": value, **extra}


def export(*results, task=None, completion=None):
    return [{
        "id": 7,
        "data": {"text": TEXT},
        "completions": [{"id": 70, "submitted_at": "2024-01-01T10:00:00", "result": list(results),
                         **(completion or {})}],
        **(task or {}),
    }]


def load(data, **kwargs):
    return load_project(data, config=NER_CONFIG, **kwargs)


def test_a_clean_item_loads_without_warnings():
    project = load(export(span(0, 5), span(10, 15)))
    assert project.warnings == ()
    assert [s.text for s in project.tasks[0].completions[0].spans] == ["Fever", "cough"]


@pytest.mark.parametrize(
    ("item", "path", "code"),
    [
        (span(0, 99, text=False), "$[0].completions[0].result[0].value.end", "offset_out_of_range"),
        (span(-1, 3, text=False), "$[0].completions[0].result[0].value.start", "offset_out_of_range"),
        (span(5, 5, text=""), "$[0].completions[0].result[0].value.start", "offset_out_of_range"),
        (span(0, "5", text=False), "$[0].completions[0].result[0].value.end", "bad_offset"),
        (span(0, 5.0, text=False), "$[0].completions[0].result[0].value.end", "bad_offset"),
        (span(0, True, text=False), "$[0].completions[0].result[0].value.end", "bad_offset"),
        (span(0, 5, text="fever"), "$[0].completions[0].result[0].value.text", "text_mismatch"),
        (span(0, 5, label="DISEASE"), "$[0].completions[0].result[0].value.labels", "unknown_label"),
        ({**span(0, 5), "from_name": "ner"}, "$[0].completions[0].result[0].from_name", "unknown_control"),
        ({"type": "labels", "value": "Fever"}, "$[0].completions[0].result[0].value", "bad_item"),
        ("Fever", "$[0].completions[0].result[0]", "bad_item"),
        ({"value": {}}, "$[0].completions[0].result[0].type", "bad_item"),
        ({"type": "choices", "from_name": "kind", "value": {"choices": ["z"]}},
         "$[0].completions[0].result[0].value.choices", "unknown_choice"),
        ({"type": "choices", "from_name": "kind", "value": {"choices": "a b"}},
         None, None),  # a bare string is one choice, as Label Studio JSON_MIN writes it: unknown here
        ({"type": "relation", "from_id": "x", "to_id": "y"}, "$[0].completions[0].result[0]", "dangling_relation"),
    ],
)
def test_bad_items_are_left_out_with_their_path(item, path, code):
    project = load(export(span(10, 15), item) if path is None else export(item))
    if path is None:
        assert [w.code for w in project.warnings] == ["unknown_choice"]
        return
    (warning,) = project.warnings
    assert (warning.path, warning.code) == (path, code)
    assert project.tasks[0].completions[0].spans == ()


def test_strict_raises_the_first_problem_with_its_path():
    with pytest.raises(ExportError) as error:
        load(export(span(0, 5), span(0, 99, text=False)), strict=True)
    assert error.value.path == "$[0].completions[0].result[1].value.end"


@pytest.mark.parametrize(
    ("completion", "path", "code"),
    [
        ({"result": "x"}, "$[0].completions[0].result", "bad_completion"),
        ({"review_status": {"approved": "yes"}}, "$[0].completions[0].review_status", "bad_review"),
        ({"reviews": [{"accepted": 1}]}, "$[0].completions[0].reviews[0]", "bad_review"),
        ({"submitted_at": "yesterday"}, "$[0].completions[0].submitted_at", "bad_timestamp"),
    ],
)
def test_bad_completion_fields(completion, path, code):
    project = load(export(span(0, 5), completion=completion))
    assert [(w.path, w.code) for w in project.warnings] == [(path, code)]


def test_bad_tags_are_reported():
    project = load(export(task={"tags": ["ok", 3]}))
    assert project.tasks[0].tags == ("ok",)
    assert [w.path for w in project.warnings] == ["$[0].tags[1]"]


def test_duplicate_task_ids_are_reported():
    data = export() + export()
    assert [w.code for w in load(data).warnings] == ["duplicate_task_id"]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"foo": 1}, "$"),
        ("tasks", "$"),
        ([1, 2], "$[0]"),
        ([{"id": 1, "completions": []}], "$[0].data"),
        ([{"id": 1, "data": {"title": "no text"}}], "$[0].data.text"),
        ([{"id": 1, "data": {"text": 42}}], "$[0].data.text"),
        ([{"id": 1, "data": {"text": "x"}, "completions": {"id": 1}}], "$[0].completions"),
        ([{"id": 1, "data": {"text": "x"}}, "oops"], "$[1]"),
    ],
)
def test_structural_problems_raise_with_path(data, path):
    with pytest.raises(ExportError) as error:
        load(data)
    assert error.value.path == path


def test_unreadable_files(tmp_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(json.dumps(export(span(0, 5)))[:-20])
    with pytest.raises(ExportError, match="not valid JSON"):
        load(truncated)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ExportError, match="not UTF-8"):
        load(binary)
    with pytest.raises(ExportError, match="cannot read"):
        load(tmp_path / "missing.json")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ExportError):
        load(deep)


def test_loading_never_changes_the_input(tmp_path):
    data = export(span(0, 99, text=False))
    before = json.dumps(data)
    load(data)
    assert json.dumps(data) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 40) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "data", "text", "completions", "annotations", "result", "value", "start", "end",
                         "labels", "type", "from_name", "choices", "submitted_at", "review_status", "reviews",
                         "accepted", "approved", "tags", "meta", "drafts", "predictions", "was_cancelled"]),
        children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_either_loads_or_raises_our_error(data):
    try:
        project = load(data)
    except AlabTrainingError:
        return
    select_completions(project)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 30), st.integers(-3, 30), st.sampled_from(["PROBLEM", "TEST", "X"]),
                          st.booleans()), max_size=6))
def test_spans_either_fit_the_text_or_are_reported(spans):
    items = [span(s, e, label, text=None if keep_text else False) for s, e, label, keep_text in spans]
    project = load(export(*items))
    kept = project.tasks[0].completions[0].spans
    assert len(kept) + len(project.warnings) == len(items)
    for kept_span in kept:
        assert 0 <= kept_span.start < kept_span.end <= len(TEXT)
        assert TEXT[kept_span.start:kept_span.end] == kept_span.text
