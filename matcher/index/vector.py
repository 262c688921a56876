"""A FAISS inner-product index over unit vectors of record passages, keyed by catalogue keys.

A record has one vector per passage; FAISS ids are ``key << PASSAGE_BITS | passage``. A record's
dense score for a query is its best passage's similarity; a query split into several passages
scores a record by its best pair of passages (on long patent claims the best pair beat the mean
over query passages; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import faiss
import numpy as np

from matcher.errors import IndexMismatch
from matcher.records import Kind
from matcher.support.arrays import ranges

PASSAGE_BITS = 8
MAX_PASSAGES = 1 << PASSAGE_BITS


def keys_in(keys: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """A mask over ``keys`` (ascending) of those in ``allowed``: one search per allowed key, no sort of ``keys``.

    ``allowed`` is sorted first: searches in ascending order stay in cache, where a million keys
    searched in a set's order cost more than ``np.isin`` (benchmarks/RESULTS.md).
    """
    wanted = np.asarray(allowed, dtype=np.int64)
    if len(wanted) > 1 and not bool((wanted[1:] >= wanted[:-1]).all()):  # sorting a sorted array still costs
        wanted = np.sort(wanted)
    positions = np.searchsorted(keys, wanted)
    inside = positions < len(keys)
    positions, wanted = positions[inside], wanted[inside]
    mask = np.zeros(len(keys), dtype=bool)
    mask[positions[keys[positions] == wanted]] = True
    return mask


def _inner_products(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``queries @ vectors.T`` by FAISS's one-thread SIMD products (no BLAS thread pool on two busy cores)."""
    out = np.empty((len(queries), len(vectors)), dtype=np.float32)
    for row, query in enumerate(queries):
        faiss.fvec_inner_products_ny(  # type: ignore[attr-defined]  # in the SWIG module, not in faiss's stubs
            faiss.swig_ptr(out[row]), faiss.swig_ptr(query), faiss.swig_ptr(vectors), vectors.shape[1], len(vectors)
        )
    return out


@dataclass(frozen=True)
class _Layout:
    """The stored passages ordered by record: record ``i`` owns rows ``starts[i]`` up to the next start."""

    keys: np.ndarray  # record keys, ascending
    starts: np.ndarray  # first row of each record
    counts: np.ndarray  # passages of each record
    ids: np.ndarray  # the passage id of each row
    vectors: np.ndarray  # (passages, dimension), rows in this order


@dataclass
class VectorIndex:
    """One side's vectors. ``entries`` maps each key to (hash of the text it encodes, passage count)."""

    kind: Kind
    model_name: str
    dimension: int
    entries: dict[int, tuple[str, int]] = field(default_factory=dict)
    faiss_index: faiss.Index | None = None
    _layout: _Layout | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.faiss_index is None:
            self.faiss_index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))

    @property
    def ids_index(self) -> faiss.IndexIDMap2:
        """``faiss_index`` as what it always is: made above, or read back by the store, as an IndexIDMap2."""
        return cast(faiss.IndexIDMap2, self.faiss_index)

    def layout(self) -> _Layout:
        """The passages grouped by record (made once per change of the index, then shared by readers)."""
        layout = self._layout
        if layout is None:
            ids = faiss.vector_to_array(self.ids_index.id_map)
            stored = self._stored_vectors(len(ids))
            order = np.argsort(ids, kind="stable")  # a record's passages have consecutive ids
            keys, starts, counts = np.unique(ids[order] >> PASSAGE_BITS, return_index=True, return_counts=True)
            vectors = np.asarray(stored, dtype=np.float32).reshape(len(ids), self.dimension)[order]
            layout = self._layout = _Layout(keys, starts, counts, ids[order], np.ascontiguousarray(vectors))
        return layout

    def _stored_vectors(self, count: int) -> np.ndarray:
        """The ``count`` stored vectors in insertion order (an approximate index overrides where they live)."""
        flat = cast(faiss.IndexFlat, faiss.downcast_index(self.ids_index.index))
        return faiss.rev_swig_ptr(flat.get_xb(), count * self.dimension) if count else np.zeros(0, np.float32)

    @property
    def index_kind(self) -> str:
        """What the manifest records: the kind of FAISS index this is now."""
        return "flat"

    @classmethod
    def loads_kind(cls, saved_kind: str) -> bool:
        """Whether an index saved as ``saved_kind`` (manifest ``index_kind``) may be loaded as this class."""
        return saved_kind == "flat"

    @classmethod
    def configured_kind(cls) -> str:
        """The setting ``index_kind`` this class stands for."""
        return "flat"

    @property
    def approximate(self) -> bool:
        """Whether retrieval should take its dense candidates from :meth:`nearest` (else exhaustive)."""
        return False

    def candidate_depth(self, top_k: int) -> int:
        """How many dense candidates :meth:`nearest` should give retrieval for ``top_k`` results."""
        return max(10 * top_k, 300)

    def nearest(self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """The keys (ascending) of about ``depth`` records nearest the query, among ``allowed`` keys when given.

        Exact here: the best ``depth`` of every record's score, or of just the ``allowed`` records'
        (a filter scans only their passages). An approximate index overrides it.
        """
        if allowed is None:
            keys, scores, _ = self.best_passages(query_vectors)
        else:
            keys, scores, _ = self.scores_of(query_vectors, np.sort(np.asarray(allowed, dtype=np.int64)))
        if len(keys) > depth:
            keys = keys[np.argpartition(-scores, depth - 1)[:depth]]
        return np.sort(keys)

    def scores_of(self, query_vectors: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`best_passages` for just the records ``keys`` (those the index holds), exact, keys ascending."""
        queries = self._check(query_vectors)
        layout = self.layout()
        wanted = np.asarray(keys, dtype=np.int64)
        positions = np.searchsorted(layout.keys, wanted)
        inside = positions < len(layout.keys)
        positions, wanted = positions[inside], wanted[inside]
        positions = np.unique(positions[layout.keys[positions] == wanted])
        if not len(positions):
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=np.float32), empty
        counts = layout.counts[positions]
        rows = ranges(layout.starts[positions], counts)
        similarities = _inner_products(queries, np.ascontiguousarray(layout.vectors[rows]))
        best_of_row = similarities.max(axis=0)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        scores = np.maximum.reduceat(best_of_row, starts)
        winners = np.where(best_of_row == np.repeat(scores, counts), np.arange(len(rows)), len(rows))
        first = np.minimum.reduceat(winners, starts)
        return layout.keys[positions], scores.astype(np.float32), layout.ids[rows[first]]

    @property
    def count(self) -> int:
        """How many records (not passages) the index holds."""
        return len(self.entries)

    @property
    def passage_count(self) -> int:
        return int(self.ids_index.ntotal)

    def text_hashes(self) -> dict[int, str]:
        return {key: digest for key, (digest, _) in self.entries.items()}

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, vectors.shape[-1])
        if vectors.shape[1] != self.dimension:
            raise IndexMismatch(
                f"The {self.kind.value} index holds {self.dimension}-dimensional vectors but got "
                f"{vectors.shape[1]}-dimensional ones; rebuild it with `matcher index --rebuild`",
                details={
                    "kind": self.kind.value,
                    "index_dimension": self.dimension,
                    "vector_dimension": vectors.shape[1],
                },
            )
        return vectors

    def remove(self, keys: Iterable[int]) -> None:
        ids = [
            (key << PASSAGE_BITS) | passage
            for key in keys
            if key in self.entries
            for passage in range(self.entries[key][1])
        ]
        if ids:
            # faiss's stubs take only an IDSelector; its Python wrapper also takes an array of ids.
            self.ids_index.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]
            self._layout = None
        for key in keys:
            self.entries.pop(key, None)

    def add(self, keys: list[int], passage_vectors: list[np.ndarray], text_hashes: list[str]) -> None:
        """Add (or replace) records: ``passage_vectors[i]`` holds one row per passage of ``keys[i]``."""
        if not keys:
            return
        self.remove(keys)
        blocks = [self._check(vectors) for vectors in passage_vectors]
        for key, block in zip(keys, blocks):
            if not 1 <= len(block) <= MAX_PASSAGES:
                raise ValueError(f"record key {key} has {len(block)} passages; allowed 1 to {MAX_PASSAGES}")
        ids = np.concatenate(
            [
                (np.int64(key) << PASSAGE_BITS) + np.arange(len(block), dtype=np.int64)
                for key, block in zip(keys, blocks)
            ]
        )
        self.ids_index.add_with_ids(np.vstack(blocks), ids)
        self._layout = None
        self.entries.update((key, (digest, len(block))) for key, digest, block in zip(keys, text_hashes, blocks))

    def record_scores(self, query_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every record's dense score: ``(keys ascending, scores)``.

        Exhaustive (a flat index is exact): each query passage is compared with every passage and
        a record keeps its best pair.
        """
        keys, scores, _ = self.best_passages(query_vectors)
        return keys, scores

    def best_passages(self, query_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keys ascending, best similarity, id of the best passage)`` for every record.

        Exact and exhaustive: every query passage against every stored passage, then each
        record's best, with no sorting of the whole corpus (FAISS's search with k = all sorted it).
        """
        queries = self._check(query_vectors)
        layout = self.layout()
        if len(layout.keys) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=np.float32), empty
        similarities = np.empty((len(queries), len(layout.ids)), dtype=np.float32)
        for row, query in enumerate(queries):
            # FAISS's one-thread SIMD products: no BLAS thread pool to contend for the two cores.
            faiss.fvec_inner_products_ny(  # type: ignore[attr-defined]  # in the SWIG module, not in faiss's stubs
                faiss.swig_ptr(similarities[row]),
                faiss.swig_ptr(query),
                faiss.swig_ptr(layout.vectors),
                self.dimension,
                len(layout.ids),
            )
        best_of_row = similarities.max(axis=0) if len(similarities) > 1 else similarities[0]
        scores = np.maximum.reduceat(best_of_row, layout.starts)
        rows = np.arange(len(best_of_row))
        winners = np.where(best_of_row == np.repeat(scores, layout.counts), rows, len(rows))
        first = np.minimum.reduceat(winners, layout.starts)
        return layout.keys, scores.astype(np.float32), layout.ids[first]

    def record_vectors(self, key: int, text_hash: str) -> np.ndarray | None:
        """The passage vectors of record ``key`` when the index holds them for the text ``text_hash``."""
        entry = self.entries.get(key)
        if entry is None or entry[0] != text_hash:
            return None
        layout = self.layout()
        position = int(np.searchsorted(layout.keys, key))
        start = int(layout.starts[position])
        return layout.vectors[start : start + int(layout.counts[position])]

    def vectors_of(self, passage_ids: np.ndarray) -> np.ndarray:
        return np.vstack([self.ids_index.reconstruct(int(passage_id)) for passage_id in passage_ids])
