"""Sentences and tokens per language: English keeps the engine's rules; German and Spanish spans stay whole."""

from __future__ import annotations

import pytest

from alab_training.model import Task
from alab_training.runtime.languages import base_language, sentence_detector, text_profile, tokenizer
from alab_training.trainers.text import tokenize


def split(spark, language: str, *texts: str) -> list[list[list[str]]]:
    """Per text, its sentences as lists of token texts (offsets checked against the text on the way)."""
    _, per_task = tokenize(spark, [Task(id=i, text=text) for i, text in enumerate(texts)], language)
    for text, sentences in zip(texts, per_task):
        for sentence in sentences:
            assert all(text[t.begin:t.end] == t.text for t in sentence.tokens)
    return [[[t.text for t in sentence.tokens] for sentence in sentences] for sentences in per_task]


def test_profiles_without_spark():
    assert text_profile("en") == text_profile("en-GB") and text_profile("en").sentence_bounds is None
    assert base_language("de-AT") == "de" and base_language("pt_BR") == "pt"
    german = text_profile("de")
    assert german.sentence_bounds and "¿" in german.context_chars and german.identity["language"] == "de"
    assert text_profile("es") != german and text_profile("fi").language == "fi"  # any language: the same rules


@pytest.mark.spark
def test_english_stages_are_the_engines_own(spark):  # annotators are JVM objects: no stage without a session
    from sparknlp.annotator import SentenceDetector, Tokenizer

    def explicit(stage):
        return {param.name: value for param, value in stage.extractParamMap().items()
                if stage.isSet(param) and param.name not in ("inputCols", "outputCol")}

    assert explicit(sentence_detector("en")) == explicit(SentenceDetector())
    assert explicit(tokenizer("en")) == explicit(Tokenizer())


@pytest.mark.spark
def test_german_ordinals_abbreviations_and_quotes(spark):
    (sentences,) = split(spark, "de", "„Das ist gut“, sagte Angela Merkel am 3. Oktober 1990 in Baden-Württemberg. "
                                      "Im 16. Jahrhundert baute man z. B. die Burg bzw. das Schloss in St. Gallen. "
                                      "Die EU-Kommission tagte.\nStadt- und Landkreis")
    assert sentences == [
        ["„", "Das", "ist", "gut", "“,", "sagte", "Angela", "Merkel", "am", "3", ".", "Oktober", "1990", "in",
         "Baden-Württemberg", ".", "Im", "16", ".", "Jahrhundert", "baute", "man", "z", ".", "B", ".", "die", "Burg",
         "bzw", ".", "das", "Schloss", "in", "St", ".", "Gallen", ".", "Die", "EU-Kommission", "tagte", "."],
        ["Stadt", "-", "und", "Landkreis"],
    ]


@pytest.mark.spark
def test_spanish_inverted_marks_clitics_and_sentence_ends(spark):
    (sentences,) = split(spark, "es", "¿Qué dijo el Sr. García? ¡Nada! Dámelo ya, dijo «Juan». Luego volvió del "
                                      "trabajo a EE.UU. el lunes.")
    assert sentences == [
        ["¿", "Qué", "dijo", "el", "Sr", ".", "García", "?", "¡", "Nada", "!", "Dámelo", "ya", ",", "dijo", "«", "Juan",
         "»."],
        ["Luego", "volvió", "del", "trabajo", "a", "EE.UU", ".", "el", "lunes", "."],
    ]


@pytest.mark.spark
def test_a_sentence_ends_after_a_lower_case_word_and_a_line_break(spark):
    # German: the verb ends the first sentence; a capitalised noun before a period is left whole (it may be an entity).
    assert split(spark, "de", "Er kam. Dann ging er nach Hause. Und blieb dort\nNeue Zeile") == [
        [["Er", "kam", "."], ["Dann", "ging", "er", "nach", "Hause", ".", "Und", "blieb", "dort"], ["Neue", "Zeile"]]]
    # English: the engine's own detector, unchanged (it splits after the abbreviation-less "Oct.").
    assert split(spark, "en", "He came on 3. Oct. Then left.") == [[["He", "came", "on"], ["3", ".", "Oct", "."],
                                                                    ["Then", "left", "."]]]
