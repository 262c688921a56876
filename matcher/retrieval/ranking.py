"""Ranking records from dense and lexical scores: one method, chosen once, as a small callable.

Scores arrive exhaustively (every record of the side, keys ascending), so filters are applied
before anything is ranked or normalised, and fusion sees exactly the candidates that may be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import cast

import numpy as np

from matcher.errors import ConfigError

Scores = tuple[np.ndarray, np.ndarray]  # (keys ascending, scores)


class Method(str, Enum):
    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"


class Fusion(str, Enum):
    RRF = "rrf"  # reciprocal rank fusion
    BLEND = "blend"  # weighted sum of normalised scores


class Normalization(str, Enum):
    MINMAX = "minmax"  # (s - min) / (max - min) over the candidates
    ZSCORE = "zscore"  # (s - mean) / std over the candidates


@dataclass(frozen=True)
class RankingPolicy:
    method: Method = Method.HYBRID
    fusion: Fusion = Fusion.BLEND
    dense_weight: float = 0.5  # blend: weight of the dense score; the lexical score gets the rest
    rrf_k: int = 60
    rrf_depth: int = 1000  # RRF: a list contributes only its first rrf_depth records
    normalization: Normalization = Normalization.MINMAX
    # Pseudo-relevance feedback for short queries: the dense query moves towards the best passages
    # of the first feedback_docs results, then everything is ranked again. 0 turns it off.
    feedback_docs: int = 0
    feedback_weight: float = 1.0
    feedback_max_tokens: int = 32  # a query with more BM25 tokens than this is left as it is
    # Weight of a query's dictionary translations in BM25 where the side holds the other language.
    bridge_weight: float = 1.0
    # blend: the dense weight of a pair whose texts are in different languages, where words rarely
    # meet (None: dense_weight). Shared numbers and acronyms alone then cannot outweigh meaning.
    cross_dense_weight: float | None = None

    @classmethod
    def parse(
        cls,
        method: str,
        fusion: str,
        dense_weight: float,
        rrf_k: int,
        normalization: str = "minmax",
        feedback_docs: int = 0,
        feedback_weight: float = 1.0,
        feedback_max_tokens: int = 32,
        bridge_weight: float = 1.0,
        cross_dense_weight: float | None = None,
    ) -> RankingPolicy:
        try:
            parsed = cls(
                Method(method),
                Fusion(fusion),
                dense_weight,
                rrf_k,
                normalization=Normalization(normalization),
                feedback_docs=feedback_docs,
                feedback_weight=feedback_weight,
                feedback_max_tokens=feedback_max_tokens,
                bridge_weight=bridge_weight,
                cross_dense_weight=cross_dense_weight,
            )
        except ValueError as error:
            raise ConfigError(
                f"{error}; ranking is one of {[m.value for m in Method]}, fusion one of {[f.value for f in Fusion]}, "
                f"normalization one of {[n.value for n in Normalization]}",
                details={"setting": "ranking"},
            ) from None
        if cross_dense_weight is not None and not 0 <= cross_dense_weight <= 1:
            raise ConfigError(
                f"cross_dense_weight must be from 0 to 1, got {cross_dense_weight}",
                details={"setting": "cross_dense_weight"},
            )
        if not 0 <= dense_weight <= 1:
            raise ConfigError(
                f"dense_weight must be from 0 to 1, got {dense_weight}", details={"setting": "dense_weight"}
            )
        return parsed

    def uses_feedback(self, query_tokens: int) -> bool:
        return self.needs_dense and self.feedback_docs > 0 and query_tokens <= self.feedback_max_tokens

    @property
    def needs_dense(self) -> bool:
        return self.method is not Method.BM25

    @property
    def needs_lexical(self) -> bool:
        return self.method is not Method.DENSE


@dataclass(frozen=True)
class Ranked:
    key: int
    score: float  # what ranked it
    dense: float | None  # cosine similarity of the best passage (mean over query passages)
    lexical: float | None  # BM25 score
    # What each side added to ``score`` (dense_part + lexical_part == score); None for one-sided methods.
    dense_part: float | None = None
    lexical_part: float | None = None
    # ``dense`` against the query's background (see retrieve), and whether the multilingual channel
    # scored the pair: what a match's strength reads.
    dense_z: float | None = None
    lead_z: float | None = None
    lexical_z: float | None = None
    lexical_lead_z: float | None = None
    multilingual: bool = False


def _align(universe: np.ndarray, scores: Scores | None) -> np.ndarray | None:
    """``scores`` laid out over ``universe`` (keys absent from ``scores`` get 0)."""
    if scores is None:
        return None
    keys, values = scores
    if np.array_equal(keys, universe):
        return values
    out = np.zeros(len(universe), dtype=np.float32)
    positions = np.searchsorted(keys, universe)
    positions = np.minimum(positions, max(len(keys) - 1, 0))
    found = keys[positions] == universe if len(keys) else np.zeros(len(universe), dtype=bool)
    out[found] = values[positions[found]]
    return out


def _normalise(values: np.ndarray, how: Normalization) -> np.ndarray:
    if how is Normalization.ZSCORE:
        spread = float(values.std())
        return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _reciprocal_ranks(values: np.ndarray, k: int, depth: int, positive_only: bool) -> np.ndarray:
    order = np.argsort(-values, kind="stable")[:depth]
    if positive_only:
        order = order[values[order] > 0]
    contribution = np.zeros(len(values), dtype=np.float64)
    contribution[order] = 1.0 / (k + np.arange(1, len(order) + 1))
    return contribution


def fuse(policy: RankingPolicy, dense: np.ndarray | None, lexical: np.ndarray | None) -> np.ndarray:
    """The ranking score of each candidate under ``policy`` (inputs aligned over the same candidates)."""
    if (policy.needs_dense and dense is None) or (policy.needs_lexical and lexical is None):
        raise ValueError(f"method {policy.method.value} needs {'dense' if dense is None else 'lexical'} scores")
    # Past the check above, the scores the method needs are there.
    if policy.method is Method.DENSE:
        return cast(np.ndarray, dense).astype(np.float64)
    if policy.method is Method.BM25:
        return cast(np.ndarray, lexical).astype(np.float64)
    dense_part, lexical_part = fused_parts(policy, cast(np.ndarray, dense), cast(np.ndarray, lexical))
    fused: np.ndarray = dense_part + lexical_part
    return fused


def fused_parts(
    policy: RankingPolicy, dense: np.ndarray, lexical: np.ndarray, cross: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A hybrid policy's two addends: what the dense and the lexical ranking each give a candidate.

    ``cross`` marks the candidates in the other language than the query's (blend weighs them by
    ``cross_dense_weight``).
    """
    if policy.fusion is Fusion.RRF:
        return _reciprocal_ranks(dense, policy.rrf_k, policy.rrf_depth, False), _reciprocal_ranks(
            lexical, policy.rrf_k, policy.rrf_depth, True
        )
    how = policy.normalization
    weight: float | np.ndarray = policy.dense_weight
    if cross is not None and policy.cross_dense_weight is not None and cross.any():
        weight = np.where(cross, policy.cross_dense_weight, policy.dense_weight)
    return weight * _normalise(dense.astype(np.float64), how), (1 - weight) * _normalise(
        lexical.astype(np.float64), how
    )


def rank(
    policy: RankingPolicy,
    dense: Scores | None,
    lexical: Scores | None,
    top_k: int,
    allowed: set[int] | None = None,
    cross: Scores | None = None,
) -> list[Ranked]:
    """The ``top_k`` best candidates (those in ``allowed``, or all), best first.

    ``cross`` (1 or 0 per key) marks the candidates in the other language than the query's.
    """
    source = dense if dense is not None else lexical
    if source is None:
        raise ValueError("rank() needs dense or lexical scores")
    universe = source[0]
    if allowed is not None:
        universe = universe[np.isin(universe, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))]
    if len(universe) == 0:
        return []
    dense_values = _align(universe, dense)
    lexical_values = _align(universe, lexical)
    parts = None
    if dense_values is not None and lexical_values is not None:
        cross_values = _align(universe, cross)
        parts = fused_parts(
            policy, dense_values, lexical_values, cross_values > 0 if cross_values is not None else None
        )
        fused = parts[0] + parts[1]
    else:
        fused = fuse(policy, dense_values, lexical_values)
    count = min(top_k, len(universe))
    best = np.argpartition(-fused, count - 1)[:count]
    best = best[np.lexsort((universe[best], -fused[best]))]
    return [
        Ranked(
            int(universe[i]),
            float(fused[i]),
            float(dense_values[i]) if dense_values is not None else None,
            float(lexical_values[i]) if lexical_values is not None else None,
            float(parts[0][i]) if parts is not None else None,
            float(parts[1][i]) if parts is not None else None,
        )
        for i in best
    ]
