"""The error table: rows from the differences, ±20 tokens of context, CSV written whole or not at all."""

from __future__ import annotations

import csv
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alab_training import ParamsError
from alab_training.evaluation.errors_table import COLUMNS, ErrorTable, error_rows, error_table
from alab_training.evaluation.matching import compare_spans

TEXT = "The patient denies chest pain.\nAspirin 81 mg daily was started for CAD; troponin negative."


def find(fragment, label, text=TEXT):
    start = text.index(fragment)
    return (start, start + len(fragment), label)


def test_rows_of_each_kind_with_their_context():
    gold = [find("chest pain", "PROBLEM"), find("Aspirin", "DRUG"), find("CAD", "PROBLEM"),
            find("troponin", "TEST")]
    predicted = [find("chest pain", "PROBLEM"), find("Aspirin 81", "DRUG"), find("CAD", "TEST"),
                 find("daily", "DRUG")]
    rows = error_rows(12, 1201, TEXT, gold, predicted, context_tokens=3)
    assert [row.kind for row in rows] == ["wrong_boundary", "false_positive", "wrong_type", "false_negative"]
    boundary = rows[0]
    assert (boundary.task_id, boundary.completion_id) == (12, 1201)
    assert (boundary.gold_text, boundary.predicted_text) == ("Aspirin", "Aspirin 81")
    assert (boundary.gold_label, boundary.predicted_label) == ("DRUG", "DRUG")
    assert TEXT[boundary.start:boundary.end] == "Aspirin 81"
    # Three tokens either side; the newline before "Aspirin" becomes a space.
    assert boundary.left_context == "chest pain. "
    assert boundary.right_context == " mg daily was"
    false_positive = rows[1]
    assert (false_positive.gold_label, false_positive.gold_text, false_positive.predicted_text) == (
        None, None, "daily")
    assert rows[2].left_context == "was started for "
    assert rows[2].right_context == "; troponin negative"
    assert rows[3].right_context == " negative."


def test_context_is_twenty_tokens_by_default_and_stops_at_the_ends():
    text = " ".join(f"w{i}" for i in range(60))
    target = find("w30", "X", text)
    [row] = error_rows(1, None, text, [target], [])
    assert row.left_context == " ".join(f"w{i}" for i in range(10, 30)) + " "
    assert row.right_context == " " + " ".join(f"w{i}" for i in range(31, 51))
    [edge] = error_rows(1, None, text, [find("w0", "X", text)], [], context_tokens=2)
    assert edge.left_context == ""
    assert edge.right_context == " w1 w2"
    [none] = error_rows(1, None, text, [target], [], context_tokens=0)
    assert (none.left_context, none.right_context) == ("", "")


def test_a_region_starting_inside_a_word_shows_the_word():
    text = "the unhappy patient"
    [row] = error_rows(1, None, text, [(6, 11, "X")], [], context_tokens=1)
    assert row.left_context == "un"
    assert row.right_context == " patient"


def test_rows_add_up_to_the_strict_counts():
    gold = [find("chest pain", "PROBLEM"), find("CAD", "PROBLEM")]
    predicted = [find("CAD", "TEST"), find("Aspirin", "DRUG")]
    strict = compare_spans(gold, predicted).scores.overall.strict
    table = error_table([(1, 10, TEXT, gold, predicted), (2, 20, TEXT, [], [find("daily", "DRUG")])])
    assert len(table) == strict.incorrect + strict.missed + strict.spurious + 1
    assert table.counts() == {"false_negative": 1, "false_positive": 2, "wrong_type": 1}
    assert [row.task_id for row in table][-1] == 2


def test_to_csv_round_trips_and_replaces_the_file(tmp_path):
    text = 'He said "stop", then\nleft, "quickly"'
    rows = error_rows("t-1", None, text, [find("stop", "A", text)], [find('"quickly"', "B", text)])
    path = tmp_path / "errors.csv"
    path.write_text("old content")
    assert ErrorTable(tuple(rows)).to_csv(path) == path
    with open(path, newline="", encoding="utf-8") as stream:
        read = list(csv.reader(stream))
    assert read[0] == list(COLUMNS)
    assert len(read) == 3
    first = dict(zip(COLUMNS, read[1]))
    assert first["task_id"] == "t-1"
    assert first["completion_id"] == ""
    assert first["kind"] == "false_negative"
    assert first["gold_text"] == "stop"
    assert first["predicted_label"] == ""
    assert dict(zip(COLUMNS, read[2]))["predicted_text"] == '"quickly"'
    assert "\n" not in dict(zip(COLUMNS, read[1]))["right_context"]
    assert os.listdir(tmp_path) == ["errors.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "errors.csv"
    path.write_text("old content")
    rows = error_rows(1, 1, TEXT, [find("CAD", "PROBLEM")], [])

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        ErrorTable(tuple(rows)).to_csv(path)
    assert path.read_text() == "old content"
    assert os.listdir(tmp_path) == ["errors.csv"]


def test_bad_input():
    with pytest.raises(ParamsError) as caught:
        error_rows(1, 1, TEXT, [(0, len(TEXT) + 1, "A")], [])
    assert caught.value.field == "gold[0]"
    with pytest.raises(ParamsError):
        error_rows(1, 1, None, [], [])
    with pytest.raises(ParamsError):
        error_rows(1, 1, TEXT, [], [], context_tokens=-1)
    with pytest.raises(ParamsError) as caught:
        error_table([(1, 1, TEXT, [])])
    assert caught.value.field == "examples[0]"


words = st.lists(st.sampled_from(["a", "bb", "ccc", ",", ".", "  ", "\n", "dd-ee"]), min_size=1, max_size=40)
TOKEN = re.compile(r"\w+|[^\w\s]")


def squash(value):
    return re.sub(r"\s+", " ", value)


@settings(max_examples=300, deadline=None)
@given(words, st.data())
def test_context_is_the_text_around_the_region(pieces, data):
    text = "".join(pieces)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    size = data.draw(st.integers(0, 5))
    [row] = error_rows(1, 1, text, [(start, end, "X")], [], context_tokens=size)
    assert squash(text[:start]).endswith(row.left_context)
    assert squash(text[end:]).startswith(row.right_context)
    before = [m for m in TOKEN.finditer(text) if m.start() < start]
    after = [m for m in TOKEN.finditer(text) if m.end() > end]
    assert len(TOKEN.findall(row.left_context)) == min(size, len(before))
    assert len(TOKEN.findall(row.right_context)) == min(size, len(after))
