"""NerDL graphs: which graph is chosen, how it is cached or built, and that the graphs really train in the engine."""

from __future__ import annotations

import importlib.resources
import shutil
import sys
from pathlib import Path

import pytest

from alab_training.errors import EngineError, ParamsError
from alab_training.trainers.ner import graphs
from alab_training.trainers.ner.graphs import (
    INSTALL_HINT,
    MAX_CHARS,
    MAX_DIM,
    MAX_TAGS,
    GraphShape,
    check_graph_available,
    distinct_chars,
    graph_folder,
    shipped_shapes,
)
from tests.conftest import DATA

NCBI = DATA / "ncbi_disease" / "train_300.tsv"
GLOVE = DATA / "embeddings" / "glove.6B.50d.small.txt"
TAGS = {"O", "B-Disease", "I-Disease"}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(graphs, "cache_root", lambda: root)
    return root


def _package_graph(name: str) -> bytes:
    return importlib.resources.files("alab_training.trainers.ner").joinpath("graph_files", name).read_bytes()


def _graphs_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- shapes -------------------------------------------------------------------------------------------------------


def test_shape_filename_round_trips() -> None:
    shape = GraphShape(tags=21, dim=50, chars=200)
    assert shape.filename == "blstm_21_50_128_200.pb"
    assert GraphShape.from_filename(shape.filename) == shape
    assert GraphShape.from_filename("README.md") is None


def test_shape_rejects_non_positive_sizes() -> None:
    with pytest.raises(ValueError):
        GraphShape(tags=0, dim=50, chars=100)


def test_distinct_chars_counts_utf16_units_like_the_jvm() -> None:
    assert distinct_chars(["abc", "cab", "d"]) == 4
    # U+1F600 and U+1F601 are two surrogates each, sharing the high one: 3 units, as Java's toCharArray sees them.
    assert distinct_chars(["\U0001f600", "\U0001f601"]) == 3


def test_the_shipped_graphs_are_for_50d_glove() -> None:
    assert [shape.filename for shape in shipped_shapes()] == [
        "blstm_21_50_128_200.pb",
        "blstm_61_50_128_400.pb",
        "blstm_201_50_128_1000.pb",
    ]


# --- the choice ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "tags", "chars", "expected"),
    [
        (100, 3, 77, "blstm_10_100_128_120.pb"),
        (100, 11, 77, "blstm_38_100_128_200.pb"),
        (300, 38, 199, "blstm_38_300_128_200.pb"),
        (768, 10, 119, "blstm_10_768_128_120.pb"),
        (128, 38, 119, "blstm_38_128_128_120.pb"),
    ],
)
def test_a_graph_in_the_jar_is_left_to_spark_nlp(cache: Path, dim: int, tags: int, chars: int, expected: str) -> None:
    assert check_graph_available(dim, tags, chars).filename == expected
    assert graph_folder(dim, tags, chars) is None
    assert not cache.exists()


@pytest.mark.parametrize(
    ("tags", "chars", "expected"),
    [
        (3, 77, "blstm_21_50_128_200.pb"),
        (21, 199, "blstm_21_50_128_200.pb"),
        (21, 200, "blstm_61_50_128_400.pb"),  # the padding character makes 201
        (22, 10, "blstm_61_50_128_400.pb"),
        (201, 999, "blstm_201_50_128_1000.pb"),
    ],
)
def test_50d_gets_the_smallest_fitting_shipped_graph_alone_in_a_cache_folder(
    cache: Path, tags: int, chars: int, expected: str
) -> None:
    folder = graph_folder(50, tags, chars)
    assert folder is not None and folder.is_relative_to(cache / "graphs")
    assert _graphs_in(folder) == [expected]
    assert (folder / expected).read_bytes() == _package_graph(expected)


def test_a_damaged_cached_copy_of_a_shipped_graph_is_replaced(cache: Path) -> None:
    folder = graph_folder(50, 3, 77)
    (folder / "blstm_21_50_128_200.pb").write_bytes(b"truncated")
    assert graph_folder(50, 3, 77) == folder
    assert (folder / "blstm_21_50_128_200.pb").read_bytes() == _package_graph("blstm_21_50_128_200.pb")


@pytest.mark.parametrize(
    ("dim", "tags", "chars", "expected"),
    [
        (50, 250, 80, "blstm_250_50_128_100.pb"),
        (128, 38, 120, "blstm_40_128_128_200.pb"),  # over the 128d jar graph's 120 characters
        (200, 3, 77, "blstm_10_200_128_100.pb"),  # GloVe 200d: no graph anywhere
        (50, MAX_TAGS, MAX_CHARS - 1, f"blstm_{MAX_TAGS}_50_128_{MAX_CHARS}.pb"),
    ],
)
def test_other_shapes_are_built_rounded_up(dim: int, tags: int, chars: int, expected: str) -> None:
    assert check_graph_available(dim, tags, chars).filename == expected


def test_a_graph_is_built_once_in_a_child_process_and_then_reused(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = graph_folder(50, 250, 80)
    assert folder == cache / "graphs" / "blstm_250_50_128_100"
    assert _graphs_in(folder) == ["blstm_250_50_128_100.pb"]
    assert _graphs_in(cache / "graphs") == ["blstm_250_50_128_100"], "no partial build left behind"
    assert "tensorflow" not in sys.modules

    def no_rebuild(*args: object) -> None:
        raise AssertionError("the cached graph should have been reused")

    monkeypatch.setattr(graphs, "_build", no_rebuild)
    assert graph_folder(50, 250, 80) == folder


def test_without_tensorflow_a_missing_graph_fails_fast_with_the_remedy(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphs, "_builder_available", lambda: False)
    with pytest.raises(ParamsError) as raised:
        check_graph_available(50, 250, 80)
    message = str(raised.value)
    assert raised.value.field == "graph"
    assert "blstm_250_50_128_81.pb" in message
    assert all(shape.filename in message for shape in shipped_shapes())
    assert INSTALL_HINT in message
    with pytest.raises(ParamsError):
        graph_folder(50, 250, 80)
    assert not cache.exists()
    # Shipped and jar graphs need no TensorFlow.
    assert graph_folder(50, 3, 77) is not None
    assert graph_folder(100, 3, 77) is None


@pytest.mark.parametrize(
    ("dim", "tags", "chars", "field"),
    [
        (50, MAX_TAGS + 1, 80, "tags"),
        (50, 3, MAX_CHARS, "chars"),
        (MAX_DIM + 1, 3, 80, "dim"),
        (0, 3, 80, "dim"),
        (50, 0, 80, "tags"),
    ],
)
def test_sizes_beyond_the_limits_are_refused(dim: int, tags: int, chars: int, field: str) -> None:
    with pytest.raises(ParamsError) as raised:
        check_graph_available(dim, tags, chars)
    assert raised.value.field == field


def test_a_failing_build_is_an_engine_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", shutil.which("false"))
    with pytest.raises(EngineError) as raised:
        graph_folder(50, 250, 80)
    assert "graph_builder" in raised.value.command
    assert not list((cache / "graphs").rglob("*.pb"))


# --- in the engine ------------------------------------------------------------------------------------------------


def _sentences() -> list[list[tuple[str, str]]]:
    blocks = NCBI.read_text(encoding="utf-8").strip().split("\n\n")
    return [[tuple(line.split("\t")) for line in block.splitlines()] for block in blocks]


def _write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    lines = ["-DOCSTART- -X- -X- O", ""]
    for sentence in sentences:
        lines += [f"{token} NN NN {tag}" for token, tag in sentence]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ncbi(spark, tmp_path_factory: pytest.TempPathFactory):
    """200 training and 100 held-out NCBI-disease sentences, with GloVe 50d embeddings, and the training charset."""
    from sparknlp.annotator import WordEmbeddings
    from sparknlp.training import CoNLL

    sentences = _sentences()
    train_sentences, held_sentences = sentences[:200], sentences[200:]
    folder = tmp_path_factory.mktemp("ncbi")
    reader = CoNLL()
    embeddings = (
        WordEmbeddings()
        .setStoragePath(str(GLOVE), "TEXT")
        .setDimension(50)
        .setStorageRef("glove_6B_50d_small")
        .setInputCols(["sentence", "token"])
        .setOutputCol("embeddings")
    )
    train = reader.readDataset(spark, str(_write_conll(folder / "train.conll", train_sentences)))
    held = reader.readDataset(spark, str(_write_conll(folder / "held.conll", held_sentences)))
    model = embeddings.fit(train)
    train, held = (model.transform(frame).cache() for frame in (train, held))
    chars = distinct_chars(token for sentence in train_sentences for token, _ in sentence)
    return train, held, chars


def _predict(model, frame) -> list[list[str]]:
    return [row.tags for row in model.transform(frame).selectExpr("ner.result as tags").collect()]


def _train_predict_reload(folder: Path, train, held, tmp_path: Path) -> None:
    from sparknlp.annotator import NerDLApproach, NerDLModel

    approach = (
        NerDLApproach()
        .setInputCols(["sentence", "token", "embeddings"])
        .setLabelColumn("label")
        .setOutputCol("ner")
        .setMaxEpochs(2)
        # A high rate and small batches: GloVe's small test vocabulary misses most disease words, so the
        # characters must carry them, and two epochs with the defaults still predict nothing but O.
        .setLr(0.01)
        .setBatchSize(4)
        .setRandomSeed(7)
        .setGraphFolder(str(folder))
    )
    model = approach.fit(train)
    predicted = _predict(model, held)
    tokens = [row.n for row in held.selectExpr("size(token) as n").collect()]
    assert [len(tags) for tags in predicted] == tokens
    flat = [tag for tags in predicted for tag in tags]
    assert set(flat) <= TAGS
    assert "B-Disease" in flat, "two epochs on 200 sentences find at least one disease"

    model.write().overwrite().save(str(tmp_path / "nerdl"))
    assert _predict(NerDLModel.load(str(tmp_path / "nerdl")), held) == predicted


@pytest.mark.spark
def test_a_shipped_graph_trains_in_the_engine(ncbi, cache: Path, tmp_path: Path) -> None:
    train, held, chars = ncbi
    folder = graph_folder(50, len(TAGS), chars)
    assert _graphs_in(folder) == ["blstm_21_50_128_200.pb"]
    _train_predict_reload(folder, train, held, tmp_path)


@pytest.mark.spark
def test_a_freshly_built_graph_trains_in_the_engine(
    ncbi, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, held, chars = ncbi
    monkeypatch.setattr(graphs, "shipped_shapes", lambda: ())
    folder = graph_folder(50, len(TAGS), chars)
    assert _graphs_in(folder) == ["blstm_10_50_128_100.pb"]
    _train_predict_reload(folder, train, held, tmp_path)
