"""Context features of a (sentence, target span) pair, computed the same way at training and prediction time.

The saved Spark NLP pipeline (``text_stages()`` plus the word embeddings) splits a text into sentences and
tokens and looks every token up; :func:`span_contexts` then takes, for each target span:

- the target's tokens (those sharing a character with the span) and the ``window`` tokens left of the first
  and right of the last, within their sentence (``<s>``/``</s>`` mark a window that reaches the sentence edge);
- the averaged word vectors of the target, the left window and the right window (out-of-vocabulary tokens
  are skipped);
- bags of the lower-cased window tokens (digits folded to ``0``): left, right, and the ``NEAR`` tokens closest
  to the target on each side, so a cue next to the target weighs apart from one further away.

:func:`classifier_pipeline` turns those into one feature vector (Spark ML ``CountVectorizer`` bags, left
bigrams through ``NGram``, the dense vectors) and a multinomial ``LogisticRegression``. The target's own words
never enter a bag: cues come from the context, the target contributes only its averaged vector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from alab_training.trainers.text import offset_mapper, text_stages

__all__ = [
    "BAGS",
    "NEAR",
    "WINDOW",
    "Context",
    "Tok",
    "classifier_pipeline",
    "feature_frame",
    "feature_row",
    "span_contexts",
    "text_pipeline",
    "token_sentences",
]

#: Tokens of context taken on each side of the target, within its sentence.
WINDOW = 12
#: Tokens closest to the target on each side that also form their own bags.
NEAR = 3
#: The token-list columns, each turned into a bag by a ``CountVectorizer``.
BAGS = ("left", "right", "near_left", "near_right", "left_bigrams")
_DIGIT = re.compile(r"\d")


@attrs.frozen
class Tok:
    """A token with its code-point offsets and word vector."""

    text: str
    #: Code-point offsets in the text, ``end`` exclusive.
    begin: int
    end: int
    vector: tuple[float, ...] | None  # None: out of vocabulary


@attrs.frozen
class Context:
    """What the classifier sees of one target span."""

    target: tuple[Tok, ...]
    left: tuple[Tok, ...]
    right: tuple[Tok, ...]
    at_start: bool
    at_end: bool


def text_pipeline(spark: Any, embeddings: Any, language: str = "en"):
    """The fitted text → sentence → token → embeddings ``PipelineModel`` (what ``output_dir/pipeline`` holds), with
    ``language``'s sentence and token rules."""
    from pyspark.ml import Pipeline, PipelineModel

    frame = spark.createDataFrame([("x",)], "text string")
    fitted = Pipeline(stages=text_stages(language)).fit(frame)
    return PipelineModel(stages=[*fitted.stages, embeddings])


def token_sentences(spark: Any, pipeline: Any, texts: Sequence[str]) -> list[list[list[Tok]]]:
    """Per text, its sentences as lists of tokens with their vectors, offsets in code points."""
    frame = spark.createDataFrame(list(enumerate(texts)), "row int, text string")
    rows = pipeline.transform(frame).select("row", "embeddings")
    result: list[list[list[Tok]]] = [[] for _ in texts]
    for row in rows.toLocalIterator():
        to_code_point = offset_mapper(texts[row["row"]])
        grouped: dict[int, list[Tok]] = {}
        for annotation in row["embeddings"]:
            metadata = annotation["metadata"]
            vector = annotation["embeddings"]
            oov = metadata.get("isOOV") == "true" or not any(vector)
            token = Tok(annotation["result"], to_code_point(annotation["begin"]), to_code_point(annotation["end"] + 1),
                        None if oov else tuple(vector))
            grouped.setdefault(int(metadata.get("sentence", "0")), []).append(token)
        result[row["row"]] = [sorted(tokens, key=lambda t: t.begin) for _, tokens in sorted(grouped.items())]
    return result


def span_contexts(sentences: list[list[Tok]], spans: Sequence[tuple[int, int]],
                  window: int = WINDOW) -> list[Context]:
    """The context of each ``(start, end)`` span of one text."""
    positions = [(s, t) for s, sentence in enumerate(sentences) for t in range(len(sentence))]
    contexts = []
    for start, end in spans:
        covered = [(s, t) for s, t in positions
                   if sentences[s][t].begin < end and start < sentences[s][t].end]
        if covered:
            (first_s, first_t), (last_s, last_t) = covered[0], covered[-1]
            left_end, right_start = first_t, last_t + 1
        else:  # a span covering no token: its context is the tokens around its position
            before = [(s, t) for s, t in positions if sentences[s][t].end <= start]
            first_s, left_end = (before[-1][0], before[-1][1] + 1) if before else (0, 0)
            last_s, right_start = first_s, left_end
        left_sentence, right_sentence = (sentences[first_s] if sentences else []), (sentences[last_s] if sentences
                                                                                   else [])
        left_from = max(0, left_end - window)
        right_to = min(len(right_sentence), right_start + window)
        contexts.append(Context(
            target=tuple(sentences[s][t] for s, t in covered),
            left=tuple(left_sentence[left_from:left_end]),
            right=tuple(right_sentence[right_start:right_to]),
            at_start=left_from == 0,
            at_end=right_to == len(right_sentence),
        ))
    return contexts


def _words(tokens: Sequence[Tok]) -> list[str]:
    return [_DIGIT.sub("0", token.text.lower()) for token in tokens]


def _mean(tokens: Sequence[Tok], dimension: int) -> list[float]:
    vectors = [token.vector for token in tokens if token.vector is not None]
    if not vectors:
        return [0.0] * dimension
    return [sum(column) / len(vectors) for column in zip(*vectors)]


def feature_row(context: Context, dimension: int) -> dict[str, Any]:
    """The classifier's input columns for one context (``dense`` is a plain list of floats)."""
    left = (["<s>"] if context.at_start else []) + _words(context.left)
    right = _words(context.right) + (["</s>"] if context.at_end else [])
    return {
        "left": left,
        "right": right,
        "near_left": left[-NEAR:],
        "near_right": right[:NEAR],
        "dense": _mean(context.target, dimension) + _mean(context.left, dimension) + _mean(context.right, dimension),
    }


def feature_frame(spark: Any, rows: Sequence[dict[str, Any]], extra: Sequence[tuple[str, str]] = ()):
    """A Spark frame of feature rows; ``extra`` adds ``(name, type)`` columns the rows also carry."""
    from pyspark.ml.linalg import Vectors, VectorUDT
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType, _parse_datatype_string

    fields = [StructField(name, ArrayType(StringType())) for name in ("left", "right", "near_left", "near_right")]
    fields.append(StructField("dense", VectorUDT()))
    fields += [StructField(name, _parse_datatype_string(kind)) for name, kind in extra]
    schema = StructType(fields)
    data = [tuple(row[name] for name in ("left", "right", "near_left", "near_right"))
            + (Vectors.dense(row["dense"]),) + tuple(row[name] for name, _ in extra) for row in rows]
    return spark.createDataFrame(data, schema)


def classifier_pipeline(classes: Sequence[str], *, max_iter: int, reg_param: float, min_count: int = 2):
    """Bags + dense vectors → multinomial logistic regression → the class name in ``assertion``.

    The estimator reads ``label_index`` (the position of the gold class in ``classes``) and ``weight``.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import CountVectorizer, IndexToString, NGram, VectorAssembler

    stages: list[Any] = [NGram(n=2, inputCol="left", outputCol="left_bigrams")]
    stages += [CountVectorizer(inputCol=bag, outputCol=f"{bag}_bag", binary=True, minDF=float(min_count))
               for bag in BAGS]
    stages.append(VectorAssembler(inputCols=["dense", *(f"{bag}_bag" for bag in BAGS)], outputCol="features"))
    stages.append(LogisticRegression(featuresCol="features", labelCol="label_index", weightCol="weight",
                                     family="multinomial", maxIter=max_iter, regParam=reg_param,
                                     elasticNetParam=0.0, probabilityCol="probability"))
    stages.append(IndexToString(inputCol="prediction", outputCol="assertion", labels=list(classes)))
    return Pipeline(stages=stages)
