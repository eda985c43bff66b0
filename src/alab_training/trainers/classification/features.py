"""What a classifier sees of a text: one vector from the embeddings, and — for the linear head — word and character
n-grams beside it.

:func:`text_vector_stages` turns ``text`` into ``sentence_embeddings`` (one annotation per text) whatever the
embeddings' level: a sentence encoder directly; word or token vectors averaged (``SentenceEmbeddings``, pooling
``AVERAGE``). :func:`linear_feature_stages` adds, in plain Spark ML, the ``features`` vector the linear head learns
from: that text vector, beside TF-IDF weighted (binary term frequency, L2-normalised) word unigrams and bigrams
(words are ``(?U)\\w+`` runs, lower-cased) and character 2- to 5-grams. :func:`featurize` fits the stages on the
training side and computes every example's features once, for training, threshold tuning and scoring alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alab_training.runtime.embeddings import EmbeddingsSource, load_sentence_embeddings, load_word_embeddings
from alab_training.runtime.languages import tokenizer
from alab_training.trainers.classification.examples import Example

__all__ = ["CHAR_NGRAMS", "featurize", "linear_feature_stages", "text_vector_stages"]

#: Character n-gram lengths of the linear head's features.
CHAR_NGRAMS = (2, 3, 4, 5)
#: The most character n-grams kept (the most frequent), and how many texts a term needs to be kept at all.
MAX_CHAR_TERMS = 60_000
MIN_WORD_TEXTS, MIN_CHAR_TEXTS = 2, 3


def text_vector_stages(spark: Any, source: EmbeddingsSource, language: str = "en") -> list[Any]:
    """``text`` → ``document`` → … → ``sentence_embeddings``: one vector per text (word or token vectors looked up
    on ``language``'s tokens)."""
    from sparknlp.annotator import SentenceEmbeddings
    from sparknlp.base import DocumentAssembler

    document = DocumentAssembler().setInputCol("text").setOutputCol("document")
    if source.level == "sentence":
        return [document, load_sentence_embeddings(spark, source, input_col="document")]
    return [
        document,
        tokenizer(language, input_col="document"),
        load_word_embeddings(spark, source, input_cols=("document", "token")),
        SentenceEmbeddings().setInputCols(["document", "embeddings"]).setOutputCol("sentence_embeddings")
        .setPoolingStrategy("AVERAGE"),
    ]


def _tfidf(terms: str, prefix: str, min_texts: int, vocabulary: int | None = None) -> list[Any]:
    from pyspark.ml.feature import IDF, CountVectorizer, Normalizer

    counts = CountVectorizer(inputCol=terms, outputCol=f"{prefix}_counts", minDF=float(min_texts), binary=True)
    if vocabulary is not None:
        counts.setVocabSize(vocabulary)
    return [counts, IDF(inputCol=f"{prefix}_counts", outputCol=f"{prefix}_idf"),
            Normalizer(inputCol=f"{prefix}_idf", outputCol=f"{prefix}_tfidf", p=2.0)]


def linear_feature_stages() -> list[Any]:
    """``text`` and ``sentence_embeddings`` → ``features``: the text vector, word n-grams, character n-grams."""
    from pyspark.ml.feature import NGram, RegexTokenizer, SQLTransformer, VectorAssembler
    from sparknlp.base import EmbeddingsFinisher

    chars = [f"chars_{n}" for n in CHAR_NGRAMS]
    return [
        EmbeddingsFinisher().setInputCols(["sentence_embeddings"]).setOutputCols(["text_vectors"])
        .setOutputAsVector(True).setCleanAnnotations(False),
        SQLTransformer(statement="SELECT *, text_vectors[0] AS text_vector FROM __THIS__"),
        # (?U): Unicode word characters, so "Größe" and "niño" stay one word.
        RegexTokenizer(inputCol="text", outputCol="words", pattern=r"(?U)\w+", gaps=False, toLowercase=True),
        NGram(n=2, inputCol="words", outputCol="word_bigrams"),
        SQLTransformer(statement="SELECT *, concat(words, word_bigrams) AS word_terms FROM __THIS__"),
        *_tfidf("word_terms", "word", MIN_WORD_TEXTS),
        RegexTokenizer(inputCol="text", outputCol="characters", pattern=".", gaps=False, toLowercase=True),
        *(NGram(n=n, inputCol="characters", outputCol=column) for n, column in zip(CHAR_NGRAMS, chars)),
        SQLTransformer(statement=f"SELECT *, concat({', '.join(chars)}) AS char_terms FROM __THIS__"),
        *_tfidf("char_terms", "char", MIN_CHAR_TEXTS, MAX_CHAR_TERMS),
        VectorAssembler(inputCols=["text_vector", "word_tfidf", "char_tfidf"], outputCol="features"),
    ]


def featurize(spark: Any, stages: list[Any], examples: list[Example], classes: list[str], multi_label: bool,
              folder: Path, *, columns: tuple[str, ...]) -> tuple[Any, Any, Any]:
    """Fit ``stages`` on the training side; compute every example's features once, into ``folder``.

    Returns:
        The fitted features ``PipelineModel``, and the training and test sides' frames (read back from the
        saved parquet, so later reads never compute an embedding again), with ``task``, ``label``,
        ``label_index`` (single-label: the class's position in ``classes``, -1 for a class never trained on) and
        ``columns``.
    """
    from pyspark.ml import Pipeline
    from pyspark.sql import functions

    index = {label: float(position) for position, label in enumerate(classes)}
    label_type = "array<string>" if multi_label else "string"
    rows = [(str(e.task_id), e.text, e.split, list(e.labels) if multi_label else e.labels[0],
             -1.0 if multi_label else index.get(e.labels[0], -1.0)) for e in examples]
    frame = spark.createDataFrame(rows, f"task string, text string, split string, label {label_type}, "
                                        "label_index double")
    fitted = Pipeline(stages=stages).fit(frame.filter(functions.col("split") == "train"))
    kept = ["task", "split", "label", "label_index", *columns]
    fitted.transform(frame).select(*kept).write.mode("overwrite").parquet(str(folder))
    saved = spark.read.parquet(str(folder))
    return (fitted, saved.filter(functions.col("split") == "train"), saved.filter(functions.col("split") == "test"))
