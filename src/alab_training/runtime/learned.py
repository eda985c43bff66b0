"""Word vectors learned from the project's own texts, for languages no installed or given vectors cover.

Annotation projects hold far more text than annotations: every task's text — labelled, unlabelled, on the test
side — plus, optionally, a user's unlabelled corpus (a text file, or a folder of ``*.txt`` files, one text per
line) is tokenized exactly as the trainers tokenize (:mod:`.languages`) and fed to Spark NLP's own
``Word2VecApproach`` (Spark ML's skip-gram with hierarchical softmax). The vectors then become a
``WordEmbeddingsModel`` like any vectors file (:mod:`.embeddings`): the same index, the same case-insensitive
lookup (exact form first, then lower case), the same in-memory mode on clusters; its storage reference
``learned_<language>_<digest>`` binds the models trained on it.

:func:`plan_learned` decides, without Spark, what would be learned and under which key: a digest of the texts
(as a multiset: export order does not matter), of the corpus files' contents, of the Word2Vec settings and the
tokenization. :func:`learn_vectors` returns the cache entry ``cache_root()/learned/<language>-<digest>/`` of that
key, learning it only when it is missing or damaged (:func:`~alab_training.runtime.cache.cached_entry`), so
retraining a project whose texts did not change — the usual active-learning round — reuses it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import ParamsError, TrainingError
from alab_training.runtime.cache import cache_root, cached_entry, digest, read_manifest, sha256_file
from alab_training.runtime.embeddings import LEARNED_DIMENSION, EmbeddingsSource, build_word_embeddings
from alab_training.runtime.languages import TextProfile, sentence_detector, text_profile, tokenizer

__all__ = ["DEFAULT_SETTINGS", "Corpus", "LearnedPlan", "LearnedVectors", "Word2VecSettings", "corpus_files",
           "learn_vectors", "plan_learned"]

_LOG = logging.getLogger(__name__)
#: Bumped when the entry's layout or the way vectors are learned changes.
_FORMAT = 1
_FIELD = "unlabelled_corpus"


@attrs.frozen
class Word2VecSettings:
    """How the vectors are learned (``Word2VecApproach``'s parameters).

    Attributes:
        dimension: vector size (``vectorSize``).
        window: context words on each side (``windowSize``).
        min_count: words seen fewer times get no vector (``minCount``); NerDL's character CNN still sees them.
        epochs: passes over the corpus (``maxIter``).
        step_size: the initial learning rate (``stepSize``).
        lowercase: learn on lower-cased tokens (one vector for ``Madrid``/``madrid``; the lookup is then
            case-insensitive) — case stays visible to NerDL through its characters.
        seed: Word2Vec's seed; apart from ``params.seed``, so a rerun with another seed reuses the vectors.
    """

    dimension: int = LEARNED_DIMENSION
    window: int = 5
    min_count: int = 2
    epochs: int = 5
    step_size: float = 0.025
    lowercase: bool = True
    seed: int = 44

    def line(self) -> str:
        """The settings for the log."""
        return (f"{self.dimension}d, window {self.window}, min count {self.min_count}, {self.epochs} epoch(s), "
                f"step {self.step_size}, {'lower-cased' if self.lowercase else 'cased'}, seed {self.seed}")


#: The settings used when a trainer gives none: Spark ML's own Word2Vec defaults but for more passes and a lower
#: ``min_count``, since a project's texts are small corpora (not tuned yet: ``benchmarks/ner_languages.py --tune``
#: is how they would be; ``docs/languages.md``).
DEFAULT_SETTINGS = Word2VecSettings()


@attrs.frozen
class Corpus:
    """What the vectors learn from.

    Attributes:
        texts: every task text of the project (labelled or not).
        files: the user's unlabelled corpus files, sorted.
        given: the corpus parameter as given (a file or a folder), for the log and the card.
    """

    texts: tuple[str, ...] = attrs.field(repr=False)
    files: tuple[Path, ...] = ()
    given: str | None = None

    def identity(self) -> dict[str, Any]:
        """The corpus' content, hashed: the task texts as a multiset, each file's SHA-256."""
        texts = hashlib.sha256()
        for text_digest in sorted(hashlib.sha256(text.encode("utf-8")).hexdigest() for text in self.texts):
            texts.update(text_digest.encode())
        return {"tasks": len(self.texts), "texts_sha256": texts.hexdigest(),
                "files_sha256": sorted(sha256_file(path) for path in self.files)}


def corpus_files(given: str | None) -> tuple[Path, ...]:
    """The files of an unlabelled corpus parameter: the file itself, or every ``*.txt`` under a folder (sorted).

    Raises:
        ParamsError: (``field="unlabelled_corpus"``) no such file or folder, or a folder without ``.txt`` files.
    """
    if given is None:
        return ()
    path = Path(given).expanduser()
    if path.is_file():
        return (path.resolve(),)
    if path.is_dir():
        files = tuple(sorted(p.resolve() for p in path.rglob("*.txt") if p.is_file()))
        if not files:
            raise ParamsError(f"the folder {given} holds no .txt files to learn word vectors from", field=_FIELD,
                              value=given)
        return files
    raise ParamsError(f"{given!r} is neither a text file nor a folder of .txt files", field=_FIELD, value=given)


@attrs.frozen
class LearnedPlan:
    """What :func:`learn_vectors` learns, and where it is cached; made by :func:`plan_learned`.

    Attributes:
        corpus: the texts and files.
        settings: the Word2Vec settings.
        profile: the tokenization the vectors are learned on (the trainers' own).
        key: everything the vectors depend on; its digest names the cache entry and the storage reference.
    """

    corpus: Corpus
    settings: Word2VecSettings
    profile: TextProfile
    key: dict[str, Any]

    @property
    def name(self) -> str:
        """The storage reference models trained on these vectors carry: ``learned_<language>_<digest>``."""
        return f"learned_{self.profile.language}_{digest(self.key, 10)}"

    @property
    def entry(self) -> Path:
        """The cache entry, ``cache_root()/learned/<language>-<digest>``."""
        return cache_root() / "learned" / f"{self.profile.language}-{digest(self.key, 10)}"

    @property
    def source(self) -> EmbeddingsSource:
        """The embeddings the trainers load once :func:`learn_vectors` has run (format ``learned``)."""
        return EmbeddingsSource(name=self.name, dimension=self.settings.dimension,
                                case_sensitive=not self.settings.lowercase, format="learned", location=self.entry)


def plan_learned(texts: Iterable[str], language: str, corpus: str | None = None,
                 settings: Word2VecSettings | None = None) -> LearnedPlan:
    """What would be learned from these task texts and the optional corpus (no Spark: fails fast); ``settings``
    default to :data:`DEFAULT_SETTINGS` (read at each call).

    Raises:
        ParamsError: the corpus parameter names nothing usable (see :func:`corpus_files`).
    """
    settings = settings if settings is not None else DEFAULT_SETTINGS
    gathered = Corpus(texts=tuple(text for text in texts if text.strip()), files=corpus_files(corpus), given=corpus)
    profile = text_profile(language)
    try:
        engine = importlib.metadata.version("spark-nlp")
    except importlib.metadata.PackageNotFoundError:  # reported when the session starts
        engine = None
    key = {"corpus": gathered.identity(), "settings": attrs.asdict(settings), "tokenization": profile.identity,
           "spark_nlp": engine}
    return LearnedPlan(corpus=gathered, settings=settings, profile=profile, key=key)


@attrs.frozen
class LearnedVectors:
    """Learned vectors ready to load, with what their manifest says they were learned from.

    Attributes:
        source: the embeddings to load (:func:`~alab_training.runtime.embeddings.load_word_embeddings`).
        manifest: the cache entry's manifest (corpus counts, settings, vocabulary, seconds …).
        learned: ``True`` when this call learned them, ``False`` when they came from the cache.
    """

    source: EmbeddingsSource
    manifest: dict[str, Any]
    learned: bool

    def lines(self) -> list[str]:
        """What the training log says of them."""
        made = self.manifest
        corpus = made["corpus"]
        given = ""
        if corpus.get("files"):
            given = (f" + the unlabelled corpus {corpus['given']} ({len(corpus['files'])} file(s), "
                     f"{corpus['file_lines']:,} line(s))")
        how = (f"learned now in {made['seconds']:.0f}s" if self.learned else
               f"reused from the cache (learned {made['created_at']} from the same texts and settings)")
        return [(f"embeddings: {self.source.name}, word vectors learned by Spark NLP Word2VecApproach (skip-gram) "
                 f"from {corpus['tasks']:,} task text(s){given}: {made['sentences']:,} sentences, "
                 f"{made['tokens']:,} tokens, {made['vocabulary']:,} words with a vector"),
                f"  settings: {Word2VecSettings(**made['settings']).line()}; {how}; {self.source.location}"]

    def card(self) -> dict[str, Any]:
        """What the model card records under ``extra["learned_embeddings"]``."""
        made = self.manifest
        return {"name": self.source.name, "trainer": "Spark NLP Word2VecApproach", "corpus": made["corpus"],
                "sentences": made["sentences"], "tokens": made["tokens"], "vocabulary": made["vocabulary"],
                "settings": made["settings"], "learned_now": self.learned, "cache_entry": str(self.source.location)}


def _token_frame(spark: Any, plan: LearnedPlan) -> tuple[Any, int]:
    """One row per sentence of the corpus with its ``token`` annotations (lower-cased when the settings say);
    and how many lines the corpus files gave."""
    from pyspark.ml import Pipeline
    from pyspark.sql import functions
    from sparknlp.annotator import Normalizer
    from sparknlp.base import DocumentAssembler

    # Sorted: the same texts in any export order make the same input.
    frame = spark.createDataFrame([(text,) for text in sorted(plan.corpus.texts)], "text string")
    file_lines = 0
    if plan.corpus.files:
        lines = spark.read.text([str(path) for path in plan.corpus.files]).withColumnRenamed("value", "text")
        lines = lines.filter(functions.trim("text") != "")
        file_lines = lines.count()
        frame = frame.unionByName(lines)
    language = plan.profile.language
    stages = [DocumentAssembler().setInputCol("text").setOutputCol("document"),
              sentence_detector(language).setExplodeSentences(True), tokenizer(language)]
    column = "token"
    if plan.settings.lowercase:
        # No cleanup pattern: only the case changes, so the vocabulary keeps the trainers' very tokens.
        stages.append(Normalizer().setInputCols(["token"]).setOutputCol("normal").setLowercase(True)
                      .setCleanupPatterns([]))
        column = "normal"
    tokens = Pipeline(stages=stages).fit(frame).transform(frame).select(functions.col(column).alias("token"))
    return tokens, file_lines


def _word2vec(tokens: Any, plan: LearnedPlan) -> list[Any]:
    """Fit ``Word2VecApproach`` on the token rows; the ``(word, vector)`` rows of its vocabulary."""
    from pyspark.errors.exceptions.captured import CapturedException
    from sparknlp.annotator import Word2VecApproach

    settings = plan.settings
    approach = (Word2VecApproach().setInputCols(["token"]).setOutputCol("vectors")
                .setVectorSize(settings.dimension).setWindowSize(settings.window).setMinCount(settings.min_count)
                .setMaxIter(settings.epochs).setStepSize(settings.step_size).setSeed(settings.seed)
                .setNumPartitions(1).setStorageRef(plan.name))
    try:
        model = approach.fit(tokens)
    except CapturedException as exc:  # e.g. no word reaches min_count: "The vocabulary size should be > 0"
        raise TrainingError(f"learning word vectors from {len(plan.corpus.texts)} task text(s) failed: "
                            f"{str(exc).splitlines()[0][:300]}") from exc
    # The engine hands its vocabulary out only once the model has annotated something.
    model.transform(tokens.limit(1)).count()
    return model.getVectors().collect()


def _learn(spark: Any, plan: LearnedPlan):
    """The builder of the cache entry: tokens → Word2Vec → ``vectors.txt`` → a ``WordEmbeddingsModel`` index."""
    from pyspark.sql import functions

    settings = plan.settings

    def build(folder: Path, scratch: Path) -> dict[str, Any]:
        started = time.monotonic()
        tokens, file_lines = _token_frame(spark, plan)
        tokens = tokens.persist()  # read three times: the counts, Word2Vec's vocabulary, its training
        try:
            counted = tokens.select(functions.count("*").alias("rows"),
                                    functions.sum(functions.size("token")).alias("tokens")).first()
            vectors = _word2vec(tokens, plan)
        finally:
            tokens.unpersist()
        folder.mkdir()
        with (folder / "vectors.txt").open("w", encoding="utf-8") as out:
            for row in sorted(vectors, key=lambda r: r["word"]):
                out.write(row["word"] + " " + " ".join(f"{value:.6g}" for value in row["vector"]) + "\n")
        build_word_embeddings(spark, EmbeddingsSource(name=plan.name, dimension=settings.dimension,
                                                      case_sensitive=not settings.lowercase, format="text",
                                                      location=folder / "vectors.txt"), folder / "model")
        corpus = {**plan.key["corpus"], "given": plan.corpus.given, "file_lines": file_lines,
                  "files": [{"path": str(path), "size": path.stat().st_size} for path in plan.corpus.files]}
        return {"name": plan.name, "corpus": corpus, "sentences": int(counted["rows"]),
                "tokens": int(counted["tokens"] or 0), "vocabulary": len(vectors), "settings": attrs.asdict(settings),
                "seconds": round(time.monotonic() - started, 1), "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    return build


def learn_vectors(spark: Any, plan: LearnedPlan) -> LearnedVectors:
    """The learned vectors of ``plan``: from the cache, or learned now (once, across processes) and cached.

    Raises:
        TrainingError: the engine could not learn vectors from the corpus (e.g. no word reaches ``min_count``).
    """
    entry, learned = cached_entry(plan.entry, plan.key, _learn(spark, plan), manifest_format=_FORMAT,
                                  what=f"word vectors learned from the project's texts ({plan.name})")
    manifest = read_manifest(entry)
    if not learned:
        _LOG.info("reusing the word vectors learned before from the same texts and settings: %s", entry)
    return LearnedVectors(source=plan.source, manifest=manifest, learned=learned)
