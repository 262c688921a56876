"""Retrieval on one side's indexes: dense and BM25 scores, pseudo-relevance feedback, fused ranking."""

from __future__ import annotations

import numpy as np

from matcher.index.store import SideIndex
from matcher.retrieval.ranking import Ranked, RankingPolicy, Scores, rank


def _feedback_query(
    side: SideIndex,
    query_vectors: np.ndarray,
    best_ids: np.ndarray,
    keys: np.ndarray,
    first_pass: list[Ranked],
    policy: RankingPolicy,
) -> np.ndarray:
    """The query moved towards the best passages of the first results (Rocchio), kept unit-length."""
    position = {int(key): index for index, key in enumerate(keys)}
    passages = side.vector.vectors_of(
        np.array([best_ids[position[hit.key]] for hit in first_pass[: policy.feedback_docs]])
    )
    moved = query_vectors + policy.feedback_weight * passages.mean(axis=0, keepdims=True)
    unit: np.ndarray = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
    return unit


def retrieve(
    side: SideIndex,
    policy: RankingPolicy,
    query_vectors: np.ndarray,
    query_tokens: list[str],
    top_k: int,
    allowed: set[int] | None = None,
    min_similarity: float | None = None,
) -> list[Ranked]:
    """The ``top_k`` records of ``side`` for a query, best first, among ``allowed`` keys when given.

    ``min_similarity`` is a floor on the query's own dense (cosine) similarity, and ``Ranked.dense``
    reports that similarity even when feedback moved the query for ranking.
    """
    dense: Scores | None = None
    best_ids = np.zeros(0, dtype=np.int64)
    if policy.needs_dense or min_similarity is not None:
        keys, similarities, best_ids = side.vector.best_passages(query_vectors)
        dense = (keys, similarities)
    lexical = side.lexical.scores(query_tokens) if policy.needs_lexical else None
    if min_similarity is not None and dense is not None:
        strong = set(dense[0][dense[1] >= min_similarity].tolist())
        allowed = strong if allowed is None else allowed & strong
    ranking_dense = dense if policy.needs_dense else None
    if not policy.uses_feedback(len(query_tokens)) or dense is None:
        return rank(policy, ranking_dense, lexical, top_k, allowed)
    first_pass = rank(policy, ranking_dense, lexical, policy.feedback_docs, allowed)
    if not first_pass:
        return first_pass
    moved = _feedback_query(side, query_vectors, best_ids, dense[0], first_pass, policy)
    hits = rank(policy, side.vector.record_scores(moved), lexical, top_k, allowed)
    original = dict(zip(dense[0].tolist(), dense[1].tolist()))
    return [
        Ranked(hit.key, hit.score, original[hit.key], hit.lexical, hit.dense_part, hit.lexical_part) for hit in hits
    ]
