"""The cached, saved Spark NLP MiniLM encoders: built once, verified, rebuilt when damaged, and correct in Spark."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from alab_training.errors import EngineError, ParamsError
from alab_training.runtime import encoders
from alab_training.runtime.bert_onnx import minilm_weights
from alab_training.runtime.children import child_environment
from alab_training.runtime.encoders import saved_encoder
from tests.runtime.bert_reference import ReferenceBert, WordPieceTokenizer, cosine

#: Lower-case, CoNLL-style (punctuation spaced out, no clitics): Spark NLP's tokens are exactly WordPiece's words,
#: so BertEmbeddings' "first word piece of each token" can be compared with the reference token for token.
#: Different lengths, one partition: the batch is padded to the longest.
SENTENCES = [
    "the patient was admitted to the hospital with acute chest pain .",
    "he drove to the stadium .",
    ("an electrocardiogram showed st elevation in the inferior leads and troponin levels were elevated , so she was "
     "treated with aspirin and heparin before angiography ."),
    "no fever",
    "blood pressure was normal at the first visit six weeks later .",
]


# --- the cache logic, with the two slow steps (graph build, Spark import) replaced by fast fakes -------------


@pytest.fixture
def fake_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A fresh cache root; ``build_onnx`` and the child import write small stand-ins and are counted."""
    monkeypatch.setenv("ALAB_TRAINING_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []

    def fake_onnx(weights: Path, out_dir: Path, *, pooled: bool) -> Path:
        (out_dir / "assets").mkdir(parents=True)
        (out_dir / "model.onnx").write_bytes(b"graph pooled" if pooled else b"graph tokens")
        (out_dir / "assets" / "vocab.txt").write_text("[PAD]\n")
        return out_dir

    def fake_import(spec, onnx_dir: Path, target: Path) -> None:
        assert (onnx_dir / "model.onnx").is_file()
        calls.append(spec.level)
        (target / "metadata").mkdir(parents=True)
        (target / "metadata" / "part-00000").write_text(json.dumps({"class": spec.annotator}))
        (target / "bert_onnx").write_bytes(bytes(range(256)) * 64)

    monkeypatch.setattr(encoders, "build_onnx", fake_onnx)
    monkeypatch.setattr(encoders, "_import_in_child", fake_import)
    return calls


def test_built_once_then_served_from_the_cache(fake_builds):
    first = saved_encoder(None, "token")
    assert first.parent.name == "encoders" and first.name.startswith("all_minilm_l6_v2_token-")
    manifest = json.loads((first / "manifest.json").read_text())
    assert set(manifest["files"]) == {"metadata/part-00000", "bert_onnx"}
    assert manifest["weights"]["version"] == "0.1.0" and manifest["annotator"] == "BertEmbeddings"
    assert saved_encoder(None, "token") == first
    assert fake_builds == ["token"]
    sentence = saved_encoder(None, "sentence")
    assert sentence != first and fake_builds == ["token", "sentence"]
    # Nothing but the entries and their lock files: no build folders left behind.
    assert sorted(p.name for p in first.parent.iterdir() if not p.name.endswith(".lock")) == sorted(
        [first.name, sentence.name])


def _truncate(entry: Path) -> None:
    path = entry / "bert_onnx"
    path.write_bytes(path.read_bytes()[:100])


def _flip_a_byte(entry: Path) -> None:
    path = entry / "bert_onnx"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_manifest(entry: Path) -> None:
    (entry / "manifest.json").unlink()


def _drop_a_file(entry: Path) -> None:
    (entry / "metadata" / "part-00000").unlink()


def _add_a_file(entry: Path) -> None:
    (entry / "stray.txt").write_text("?")


def _garble_manifest(entry: Path) -> None:
    (entry / "manifest.json").write_text('{"format": 1, "files": ')


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte, _drop_manifest, _drop_a_file, _add_a_file,
                                    _garble_manifest], ids=lambda f: f.__name__.strip("_"))
def test_a_damaged_entry_is_rebuilt(fake_builds, damage):
    entry = saved_encoder(None, "token")
    damage(entry)
    assert saved_encoder(None, "token") == entry
    assert fake_builds == ["token", "token"]
    manifest = json.loads((entry / "manifest.json").read_text())
    assert (entry / "bert_onnx").stat().st_size == manifest["files"]["bert_onnx"]["size"]
    assert not (entry / "stray.txt").exists()
    assert not [p for p in entry.parent.iterdir() if p.name.startswith((".trash-", ".build-"))]


def test_a_failed_import_publishes_nothing(fake_builds, monkeypatch):
    def failing(spec, onnx_dir, target):
        target.mkdir()
        (target / "half").write_text("written")
        raise EngineError("the child died")

    monkeypatch.setattr(encoders, "_import_in_child", failing)
    with pytest.raises(EngineError, match="child died"):
        saved_encoder(None, "sentence")
    folder = Path(os.environ["ALAB_TRAINING_CACHE"]) / "encoders"
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []


def test_unknown_level_is_a_params_error(fake_builds):
    with pytest.raises(ParamsError, match="token") as caught:
        saved_encoder(None, "paragraph")
    assert caught.value.field == "embeddings" and caught.value.value == "paragraph"


def test_the_child_never_attaches_to_the_parents_jvm(monkeypatch):
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "12345")
    monkeypatch.setenv("PYSPARK_GATEWAY_SECRET", "s")
    env = child_environment()
    assert "PYSPARK_GATEWAY_PORT" not in env and "PYSPARK_GATEWAY_SECRET" not in env
    assert str(Path(encoders.__file__).resolve().parents[2]) in env["PYTHONPATH"].split(os.pathsep)


_CONCURRENT_CALLER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from alab_training.runtime import encoders

    log = Path(sys.argv[1])

    def fake_onnx(weights, out_dir, *, pooled):
        (out_dir / "assets").mkdir(parents=True)
        (out_dir / "model.onnx").write_bytes(b"graph")
        return out_dir

    def slow_import(spec, onnx_dir, target):
        with log.open("a") as handle:
            handle.write("build\\n")
        time.sleep(2)  # long enough that the other process is surely waiting on the lock
        target.mkdir()
        (target / "bert_onnx").write_bytes(b"saved")

    encoders.build_onnx = fake_onnx
    encoders._import_in_child = slow_import
    print(encoders.saved_encoder(None, "token"))
""")


def test_two_processes_build_once(tmp_path):
    log = tmp_path / "builds.log"
    env = {**os.environ, "ALAB_TRAINING_CACHE": str(tmp_path / "cache")}
    callers = [subprocess.Popen([sys.executable, "-c", _CONCURRENT_CALLER, str(log)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [caller.communicate(timeout=120) for caller in callers]
    assert [caller.returncode for caller in callers] == [0, 0], [err for _, err in results]
    assert results[0][0] == results[1][0] and results[0][0].strip()
    assert log.read_text() == "build\n"


# --- the real thing: imported by Spark NLP in a child process, loaded in this session -----------------------


@pytest.fixture(scope="module")
def reference() -> ReferenceBert:
    return ReferenceBert(minilm_weights())


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    return WordPieceTokenizer(minilm_weights() / "vocab.txt")


def _embed(spark, token_path: Path, sentence_path: Path, sentences: list[str]):
    from pyspark.ml import Pipeline
    from sparknlp.annotator import BertEmbeddings, BertSentenceEmbeddings, Tokenizer
    from sparknlp.base import DocumentAssembler

    stages = [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        BertEmbeddings.load(str(token_path)).setInputCols(["document", "token"]).setOutputCol("tokens"),
        BertSentenceEmbeddings.load(str(sentence_path)).setInputCols(["document"]).setOutputCol("sentence"),
    ]
    data = spark.createDataFrame([(i, text) for i, text in enumerate(sentences)], ["id", "text"]).repartition(1)
    rows = Pipeline(stages=stages).fit(data).transform(data).select("id", "tokens", "sentence").collect()
    return sorted(rows, key=lambda row: row.id)


def _reference_tokens(reference: ReferenceBert, tokenizer: WordPieceTokenizer, text: str):
    """The words of ``text``, the reference vector of each word's first piece, and the reference sentence vector."""
    words = tokenizer.words(text)
    pieces = [tokenizer.pieces(word) for word in words]
    ids = [tokenizer.cls] + [i for word in pieces for i in word] + [tokenizer.sep]
    # BertEmbeddings gives each token the vector of its first word piece.
    first_piece = 1 + np.cumsum([0] + [len(p) for p in pieces[:-1]])
    return words, reference.tokens(ids)[first_piece], reference.sentence(ids)


@pytest.mark.spark
def test_saved_encoders_match_the_reference(spark, reference, tokenizer):
    token_path, sentence_path = saved_encoder(spark, "token"), saved_encoder(spark, "sentence")
    rows = _embed(spark, token_path, sentence_path, SENTENCES)
    for text, row in zip(SENTENCES, rows):
        words, tokens, sentence = _reference_tokens(reference, tokenizer, text)
        assert [a.result for a in row.tokens] == words
        got = np.array([a.embeddings for a in row.tokens])
        assert got.shape == (len(words), 384)
        assert cosine(got, tokens).min() >= 0.9999, text
        (pooled,) = row.sentence
        assert cosine(np.array(pooled.embeddings), sentence) >= 0.9999, text


@pytest.mark.spark
def test_a_truncated_saved_model_is_rebuilt_and_loads(spark, tmp_path, monkeypatch, reference, tokenizer):
    from alab_training.runtime import provision_jars

    original, sentence_path = saved_encoder(spark, "token"), saved_encoder(spark, "sentence")
    # A cache of its own, seeded with a copy of the real entry; the child still uses the provisioned jars.
    monkeypatch.setenv("ALAB_TRAINING_JARS", str(provision_jars()[0].parent))
    monkeypatch.setenv("ALAB_TRAINING_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "cache" / "encoders" / original.name
    shutil.copytree(original, copy)
    with (copy / "bert_onnx").open("r+b") as handle:
        handle.truncate(1000)
    rebuilt = saved_encoder(spark, "token")
    assert rebuilt == copy
    manifest = json.loads((rebuilt / "manifest.json").read_text())
    assert (rebuilt / "bert_onnx").stat().st_size == manifest["files"]["bert_onnx"]["size"] > 1000
    # A rebuilt model (other bytes, same file name inside) loads in a session that already loaded the original.
    (row,) = _embed(spark, rebuilt, sentence_path, SENTENCES[1:2])
    words, tokens, _ = _reference_tokens(reference, tokenizer, SENTENCES[1])
    assert [a.result for a in row.tokens] == words
    assert cosine(np.array([a.embeddings for a in row.tokens]), tokens).min() >= 0.9999
