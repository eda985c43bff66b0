"""Character spans to token IOB tags, and back: the converter's rules and properties."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from alab_training import load_project
from alab_training.exports.iob import iob_to_tasks
from alab_training.metrics import iob_chunks
from alab_training.trainers.text import Sentence, Token, entity_spans, offset_mapper, tag_sentences

CONFIG = ('<View><Text name="text" value="$text"/><Labels name="label" toName="text"><Label value="A"/>'
          '<Label value="B"/><Label value="Neg" assertion="true"/></Labels></View>')


def whitespace_sentences(text: str, task_id=1) -> list[Sentence]:
    sentences, offset = [], 0
    for line in text.split("\n"):
        tokens, position = [], offset
        for word in line.split(" "):
            tokens.append(Token(word, position, position + len(word)))
            position += len(word) + 1
        sentences.append(Sentence(task_id, tuple(tokens)))
        offset += len(line) + 1
    return sentences


def completion_of(text, *spans):
    task = {"id": 1, "data": {"text": text}, "completions": [{"id": 1, "submitted_at": "2024-01-01T00:00:00",
                                                              "honeypot": False, "result": [
        {"type": "labels", "from_name": "label", "value": {"start": s, "end": e, "labels": list(labels)}}
        for s, e, *labels in spans]}]}
    return load_project([task], config=CONFIG).tasks[0].completions[0]


def tags_for(text, *spans):
    completion = completion_of(text, *spans)
    kept, extra, dropped = entity_spans(completion, load_project([], config=CONFIG).config)
    tagged, report = tag_sentences(whitespace_sentences(text), kept)
    return [list(s.tags) for s in tagged], report, extra, dropped


def test_iob2_tags_and_assertion_labels_left_out():
    tags, report, _, _ = tags_for("no acute chest pain today", (9, 19, "A"), (9, 19, "Neg"), (20, 25, "B"))
    assert tags == [["O", "O", "B-A", "I-A", "B-B"]]
    assert report.entities == {"A": 1, "B": 1}


def test_overlaps_keep_the_longer_span():
    tags, _, _, dropped = tags_for("high blood pressure", (0, 19, "A"), (5, 19, "B"))
    assert tags == [["B-A", "I-A", "I-A"]] and dropped == 1
    tags, _, _, dropped = tags_for("severe headache and neck stiffness", (0, 15, "A"), (7, 34, "B"))
    assert tags == [["O", "B-B", "I-B", "I-B", "I-B"]] and dropped == 1


def test_region_with_two_entity_labels_trains_on_the_first():
    _, _, extra, _ = tags_for("fever", (0, 5, "A", "B"))
    assert extra == 1


def test_partial_tokens_and_sentence_splits_are_reported():
    tags, report, _, _ = tags_for("breast-cancer risk", (7, 13, "A"))
    assert tags == [["B-A", "O"]] and report.partial_tokens == 1
    tags, report, _, _ = tags_for("a b\nc d", (2, 5, "A"))
    assert tags == [["O", "B-A"], ["B-A", "O"]] and report.split_by_sentence == 1


def test_offset_mapper_converts_code_unit_offsets():
    text = "Café 😷 with Sjögren’s syndrome"
    to_code_point = offset_mapper(text)
    utf16_start = len(text[:12].encode("utf-16-le")) // 2
    assert to_code_point(utf16_start) == 12
    assert offset_mapper("plain")(3) == 3


words = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=6)
tagged_sentence = st.lists(st.tuples(words, st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"])), min_size=1,
                           max_size=12)


def valid_iob2(tags):
    return ["B" + tag[1:] if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:]) else tag
            for i, tag in enumerate(tags)]


@settings(max_examples=200, deadline=None)
@given(st.lists(tagged_sentence, min_size=1, max_size=5))
def test_iob_corpus_round_trips_through_an_export(sentences):
    sentences = [list(zip([w for w, _ in s], valid_iob2([t for _, t in s]))) for s in sentences]
    (task,) = iob_to_tasks(sentences, sentences_per_task=len(sentences))
    project = load_project([task], config=CONFIG)
    assert project.warnings == ()
    loaded = project.tasks[0]
    spans, _, dropped = entity_spans(loaded.completions[0], project.config)
    assert dropped == 0
    tagged, report = tag_sentences(whitespace_sentences(loaded.text), spans)
    assert [list(s.tags) for s in tagged] == [[t for _, t in s] for s in sentences]
    assert sum(report.entities.values()) == sum(len(iob_chunks([t for _, t in s])) for s in sentences)
