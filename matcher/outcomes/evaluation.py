"""How well the scores foretold the recorded outcomes: precision of the top k, rates by score band, a min_score.

Each pair counts once, by its latest outcome. A meeting or an agreement is positive, a decline
negative, a pair only contacted is pending and left out of every rate. A pair's score is the one
recorded with its outcomes (the latest one known), else its current match strength; a pair
whose records are gone has neither and is left out of the figures that need a score.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from matcher.errors import InvalidInput
from matcher.outcomes.pairs import Pair, latest_by_pair
from matcher.outcomes.store import Outcome, OutcomeStatus

SimilarityLookup = Callable[[list[Pair]], Mapping[tuple[str, str], float]]  # keyed by (project_id, need_id)
BAND_WIDTH = 0.1


@dataclass(frozen=True)
class ScoreBand:
    """Labelled pairs whose score is in ``[low, high)`` (the top band includes 1.0)."""

    low: float
    high: float
    labelled: int
    positives: int
    agreements: int
    declined: int
    pending: int

    @property
    def positive_rate(self) -> float | None:
        return self.positives / self.labelled if self.labelled else None

    @property
    def agreement_rate(self) -> float | None:
        return self.agreements / self.labelled if self.labelled else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "positive_rate": self.positive_rate, "agreement_rate": self.agreement_rate}


@dataclass(frozen=True)
class Calibration:
    """The highest ``min_score`` (two decimals, rounded down) keeping at least ``keep`` of the positives."""

    min_score: float
    keep: float
    positives: int
    positives_kept: int
    negatives: int
    negatives_removed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OutcomeEvaluation:
    k: int
    keep: float
    min_labelled: int
    counts: dict[str, int]  # pairs by the status of their latest outcome
    pairs: int
    labelled: int
    positives: int
    negatives: int
    pending: int
    unscored: int  # labelled pairs with neither a recorded nor a current score
    enough: bool
    message: str
    positive_rate: float | None = None
    precision_at_k: float | None = None  # mean over needs of the share of positives in their top k
    precision_at_k_pooled: float | None = None  # positives among every evaluated need's top k, pooled
    needs_evaluated: int = 0
    bands: list[ScoreBand] = field(default_factory=list)
    calibration: Calibration | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bands"] = [band.to_dict() for band in self.bands]
        data["calibration"] = self.calibration.to_dict() if self.calibration else None
        return data


def pair_scores(
    outcomes: Iterable[Outcome], similarity: SimilarityLookup | None, pairs: Iterable[Pair]
) -> dict[Pair, float]:
    """A score for each of ``pairs``: the latest recorded with its outcomes, else the current similarity."""
    recorded: dict[Pair, float] = {}
    for outcome in sorted(outcomes, key=lambda o: (o.recorded_at, o.id)):
        if outcome.score is not None:
            recorded[outcome.pair] = outcome.score
    wanted = list(pairs)
    missing = [pair for pair in wanted if pair not in recorded]
    current = similarity(missing) if missing and similarity is not None else {}
    return {
        pair: recorded[pair] if pair in recorded else current[pair]
        for pair in wanted
        if pair in recorded or pair in current
    }


def _precision_at_k(
    labelled: dict[Pair, bool], scores: dict[Pair, float], k: int
) -> tuple[float | None, float | None, int]:
    """Mean over needs of the share of positives among its ``k`` best-scored labelled pairs; pooled; needs."""
    by_need: dict[str, list[tuple[float, str, bool]]] = defaultdict(list)
    for pair, positive in labelled.items():
        if pair in scores:
            by_need[pair.need_id].append((scores[pair], pair.project_id, positive))
    shares: list[float] = []
    hits = taken = 0
    for rows in by_need.values():
        top = sorted(rows, key=lambda row: (-row[0], row[1]))[:k]
        positives = sum(positive for _, _, positive in top)
        shares.append(positives / len(top))
        hits += positives
        taken += len(top)
    if not shares:
        return None, None, 0
    return sum(shares) / len(shares), hits / taken, len(shares)


def _band_low(score: float) -> float:
    step = min(math.floor(round(score / BAND_WIDTH, 9)), round(1 / BAND_WIDTH) - 1)  # 1.0 goes to the top band
    return round(step * BAND_WIDTH, 10)


def _bands(latest: dict[Pair, Outcome], scores: dict[Pair, float]) -> list[ScoreBand]:
    tallies: dict[float, Counter[str]] = defaultdict(Counter)
    for pair, outcome in latest.items():
        if pair not in scores:
            continue
        tally = tallies[_band_low(scores[pair])]
        if outcome.label is None:
            tally["pending"] += 1
            continue
        tally["labelled"] += 1
        tally["positives"] += outcome.label
        tally["agreements"] += outcome.status is OutcomeStatus.AGREEMENT
        tally["declined"] += not outcome.label
    return [
        ScoreBand(
            low,
            round(low + BAND_WIDTH, 10),
            t["labelled"],
            t["positives"],
            t["agreements"],
            t["declined"],
            t["pending"],
        )
        for low, t in sorted(tallies.items())
    ]


def _calibration(labelled: dict[Pair, bool], scores: dict[Pair, float], keep: float) -> Calibration | None:
    positives = sorted((scores[pair] for pair, label in labelled.items() if label and pair in scores), reverse=True)
    negatives = [scores[pair] for pair, label in labelled.items() if not label and pair in scores]
    if not positives:
        return None
    needed = max(1, math.ceil(keep * len(positives) - 1e-9))
    threshold = math.floor(positives[needed - 1] * 100 + 1e-9) / 100  # two decimals, never above the needed score
    return Calibration(
        min_score=threshold,
        keep=keep,
        positives=len(positives),
        positives_kept=sum(score >= threshold for score in positives),
        negatives=len(negatives),
        negatives_removed=sum(score < threshold for score in negatives),
    )


def evaluate_outcomes(
    outcomes: Iterable[Outcome],
    similarity: SimilarityLookup | None = None,
    k: int = 5,
    keep: float = 0.9,
    min_labelled: int = 20,
) -> OutcomeEvaluation:
    """Evaluate recorded outcomes; ``similarity`` gives the current score of pairs recorded without one.

    With fewer than ``min_labelled`` labelled pairs (meeting, agreement or declined) only the
    counts are reported, and ``message`` says why.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInput(f"'k' must be a whole number of at least 1, got {k!r}", details={"parameter": "k"})
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise InvalidInput(f"'keep' must be a share above 0 and at most 1, got {keep!r}", details={"parameter": "keep"})
    outcomes = list(outcomes)
    latest = latest_by_pair(outcomes)
    counts = {status.value: 0 for status in OutcomeStatus}
    counts.update(Counter(outcome.status.value for outcome in latest.values()))
    labelled = {pair: outcome.label for pair, outcome in latest.items() if outcome.label is not None}
    positives = sum(labelled.values())
    summary: dict[str, Any] = dict(
        k=k,
        keep=keep,
        min_labelled=min_labelled,
        counts=counts,
        pairs=len(latest),
        labelled=len(labelled),
        positives=positives,
        negatives=len(labelled) - positives,
        pending=len(latest) - len(labelled),
    )
    if len(labelled) < min_labelled:
        message = (
            f"Only {len(labelled)} pair{'s have' if len(labelled) != 1 else ' has'} a final outcome (meeting, agreement or "
            f"declined); at least {min_labelled} are needed for precision, rates by score band and a recommended "
            "min_score. Record more outcomes."
        )
        return OutcomeEvaluation(**summary, unscored=0, enough=False, message=message)
    scores = pair_scores(outcomes, similarity, list(latest))
    scored = {pair: label for pair, label in labelled.items() if pair in scores}
    if len(scored) < min_labelled:
        message = (
            f"Only {len(scored)} of the {len(labelled)} pairs with a final outcome have a score (recorded, or from "
            f"records still in the catalogue); at least {min_labelled} are needed."
        )
        return OutcomeEvaluation(**summary, unscored=len(labelled) - len(scored), enough=False, message=message)
    precision, pooled, needs = _precision_at_k(scored, scores, k)
    calibration = _calibration(scored, scores, keep)
    message = "" if calibration else "No positive outcome has a score, so no min_score can be recommended."
    return OutcomeEvaluation(
        **summary,
        unscored=len(labelled) - len(scored),
        enough=True,
        message=message,
        positive_rate=positives / len(labelled),
        precision_at_k=precision,
        precision_at_k_pooled=pooled,
        needs_evaluated=needs,
        bands=_bands(latest, scores),
        calibration=calibration,
    )
