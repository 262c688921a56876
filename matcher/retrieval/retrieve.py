"""Retrieval on one side's indexes: dense and BM25 scores, pseudo-relevance feedback, fused ranking."""

from __future__ import annotations

import dataclasses

import numpy as np

from matcher.index.store import SideIndex
from matcher.retrieval.channels import DenseScores, QueryVectors, dense_scores, feedback_query
from matcher.retrieval.ranking import Ranked, RankingPolicy, Scores, rank
from matcher.retrieval.standing import standing
from matcher.text.bilingual import expand_chinese, expand_english


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
    lexical = lexical_scores(side, query_tokens, query.language, policy.bridge_weight) if policy.needs_lexical else None
    if min_similarity is not None and dense is not None:
        strong = set(dense[0][dense[1] >= min_similarity].tolist())
        allowed = strong if allowed is None else allowed & strong
    ranking_dense = dense if policy.needs_dense else None
    cross = _other_language(side, first, query.language) if first is not None else None
    if not policy.uses_feedback(len(query_tokens)) or first is None or dense is None:
        hits = rank(policy, ranking_dense, lexical, top_k, allowed, cross)
        return _with_background(hits, first, lexical, allowed) if first is not None else hits
    first_pass = rank(policy, ranking_dense, lexical, policy.feedback_docs, allowed, cross)
    if not first_pass:
        return first_pass
    moved = feedback_query(side, query, first, [hit.key for hit in first_pass], policy.feedback_weight)
    again = dense_scores(side, moved)
    hits = rank(policy, (again.keys, again.scores), lexical, top_k, allowed, cross)
    original = dict(zip(dense[0].tolist(), dense[1].tolist()))
    hits = [
        Ranked(hit.key, hit.score, original[hit.key], hit.lexical, hit.dense_part, hit.lexical_part) for hit in hits
    ]
    return _with_background(hits, first, lexical, allowed)


def _other_language(side: SideIndex, first: DenseScores, language: str) -> Scores | None:
    """1 for each record in the other language than the query's (scored by the multilingual channel)."""
    if not first.multilingual.any():
        return None
    chinese = np.isin(first.keys, side.chinese_keys())
    other = first.multilingual & (chinese != (language == "zh"))
    return first.keys, other.astype(np.float32)


def lexical_scores(side: SideIndex, tokens: list[str], language: str, bridge_weight: float) -> Scores:
    """BM25 scores of ``tokens``, plus those of their dictionary translations where the side holds texts
    in the other language (the bilingual bridge, :mod:`matcher.text.bilingual`).

    Only a side with the multilingual channel is bridged: without it the matcher is English-only.
    """
    keys, scores = side.lexical.scores(tokens)
    if side.multilingual is None or bridge_weight <= 0 or not tokens:
        return keys, scores
    chinese = len(side.chinese_keys())
    if language == "zh" and chinese < side.count:
        expansion = expand_chinese(tokens)
    elif language != "zh" and chinese:
        expansion = expand_english(tokens)
    else:
        return keys, scores
    bridged_keys, bridged = side.lexical.weighted_scores({term: bridge_weight * w for term, w in expansion.items()})
    if not np.array_equal(bridged_keys, keys):
        return keys, scores
    return keys, scores + bridged


def _with_background(
    hits: list[Ranked], first: DenseScores, lexical: Scores | None, allowed: set[int] | None = None
) -> list[Ranked]:
    """``hits`` with their dense and lexical standing against the query's background, and their channel."""
    among = None if allowed is None else np.isin(first.keys, list(allowed))
    dense_z, dense_lead = standing(first.scores, among)
    lexical_z = lexical_lead = None
    if lexical is not None and np.array_equal(lexical[0], first.keys):
        lexical_z, lexical_lead = standing(lexical[1], among)
    rows = np.searchsorted(first.keys, [hit.key for hit in hits])
    return [
        dataclasses.replace(
            hit,
            dense_z=float(dense_z[row]),
            lead_z=float(dense_lead[row]),
            lexical_z=float(lexical_z[row]) if lexical_z is not None else None,
            lexical_lead_z=float(lexical_lead[row]) if lexical_lead is not None else None,
            multilingual=bool(first.multilingual[row]),
        )
        for hit, row in zip(hits, rows)
    ]
