"""Exports that are odd without being wrong, or wrong without saying so: special files, CSV/TSV quotes and sizes,
numbers and ids beyond what Python converts, offsets in UTF-16 units. Each gives the right tasks or an
``ExportError`` / a documented warning, at once, and never a raw exception."""

from __future__ import annotations

import csv
import io
import json
import os
import threading

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from alab_training import ExportError, ParamsError, load_project, select_completions
from alab_training.exports.delimited import records
from alab_training.exports.values import WARNING_CODES, integer_text, number
from alab_training.params import TrainingParams
from tests.conftest import NER_CONFIG

CONFIG = """<View><Text name="text" value="$text"/>
  <Labels name="label" toName="text"><Label value="PROBLEM"/><Label value="LOC"/></Labels></View>"""
tmp_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def within(seconds: float, function, *args, **kwargs):
    """``function(*args)``'s result or exception, failing the test if it takes longer (a hang, not an answer)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # handed to the test, which checks what it is
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def task(task_id, text, result=(), completion_id=1):
    return {"id": task_id, "data": {"text": text},
            "completions": [{"id": completion_id, "submitted_at": "2024-01-01T00:00:00", "result": list(result)}]}


def span(start, end, label="LOC", **value):
    return {"type": "labels", "from_name": "label", "to_name": "text",
            "value": {"start": start, "end": end, "labels": [label], **value}}


# -- files that are not files ----------------------------------------------------------------------------------

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "export.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("name", ["export.json", "export.csv", "export.tsv"])
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path, name):
    os.mkfifo(tmp_path / name)
    with pytest.raises(ExportError, match="FIFO"):
        within(5, load_project, tmp_path / name, config=CONFIG)


def test_a_pipe_without_a_writer_is_refused_at_once():
    read, write = os.pipe()
    try:
        with pytest.raises(ExportError, match="FIFO"):
            within(5, load_project, f"/proc/self/fd/{read}", config=CONFIG)
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/stdin", "/dev/null"])
def test_a_device_is_refused_without_being_read(device):
    with pytest.raises(ExportError, match="not a regular file|cannot read"):
        within(5, load_project, device, config=CONFIG)


def test_a_symlink_to_a_fifo_is_a_fifo(tmp_path, fifo):
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    with pytest.raises(ExportError, match="FIFO"):
        within(5, load_project, link, config=CONFIG)


def test_a_folder_and_a_missing_file_are_export_errors(tmp_path):
    with pytest.raises(ExportError, match="folder"):
        load_project(tmp_path, config=CONFIG)
    with pytest.raises(ExportError, match="No such file"):
        load_project(tmp_path / "missing.json", config=CONFIG)


def test_an_export_beyond_the_limit_is_refused_while_it_is_read(tmp_path, monkeypatch):
    from alab_training.exports import files

    monkeypatch.setattr(files, "MAX_EXPORT_BYTES", 100)
    for name, content in (("big.json", json.dumps([task(i, "x" * 20) for i in range(10)])),
                          ("big.csv", "id,text\n" + "1,xxxxxxxxxx\n" * 20),
                          ("whole.json", '{"tasks": []}' + " " * 200)):
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(ExportError, match="more than 100 bytes"):
            load_project(path, config=CONFIG)


def test_an_open_stream_is_read_as_it_is_given(tmp_path):
    export = json.dumps([task(1, "fever")])
    for stream in (io.BytesIO(export.encode()), io.StringIO(export)):
        assert [t.text for t in load_project(stream, config=CONFIG).tasks] == ["fever"]
    (tmp_path / "export.tsv").write_text("id\ttext\n1\tfever\n")
    with (tmp_path / "export.tsv").open("rb") as stream:
        assert [t.text for t in load_project(stream, config=CONFIG).tasks] == ["fever"]
    with pytest.raises(ExportError, match="not valid JSON"):
        load_project(io.BytesIO(b"[{"), config=CONFIG)


@pytest.mark.parametrize("arguments, field", [((None,), "export"), ((5,), "export"), ((b"export.json",), "export"),
                                              (([], ), "name"), (([],), "strict")])
def test_wrong_arguments_are_params_errors(arguments, field):
    extra = {"name": {"name": ""}, "strict": {"strict": "yes"}}.get(field, {})
    with pytest.raises(ParamsError) as error:
        load_project(*arguments, config=CONFIG, **extra)
    assert error.value.field == field


# -- CSV and TSV ------------------------------------------------------------------------------------------------

def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("lines", [
    ['1\t"Hello there', "2\tsecond", "3\tthird"],               # the quote never closes
    ['1\t"Hello there', "2\tsecond", '3\tthird one"'],          # it closes, swallowing two whole rows
    ['1\t"Hello" there', "2\tsecond", "3\tthird"],               # it closes, with text after it
])
def test_a_stray_quote_merges_no_rows_and_says_where(tmp_path, lines):
    path = write(tmp_path, "export.tsv", "id\ttext\n" + "\n".join(lines) + "\n")
    project = load_project(path, config=CONFIG)
    assert [task.id for task in project.tasks] == [1, 2, 3]
    assert project.tasks[0].text == lines[0].split("\t", 1)[1]
    assert [(w.code, w.path) for w in project.warnings] == [("stray_quote", "$[0]")]
    assert "line 2" in project.warnings[0].message
    with pytest.raises(ExportError, match="quote"):
        load_project(path, config=CONFIG, strict=True)


def test_fields_beyond_the_header_are_reported_not_dropped_silently(tmp_path):
    path = write(tmp_path, "export.csv", "id,text\n1,first\n2,second,stray,more\n3,third\n")
    project = load_project(path, config=CONFIG)
    assert [(task.id, task.text) for task in project.tasks] == [(1, "first"), (2, "second"), (3, "third")]
    assert [(w.code, w.path) for w in project.warnings] == [("ragged_row", "$[1]")]
    assert "line 3" in project.warnings[0].message and "2 left out" in project.warnings[0].message


def test_quoted_line_breaks_delimiters_and_quotes_are_still_read(tmp_path):
    rows = [["1", 'She said "no",\nthen left.'], ["2", "plain"], ["3", '"quoted", in full']]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["id", "text"], *rows])
    project = load_project(write(tmp_path, "export.csv", buffer.getvalue()), config=CONFIG)
    assert [(task.id, task.text) for task in project.tasks] == [(int(i), text) for i, text in rows]
    assert project.warnings == ()


def test_a_field_larger_than_csv_allows_is_read(tmp_path):
    text = "word " * 60_000  # 300 KB: csv's field_size_limit() is 128 KB
    project = load_project(write(tmp_path, "export.csv", f'id,text\n1,"{text}"\n'), config=CONFIG)
    assert project.tasks[0].text == text
    assert csv.field_size_limit() == 131072  # and the process-wide limit was left alone


@pytest.mark.parametrize("cell, expected", [("²", "²"), ("١٢", "١٢"), ("9" * 5000, "9" * 5000), ("0042", 42),
                                            ("12a", "12a"), (" 7", " 7")])
def test_ids_are_numbers_only_in_ascii_digits(tmp_path, cell, expected):
    project = load_project(write(tmp_path, "export.csv", f"id,text,annotation_id\n{cell},hello,{cell}\n"),
                           config=CONFIG)
    assert project.tasks[0].id == expected and project.tasks[0].completions[0].id == expected
    assert len(select_completions(project, TrainingParams(validation_split=0.5))) == 1


def test_a_deeply_nested_json_cell_is_a_bad_item(tmp_path):
    path = write(tmp_path, "export.csv", 'id,text,label,annotation_id\n1,hello,"' + "[" * 100_000 + '",5\n')
    project = within(10, load_project, path, config=CONFIG)
    assert [w.code for w in project.warnings] == ["bad_item"] and "nested" in project.warnings[0].message
    assert project.tasks[0].completions[0].spans == ()


csv_fields = st.text(alphabet=st.sampled_from(list('ab ,\t"\n\r;é') + ["\u2028", "😀"]), max_size=12)


@tmp_settings
@given(st.lists(st.lists(csv_fields, min_size=3, max_size=3), min_size=1, max_size=8),
       st.sampled_from([",", "\t"]), st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
def test_what_csv_writes_is_read_back_as_csv_reads_it(rows, delimiter, quoting):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=quoting).writerows([["a", "b", "c"], *rows])
    expected = [row for row in csv.reader(io.StringIO(buffer.getvalue(), newline=""), delimiter=delimiter) if row]
    found = list(records(buffer.getvalue(), delimiter))
    assert [list(record.fields) for record in found] == expected or any(record.stray_quote for record in found)
    if not any("\n" in field or "\r" in field for row in rows for field in row):
        # Without line breaks inside fields, nothing is ambiguous: the very same records.
        assert [list(record.fields) for record in found] == expected
        assert not any(record.stray_quote for record in found)


@tmp_settings
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab \t,")), max_size=6), min_size=2, max_size=6),
       st.integers(0, 5), st.sampled_from(['"', 'x"', '"x"y']))
def test_one_stray_quote_never_makes_rows_vanish(texts, at, stray):
    """Rows written line by line, one text given a quote that no writer would leave unescaped."""
    texts = [text.replace("\t", " ") for text in texts]
    at = at % len(texts)
    texts[at] = stray + texts[at]
    lines = ["id\ttext", *(f"{index}\t{text}" for index, text in enumerate(texts))]
    found = list(records("\n".join(lines) + "\n", "\t"))[1:]
    assert [record.fields[0] for record in found] == [str(index) for index in range(len(texts))]
    assert all(record.line == index + 2 for index, record in enumerate(found))


# -- numbers and ids --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("document, place", [
    ('[{"id": ' + "9" * 5000 + ', "data": {"text": "x"}}]', "line 1, column 9"),
    ('[{"id": 1, "data": {"text": "x"}, "lead": ' + "[" * 5000 + "]" * 5000 + "}]", "nested"),
    ('{"tasks": [{"id": 1e999, "data": {"text": "x"}}]}', "float range"),
])
def test_numbers_and_nesting_json_cannot_take_are_export_errors_with_the_place(tmp_path, document, place):
    path = write(tmp_path, "export.json", document)
    with pytest.raises(ExportError, match=place) as error:
        within(10, load_project, path, config=CONFIG)
    assert error.value.path == "$"


@pytest.mark.parametrize("odd", ["²", "9" * 5000, "٣", "1²", ""])
def test_odd_ids_do_not_stop_the_selection(odd):
    project = load_project([task(1, "a", completion_id=odd), task(odd or 2, "b", completion_id=7),
                            {"id": 3, "data": {"text": "c"}, "completions": [
                                {"id": odd or "x", "submitted_at": "2024-01-01T00:00:00", "result": []},
                                {"id": 4, "submitted_at": "2024-01-01T00:00:00", "result": []}]}], config=CONFIG)
    selection = select_completions(project, TrainingParams(validation_split=0.5, seed=3))
    assert len(selection) == 3
    # At the same time the higher id wins, and an id that is no number sorts after every number.
    assert selection.items[2].completion.id == (odd or "x")


@given(st.text(max_size=12) | st.builds(lambda digit, count: digit * count, st.sampled_from("17"),
                                       st.integers(4290, 4310)))
@example("²")
@example("9" * 4301)
def test_integer_text_is_int_exactly_for_ascii_digits(text):
    found = integer_text(text)
    if text.isascii() and text.isdigit() and len(text) <= 4300:
        assert found == int(text)
    else:
        assert found is None


@pytest.mark.parametrize("value, expected", [("0.5", 0.5), (2, 2.0), ("inf", None), ("nan", None), ("1" * 400, None),
                                             (10**400, None), (True, None), ("x", None), ([], None)])
def test_scores_are_finite_numbers_or_nothing(value, expected):
    assert number(value) == expected


# -- offsets in UTF-16 units ------------------------------------------------------------------------------------

def utf16(text: str, index: int) -> int:
    """The UTF-16 offset of code point ``index``, as Label Studio's browser counts it."""
    return len(text[:index].encode("utf-16-le")) // 2


def spans_of(result, text):
    project = load_project([task(1, text, result)], config=CONFIG)
    return project.tasks[0].completions[0].spans, project.warnings


def test_after_an_emoji_a_span_with_its_text_is_recovered_with_a_warning():
    text = "I 😀 love Paris"
    start = text.index("Paris")
    found, warnings = spans_of([span(utf16(text, start), utf16(text, start + 5), text="Paris")], text)
    assert [(s.start, s.end, s.text) for s in found] == [(start, start + 5, "Paris")]
    assert [(w.code, w.path) for w in warnings] == [("code_unit_offsets", "$[0].completions[0].result[0].value")]
    assert "code_unit_offsets" in WARNING_CODES


def test_a_span_without_text_follows_its_result_then_the_word_boundaries():
    text = "😀 Paris is nice 🎉 and warm"
    paris, warm = (text.index("Paris"), text.index("Paris") + 5), (text.index("warm"), len(text))
    with_evidence = [span(utf16(text, paris[0]), utf16(text, paris[1]), text="Paris"),
                     span(utf16(text, warm[0]), utf16(text, warm[1]))]
    found, warnings = spans_of(with_evidence, text)
    assert [s.text for s in found] == ["Paris", "warm"] and [w.code for w in warnings] == ["code_unit_offsets"] * 2
    alone, warnings = spans_of([span(utf16(text, paris[0]), utf16(text, paris[1]))], text)
    assert [s.text for s in alone] == ["Paris"] and len(warnings) == 1
    as_points, warnings = spans_of([span(*paris)], text)  # code points, as the ML backends write them
    assert [s.text for s in as_points] == ["Paris"] and warnings == ()


def test_code_point_offsets_stay_as_they_are_and_nothing_else_changes():
    text = "😀 fever 😀 cough"
    start = text.index("cough")
    found, warnings = spans_of([span(start, start + 5, text="cough")], text)
    assert [(s.start, s.text) for s in found] == [(start, "cough")] and warnings == ()
    found, warnings = spans_of([span(start, start + 5, text="other")], text)
    assert found == () and [w.code for w in warnings] == ["text_mismatch"]
    with pytest.raises(ExportError):
        load_project([task(1, text, [span(utf16(text, start), utf16(text, start) + 5, text="cough")])],
                     config=CONFIG, strict=True)


emoji_texts = st.lists(st.sampled_from(["fever", "cough", "😀", "🎉", " ", "é", "\U0001f9ea"]), min_size=1,
                       max_size=12).map("".join)


@settings(max_examples=200, deadline=None)
@given(emoji_texts, st.data())
def test_every_span_the_browser_writes_is_read_back_exactly(text, data):
    """Offsets in UTF-16 units with their text: the span read is the span marked, whatever precedes it."""
    words = [(index, index + len(word)) for word in ("fever", "cough") for index in range(len(text))
             if text.startswith(word, index)]
    if not words:
        return
    chosen = data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=4, unique=True))
    # Where the offsets as written also cover the same word in code points (fever·fever after emoji), both
    # readings match: that one is read as the documented code points, and left out here.
    assume(not any(utf16(text, end) != end and text[utf16(text, start):utf16(text, end)] == text[start:end]
                   for start, end in chosen))
    result = [span(utf16(text, start), utf16(text, end), text=text[start:end]) for start, end in chosen]
    found, warnings = spans_of(result, text)
    assert [(s.start, s.end) for s in found] == chosen
    assert {w.code for w in warnings} <= {"code_unit_offsets"}
    assert (len(warnings) == 0) == all(utf16(text, end) == end for _, end in chosen)


def test_a_text_without_wide_characters_is_never_read_twice(monkeypatch):
    from alab_training.exports import offsets

    monkeypatch.setattr(offsets, "reading", lambda *args: pytest.fail("looked at twice"))
    found, warnings = spans_of([span(0, 5, text="fever", label="PROBLEM")], "fever and cough")
    assert len(found) == 1 and warnings == ()


def test_the_ner_config_of_the_other_tests_still_loads():
    assert load_project([task(1, "fever", [span(0, 5, "PROBLEM", text="fever")])], config=NER_CONFIG).warnings == ()


def test_a_token_per_line_corpus_that_is_no_file_or_no_text_is_an_export_error(tmp_path):
    from alab_training.exports.iob import read_iob

    os.mkfifo(tmp_path / "corpus.tsv")
    (tmp_path / "binary.tsv").write_bytes(b"Fever\tB-PROBLEM\n\xff\xfe\tO\n")
    for name, problem in (("corpus.tsv", "FIFO"), ("binary.tsv", "utf-8")):
        with pytest.raises(ExportError, match=problem):
            within(5, read_iob, tmp_path / name)


def test_an_id_too_long_to_print_is_no_id(tmp_path):
    """Only an export built in code can hold one (JSON files are refused first); the task is kept, by position."""
    project = load_project([task(10**5000, "fever", completion_id=-10**5000)], config=CONFIG)
    assert (project.tasks[0].id, project.tasks[0].completions[0].id) == (0, 0)
    assert [w.code for w in project.warnings] == ["bad_task_id"]
    assert len(select_completions(project, TrainingParams(validation_split=0.5))) == 1
