"""Real corpora turned into exports, shared by the tests that train on them."""

from __future__ import annotations

import re

from tests.conftest import DATA

NEGEX = DATA / "negex" / "negex_600.tsv"
#: Entities and their negation: the labeling config of :func:`negex_export` without choices.
NEGEX_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="CONDITION"/><Label value="Negated" assertion="true"/>
  </Labels>
</View>"""
#: The rows of fold 4 (other reports than folds 0-3) are the held-apart side.
TEST_FOLD = "4"


def locate(condition: str, sentence: str) -> tuple[int, int] | None:
    """The condition's offsets in the sentence: case-insensitive, then with any run of whitespace allowed."""
    start = sentence.lower().find(condition.lower())
    if start >= 0:
        return start, start + len(condition)
    words = condition.split()
    match = re.search(r"\s+".join(map(re.escape, words)), sentence, re.IGNORECASE) if words else None
    return match.span() if match else None


def negex_export(path=NEGEX, *, with_choices: bool = False) -> list[dict]:
    """One task per (sentence, condition) row: a CONDITION span, plus a Negated span on it when negated.

    With ``with_choices`` each task also answers two ``<Choices>`` from the same row: ``temporality``
    (Recent / Historical / Hypothetical) and ``experiencer`` (Patient / Other).
    """
    tasks = []
    for line in path.read_text(encoding="ascii").splitlines()[1:]:
        fold, number, condition, sentence, negation, temporality, experiencer = line.split("\t")[:7]
        offsets = locate(condition, sentence)
        if offsets is None:
            continue
        start, end = offsets
        value = {"start": start, "end": end, "text": sentence[start:end]}
        result = [{"id": f"c{number}", "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {**value, "labels": ["CONDITION"]}}]
        if negation == "Negated":
            result.append({"id": f"n{number}", "from_name": "label", "to_name": "text", "type": "labels",
                           "value": {**value, "labels": ["Negated"]}})
        if with_choices:
            result += [{"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [answer]}}
                       for name, answer in (("temporality", temporality), ("experiencer", experiencer))]
        tasks.append({"id": int(number), "data": {"text": sentence}, "tags": ["test"] if fold == TEST_FOLD else [],
                      "completions": [{"id": int(number), "created_username": "physician",
                                       "submitted_at": "2024-01-01T00:00:00Z", "result": result}]})
    return tasks


