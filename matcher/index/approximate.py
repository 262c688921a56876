"""Approximate vector indexes (FAISS IVF-Flat or HNSW) for catalogues too large to scan, filters inside the search.

Same interface and id layout as :class:`~matcher.index.vector.VectorIndex` (ids ``key << 8 | passage``,
a record scores by its best passage); what changes is :meth:`ApproximateIndex.nearest`, which searches
IVF lists or an HNSW graph instead of scanning every passage. Both sit in an ``IndexIDMap2`` and
number their rows in insertion order, so a filter becomes a FAISS ``IDSelectorBitmap`` over those
rows, checked inside the search: ``depth`` records still come back when few records pass. When
the passing passages are few (``exact_filter_below``), scanning them exactly is cheaper and exact,
so that is done instead.

"auto" keeps the exact flat index below ``exact_below`` passages (behaviour identical to "flat")
and builds ``approximate_kind`` (IVF, by measurement: benchmarks/RESULTS.md) from the stored
vectors once the catalogue reaches that size. IVF is trained on a sample of them (64 per list,
``ivf_nlist_factor * sqrt(passages)`` lists).

Neither removes points in place here (HNSW cannot; IVF's row numbers would shift under the id
map): a removal or a changed record rebuilds the index from the stored vectors (HNSW: minutes at a
million passages; the catalogue sync batches its changes). Adding new records extends the index in
place. IVF keeps its trained lists while their number stays within 2x of what the current size calls
for; past that (a catalogue grown or shrunk over many ingests) it is trained again, as the lists
would otherwise grow long and each probe scan too many vectors.

Whatever changes the index also prepares what queries read (the IVF direct map, the passage layout,
the row keys) before the index is handed to readers, so concurrent queries never mutate it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import faiss
import numpy as np

from matcher.index.parameters import ANNParameters
from matcher.index.vector import PASSAGE_BITS, VectorIndex, keys_in

log = logging.getLogger(__name__)

MAX_FILTER_BREADTH = 4.0  # a filtered walk's efSearch is at most this many times the unfiltered one


IVF_TRAINING_PER_LIST = 64  # training vectors per IVF list (FAISS warns below 39)


def ivf_list_count(passages: int, parameters: ANNParameters) -> int:
    """How many IVF lists an index of ``passages`` is trained with (at least 39 training vectors each)."""
    return max(1, min(int(parameters.ivf_nlist_factor * math.sqrt(passages)), passages // 39))


def _new_search_index(kind: str, dimension: int, parameters: ANNParameters, vectors: np.ndarray) -> faiss.Index:
    """An empty approximate index of ``kind``; IVF is trained on (a sample of) ``vectors``."""
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dimension, parameters.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = parameters.ef_construction
        return graph
    count = len(vectors)
    lists = ivf_list_count(count, parameters)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(count, min(count, IVF_TRAINING_PER_LIST * lists), replace=False)
    ivf.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
    return ivf


@dataclass
class ApproximateIndex(VectorIndex):
    """A vector index searched through IVF lists or an HNSW graph from ``exact_below`` passages (0: always)."""

    parameters: ClassVar[ANNParameters] = ANNParameters()
    exact_below: ClassVar[int] = 0
    approximate_kind: ClassVar[str] = "hnsw"  # or "ivf"
    _rows: tuple[object, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.faiss_index is None:
            # An empty index starts flat: IVF must be trained on vectors, and the first add builds it.
            self.faiss_index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        if self.index_kind != self._wanted_kind():
            self._rebuild_as_needed()
        else:
            self._prepare_for_readers()

    @classmethod
    def loads_kind(cls, saved_kind: str) -> bool:
        """An explicit kind loads only its kind; "auto" loads any and converts it to what the size calls for."""
        return saved_kind == cls.approximate_kind if cls.exact_below <= 0 else saved_kind in ("flat", "hnsw", "ivf")

    @classmethod
    def configured_kind(cls) -> str:
        return cls.approximate_kind if cls.exact_below <= 0 else "auto"

    def _inner(self) -> faiss.Index:
        return faiss.downcast_index(self.ids_index.index)

    def _is_approximate(self) -> bool:
        """Whether the index is approximate now (an HNSW graph or IVF lists), not flat."""
        return not isinstance(self._inner(), faiss.IndexFlat)

    def _wanted_kind(self) -> str:
        if self.exact_below > 0 and self.passage_count < self.exact_below:
            return "flat"
        return self.approximate_kind if self.passage_count else "flat"

    def _lists_fit(self, passages: int) -> bool:
        """Whether the IVF index's trained lists are within 2x of the number ``passages`` call for."""
        inner = self._inner()
        if not isinstance(inner, faiss.IndexIVF):
            return False
        return 0.5 <= inner.nlist / ivf_list_count(passages, self.parameters) <= 2

    def _prepare_for_readers(self) -> None:
        """Make what queries read (IVF direct map, layout, row keys) now, so no query mutates the index."""
        inner = self._inner()
        if isinstance(inner, faiss.IndexIVF) and inner.direct_map.type == faiss.DirectMap.NoMap:  # type: ignore[attr-defined]
            inner.make_direct_map()
        self._row_keys()

    def _stored_vectors(self, count: int) -> np.ndarray:
        inner = self._inner()
        if isinstance(inner, faiss.IndexHNSWFlat):
            flat = cast(faiss.IndexFlat, faiss.downcast_index(inner.storage))
            return faiss.rev_swig_ptr(flat.get_xb(), count * self.dimension) if count else np.zeros(0, np.float32)
        if isinstance(inner, faiss.IndexIVF):  # rows are numbered 0.. in insertion order: an array direct map
            if count and inner.direct_map.type == faiss.DirectMap.NoMap:  # type: ignore[attr-defined]
                inner.make_direct_map()
            return inner.reconstruct_n(0, count) if count else np.zeros(0, np.float32)
        return super()._stored_vectors(count)

    @property
    def index_kind(self) -> str:
        inner = self._inner()
        return (
            "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "ivf" if isinstance(inner, faiss.IndexIVF) else "flat"
        )

    @property
    def approximate(self) -> bool:
        return self._is_approximate()

    def candidate_depth(self, top_k: int) -> int:
        """How many records the index hands to fusion: enough for BM25 fusion, feedback and re-ranking."""
        return max(10 * top_k, self.parameters.dense_candidates)

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the FAISS index by one of the kind the size calls for, holding ``ids`` / ``vectors``.

        An IVF index whose list count is within 2x of what ``len(ids)`` passages call for keeps its
        trained lists (training a million-passage IVF takes minutes); otherwise it is trained again.
        """
        kind = (
            "flat" if (self.exact_below > 0 and len(ids) < self.exact_below) or not len(ids) else self.approximate_kind
        )
        current = self._inner()
        if kind == "flat":
            inner: faiss.Index = faiss.IndexFlatIP(self.dimension)
        elif kind == "ivf" and self._lists_fit(len(ids)):
            inner = faiss.clone_index(current)
            inner.reset()
        else:
            log.info("Building the %s %s index over %d passages", self.kind.value, kind, len(ids))
            inner = _new_search_index(kind, self.dimension, self.parameters, vectors)
        rebuilt = faiss.IndexIDMap2(inner)
        if len(ids):
            rebuilt.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        self.faiss_index = rebuilt
        self._layout = None
        self._rows = None
        self._prepare_for_readers()

    def _rebuild_as_needed(self) -> None:
        layout = self.layout()
        self._rebuild(layout.ids, layout.vectors)

    def remove(self, keys: Iterable[int]) -> None:
        keys = list(keys)
        if not self._is_approximate():
            super().remove(keys)
            if self.index_kind != self._wanted_kind():
                self._rebuild_as_needed()
            else:
                self._prepare_for_readers()
            return
        doomed = np.asarray([key for key in keys if key in self.entries], dtype=np.int64)
        if len(doomed):
            layout = self.layout()
            keep = np.repeat(~np.isin(layout.keys, doomed), layout.counts)
            self._rebuild(layout.ids[keep], layout.vectors[keep])
        for key in keys:
            self.entries.pop(key, None)
        self._prepare_for_readers()

    def add(self, keys: list[int], passage_vectors: list[np.ndarray], text_hashes: list[str]) -> None:
        super().add(keys, passage_vectors, text_hashes)
        self._rows = None
        outgrown = self.index_kind == "ivf" and not self._lists_fit(self.passage_count)
        if outgrown or self.index_kind != self._wanted_kind():
            self._rebuild_as_needed()
        else:
            self._prepare_for_readers()

    def _row_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """For each index row (insertion order): its passage id and its record's position in the layout."""
        layout = self.layout()
        if self._rows is None or self._rows[0] is not layout:
            ids = faiss.vector_to_array(self.ids_index.id_map)
            self._rows = (layout, ids, np.searchsorted(layout.keys, ids >> PASSAGE_BITS))
        return self._rows[1], self._rows[2]

    def nearest(self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """The keys (ascending) of the about ``depth`` best records by an HNSW or IVF search, among ``allowed``.

        Asks the graph for ``depth`` times the mean passages per record (a record's passages
        crowd one another), keeps each record's best, and returns the best ``depth`` records.
        A filter becomes a bitmap over the graph's rows, checked inside the walk; the walk stops
        by the distances of every node it met, passing or not, so a filter passing a share ``s``
        of the passages widens it by 1/sqrt(s) (at most 4x): at 10% twice the breadth gave the
        unfiltered recall (benchmarks/RESULTS.md). When the passing passages are few, they are
        scanned exactly instead (a bounded cost, and exact, where a walk would find too few).
        """
        if not self._is_approximate():
            return super().nearest(query_vectors, depth, allowed)
        queries = self._check(query_vectors)
        layout = self.layout()
        if depth <= 0 or not len(layout.keys):
            return np.zeros(0, dtype=np.int64)
        passages = len(layout.ids)
        wanted = min(passages, depth * max(1, math.ceil(passages / len(layout.keys))))
        inner = self._inner()
        graph = isinstance(inner, faiss.IndexHNSWFlat)
        params: Any = faiss.SearchParametersHNSW() if graph else faiss.SearchParametersIVF()  # type: ignore[attr-defined]
        bits = None
        breadth = 1.0
        if allowed is not None:
            passing = keys_in(layout.keys, allowed)
            allowed_passages = int(layout.counts[passing].sum())
            if allowed_passages <= max(self.parameters.exact_filter_below, wanted):
                return super().nearest(queries, depth, layout.keys[passing]) if allowed_passages else layout.keys[:0]
            _, row_records = self._row_keys()
            bits = np.packbits(passing[row_records], bitorder="little")  # one gather: 0.6 ms at a million rows
            params.sel = faiss.IDSelectorBitmap(passages, faiss.swig_ptr(bits))
            breadth = min(MAX_FILTER_BREADTH, 1 / math.sqrt(allowed_passages / passages))
        ids, _ = self._row_keys()
        if graph:
            params.efSearch = int(max(self.parameters.ef_search, wanted) * breadth)
        else:  # IVF: a filter skips the non-passing vectors of the lists it scans (recall held; RESULTS.md)
            params.nprobe = self.parameters.ivf_nprobe
        similarities, rows = inner.search(queries, wanted, params=params)
        found = rows >= 0
        keys = ids[rows[found]] >> PASSAGE_BITS
        order = np.argsort(-similarities[found], kind="stable")
        unique_keys, first = np.unique(keys[order], return_index=True)
        best = unique_keys[np.argsort(first, kind="stable")][:depth]
        del bits  # the selector read it during the search
        return np.sort(best)
