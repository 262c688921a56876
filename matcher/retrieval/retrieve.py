"""Retrieval on one side's indexes: dense and BM25 scores, pseudo-relevance feedback, fused ranking."""

from __future__ import annotations

import dataclasses

import numpy as np

from matcher.index.store import SideIndex
from matcher.retrieval.channels import DenseScores, QueryVectors, dense_scores, feedback_query
from matcher.retrieval.ranking import Ranked, RankingPolicy, Scores, rank


def retrieve(
    side: SideIndex,
    policy: RankingPolicy,
    query_vectors: np.ndarray | QueryVectors,
    query_tokens: list[str],
    top_k: int,
    allowed: set[int] | None = None,
    min_similarity: float | None = None,
) -> list[Ranked]:
    """The ``top_k`` records of ``side`` for a query, best first, among ``allowed`` keys when given.

    ``query_vectors`` are the English model's passage vectors, or a :class:`QueryVectors` with the
    multilingual channel's too. ``min_similarity`` is a floor on the query's own dense similarity,
    and ``Ranked.dense`` reports that similarity even when feedback moved the query for ranking.
    """
    query = query_vectors if isinstance(query_vectors, QueryVectors) else QueryVectors(query_vectors)
    first = dense_scores(side, query) if policy.needs_dense or min_similarity is not None else None
    dense: Scores | None = (first.keys, first.scores) if first is not None else None
    lexical = side.lexical.scores(query_tokens) if policy.needs_lexical else None
    if min_similarity is not None and dense is not None:
        strong = set(dense[0][dense[1] >= min_similarity].tolist())
        allowed = strong if allowed is None else allowed & strong
    ranking_dense = dense if policy.needs_dense else None
    if not policy.uses_feedback(len(query_tokens)) or first is None or dense is None:
        hits = rank(policy, ranking_dense, lexical, top_k, allowed)
        return _with_background(hits, first) if first is not None else hits
    first_pass = rank(policy, ranking_dense, lexical, policy.feedback_docs, allowed)
    if not first_pass:
        return first_pass
    moved = feedback_query(side, query, first, [hit.key for hit in first_pass], policy.feedback_weight)
    again = dense_scores(side, moved)
    hits = rank(policy, (again.keys, again.scores), lexical, top_k, allowed)
    original = dict(zip(dense[0].tolist(), dense[1].tolist()))
    hits = [
        Ranked(hit.key, hit.score, original[hit.key], hit.lexical, hit.dense_part, hit.lexical_part) for hit in hits
    ]
    return _with_background(hits, first)


def _with_background(hits: list[Ranked], first: DenseScores) -> list[Ranked]:
    """``hits`` with their query's own dense similarity placed against every record's, and its channel."""
    mean, spread = float(first.scores.mean()), float(first.scores.std())
    rows = np.searchsorted(first.keys, [hit.key for hit in hits])
    return [
        dataclasses.replace(
            hit,
            dense_z=(hit.dense - mean) / spread if hit.dense is not None and spread > 0 else None,
            multilingual=bool(first.multilingual[row]),
        )
        for hit, row in zip(hits, rows)
    ]
