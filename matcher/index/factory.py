"""Choosing the vector index by configuration (setting ``index_kind``), as one small registry.

"flat" is exact and exhaustive; "hnsw" always searches an HNSW graph, "ivf" IVF-Flat lists; "auto"
(the default) is flat below ``ANNParameters.exact_below`` passages and ``approximate_kind`` (IVF)
from there (benchmarks/RESULTS.md, "Indexes that scale": IVF reached the recall target at a
million where HNSW with a build this machine affords did not).
"""

from __future__ import annotations

from typing import cast

from matcher.errors import ConfigError
from matcher.index.approximate import ApproximateIndex
from matcher.index.parameters import ANNParameters
from matcher.index.vector import VectorIndex

INDEX_KINDS = ("auto", "flat", "hnsw", "ivf")


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
    if chosen.approximate_kind not in ("hnsw", "ivf"):
        raise ConfigError(
            f"Setting 'index_approximate_kind' must be 'ivf' or 'hnsw', got {chosen.approximate_kind!r}",
            details={"setting": "index_approximate_kind", "value": chosen.approximate_kind},
        )
    exact_below = chosen.exact_below if kind == "auto" else 0
    approximate = chosen.approximate_kind if kind == "auto" else kind
    attributes = {"parameters": chosen, "exact_below": exact_below, "approximate_kind": approximate}
    return cast(type[VectorIndex], type(f"{kind.upper()}Index", (ApproximateIndex,), attributes))
