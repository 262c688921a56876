"""A BM25 index (bm25s) over the same records as the vector index, kept in step with it.

Records are stored as their token lists, so an update re-tokenises only the records that changed;
the BM25 matrix itself is rebuilt from the stored tokens when first needed after a change (fast:
it is a sparse count matrix). Tokens are the normalised keyword tokens of
:mod:`matcher.text.tokenize`: stemmed English without function words, jieba words for Chinese.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.support.arrays import ranges
from matcher.text.tokenize import tokenize

log = logging.getLogger(__name__)


def lexical_tokens(text: str) -> list[str]:
    """The tokens BM25 counts: normalised keywords (no function words, bare numbers or lone CJK characters)."""
    return [token.norm for token in tokenize(text) if token.keyword]


@dataclass(frozen=True)
class BM25Parameters:
    k1: float = 1.2
    b: float = 0.75


@dataclass
class LexicalIndex:
    """Token lists by catalogue key, and the BM25 model built from them."""

    parameters: BM25Parameters = field(default_factory=BM25Parameters)
    tokens: dict[int, list[str]] = field(default_factory=dict)
    _model: Any = field(default=None, repr=False)
    _keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    @property
    def count(self) -> int:
        return len(self.tokens)

    def set(self, keys: list[int], token_lists: list[list[str]]) -> None:
        self.tokens.update(zip(keys, token_lists))
        self._model = None

    def remove(self, keys: list[int]) -> None:
        for key in keys:
            self.tokens.pop(key, None)
        self._model = None

    def _built(self) -> Any:
        if self._model is None and self.tokens:
            import bm25s

            self._keys = np.asarray(sorted(self.tokens), dtype=np.int64)
            model = bm25s.BM25(k1=self.parameters.k1, b=self.parameters.b, method="lucene")
            model.index([self.tokens[int(key)] for key in self._keys], show_progress=False)
            self._model = model
        return self._model

    def scores(self, query_tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores of every record for ``query_tokens``: ``(keys ascending, scores)``."""
        model = self._built()
        if model is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vocabulary = model.vocab_dict
        token_ids = np.fromiter((vocabulary[token] for token in query_tokens if token in vocabulary), dtype=np.int64)
        if not len(token_ids):
            return self._keys, np.zeros(len(self._keys), dtype=np.float32)
        scores = _summed_postings(model.scores, token_ids)
        if model.nonoccurrence_array is not None:  # BM25 variants that score absent terms too
            scores += model.nonoccurrence_array[token_ids].sum()
        return self._keys, scores

    def weighted_scores(self, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores of every record for a query of weighted terms (a term's BM25 weight times its own)."""
        model = self._built()
        if model is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vocabulary = model.vocab_dict
        known = [(vocabulary[term], weight) for term, weight in weights.items() if term in vocabulary and weight > 0]
        if not known:
            return self._keys, np.zeros(len(self._keys), dtype=np.float32)
        token_ids = np.asarray([token for token, _ in known], dtype=np.int64)
        return self._keys, _summed_postings(model.scores, token_ids, np.asarray([weight for _, weight in known]))


def _summed_postings(
    index: dict[str, Any], token_ids: np.ndarray, token_weights: np.ndarray | None = None
) -> np.ndarray:
    """Each document's summed precomputed BM25 weights of ``token_ids`` (repeats count again).

    The same sums as ``bm25s.BM25.get_scores``, gathered in one ``bincount`` instead of one
    ``np.add.at`` per query token, which long stored queries (hundreds of tokens) made slow.
    """
    indptr = index["indptr"]
    starts = indptr[token_ids].astype(np.int64)
    lengths = indptr[token_ids + 1].astype(np.int64) - starts
    positions = ranges(starts, lengths)
    weights = index["data"][positions]
    if token_weights is not None:
        weights = weights * np.repeat(token_weights, lengths)
    summed = np.bincount(index["indices"][positions], weights=weights, minlength=index["num_docs"])
    return summed.astype(np.float32)
