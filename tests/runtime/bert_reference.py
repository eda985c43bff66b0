"""An independent float64 reference of the all-MiniLM-L6-v2 forward pass, for checking the ONNX graphs.

Written apart from ``alab_training.runtime.bert_onnx`` on purpose and sharing nothing with it: the safetensors
file is parsed here by hand (not with the ``safetensors`` package), attention drops padded keys outright (instead
of the graph's additive −10000), and everything runs in float64. A BERT WordPiece tokenizer (lower-casing,
accent stripping, punctuation splitting, greedy longest-match word pieces) turns text into ids the way
``tokenizer.json`` describes.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path

import numpy as np

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file: an 8-byte little-endian header size, a JSON header, then raw data."""
    raw = Path(path).read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    body = memoryview(raw)[8 + size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=_DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return tensors


class WordPieceTokenizer:
    """BERT's uncased tokenizer: BertNormalizer + BertPreTokenizer + WordPiece + ``[CLS] … [SEP]``."""

    def __init__(self, vocab_file: Path) -> None:
        words = Path(vocab_file).read_text(encoding="utf-8").split("\n")
        if words and words[-1] == "":
            words.pop()
        self.vocab = {word: index for index, word in enumerate(words)}
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    @staticmethod
    def _is_punctuation(char: str) -> bool:
        code = ord(char)
        if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
            return True
        return unicodedata.category(char).startswith("P")

    @staticmethod
    def _is_cjk(code: int) -> bool:
        return any(low <= code <= high for low, high in (
            (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
            (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))

    def _normalise(self, text: str) -> str:
        kept = []
        for char in text:
            code = ord(char)
            if code in (0, 0xFFFD) or (unicodedata.category(char).startswith("C") and char not in "\t\n\r"):
                continue
            if char in " \t\n\r" or unicodedata.category(char) == "Zs":
                kept.append(" ")
            elif self._is_cjk(code):
                kept.append(f" {char} ")
            else:
                kept.append(char)
        # tokenizers' BertNormalizer order: accents stripped (NFD, marks dropped) first, then lower-cased.
        stripped = "".join(c for c in unicodedata.normalize("NFD", "".join(kept)) if unicodedata.category(c) != "Mn")
        return stripped.lower()

    def words(self, text: str) -> list[str]:
        """The pre-tokenized words: whitespace-separated, each punctuation character on its own."""
        words: list[str] = []
        for chunk in self._normalise(text).split():
            current = ""
            for char in chunk:
                if self._is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[int]:
        """Greedy longest-match-first word pieces of one word; ``[UNK]`` if it cannot be covered."""
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        """``[CLS]`` + word pieces + ``[SEP]``."""
        return [self.cls] + [i for word in self.words(text) for i in self.pieces(word)] + [self.sep]


def pad(rows: list[list[int]], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded int64 ids and the attention mask, both ``[len(rows), length or longest]``."""
    width = length or max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = row
        mask[index, :len(row)] = 1
    return ids, mask


class ReferenceBert:
    """The BERT encoder in float64 numpy, one sequence at a time (so padding cannot leak between rows)."""

    def __init__(self, folder: Path) -> None:
        self.config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        self.w = {name: t.astype(np.float64) for name, t in read_safetensors(Path(folder) / "model.safetensors").items()
                  if t.dtype != np.int64}
        self._erf = np.frompyfunc(math.erf, 1, 1)

    def _norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        eps = self.config["layer_norm_eps"]
        return (x - mean) / np.sqrt(variance + eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def _linear(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def tokens(self, ids: list[int]) -> np.ndarray:
        """The last hidden states ``[len(ids), hidden]`` of one unpadded sequence (token type 0)."""
        heads = self.config["num_attention_heads"]
        n = len(ids)
        x = (self.w["embeddings.word_embeddings.weight"][ids] + self.w["embeddings.position_embeddings.weight"][:n]
             + self.w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        for layer in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q, k, v = (self._linear(x, p + f"attention.self.{m}").reshape(n, heads, -1).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            scores = np.einsum("hqd,hkd->hqk", q, k) / math.sqrt(q.shape[-1])
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attention = scores / scores.sum(-1, keepdims=True)
            context = np.einsum("hqk,hkd->qhd", attention, v).reshape(n, -1)
            x = self._norm(self._linear(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            inner = self._linear(x, p + "intermediate.dense")
            inner = 0.5 * inner * (1.0 + self._erf(inner / math.sqrt(2.0)).astype(np.float64))
            x = self._norm(self._linear(inner, p + "output.dense") + x, p + "output.LayerNorm")
        return x

    def sentence(self, ids: list[int]) -> np.ndarray:
        """sentence-transformers' embedding of one sequence: mean of its token states, unit length."""
        mean = self.tokens(ids).mean(0)
        return mean / np.linalg.norm(mean)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``[..., d]`` arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
