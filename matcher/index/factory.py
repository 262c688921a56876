"""Choosing the vector index by configuration (setting ``index_kind``), as one small registry."""

from __future__ import annotations

from matcher.config import Settings
from matcher.errors import ConfigError
from matcher.index.vector import VectorIndex

# An approximate index (IVF, HNSW) with VectorIndex's interface is one entry here.
INDEX_KINDS: dict[str, type[VectorIndex]] = {
    "flat": VectorIndex,
}


def vector_index_class(settings: Settings) -> type[VectorIndex]:
    """The vector index class the settings name."""
    try:
        return INDEX_KINDS[settings.index_kind]
    except KeyError:
        raise ConfigError(
            f"Setting 'index_kind' must be one of {sorted(INDEX_KINDS)}, got {settings.index_kind!r}",
            details={"setting": "index_kind", "value": settings.index_kind},
        ) from None
