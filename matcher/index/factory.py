"""Choosing the vector index by configuration (setting ``index_kind``), as one small registry.

"flat" is exact and exhaustive; "hnsw" always searches an HNSW graph; "auto" (the default) is
flat below ``ANNParameters.exact_below`` passages and HNSW from there (benchmarks/RESULTS.md,
"Indexes that scale", for why HNSW and these parameters).
"""

from __future__ import annotations

from typing import cast

from matcher.errors import ConfigError
from matcher.index.hnsw import HNSWIndex
from matcher.index.parameters import ANNParameters
from matcher.index.vector import VectorIndex

INDEX_KINDS = ("auto", "flat", "hnsw")


def vector_index_class(kind: str, parameters: ANNParameters | None = None) -> type[VectorIndex]:
    """The vector index class of ``kind``, built and searched with ``parameters`` (defaults if None)."""
    if kind not in INDEX_KINDS:
        raise ConfigError(
            f"Setting 'index_kind' must be one of {sorted(INDEX_KINDS)}, got {kind!r}",
            details={"setting": "index_kind", "value": kind},
        )
    if kind == "flat":
        return VectorIndex
    chosen = parameters or ANNParameters()
    exact_below = chosen.exact_below if kind == "auto" else 0
    name = "AutoIndex" if kind == "auto" else "HNSWAlwaysIndex"
    return cast(type[VectorIndex], type(name, (HNSWIndex,), {"parameters": chosen, "exact_below": exact_below}))
