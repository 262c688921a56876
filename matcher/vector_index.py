"""A FAISS inner-product index over unit vectors, keyed by catalogue keys, updatable in place."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import faiss
import numpy as np

from matcher.errors import IndexMismatch
from matcher.records import Kind


@dataclass
class VectorIndex:
    """One side's vectors. ``entries`` maps each key to the hash of the text its vector encodes."""

    kind: Kind
    model_name: str
    dimension: int
    revision: int = 0
    entries: dict[int, str] = field(default_factory=dict)
    faiss_index: faiss.Index | None = None

    def __post_init__(self) -> None:
        if self.faiss_index is None:
            self.faiss_index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))

    @property
    def count(self) -> int:
        return int(self.faiss_index.ntotal)

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
        keys = [key for key in keys if key in self.entries]
        if keys:
            self.faiss_index.remove_ids(np.asarray(keys, dtype=np.int64))
            for key in keys:
                del self.entries[key]

    def add(self, keys: list[int], vectors: np.ndarray, text_hashes: list[str]) -> None:
        """Add (or replace) the vectors of ``keys``."""
        if not keys:
            return
        vectors = self._check(vectors)
        self.remove(keys)
        self.faiss_index.add_with_ids(vectors, np.asarray(keys, dtype=np.int64))
        self.entries.update(zip(keys, text_hashes))

    def search(self, vector: np.ndarray, k: int, allowed: Collection[int] | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest keys by inner product, best first, among ``allowed`` keys when given."""
        query = self._check(vector)
        limit = min(k, self.count if allowed is None else len(allowed))
        if limit <= 0:
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(list(allowed), dtype=np.int64)))
        scores, ids = self.faiss_index.search(query, limit, params=params)
        return [(int(key), float(score)) for key, score in zip(ids[0], scores[0]) if key != -1]
