"""Fitting re-rankers and measuring them against the base ranking by grouped cross-validation.

Folds are groups of needs: no need has pairs on both sides of a split. A fold's figure is the
mean, over its needs with both a positive and a negative pair, of a ranking metric (average
precision by default) of those labelled pairs as the re-ranker orders them and as the base
ranking does; the gain is the difference. :func:`train_reranker` is ``matcher train-reranker``:
learn from recorded outcomes, keep the model only when it beats the base ranking.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher.errors import InvalidInput, MatcherError
from matcher.evaluation.metrics import METRICS, ordered_labels
from matcher.outcomes.pairs import Pair
from matcher.pipeline.reader import Reader
from matcher.reranking.dataset import Dataset, build_dataset, latest_labels
from matcher.reranking.model import Linear, RerankerModel, Trees, base_signature
from matcher.support.clock import utc_now

log = logging.getLogger(__name__)

MIN_PAIRS = 20  # labelled pairs needed before anything is fitted
MIN_EVALUABLE_NEEDS = 2  # needs with both a positive and a negative pair
MODELS = ("logistic", "boosting")


class NotEnoughOutcomes(MatcherError):
    """Too few labelled outcomes to fit a re-ranker and tell whether it helps."""

    code = "not_enough_outcomes"


def check_enough(dataset: Dataset, folds: int) -> int:
    """The number of folds to use (at most one per evaluable need); raise when the data cannot say anything."""
    if folds < 2:
        raise InvalidInput(f"'folds' must be at least 2, got {folds}", details={"parameter": "folds", "value": folds})
    counts = dataset.counts()
    if counts["pairs"] < MIN_PAIRS or counts["evaluable_needs"] < MIN_EVALUABLE_NEEDS:
        raise NotEnoughOutcomes(
            f"Too few labelled outcomes to train a re-ranker: {counts['pairs']} labelled pairs "
            f"(at least {MIN_PAIRS} needed) and {counts['evaluable_needs']} needs with both a positive "
            f"(meeting, agreement) and a declined project (at least {MIN_EVALUABLE_NEEDS} needed)",
            details=counts,
        )
    usable: int = min(folds, counts["evaluable_needs"])
    return usable


def grouped_folds(dataset: Dataset, folds: int, seed: int) -> list[np.ndarray]:
    """Row indices of each fold's test part; whole needs go to one fold, evaluable needs spread evenly."""
    rng = np.random.default_rng(seed)
    evaluable = dataset.evaluable_needs()
    others = sorted(set(dataset.needs.tolist()) - set(evaluable))
    fold_of: dict[str, int] = {}
    for needs in (evaluable, others):
        shuffled = [needs[i] for i in rng.permutation(len(needs))]
        fold_of.update((need, position % folds) for position, need in enumerate(shuffled))
    assigned = np.asarray([fold_of[need] for need in dataset.needs.tolist()], dtype=np.int64)
    return [np.flatnonzero(assigned == fold) for fold in range(folds)]


def fit(name: str, dataset: Dataset, seed: int = 13) -> Linear | Trees:
    """Fit model ``name`` (one of :data:`MODELS`) on every row of ``dataset``."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = dataset.features, dataset.labels.astype(int)
    if len(set(y.tolist())) < 2:
        raise NotEnoughOutcomes("The labelled pairs are all positive or all negative; nothing can be learnt")
    if name == "logistic":
        scaler = StandardScaler().fit(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            classifier = LogisticRegression(C=1.0, max_iter=5000).fit(scaler.transform(x), y)
        return Linear(
            scaler.mean_.tolist(), scaler.scale_.tolist(), classifier.coef_[0].tolist(), float(classifier.intercept_[0])
        )
    if name == "boosting":
        boosted = GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=seed).fit(
            x, y
        )
        trees = []
        for estimator in boosted.estimators_[:, 0]:
            tree = estimator.tree_
            trees.append(
                {
                    "feature": tree.feature.tolist(),
                    "threshold": tree.threshold.tolist(),
                    "left": tree.children_left.tolist(),
                    "right": tree.children_right.tolist(),
                    "value": tree.value[:, 0, 0].tolist(),
                }
            )
        rate = float(boosted.learning_rate)
        partial = Trees(0.0, rate, trees).raw(x[:1])
        return Trees(float(boosted.decision_function(x[:1])[0] - partial[0]), rate, trees)
    raise InvalidInput(
        f"Unknown re-ranker model {name!r}; valid models are {list(MODELS)}", details={"parameter": "model"}
    )


def compare(dataset: Dataset, scores: np.ndarray, metric: str = "map") -> tuple[float, float, int]:
    """Mean ``metric`` over the evaluable needs of ``dataset``: (base ranking, ``scores``, needs)."""
    measure = METRICS[metric]
    base_total = reranked_total = 0.0
    needs = dataset.evaluable_needs()
    for need in needs:
        rows = np.flatnonzero(dataset.needs == need)
        labels, ranks = dataset.labels[rows], dataset.base_ranks[rows]
        base_total += measure(ordered_labels(labels, -ranks.astype(np.float64), ranks))
        reranked_total += measure(ordered_labels(labels, scores[rows], ranks))
    count = len(needs)
    return (base_total / count, reranked_total / count, count) if count else (0.0, 0.0, 0)


@dataclass(frozen=True)
class FoldResult:
    fold: int
    needs: int  # evaluable needs in the test part
    pairs: int
    base: float
    reranked: float

    @property
    def gain(self) -> float:
        return self.reranked - self.base

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()},
            "gain": round(self.gain, 4),
        }


@dataclass(frozen=True)
class CrossValidation:
    model: str
    metric: str
    folds: list[FoldResult]

    @property
    def base(self) -> float:
        return float(np.mean([fold.base for fold in self.folds]))

    @property
    def reranked(self) -> float:
        return float(np.mean([fold.reranked for fold in self.folds]))

    @property
    def gain(self) -> float:
        return float(np.mean([fold.gain for fold in self.folds]))

    @property
    def gain_std(self) -> float:
        """Standard deviation of the fold gains (the spread across folds)."""
        return float(np.std([fold.gain for fold in self.folds], ddof=1)) if len(self.folds) > 1 else 0.0

    @property
    def gain_se(self) -> float:
        """Standard error of the mean gain over the folds."""
        return self.gain_std / float(np.sqrt(len(self.folds)))

    @property
    def beats_base(self) -> bool:
        """A gain that is positive at four decimals and larger than its standard error, not a chance one."""
        return round(self.gain, 4) > 0 and self.gain > self.gain_se

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "folds": len(self.folds),
            "base": round(self.base, 4),
            "reranked": round(self.reranked, 4),
            "gain": round(self.gain, 4),
            "gain_std": round(self.gain_std, 4),
            "gain_se": round(self.gain_se, 4),
            "beats_base": self.beats_base,
            "gain_min": round(min(fold.gain for fold in self.folds), 4),
            "gain_max": round(max(fold.gain for fold in self.folds), 4),
            "per_fold": [fold.to_dict() for fold in self.folds],
        }


def cross_validate(dataset: Dataset, name: str, folds: int, seed: int = 13, metric: str = "map") -> CrossValidation:
    """Fit ``name`` on all folds but one and measure it on that one, for each fold."""
    if metric not in METRICS:
        raise InvalidInput(
            f"Unknown metric {metric!r}; valid metrics are {sorted(METRICS)}", details={"parameter": "metric"}
        )
    results = []
    for number, test_rows in enumerate(grouped_folds(dataset, folds, seed), start=1):
        train_rows = np.setdiff1d(np.arange(len(dataset)), test_rows)
        test = dataset.subset(test_rows)
        scorer = fit(name, dataset.subset(train_rows), seed)
        base, reranked, needs = compare(test, scorer.raw(test.features), metric)
        results.append(FoldResult(number, needs, len(test_rows), base, reranked))
        log.info("%s fold %d: %s %.4f -> %.4f over %d needs", name, number, metric, base, reranked, needs)
    return CrossValidation(name, metric, results)


# -- the train-reranker command ------------------------------------------------------------------


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
    reader: Reader,
    folds: int = 5,
    seed: int = 13,
    labels: Mapping[Pair, bool] | None = None,
    models: tuple[str, ...] = MODELS,
    metric: str = "map",
) -> TrainingReport:
    """Cross-validate each model on the labelled outcomes; save the best only if it beats the base ranking.

    Beating means a mean gain over the folds that is positive and larger than its standard error
    (so that a chance gain, or the luck of picking the best of two models, is not taken for one).

    ``labels`` (``{Pair(project id, need id): label}``) replaces the outcome store's latest outcomes.
    When no model gains, any saved model is removed, so the engine falls back to the base ranking.
    """
    if labels is None:
        labels = latest_labels(reader.outcomes.list())
    if len(labels) < MIN_PAIRS:
        raise NotEnoughOutcomes(
            f"Too few labelled outcomes to train a re-ranker: {len(labels)} pairs with a meeting, an agreement "
            f"or a decline as their latest outcome (at least {MIN_PAIRS} needed)",
            details={"pairs": len(labels)},
        )
    dataset = build_dataset(reader, labels)
    folds = check_enough(dataset, folds)
    results = [cross_validate(dataset, name, folds, seed, metric) for name in models]
    beating = [result for result in results if result.beats_base]
    best = max(beating or results, key=lambda result: result.gain)
    path = reader.settings.reranker_path
    gains = best.beats_base
    if gains:
        model = RerankerModel(
            name=best.model,
            scorer=fit(best.model, dataset, seed),
            cv=best.to_dict(),
            training=dataset.counts(),
            embedding_model=reader.embedder.identity,
            base_ranking=base_signature(reader.settings),
            trained_at=utc_now(),
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
