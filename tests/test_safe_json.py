"""JSON from untrusted files: the values and syntax errors of json, refusals where json would surprise."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alab_training import safe_json
from alab_training.errors import AlabTrainingError
from alab_training.exports.files import _ArrayItems
from alab_training.safe_json import Decoder, loads

tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\/ a\n\t\u00e9\u2028\ud800'), max_size=8) | st.text(max_size=8)
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | tricky_text)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(tricky_text, inner, max_size=4), max_leaves=25)
#: Text that is JSON now and then, and often nearly: every character that matters to the depth scan.
jsonish = st.lists(st.sampled_from(list('[]{}",:01e.-\\ ') + ["true", "null", '"\\"', '"[', ']"', "[[", "]]"]),
                   max_size=40).map("".join)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def outcome(decode, *args):
    """What a decoder gives: ("value", v), ("syntax", msg, pos) or ("refused", reason); anything else raises."""
    try:
        return ("value", decode(*args))
    except json.JSONDecodeError as error:
        return ("syntax", error.msg, error.pos)
    except AlabTrainingError as error:
        assert isinstance(error, ValueError) and not isinstance(error, json.JSONDecodeError)
        assert error.reason in safe_json.REASONS
        return ("refused", error.reason)


# -- the same as json where json is right -----------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans(), st.sampled_from([None, 0, 2]))
def test_loads_gives_what_json_gives(value, ensure_ascii, indent):
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
    assert loads(text) == json.loads(text)
    assert loads(text.encode("utf-8", "surrogatepass")) == json.loads(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["", " ", "[1, ", '{"a": ']), st.sampled_from(["", " ", ", 2]", "}", "x"]))
def test_raw_decode_is_a_drop_in(value, prefix, suffix):
    text = prefix + json.dumps(value) + suffix
    assert Decoder().raw_decode(text, len(prefix)) == json.JSONDecoder().raw_decode(text, len(prefix))


@settings(max_examples=200, deadline=None)
@given(json_values, st.data())
def test_a_value_cut_short_fails_as_json_fails(value, data):
    """A streaming reader reads more when raw_decode raises JSONDecodeError: it must, exactly where json does."""
    text = json.dumps(value)
    cut = text[:data.draw(st.integers(0, len(text)))]
    assert outcome(Decoder().raw_decode, cut) == outcome(json.JSONDecoder().raw_decode, cut)


@settings(max_examples=500, deadline=None)
@given(jsonish, st.integers(1, 4))
@example('[["]]]"]]', 1)
@example('["\\"[[[["]', 1)
@example('[[[["', 1)
def test_any_text_gives_json_s_value_or_syntax_error_or_a_depth_refusal(text, max_depth):
    cases = ((lambda: loads(text, max_depth=max_depth), lambda: json.loads(text), lambda result: result),
             (lambda: Decoder(max_depth=max_depth).raw_decode(text), lambda: json.JSONDecoder().raw_decode(text),
              lambda result: result[0]))
    for ours, theirs, value_of in cases:
        mine, reference = outcome(ours), outcome(theirs)
        if reference[0] == "value" and depth(value_of(reference[1])) > max_depth:
            assert mine == ("refused", "depth")
        elif reference[0] == "value" and float("inf") in map(abs, floats(value_of(reference[1]))):
            assert mine == ("refused", "float")  # "1e1111": json makes it inf
        elif mine == ("refused", "depth"):
            assert reference[0] == "syntax"  # too deep before json found the syntax error
        else:
            assert mine == reference


def floats(value):
    if isinstance(value, list):
        return [f for item in value for f in floats(item)]
    if isinstance(value, dict):
        return floats(list(value.values()))
    return [value] if isinstance(value, float) else []


# -- nesting --------------------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["[]", "{}"]), min_size=1, max_size=30), st.integers(1, 30), st.booleans())
def test_nesting_is_accepted_up_to_max_depth_and_refused_at_the_next_level(kinds, max_depth, whole):
    text = ""
    for kind in reversed(kinds):
        text = kind[0] + ('"k": ' if kind == "{}" and text else "") + text + kind[1]
    if len(kinds) <= max_depth:
        assert loads(text, max_depth=max_depth) == json.loads(text)
    else:
        with pytest.raises(AlabTrainingError) as error:
            loads(text, max_depth=max_depth) if whole else Decoder(max_depth=max_depth).raw_decode(text)
        openers = [i for i, c in enumerate(text) if c in "[{"]
        assert (error.value.reason, error.value.pos) == ("depth", openers[max_depth])
        assert f"char {openers[max_depth]}" in str(error.value) and error.value.limit == max_depth


@pytest.mark.parametrize("opener", ["[", '{"a":'])
@pytest.mark.parametrize("closed", [False, True])
@pytest.mark.parametrize("use", ["loads", "raw_decode"])
def test_a_million_levels_are_refused_quickly(opener, closed, use):
    text = opener * 1_000_000 + ("1" + ("]" if opener == "[" else "}") * 1_000_000 if closed else "")
    started = time.monotonic()
    with pytest.raises(AlabTrainingError) as error:
        loads(text) if use == "loads" else Decoder().raw_decode(text)
    assert time.monotonic() - started < 2
    assert error.value.reason == "depth" and error.value.pos == len(opener) * safe_json.DEFAULT_MAX_DEPTH


def test_with_a_raised_recursion_limit_the_depth_is_checked_before_decoding(monkeypatch):
    """On Python 3.11 a raised limit lets the C decoder recurse until the stack overflows: it must not start."""
    monkeypatch.setattr(sys, "getrecursionlimit", lambda: 10**7)
    for decode in (loads, Decoder().raw_decode):
        with pytest.raises(AlabTrainingError, match=f"more than {safe_json.DEFAULT_MAX_DEPTH} nested"):
            decode("[" * 200_000)
    assert Decoder().raw_decode("[[1]] trailing") == ([[1]], 5)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 guards the C decoder's recursion apart")
def test_with_a_raised_recursion_limit_deep_nesting_is_refused_not_a_crash():
    """There, ``json.loads("[" * 200_000)`` overflows the C stack (SIGSEGV with an 8 MiB stack)."""
    script = """
import sys
from alab_training.safe_json import Decoder, loads
sys.setrecursionlimit(10**7)
for decode in (loads, Decoder().raw_decode):
    try:
        decode("[" * 200_000)
    except ValueError as error:
        print(error.reason)
"""
    ours = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert (ours.returncode, ours.stdout) == (0, "depth\ndepth\n")


def test_from_deep_in_a_stack_the_interpreter_limit_is_refused_not_raised():
    """The caller's own frames leave less room than max_depth: a RecursionError becomes the same refusal."""
    text = "[" * 2000 + "]" * 2000

    def nested(levels):
        return nested(levels - 1) if levels else outcome(lambda: loads(text, max_depth=100_000))

    assert nested(sys.getrecursionlimit() - 200) == ("refused", "depth")
    assert outcome(Decoder(max_depth=100_000).raw_decode, text) == ("refused", "depth")


def test_brackets_in_strings_do_not_count():
    text = json.dumps(["[" * 500, "{" * 500, "\\\"[[[", {"[[[[": "]]]]"}])
    assert loads(text, max_depth=2) == json.loads(text)
    assert Decoder(max_depth=2).raw_decode(text)[0] == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_fast_depth_bound_is_exact_for_a_value(value):
    text = json.dumps(value)
    assert safe_json._depth_bound(text) == depth(value)
    assert safe_json._depth_bound(" ".join([text] * 3)) == depth(value)


@settings(max_examples=300, deadline=None)
@given(jsonish.filter(lambda text: "\\" not in text))
def test_the_fast_depth_bound_never_underestimates(text):
    """Texts without backslashes (strings with escapes are the test above): a backslash outside a string ends
    any decoding, so what follows it is never decoded and the bound need not cover it."""
    _, deepest, _ = safe_json._deepest(text, 0, len(text), 10**9, one_value=False)
    highest, lowest = safe_json._profile(text)
    assert highest >= deepest
    for start in range(len(text) if '"' not in text else 0):  # a value starting anywhere: highest - lowest
        assert highest - lowest >= safe_json._deepest(text, start, len(text), 10**9, one_value=False)[1]


def element_starts(text: str) -> list[int]:
    """Where the elements of the JSON array ``text`` start, found with json itself."""
    decoder, starts, pos = json.JSONDecoder(), [], 1
    while True:
        pos = json.decoder.WHITESPACE.match(text, pos).end()
        if text[pos] == "]":
            return starts
        starts.append(pos)
        pos = json.decoder.WHITESPACE.match(text, decoder.raw_decode(text, pos)[1]).end()
        pos += text[pos] == ","


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=8), st.integers(1, 4), st.sampled_from([None, 1]))
def test_values_decoded_one_after_another_are_each_checked(values, max_depth, indent):
    """The bound of a streaming buffer is computed once for all its values: each must still be right."""
    text = json.dumps(values, indent=indent)
    decoder = Decoder(max_depth=max_depth)
    for start, value in zip(element_starts(text), values):
        if depth(value) <= max_depth:
            assert decoder.raw_decode(text, start)[0] == value
        else:
            assert outcome(decoder.raw_decode, text, start) == ("refused", "depth")


def test_a_value_inside_a_string_of_a_bounded_text_is_checked_anew():
    text = '["[[[[1]]]]", 2]'
    decoder = Decoder(max_depth=2)
    assert decoder.raw_decode(text, 1) == ("[[[[1]]]]", 12)
    assert outcome(decoder.raw_decode, text, 2) == ("refused", "depth")  # jumped back, into the string
    assert decoder.raw_decode(text, 14) == (2, 15)
    assert outcome(decoder.raw_decode, '"x" [[[1]]]', 4) == ("refused", "depth")


def test_an_ordinary_array_element_takes_the_cheap_path(monkeypatch):
    monkeypatch.setattr(safe_json, "_profile", lambda text: pytest.fail("the bound was computed"))
    task = {"id": 1, "data": {"text": "Fever."}, "completions": [{"result": [{"value": {"labels": ["A"]}}]}]}
    text = json.dumps([task] * 50)
    decoder, pos, tasks = Decoder(), 1, []
    while text[pos] != "]":
        value, pos = decoder.raw_decode(text, pos)
        tasks.append(value)
        pos += 2 if text[pos] == "," else 0
    assert tasks == [task] * 50


# -- numbers --------------------------------------------------------------------------------------------------

def test_an_integer_too_long_to_convert_is_refused_with_its_place():
    digits = sys.get_int_max_str_digits()
    assert loads("9" * digits) == int("9" * digits)
    for text, pos in (("1" * (digits + 1), 0), ("-" + "1" * (digits + 1), 0),
                      ('{"id": "123",\n "n": [0, ' + "7" * (digits + 5) + "]}", 24)):
        for decode in (loads, Decoder().raw_decode):
            with pytest.raises(AlabTrainingError) as error:
                decode(text)
            assert (error.value.reason, error.value.pos) == ("integer", pos)
            assert isinstance(error.value, ValueError) and f"{digits} Python converts" in str(error.value)
    assert loads(json.dumps({"digits": "1" * 10_000})) == {"digits": "1" * 10_000}


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1e309", "1" * 400 + ".0", "0.5e400"])
def test_a_float_beyond_the_range_is_refused_not_made_infinite(literal):
    for decode in (loads, Decoder().raw_decode):
        with pytest.raises(AlabTrainingError) as error:
            decode(f'[0.5, "1e999", {literal}]')
        assert (error.value.reason, error.value.pos, error.value.lineno, error.value.colno) == ("float", 15, 1, 16)


def test_floats_in_range_and_underflow_are_json_s():
    assert loads("[1e308, -1.7976931348623157e308, 1e-999, 5e-324]") == [1e308, -1.7976931348623157e308, 0.0, 5e-324]


def test_nan_and_infinity_constants_are_accepted_unless_refused():
    value = loads("[NaN, Infinity, -Infinity]")
    assert value[0] != value[0] and value[1:] == [float("inf"), float("-inf")]
    for literal, pos in (("NaN", 6), ("Infinity", 6), ("-Infinity", 6)):
        with pytest.raises(AlabTrainingError) as error:
            loads(f'["N", {literal}]', allow_nan=False)
        assert (error.value.reason, error.value.pos) == ("constant", pos)


# -- arguments -------------------------------------------------------------------------------------------------

def test_json_s_other_errors_and_inputs_stay_as_they_are():
    assert loads("[1]".encode("utf-16")) == [1]
    assert outcome(loads, "\ufeff[1]") == outcome(json.loads, "\ufeff[1]")
    assert outcome(loads, "[1] x") == outcome(json.loads, "[1] x")
    assert outcome(loads, "") == outcome(json.loads, "")
    assert outcome(Decoder().raw_decode, "[1]", 5) == outcome(json.JSONDecoder().raw_decode, "[1]", 5)


@pytest.mark.parametrize("call", [lambda: loads(3), lambda: loads(None), lambda: Decoder(max_depth=0),
                                  lambda: Decoder(max_depth=True), lambda: Decoder().raw_decode(b"[1]"),
                                  lambda: Decoder().raw_decode("[1]", -1), lambda: Decoder().decode(b"1")])
def test_bad_arguments_are_clear_errors(call):
    with pytest.raises(AlabTrainingError) as error:
        call()
    assert error.value.reason == "bad_argument"


# -- in the streaming export reader -----------------------------------------------------------------------------

def stream(text: str, chunk: int, decoder: json.JSONDecoder | None = None) -> list:
    items = _ArrayItems(io.StringIO(text), chunk)
    if decoder is not None:
        items._decoder = decoder
    return list(items)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=6), st.integers(1, 40), st.sampled_from([None, 0, 2]))
def test_the_streaming_reader_reads_the_same_with_this_decoder(elements, chunk, indent):
    text = json.dumps(elements, indent=indent)
    assert stream(text, chunk, Decoder()) == stream(text, chunk) == json.loads(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=4), st.integers(1, 40), st.data())
def test_the_streaming_reader_fails_where_it_failed_on_broken_text(elements, chunk, data):
    text = json.dumps(elements)
    at = data.draw(st.integers(0, len(text)))
    text = text[:at] + data.draw(st.sampled_from(["", "}", ",", "]", "x", '"', "\\", "1"])) + text[at:]
    assert stream_outcome(text, chunk, Decoder()) == stream_outcome(text, chunk, None)


def stream_outcome(text: str, chunk: int, decoder: json.JSONDecoder | None):
    try:
        return ("value", stream(text, chunk, decoder))
    except Exception as error:  # noqa: BLE001 - the reader's own complaints too (not an array, a bad separator)
        return (type(error).__name__, str(error))


class _CountingReader(io.StringIO):
    def __init__(self, text):
        super().__init__(text)
        self.read_chars = 0

    def read(self, size=-1):
        data = super().read(size)
        self.read_chars += len(data)
        return data


@pytest.mark.parametrize("element", ["[" * 600 + "]" * 600, "[" * 10**6, "1" * 5000, "1e999"])
def test_a_refused_element_stops_the_stream_at_once(element):
    """A refusal is no JSONDecodeError: the reader does not read the rest of the file hoping the value ends."""
    text = "[" + json.dumps({"id": 1}) + ", " + element + ", " + json.dumps(["padding"] * 200_000) + "]"
    handle = _CountingReader(text)
    items = _ArrayItems(handle, 1 << 16)
    items._decoder = Decoder()
    with pytest.raises(AlabTrainingError):
        list(items)
    assert handle.read_chars < len(text) / 2
