"""A JSON array of tasks is streamed task by task, and streaming changes nothing but the memory it takes."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alab_training import ExportError, load_project
from alab_training.exports import files as reader_module
from tests.conftest import NER_CONFIG

TEXT = "Fever and cough, no rash."


def outcome(path, *, streamed: bool, strict: bool = False, chunk: int = 7):
    """What loading the file gives: streamed in ``chunk``-character reads, or read whole as before streaming."""
    with pytest.MonkeyPatch.context() as patch:
        if streamed:
            patch.setattr(reader_module, "_CHUNK_CHARS", chunk)
        else:
            patch.setattr(reader_module, "_stream_tasks", lambda file, reader: None)
        try:
            project = load_project(path, config=NER_CONFIG, strict=strict)
        except ExportError as error:
            return ("error", str(error), error.path, repr(error.__cause__))
        return (project.tasks, project.warnings, project.export_format)


offsets = st.integers(-2, 30) | st.sampled_from([None, "3", 2.0, True])
labels = st.sampled_from([["PROBLEM"], ["TEST", "Absent"], ["PROBLEM", "Absent"], ["X"], [], "PROBLEM", None, [3]])
result_items = st.fixed_dictionaries(
    {"type": st.sampled_from(["labels", "labels", "choices", "relation", None]),
     "value": st.fixed_dictionaries({"start": offsets, "end": offsets, "labels": labels},
                                    optional={"text": st.sampled_from(["Fever", "cough", ""]),
                                              "choices": st.sampled_from([["a"], ["z"], "b"])})},
    optional={"from_name": st.sampled_from(["label", "kind", "nope", None, 1]),
              "to_name": st.sampled_from(["text", None]), "id": st.sampled_from(["r1", "r2", 5]),
              "from_id": st.just("r1"), "to_id": st.sampled_from(["r1", "r2"])},
) | st.sampled_from(["item", 3, None])
completions = st.fixed_dictionaries(
    {"id": st.integers(0, 3) | st.sampled_from(["c", None, True]), "result": st.lists(result_items, max_size=4)},
    optional={"submitted_at": st.sampled_from(["2024-01-01T10:00:00", "2024-01-02T10:00:00Z", "yesterday", None]),
              "honeypot": st.booleans(), "review_status": st.sampled_from([{"approved": True}, {"approved": "no"}]),
              "was_cancelled": st.booleans()},
) | st.sampled_from(["completion", None])
tasks = st.fixed_dictionaries(
    {"data": st.sampled_from([{"text": TEXT}, {"text": TEXT, "title": "t"}, {"text": 3}, {}, None])},
    optional={"id": st.integers(0, 4) | st.sampled_from(["a", None, 1.5]),
              "completions": st.lists(completions, max_size=3),
              "annotations": st.lists(completions, max_size=2), "drafts": st.lists(completions, max_size=1),
              "tags": st.sampled_from([["test"], ["a", 3], "x,y", 5]), "predictions": st.sampled_from([[], [3]])},
)
exports = st.lists(tasks, max_size=5) | st.lists(tasks, min_size=1, max_size=3).map(lambda t: [1, *t])


@st.composite
def export_files(draw):
    """The text of an export as some tool may write it; now and then broken somewhere."""
    text = json.dumps(draw(exports), indent=draw(st.sampled_from([None, 0, 2])), ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", "}", ",", "]", " x", "\x00", '"', "\\", "1"])) + text[at:]
    prefix = draw(st.sampled_from(["", "", "\ufeff", " \n", "\ufeff\ufeff"]))
    return prefix + text + draw(st.sampled_from(["", "\n", " ]", "{}"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(export_files(), st.booleans(), st.integers(1, 40))
def test_streaming_gives_what_reading_the_whole_file_gives(tmp_path_factory, text, strict, chunk):
    path = tmp_path_factory.mktemp("exports") / "export.json"
    path.write_text(text, encoding="utf-8")
    assert outcome(path, streamed=True, strict=strict, chunk=chunk) == outcome(path, streamed=False, strict=strict)


def test_a_json_error_after_a_bad_task_is_reported_first(tmp_path):
    # Read whole, the file was never valid JSON: that is its problem, not the task without text before it.
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 1, "data": {}}] + [{"id": n, "data": {"text": TEXT}} for n in range(50)])[:-1])
    for strict in (False, True):
        result = outcome(path, streamed=True, strict=strict)
        assert result[0] == "error" and "not valid JSON" in result[1]
        assert result == outcome(path, streamed=False, strict=strict)


def test_invalid_utf8_late_in_the_file(tmp_path):
    path = tmp_path / "export.json"
    path.write_bytes(json.dumps([{"id": n, "data": {"text": TEXT}} for n in range(100)]).encode()[:-30] + b"\xff\"}]")
    result = outcome(path, streamed=True)
    assert result[0] == "error" and "not UTF-8" in result[1]
    assert result == outcome(path, streamed=False)


def test_other_shapes_are_read_whole(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"tasks": [{"id": 1, "data": {"text": TEXT}, "annotations": []}]}))
    project = load_project(path, config=NER_CONFIG)
    assert project.export_format == "label_studio" and [t.id for t in project.tasks] == [1]


def test_a_path_that_cannot_name_a_file(tmp_path):
    with pytest.raises(ExportError, match="cannot read the export"):
        load_project(str(tmp_path / "a\x00b.json"), config=NER_CONFIG)


def peak_memory(path, **how):
    tracemalloc.start()
    try:
        project = outcome(path, **how)
        return project, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_holds_the_tasks_not_the_parsed_file(tmp_path):
    # Each task carries a bulky field the reader ignores: parsed whole, the file takes several times its size.
    bulk = {"history": [{"step": n, "note": "edited"} for n in range(300)]}
    tasks = [{"id": n, "data": {"text": TEXT}, "meta": bulk,
              "completions": [{"id": n, "submitted_at": "2024-01-01T10:00:00",
                               "result": [{"type": "labels", "from_name": "label", "to_name": "text",
                                           "value": {"start": 0, "end": 5, "text": "Fever", "labels": ["PROBLEM"]}}]}]}
             for n in range(300)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    streamed, streamed_peak = peak_memory(path, streamed=True, chunk=1 << 16)
    whole, whole_peak = peak_memory(path, streamed=False)
    assert streamed == whole and len(streamed[0]) == 300
    assert streamed_peak < path.stat().st_size / 4 < whole_peak / 4


def test_spans_share_their_labels_and_control_names():
    item = {"type": "labels", "from_name": "label", "to_name": "text",
            "value": {"start": 0, "end": 5, "labels": ["PROBLEM", "Absent"]}}
    data = [{"id": n, "data": {"text": TEXT}, "completions": [{"id": 1, "result": [json.loads(json.dumps(item))]}]}
            for n in range(3)]
    spans = [t.completions[0].spans[0] for t in load_project(data, config=NER_CONFIG).tasks]
    assert spans[0].labels == ("PROBLEM", "Absent")
    assert all(s.labels is spans[0].labels and s.from_name is spans[0].from_name for s in spans)


def test_labels_in_a_tuple_still_fail_after_the_same_labels_in_a_list():
    def item(labels, from_name="label"):
        return {"type": "labels", "from_name": from_name, "value": {"start": 0, "end": 5, "labels": labels}}

    result = [item(["PROBLEM"]), item(("PROBLEM",)), item(["PROBLEM"], {"x": 1})]
    project = load_project([{"id": 1, "data": {"text": TEXT}, "completions": [{"id": 1, "result": result}]}],
                           config=NER_CONFIG)
    warnings = [(w.path, w.code) for w in project.warnings]
    assert warnings == [("$[0].completions[0].result[1].value.labels", "bad_labels")]
    # A from_name that is not a string names no control, and with one <Labels> that one is meant.
    assert [s.from_name for s in project.tasks[0].completions[0].spans] == ["label", "label"]


arrays = st.lists(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
), max_size=6)


@given(arrays, st.sampled_from([None, 0, 1]), st.integers(1, 12))
@example([0.0, 1e-05, -12.5, 10**30, "x"], None, 1)
def test_array_items_are_the_parsed_elements(values, indent, chunk):
    # Elements cut by the end of a read come out whole, numbers too ("1.5" is not 1 then ".5").
    text = json.dumps(values, indent=indent)
    assert list(reader_module._ArrayItems(io.StringIO(text), chunk)) == json.loads(text)


@pytest.mark.parametrize("text", ['[1 2]', '[1,]', '[1', '[1] 2', '[{"a": 1}', '[', '[]]'])
def test_broken_arrays_raise_value_errors(text):
    with pytest.raises(ValueError):
        list(reader_module._ArrayItems(io.StringIO(text), 2))


@pytest.mark.parametrize("text", ['{"tasks": []}', '', '  "x"'])
def test_other_documents_are_not_arrays(text):
    with pytest.raises(reader_module._NotAnArray):
        list(reader_module._ArrayItems(io.StringIO(text), 2))
