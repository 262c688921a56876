"""Shared fixtures: settings on a temporary data folder, a fake embedder for logic tests."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from matcher.config import Settings, load_settings
from matcher.embedding.encoder import SpanVectors, sum_over_spans

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "data"
# The encoder exports (OpenVINO, ONNX) every test and every server or CLI the tests start shares:
# made once, by the first that needs one (exports are pure functions of the weights).
TEST_MODELS = REPO / "var" / "test-models"
# For settings made without the process's environment: without it, each data folder would hold its
# own exports (the USE-m conversion alone is 79 MB a folder, and takes seconds).
SHARED_MODELS = {"MATCHER_MODEL_CACHE_DIR": str(TEST_MODELS)}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MATCHER_MODEL_CACHE_DIR", str(TEST_MODELS))

pytest_plugins = ["tests.real_fixtures"]


class FakeEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words point the same way. Counts its calls."""

    def __init__(self, name: str = "fake-model", dimension: int = 512) -> None:
        self.name = name
        self._dimension = dimension
        self.encoded: list[str] = []

    @property
    def identity(self) -> str:
        return f"{self.name}/fake"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _word_vectors(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One "token" per whitespace word: a one-hot row in the word's hash bucket, with its offsets."""
        words = list(re.finditer(r"\S+", text))
        tokens = np.zeros((len(words), self._dimension), dtype=np.float32)
        for row, word in enumerate(words):
            tokens[
                row, int.from_bytes(hashlib.md5(word.group().lower().encode()).digest()[:4], "little") % self._dimension
            ] = 1.0
        return tokens, np.asarray([(word.start(), word.end()) for word in words], dtype=np.int64).reshape(-1, 2)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded.extend(texts)
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self._word_vectors(text)[0].sum(axis=0)
            vectors[row] /= max(np.linalg.norm(vectors[row]), 1e-9)
        return vectors

    def encode_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SpanVectors]]:
        parts = [sum_over_spans(*self._word_vectors(text), text_spans) for text, text_spans in zip(texts, spans)]
        return self.encode(texts), parts

    def readable(self, texts: list[str]) -> list[bool]:
        return [True] * len(texts)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ=SHARED_MODELS, data_dir=tmp_path / "var", show_progress=False)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()
