"""An approximate vector index (FAISS HNSW) for catalogues too large to scan, with filters inside the search.

Same interface and id layout as :class:`~matcher.index.vector.VectorIndex` (ids ``key << 8 | passage``,
a record scores by its best passage); what changes is :meth:`HNSWIndex.nearest`, which walks an
HNSW graph instead of scanning every passage. Filters are applied inside the walk by a FAISS
``IDSelectorBitmap`` over the graph's rows, so ``depth`` records still come back when few
records pass; when the passing passages are few (``exact_filter_below``), scanning them exactly
is both cheaper and exact, so that is done instead.

"auto" keeps the exact flat index below ``exact_below`` passages (behaviour identical to
"flat") and builds the graph from the stored vectors once the catalogue reaches that size.

HNSW graphs cannot remove points: a removal or a changed record rebuilds the graph from the
stored vectors (minutes at a million passages on two cores; the catalogue sync batches its
changes, so that is once per sync). Adding new records extends the graph in place.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, cast

import faiss
import numpy as np

from matcher.index.parameters import ANNParameters
from matcher.index.vector import PASSAGE_BITS, VectorIndex, keys_in

log = logging.getLogger(__name__)

MAX_FILTER_BREADTH = 4.0  # a filtered walk's efSearch is at most this many times the unfiltered one


def _new_graph(dimension: int, parameters: ANNParameters) -> faiss.Index:
    graph = faiss.IndexHNSWFlat(dimension, parameters.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = parameters.ef_construction
    return graph


@dataclass
class HNSWIndex(VectorIndex):
    """A vector index searched through an HNSW graph from ``exact_below`` passages (0: always)."""

    parameters: ClassVar[ANNParameters] = ANNParameters()
    exact_below: ClassVar[int] = 0
    _rows: tuple[object, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.faiss_index is None:
            inner = _new_graph(self.dimension, self.parameters) if self.exact_below <= 0 else None
            self.faiss_index = faiss.IndexIDMap2(inner if inner is not None else faiss.IndexFlatIP(self.dimension))
        elif self._is_graph() != self._wants_graph():
            self._rebuild_as_needed()

    @classmethod
    def loads_kind(cls, saved_kind: str) -> bool:
        """ "hnsw" loads only a graph; "auto" loads either kind and converts it to what the size calls for."""
        return saved_kind == "hnsw" if cls.exact_below <= 0 else saved_kind in ("flat", "hnsw")

    def _inner(self) -> faiss.Index:
        return faiss.downcast_index(self.ids_index.index)

    def _is_graph(self) -> bool:
        return isinstance(self._inner(), faiss.IndexHNSWFlat)

    def _wants_graph(self) -> bool:
        return self.passage_count >= self.exact_below

    def _flat_storage(self) -> faiss.IndexFlat:
        inner = self._inner()
        if isinstance(inner, faiss.IndexHNSWFlat):
            return cast(faiss.IndexFlat, faiss.downcast_index(inner.storage))
        return cast(faiss.IndexFlat, inner)

    @property
    def index_kind(self) -> str:
        return "hnsw" if self._is_graph() else "flat"

    @property
    def approximate(self) -> bool:
        return self._is_graph()

    def candidate_depth(self, top_k: int) -> int:
        """How many records the graph hands to fusion: enough for BM25 fusion, feedback and re-ranking."""
        return max(10 * top_k, self.parameters.dense_candidates)

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the FAISS index by one of the kind the size calls for, holding ``ids`` / ``vectors``."""
        graph = len(ids) >= self.exact_below
        inner = _new_graph(self.dimension, self.parameters) if graph else faiss.IndexFlatIP(self.dimension)
        rebuilt = faiss.IndexIDMap2(inner)
        if len(ids):
            if graph:
                log.info("Building the %s HNSW graph over %d passages", self.kind.value, len(ids))
            rebuilt.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        self.faiss_index = rebuilt
        self._layout = None
        self._rows = None

    def _rebuild_as_needed(self) -> None:
        layout = self.layout()
        self._rebuild(layout.ids, layout.vectors)

    def remove(self, keys: Iterable[int]) -> None:
        keys = list(keys)
        if not self._is_graph():
            super().remove(keys)
            if self._is_graph() != self._wants_graph():
                self._rebuild_as_needed()
            return
        doomed = np.asarray([key for key in keys if key in self.entries], dtype=np.int64)
        if len(doomed):
            layout = self.layout()
            keep = np.repeat(~np.isin(layout.keys, doomed), layout.counts)
            self._rebuild(layout.ids[keep], layout.vectors[keep])
        for key in keys:
            self.entries.pop(key, None)

    def add(self, keys: list[int], passage_vectors: list[np.ndarray], text_hashes: list[str]) -> None:
        super().add(keys, passage_vectors, text_hashes)
        self._rows = None
        if self._is_graph() != self._wants_graph():
            self._rebuild_as_needed()

    def _row_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """For each graph row (insertion order): its passage id and its record's position in the layout."""
        layout = self.layout()
        if self._rows is None or self._rows[0] is not layout:
            ids = faiss.vector_to_array(self.ids_index.id_map)
            self._rows = (layout, ids, np.searchsorted(layout.keys, ids >> PASSAGE_BITS))
        return self._rows[1], self._rows[2]

    def nearest(self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """The keys (ascending) of the about ``depth`` best records by an HNSW search, among ``allowed``.

        Asks the graph for ``depth`` times the mean passages per record (a record's passages
        crowd one another), keeps each record's best, and returns the best ``depth`` records.
        A filter becomes a bitmap over the graph's rows, checked inside the walk; the walk stops
        by the distances of every node it met, passing or not, so a filter passing a share ``s``
        of the passages widens it by 1/sqrt(s) (at most 4x): at 10% twice the breadth gave the
        unfiltered recall (benchmarks/RESULTS.md). When the passing passages are few, they are
        scanned exactly instead (a bounded cost, and exact, where a walk would find too few).
        """
        if not self._is_graph():
            return super().nearest(query_vectors, depth, allowed)
        queries = self._check(query_vectors)
        layout = self.layout()
        if depth <= 0 or not len(layout.keys):
            return np.zeros(0, dtype=np.int64)
        passages = len(layout.ids)
        wanted = min(passages, depth * max(1, math.ceil(passages / len(layout.keys))))
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # in the SWIG module, not the stubs
        bits = None
        breadth = 1.0
        if allowed is not None:
            passing = keys_in(layout.keys, allowed)
            allowed_passages = int(layout.counts[passing].sum())
            if allowed_passages <= max(self.parameters.exact_filter_below, wanted):
                return super().nearest(queries, depth, layout.keys[passing]) if allowed_passages else layout.keys[:0]
            ids, row_records = self._row_keys()
            bits = np.packbits(passing[row_records], bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(ids), faiss.swig_ptr(bits))
            breadth = min(MAX_FILTER_BREADTH, 1 / math.sqrt(allowed_passages / passages))
        ids, _ = self._row_keys()
        params.efSearch = int(max(self.parameters.ef_search, wanted) * breadth)
        similarities, rows = self._inner().search(queries, wanted, params=params)
        found = rows >= 0
        keys = ids[rows[found]] >> PASSAGE_BITS
        order = np.argsort(-similarities[found], kind="stable")
        unique_keys, first = np.unique(keys[order], return_index=True)
        best = unique_keys[np.argsort(first, kind="stable")][:depth]
        del bits  # the selector read it during the search
        return np.sort(best)
