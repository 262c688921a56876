"""A FAISS inner-product index over unit vectors of record passages, keyed by catalogue keys.

A record has one vector per passage; FAISS ids are ``key << PASSAGE_BITS | passage``. A record's
dense score for a query is its best passage's similarity; a query split into several passages
scores a record by its best pair of passages (on long patent claims the best pair beat the mean
over query passages; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import faiss
import numpy as np

from matcher.errors import IndexMismatch
from matcher.records import Kind

PASSAGE_BITS = 8
MAX_PASSAGES = 1 << PASSAGE_BITS


@dataclass
class VectorIndex:
    """One side's vectors. ``entries`` maps each key to (hash of the text it encodes, passage count)."""

    kind: Kind
    model_name: str
    dimension: int
    entries: dict[int, tuple[str, int]] = field(default_factory=dict)
    faiss_index: faiss.Index | None = None

    def __post_init__(self) -> None:
        if self.faiss_index is None:
            self.faiss_index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))

    @property
    def count(self) -> int:
        """How many records (not passages) the index holds."""
        return len(self.entries)

    @property
    def passage_count(self) -> int:
        return int(self.faiss_index.ntotal)

    def text_hashes(self) -> dict[int, str]:
        return {key: digest for key, (digest, _) in self.entries.items()}

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, vectors.shape[-1])
        if vectors.shape[1] != self.dimension:
            raise IndexMismatch(
                f"The {self.kind.value} index holds {self.dimension}-dimensional vectors but got "
                f"{vectors.shape[1]}-dimensional ones; rebuild it with `matcher index --rebuild`",
                details={"kind": self.kind.value, "index_dimension": self.dimension, "vector_dimension": vectors.shape[1]},
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
            self.faiss_index.remove_ids(np.asarray(ids, dtype=np.int64))
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
            [(np.int64(key) << PASSAGE_BITS) + np.arange(len(block), dtype=np.int64) for key, block in zip(keys, blocks)]
        )
        self.faiss_index.add_with_ids(np.vstack(blocks), ids)
        self.entries.update((key, (digest, len(block))) for key, digest, block in zip(keys, text_hashes, blocks))

    def record_scores(self, query_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every record's dense score: ``(keys ascending, scores)``.

        Exhaustive (a flat index is exact): each query passage is compared with every passage and
        a record keeps its best pair.
        """
        keys, scores, _ = self.best_passages(query_vectors)
        return keys, scores

    def best_passages(self, query_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keys ascending, best similarity, id of the best passage)`` for every record."""
        queries = self._check(query_vectors)
        total = self.passage_count
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=np.float32), empty
        similarities, ids = self.faiss_index.search(queries, total)
        all_keys = np.unique(ids[0] >> PASSAGE_BITS)
        scores = np.full(len(all_keys), -np.inf, dtype=np.float32)
        best_ids = np.zeros(len(all_keys), dtype=np.int64)
        for row_ids, row_similarities in zip(ids, similarities):
            # FAISS returns passages best first, so a record's first passage is its best one.
            _, first = np.unique(row_ids >> PASSAGE_BITS, return_index=True)
            better = row_similarities[first] > scores  # every passage is returned: the keys are the same
            scores[better] = row_similarities[first][better]
            best_ids[better] = row_ids[first][better]
        return all_keys, scores, best_ids

    def vectors_of(self, passage_ids: np.ndarray) -> np.ndarray:
        return np.vstack([self.faiss_index.reconstruct(int(passage_id)) for passage_id in passage_ids])
