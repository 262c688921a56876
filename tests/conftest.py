"""Shared fixtures: settings on a temporary data folder, a fake embedder for logic tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from matcher.config import Settings, load_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = ["tests.real_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "data"


class FakeEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words point the same way. Counts its calls."""

    def __init__(self, name: str = "fake-model", dimension: int = 512) -> None:
        self.name = name
        self._dimension = dimension
        self.encoded: list[str] = []

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded.extend(texts)
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                bucket = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % self._dimension
                vectors[row, bucket] += 1.0
            vectors[row] /= max(np.linalg.norm(vectors[row]), 1e-9)
        return vectors


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=tmp_path / "var", show_progress=False)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()
