"""Ranking stages: steps after retrieval that re-score the first hits of the base ranking.

A stage is anything with the :class:`RankingStage` shape; the composition root
(:func:`matcher.engine.open`) builds the stages named by the ``ranking_stages`` setting. The
learnt re-ranker (:mod:`matcher.reranking.stage`) is one; a calibrator or a cross-encoder would
be another file of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from matcher.explanation.explain import Explanation
from matcher.pipeline.query import Query
from matcher.pipeline.request import MatchRequest
from matcher.records import Record
from matcher.retrieval.ranking import Ranked


@dataclass(frozen=True)
class Hit:
    """One candidate as a stage sees it: its base ranking, record and explanation (when made)."""

    ranked: Ranked
    record: Record
    explanation: Explanation | None = None
    stage_score: float | None = None  # the score of the last stage that ordered it


class RankingStage(Protocol):
    """Re-scores the first hits of a ranking; says up front how many it wants to see."""

    name: str
    needs_explanations: bool  # its scores read the hits' explanations

    def depth(self, request: MatchRequest) -> int:
        """How many of the first hits it re-scores for ``request``; 0 when it does not apply."""
        ...

    def rerank(self, query: Query, hits: Sequence[Hit]) -> Sequence[float] | None:
        """One score per hit (higher is better), or None to leave the order as it is."""
        ...

    def status(self) -> dict[str, Any]:
        """What ``/health`` reports of the stage."""
        ...


def apply_stage(stage: RankingStage, query: Query, hits: list[Hit], depth: int) -> list[Hit]:
    """``hits`` with the first ``depth`` re-ordered by the stage's scores (ties keep their order)."""
    depth = min(depth, len(hits))
    scores = stage.rerank(query, hits[:depth])
    if scores is None:
        return hits
    scores = list(scores)
    order = sorted(range(depth), key=lambda i: (-scores[i], i))
    return [replace(hits[i], stage_score=scores[i]) for i in order] + hits[depth:]
