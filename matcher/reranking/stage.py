"""The learnt re-ranker as a ranking stage: re-orders a stored need's first projects by the saved model.

It applies only where it was trained and measured (a stored need matched to projects), and only
while its saved model may be used: the file is re-read when it changes, and a model fitted with
another embedding model or base ranking is refused (and the reason reported by ``/health``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matcher.config import Settings
from matcher.pipeline.query import Query
from matcher.pipeline.request import Direction, MatchRequest
from matcher.pipeline.stages import Hit
from matcher.reranking.features import Candidate, feature_matrix
from matcher.reranking.model import RerankerModel, base_signature, load_model

log = logging.getLogger(__name__)


class LearntReranker:
    """The ``reranker`` stage (setting ``ranking_stages``), see :mod:`matcher.reranking`."""

    name = "reranker"
    needs_explanations = True

    def __init__(self, settings: Settings, embedding_model: str) -> None:
        self._enabled = settings.use_reranker
        self._path: Path = settings.reranker_path
        self._depth = settings.rerank_depth
        self._embedding_model = embedding_model
        self._base = base_signature(settings)
        self._cached: tuple[tuple[int, int], RerankerModel | None, str | None] | None = None

    def model(self) -> tuple[RerankerModel | None, str | None]:
        """The saved model when it may be used, else None and why."""
        if not self._enabled:
            return None, "turned off (setting use_reranker)"
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None, "no model has been trained (matcher train-reranker)"
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._cached
        if cached is None or cached[0] != stamp:
            model = load_model(self._path)
            reason = (
                f"the saved model {self._path} cannot be read"
                if model is None
                else model.unusable_because(self._embedding_model, self._base)
            )
            cached = self._cached = (stamp, model if reason is None else None, reason)
            if reason is not None:
                log.warning("Not re-ranking: %s", reason)
        return cached[1], cached[2]

    def depth(self, request: MatchRequest) -> int:
        if request.record_id is None or request.direction is not Direction.NEED_TO_PROJECTS:
            return 0
        return self._depth if self.model()[0] is not None else 0

    def rerank(self, query: Query, hits: Sequence[Hit]) -> Sequence[float] | None:
        model = self.model()[0]
        if model is None or not hits:
            return None
        candidates = [
            Candidate(position, hit.ranked, hit.record, hit.explanation) for position, hit in enumerate(hits, start=1)
        ]
        return model.score(feature_matrix(query.record, candidates)).tolist()  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        model, reason = self.model()
        if model is None:
            return {"used": False, "reason": reason}
        return {
            "used": True,
            "model": model.name,
            "cv_gain": model.cv_gain,
            "metric": model.cv.get("metric"),
            "trained_at": model.trained_at,
            "depth": self._depth,
        }
