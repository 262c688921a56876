"""Choosing the encoder by configuration (setting ``embedding_backend``), as one small registry."""

from __future__ import annotations

from collections.abc import Callable

from matcher.config import Settings
from matcher.embedding.encoder import Embedder, SentenceTransformerEmbedder
from matcher.errors import ConfigError


def _sentence_transformers(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings.model_name, settings.model_path or None, settings.batch_size)


# A new backend (ONNX, OpenVINO, a multilingual encoder with its own API) is one entry here.
EMBEDDER_BACKENDS: dict[str, Callable[[Settings], Embedder]] = {
    "sentence-transformers": _sentence_transformers,
}


def make_embedder(settings: Settings) -> Embedder:
    """The encoder the settings name; nothing is loaded until it first encodes."""
    try:
        backend = EMBEDDER_BACKENDS[settings.embedding_backend]
    except KeyError:
        raise ConfigError(
            f"Setting 'embedding_backend' must be one of {sorted(EMBEDDER_BACKENDS)}, got {settings.embedding_backend!r}",
            details={"setting": "embedding_backend", "value": settings.embedding_backend},
        ) from None
    return backend(settings)


def phrase_embedder(settings: Settings, embedder: Embedder) -> Embedder:
    """What encodes free-text queries' new phrases: a twin of the model (loaded on first use), or the model."""
    twin = getattr(embedder, "twin", None)
    return twin() if settings.parallel_query_phrases and twin is not None else embedder  # type: ignore[no-any-return]
