"""Retrieval on one side's indexes: dense and BM25 scores, pseudo-relevance feedback, fused ranking.

On an exact (flat) index every record is scored, as the ranking expects. On an approximate one
(a large catalogue, :mod:`matcher.index.approximate`) scoring every record is what the index avoids, so
the ranking sees a candidate set instead: the index's best records (filtered inside the search),
BM25's best records, and a fixed spread sample of the side as the query's background, all scored
exactly. The sample keeps min-max normalisation and the strength z-scores (:mod:`standing`)
close to what the whole side gives; BM25's best keep lexical matches the index would not bring.
The index and BM25 each give ``candidate_depth`` records (at least 10 x ``top_k``, default 300):
deeper than fusion, feedback and the re-ranker (30) look. Kept simple on purpose: one candidate
set per query, scored once; feedback re-scores the same set with the moved query.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from matcher.index.store import SideIndex
from matcher.index.vector import keys_in
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
    wants_dense = policy.needs_dense or min_similarity is not None
    lexical = lexical_scores(side, query_tokens, query.language, policy.bridge_weight) if policy.needs_lexical else None
    candidates = (
        dense_candidates(side, query, lexical, side.vector.candidate_depth(top_k), allowed)
        if wants_dense and side.vector.approximate
        else None
    )
    first = dense_scores(side, query, candidates) if wants_dense else None
    dense: Scores | None = (first.keys, first.scores) if first is not None else None
    if min_similarity is not None and dense is not None:
        strong = set(dense[0][dense[1] >= min_similarity].tolist())
        allowed = strong if allowed is None else allowed & strong
    ranking_dense = dense if policy.needs_dense else None
    cross = _other_language(side, first, query.language) if first is not None else None
    if not policy.uses_feedback(len(query_tokens)) or first is None or dense is None:
        hits = rank(policy, ranking_dense, lexical, top_k, allowed, cross)
        return _with_background(hits, first, lexical, candidates is not None, allowed) if first is not None else hits
    first_pass = rank(policy, ranking_dense, lexical, policy.feedback_docs, allowed, cross)
    if not first_pass:
        return first_pass
    moved = feedback_query(side, query, first, [hit.key for hit in first_pass], policy.feedback_weight)
    again = dense_scores(side, moved, candidates)
    hits = rank(policy, (again.keys, again.scores), lexical, top_k, allowed, cross)
    original = dict(zip(dense[0].tolist(), dense[1].tolist()))
    hits = [
        Ranked(hit.key, hit.score, original[hit.key], hit.lexical, hit.dense_part, hit.lexical_part) for hit in hits
    ]
    return _with_background(hits, first, lexical, candidates is not None, allowed)


BACKGROUND_SAMPLE = 2_000  # records scored on an approximate index as the query's background


def dense_candidates(
    side: SideIndex, query: QueryVectors, lexical: Scores | None, depth: int, allowed: set[int] | None
) -> np.ndarray:
    """The records an approximate index scores for a query (keys ascending): see the module's docstring."""
    passing = None if allowed is None else np.sort(np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
    parts = [side.vector.nearest(query.english, depth, passing)]
    if (
        side.multilingual is not None
        and query.multilingual is not None
        and (query.language == "zh" or len(side.chinese_keys()))
    ):
        parts.append(side.multilingual.nearest(query.multilingual, depth, passing))
    if lexical is not None and len(lexical[0]):
        keys, scores = lexical
        if passing is not None:
            keep = keys_in(keys, passing)
            keys, scores = keys[keep], scores[keep]
        if len(keys) > depth:
            keys = keys[np.argpartition(-scores, depth - 1)[:depth]]
        parts.append(keys)
    every = side.vector.layout().keys
    parts.append(every[:: max(1, len(every) // BACKGROUND_SAMPLE)])
    return np.unique(np.concatenate(parts))


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
    hits: list[Ranked],
    first: DenseScores,
    lexical: Scores | None,
    from_candidates: bool,
    allowed: set[int] | None = None,
) -> list[Ranked]:
    """``hits`` with their dense and lexical standing against the query's background, and their channel.

    ``from_candidates``: ``first`` scores an approximate index's candidate set, not every record,
    so the lexical standing is taken over BM25's scores of every record instead.
    """
    among = None if allowed is None else np.isin(first.keys, list(allowed))
    dense_z, dense_lead = standing(first.scores, among)
    lexical_z = lexical_lead = None
    rows = np.searchsorted(first.keys, [hit.key for hit in hits])
    lexical_rows = rows
    if lexical is not None and np.array_equal(lexical[0], first.keys):
        lexical_z, lexical_lead = standing(lexical[1], among)
    elif lexical is not None and from_candidates:
        passing = None if allowed is None else keys_in(lexical[0], np.fromiter(allowed, dtype=np.int64))
        lexical_z, lexical_lead = standing(lexical[1], passing)
        lexical_rows = np.searchsorted(lexical[0], [hit.key for hit in hits])
    return [
        dataclasses.replace(
            hit,
            dense_z=float(dense_z[row]),
            lead_z=float(dense_lead[row]),
            lexical_z=float(lexical_z[lexical_row]) if lexical_z is not None else None,
            lexical_lead_z=float(lexical_lead[lexical_row]) if lexical_lead is not None else None,
            multilingual=bool(first.multilingual[row]),
        )
        for hit, row, lexical_row in zip(hits, rows, lexical_rows)
    ]
