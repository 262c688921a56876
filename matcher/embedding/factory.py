"""Choosing the encoder by configuration (setting ``embedding_backend``), as one small registry."""

from __future__ import annotations

from collections.abc import Callable

from matcher.embedding.encoder import Embedder, SentenceTransformerEmbedder
from matcher.errors import ConfigError

# A backend makes an encoder from the model's name, a local folder (empty: the bundled copy) and
# a batch size. A new one (ONNX, OpenVINO, a multilingual encoder with its own API) is one entry.
EMBEDDER_BACKENDS: dict[str, Callable[[str, str, int], Embedder]] = {
    "sentence-transformers": lambda name, path, batch_size: SentenceTransformerEmbedder(name, path or None, batch_size),
}


def make_embedder(backend: str, model_name: str, model_path: str = "", batch_size: int = 32) -> Embedder:
    """The encoder of ``backend``; nothing is loaded until it first encodes."""
    try:
        make = EMBEDDER_BACKENDS[backend]
    except KeyError:
        raise ConfigError(
            f"Setting 'embedding_backend' must be one of {sorted(EMBEDDER_BACKENDS)}, got {backend!r}",
            details={"setting": "embedding_backend", "value": backend},
        ) from None
    return make(model_name, model_path, batch_size)


def phrase_embedder(embedder: Embedder, parallel: bool) -> Embedder:
    """What encodes free-text queries' new phrases: a twin of the model (loaded on first use) when
    ``parallel`` and the encoder has one, else the model itself."""
    twin = getattr(embedder, "twin", None)
    return twin() if parallel and twin is not None else embedder
