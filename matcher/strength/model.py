"""A match's strength: the probability that it is a right match, calibrated per language pair.

Cosines mean different things in the English and the multilingual channel (and for different
languages), so a person cannot read them. The strength is a logistic model per kind of pair
over features that do not depend on how many matches were asked for (see
:func:`strength_features`), fitted on labelled sets by ``benchmarks/bench_strength.py --fit``
and shipped as JSON beside this module. Bands cut the strength into what a page shows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from matcher.errors import ConfigError
from matcher.retrieval.channels import DenseScores
from matcher.retrieval.ranking import Ranked
from matcher.retrieval.standing import standing

MODEL_PATH = Path(__file__).with_name("strength.json")
# Below this dense similarity a pair's strength is scaled down in proportion: a query nothing fits
# ("hello") can still have a record that stands out from the rest by chance. Of the 9,737 right
# pairs in the labelled sets' top ten, 5 score under 0.2 (benchmarks/RESULTS.md, "Match strength").
EVIDENCE_FLOOR = 0.2
FEATURES = ("dense", "dense_z", "lead_z", "lexical_z", "lexical_lead_z")


class PairKind(str, Enum):
    ENGLISH = "en-en"  # both texts English: the English model's channel
    CROSS = "cross"  # one text Chinese, the other English: the multilingual channel
    CHINESE = "zh-zh"  # both Chinese: the multilingual channel


class Band(str, Enum):
    STRONG = "strong"
    POSSIBLE = "possible"
    WEAK = "weak"


def pair_kind(query_language: str, record_language: str, multilingual: bool) -> PairKind:
    if not multilingual:
        return PairKind.ENGLISH
    return PairKind.CHINESE if query_language == record_language == "zh" else PairKind.CROSS


def strength_features(hit: Ranked) -> list[float]:
    """The features of :data:`FEATURES` for one ranked hit (0 where a score is missing)."""
    return [hit.dense or 0.0, hit.dense_z or 0.0, hit.lead_z or 0.0, hit.lexical_z or 0.0, hit.lexical_lead_z or 0.0]


@dataclass(frozen=True)
class Logistic:
    coefficients: tuple[float, ...]
    intercept: float

    def probability(self, features: list[float]) -> float:
        logit = self.intercept + sum(c * x for c, x in zip(self.coefficients, features))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, logit))))


@dataclass(frozen=True)
class Bands:
    """Where a kind of pair turns possible and strong (strengths at or above each)."""

    possible: float
    strong: float


@dataclass(frozen=True)
class StrengthModel:
    """One logistic model and one pair of band thresholds per :class:`PairKind`.

    Bands may differ per kind; the shipped model gives every kind the same lines, so that a band
    means the same probability whatever the languages (benchmarks/RESULTS.md, "Match strength").
    """

    models: dict[PairKind, Logistic]
    bands: dict[PairKind, Bands]

    @staticmethod
    def _fallback(kind: PairKind) -> PairKind:
        """Chinese pairs without a model of their own use the cross-language one (the same channel)."""
        return PairKind.CROSS if kind is PairKind.CHINESE else PairKind.ENGLISH

    def model_for(self, kind: PairKind) -> Logistic:
        return self.models.get(kind) or self.models[self._fallback(kind)]

    def bands_for(self, kind: PairKind) -> Bands:
        return self.bands.get(kind) or self.bands[self._fallback(kind)]

    def strength(self, hit: Ranked, kind: PairKind) -> float:
        features = strength_features(hit)
        return self.model_for(kind).probability(features) * _evidence(features[0])

    def band(self, strength: float, kind: PairKind) -> Band:
        bands = self.bands_for(kind)
        if strength >= bands.strong:
            return Band.STRONG
        return Band.POSSIBLE if strength >= bands.possible else Band.WEAK

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "kinds": {
                kind.value: {
                    "coefficients": list(model.coefficients),
                    "intercept": model.intercept,
                    "bands": {"possible": self.bands[kind].possible, "strong": self.bands[kind].strong},
                }
                for kind, model in self.models.items()
            },
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any], source: str = "strength model") -> StrengthModel:
        try:
            if list(document["features"]) != list(FEATURES):
                raise ValueError(f"features {document['features']} are not {list(FEATURES)}")
            models, bands = {}, {}
            for name, part in document["kinds"].items():
                kind = PairKind(name)
                models[kind] = Logistic(tuple(float(c) for c in part["coefficients"]), float(part["intercept"]))
                bands[kind] = Bands(float(part["bands"]["possible"]), float(part["bands"]["strong"]))
                if (
                    len(models[kind].coefficients) != len(FEATURES)
                    or not 0 < bands[kind].possible <= bands[kind].strong < 1
                ):
                    raise ValueError(f"kind {name} needs {len(FEATURES)} coefficients and 0 < possible <= strong < 1")
            if PairKind.ENGLISH not in models or PairKind.CROSS not in models:
                raise ValueError("it needs the en-en and cross models")
            return cls(models, bands)
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"The {source} cannot be read: {error}", details={"file": source}) from None


@cache
def bundled_model() -> StrengthModel:
    """The strength model shipped with the package (read once)."""
    return StrengthModel.from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")), str(MODEL_PATH))


def row_strengths(
    model: StrengthModel,
    row: DenseScores,
    lexical: np.ndarray | None,
    query_language: str,
    languages: dict[int, str],
    weak_as_zero: bool = False,
) -> np.ndarray:
    """The strength of every record of ``row`` (one query's dense, and BM25, scores over a whole side).

    With ``weak_as_zero`` a pair under its kind's "possible" band counts 0 (a plan proposes no weak pair).

    The same features as a match's (:func:`strength_features`, as retrieval fills them over every
    record), so a plan weighs a pair exactly as the page shows it.
    """
    if len(row.scores) == 0:
        return np.zeros(0, dtype=np.float64)
    dense_z, dense_lead = standing(row.scores)
    lexical_z, lexical_lead = standing(lexical) if lexical is not None else (np.zeros(len(row.scores)),) * 2
    features = np.stack([row.scores.astype(np.float64), dense_z, dense_lead, lexical_z, lexical_lead], axis=1)
    kinds = np.asarray(
        [
            pair_kind(query_language, languages.get(int(key), "en"), bool(multilingual)).value
            for key, multilingual in zip(row.keys, row.multilingual)
        ]
    )
    result = np.empty(len(row.scores), dtype=np.float64)
    for kind in PairKind:
        inside = kinds == kind.value
        if inside.any():
            logistic = model.model_for(kind)
            logits = logistic.intercept + features[inside] @ np.asarray(logistic.coefficients)
            result[inside] = 1.0 / (1.0 + np.exp(-np.clip(logits, -40.0, 40.0)))
    result *= np.clip(row.scores.astype(np.float64) / EVIDENCE_FLOOR, 0.0, 1.0)
    if weak_as_zero:
        for kind in PairKind:
            inside = kinds == kind.value
            result[inside & (result < model.bands_for(kind).possible)] = 0.0
    return result


def _evidence(dense: float) -> float:
    """1 from :data:`EVIDENCE_FLOOR` up, falling to 0 with the dense similarity below it."""
    return min(1.0, max(0.0, dense / EVIDENCE_FLOOR))
