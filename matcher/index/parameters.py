"""How the approximate vector index is built and searched (kept apart so settings need not import FAISS)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ANNParameters:
    """Settings ``index_exact_below``, ``hnsw_*``, ``index_exact_filter_below``, ``dense_candidates``.

    Chosen by measurement (benchmarks/RESULTS.md, "Indexes that scale").
    """

    exact_below: int = 50_000  # passages: "auto" stays exact (flat) below this many
    hnsw_m: int = 32  # graph neighbours per node
    ef_construction: int = 64
    ef_search: int = 128  # raised to the passages asked for when more
    exact_filter_below: int = 5_000  # passing passages: at most this many are scanned exactly instead
    dense_candidates: int = 300  # records the graph hands to fusion (at least 10 x top_k)
    approximate_kind: str = "ivf"  # what "auto" builds from exact_below passages: "ivf" or "hnsw"
    ivf_nlist_factor: float = 4.0  # IVF lists: this times the square root of the passages
    ivf_nprobe: int = 32  # IVF lists searched per query
