"""`matcher train-reranker`: learn from recorded outcomes, keep the model only when it beats the base ranking."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.engine import Matcher
from matcher.reranking.dataset import Pair, build_dataset, latest_labels
from matcher.reranking.model import RerankerModel, base_signature
from matcher.reranking.training import MIN_PAIRS, MODELS, CrossValidation, NotEnoughOutcomes, check_enough, cross_validate, fit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingReport:
    counts: dict[str, Any]
    folds: int
    results: list[CrossValidation]  # one per model tried
    chosen: str  # the model with the best mean gain among those that beat the base ranking (else overall)
    saved: bool
    path: Path
    message: str

    @property
    def best(self) -> CrossValidation:
        return next(result for result in self.results if result.model == self.chosen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "folds": self.folds,
            "models": [result.to_dict() for result in self.results],
            "chosen": self.chosen,
            "gain": round(self.best.gain, 4),
            "saved": self.saved,
            "path": str(self.path),
            "message": self.message,
        }


def train_reranker(
    matcher: Matcher,
    folds: int = 5,
    seed: int = 13,
    labels: Mapping[Pair, bool] | None = None,
    models: tuple[str, ...] = MODELS,
    metric: str = "map",
) -> TrainingReport:
    """Cross-validate each model on the labelled outcomes; save the best only if it beats the base ranking.

    Beating means a mean gain over the folds that is positive and larger than its standard error
    (so that a chance gain, or the luck of picking the best of two models, is not taken for one).

    ``labels`` (``{(need id, project id): label}``) replaces the outcome store's latest outcomes.
    When no model gains, any saved model is removed, so the engine falls back to the base ranking.
    """
    if labels is None:
        labels = latest_labels(matcher.outcomes.list())
    if len(labels) < MIN_PAIRS:
        raise NotEnoughOutcomes(
            f"Too few labelled outcomes to train a re-ranker: {len(labels)} pairs with a meeting, an agreement "
            f"or a decline as their latest outcome (at least {MIN_PAIRS} needed)",
            details={"pairs": len(labels)},
        )
    dataset = build_dataset(matcher, labels)
    folds = check_enough(dataset, folds)
    results = [cross_validate(dataset, name, folds, seed, metric) for name in models]
    beating = [result for result in results if result.beats_base]
    best = max(beating or results, key=lambda result: result.gain)
    path = matcher.settings.reranker_path
    gains = best.beats_base
    if gains:
        model = RerankerModel(
            name=best.model,
            scorer=fit(best.model, dataset, seed),
            cv=best.to_dict(),
            training=dataset.counts(),
            embedding_model=matcher.embedder.name,
            base_ranking=base_signature(matcher.settings),
            trained_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )
        model.save(path)
        message = (
            f"Saved the {best.model} re-ranker to {path}: cross-validated {metric} {best.base:.4f} -> "
            f"{best.reranked:.4f} ({best.gain:+.4f}); matches of stored needs use it"
        )
    else:
        existed = path.exists()
        path.unlink(missing_ok=True)
        message = (
            f"No re-ranker beats the base ranking (best: {best.model}, {metric} gain {round(best.gain, 4) + 0.0:+.4f}, "
            f"standard error {best.gain_se:.4f}); "
            + ("the saved model was removed, " if existed else "no model was saved, ")
            + "so matches keep the base ranking"
        )
    log.info(message)
    return TrainingReport(dataset.counts(), folds, results, best.model, gains, path, message)
