"""Choosing the vector index by configuration (setting ``index_kind``), as one small registry."""

from __future__ import annotations

from matcher.errors import ConfigError
from matcher.index.vector import VectorIndex

# An approximate index (IVF, HNSW) with VectorIndex's interface is one entry here.
INDEX_KINDS: dict[str, type[VectorIndex]] = {
    "flat": VectorIndex,
}


def vector_index_class(kind: str) -> type[VectorIndex]:
    """The vector index class of ``kind``."""
    try:
        return INDEX_KINDS[kind]
    except KeyError:
        raise ConfigError(
            f"Setting 'index_kind' must be one of {sorted(INDEX_KINDS)}, got {kind!r}",
            details={"setting": "index_kind", "value": kind},
        ) from None
