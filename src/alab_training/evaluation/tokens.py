"""Tokens for evaluation: token-level scores per label, and the simple tokenizer of the error table's context.

**Token-level scores** (:func:`token_label_sets`, :func:`token_scores`) take the text's token boundaries
``(start, end)`` (code points, ``end`` exclusive, sorted, not overlapping; e.g. the model's own tokens). A token
carries label ``X`` on a side when it shares at least one code point with a span of ``X`` on that side. Labels
are independent yes/no decisions per token (a token may carry several, when spans overlap), with no B-/I-
distinction: unlike :func:`alab_training.metrics.token_scores`, which scores IOB tags, this needs no tagging
scheme and works on any spans. The figures are :func:`alab_training.metrics.multilabel_scores` over the tokens.

**Context tokens** (:func:`simple_tokens`): a token is a run of word characters (``\\w+``: letters, digits and
underscore, any script) or a single other character that is not whitespace (punctuation, symbols). So
``"Dr. O'Neil's BP: 120/80"`` is ``Dr . O ' Neil ' s BP : 120 / 80``. It is meant for showing context, not for
training: it needs no model and never fails.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from alab_training.errors import ParamsError
from alab_training.evaluation.matching import SpanTuple, checked_spans
from alab_training.metrics import ClassificationScores, multilabel_scores

__all__ = ["TOKEN_PATTERN", "simple_tokens", "token_label_sets", "token_scores"]

#: The context tokenizer: word-character runs, or one non-space, non-word character.
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


def simple_tokens(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each token of ``text`` by :data:`TOKEN_PATTERN` (see the module docs)."""
    return [match.span() for match in TOKEN_PATTERN.finditer(text)]


def token_label_sets(spans: Sequence[SpanTuple], tokens: Sequence[tuple[int, int]]) -> list[frozenset[str]]:
    """The labels each token carries: those of the spans it shares at least one code point with.

    Args:
        spans: one side's ``(start, end, label)`` spans.
        tokens: the text's token boundaries ``(start, end)``, ``end`` exclusive, sorted and not overlapping.

    Returns:
        One set of labels per token (empty for a token outside every span).

    Raises:
        ParamsError: a span or token is malformed, or the tokens are unsorted or overlap.
    """
    checked_tokens = _checked_tokens(tokens)
    starts = [start for start, _ in checked_tokens]
    # Sorted, disjoint tokens have sorted ends too, so the tokens a span touches are one contiguous run.
    ends = [end for _, end in checked_tokens]
    labels: list[set[str]] = [set() for _ in checked_tokens]
    for start, end, label in checked_spans(spans, "spans"):
        for index in range(bisect.bisect_right(ends, start), bisect.bisect_left(starts, end)):
            labels[index].add(label)
    return [frozenset(found) for found in labels]


def token_scores(
    gold: Sequence[SpanTuple], predicted: Sequence[SpanTuple], tokens: Sequence[tuple[int, int]]
) -> ClassificationScores:
    """Token-level scores per label of one text (see the module docs).

    For several texts, concatenate their :func:`token_label_sets` and call
    :func:`alab_training.metrics.multilabel_scores` once.

    Args:
        gold: the reference ``(start, end, label)`` spans.
        predicted: the model's spans.
        tokens: the text's token boundaries, sorted and not overlapping.

    Returns:
        Per label, micro and macro scores over the tokens (``accuracy`` is the share of tokens whose whole label
        set matches, tokens outside every span included).

    Raises:
        ParamsError: a span or token is malformed.
    """
    return multilabel_scores(token_label_sets(gold, tokens), token_label_sets(predicted, tokens))


def _checked_tokens(tokens: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise ParamsError(f"expected a list of (start, end), got {type(tokens).__name__}", field="tokens",
                          value=tokens)
    result, previous_end = [], 0
    for index, token in enumerate(tokens):
        ok = isinstance(token, Sequence) and not isinstance(token, str) and len(token) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in token)
        if not ok or not previous_end <= token[0] < token[1]:
            raise ParamsError("expected sorted, non-overlapping (start, end) with 0 <= start < end",
                              field=f"tokens[{index}]", value=token)
        previous_end = token[1]
        result.append((token[0], token[1]))
    return result
