"""A fitted re-ranker kept as plain JSON (coefficients or trees, never a pickle), and its scoring."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matcher.config import Settings
from matcher.reranking.features import FEATURE_VERSION, FEATURES
from matcher.retrieval.ranking import Method
from matcher.support.atomic_files import write_atomically

log = logging.getLogger(__name__)

FORMAT = "techmatch-reranker"
FORMAT_VERSION = 1


def base_signature(settings: Settings) -> str:
    """The base ranking in a few words: a model fitted on one ranking's scores is not used on another's."""
    policy, bm25 = settings.ranking_policy, settings.bm25_parameters
    text = policy.method.value
    if policy.method is Method.HYBRID:
        text += f" {policy.fusion.value} {policy.normalization.value} dense_weight={policy.dense_weight} rrf_k={policy.rrf_k}"
    if policy.needs_dense and policy.feedback_docs:
        text += f" feedback={policy.feedback_docs}x{policy.feedback_weight}<={policy.feedback_max_tokens}"
    return f"{text} bm25={bm25.k1}/{bm25.b}"


@dataclass(frozen=True)
class Linear:
    """Logistic regression over standardised features: ``((x - means) / scales) . coefficients + intercept``."""

    means: list[float]
    scales: list[float]
    coefficients: list[float]
    intercept: float

    def raw(self, features: np.ndarray) -> np.ndarray:
        standard = (features - np.asarray(self.means)) / np.asarray(self.scales)
        scores: np.ndarray = standard @ np.asarray(self.coefficients) + self.intercept
        return scores


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted regression trees: ``init + rate * sum(tree(x))``.

    Each tree is parallel node arrays as scikit-learn keeps them: ``feature`` (-2 at a leaf),
    ``threshold`` (go left when ``x <= threshold``), ``left``, ``right`` and the leaf ``value``.
    """

    init: float
    rate: float
    trees: list[dict[str, list[float]]]

    def raw(self, features: np.ndarray) -> np.ndarray:
        total = np.zeros(len(features))
        rows = np.arange(len(features))
        for tree in self.trees:
            feature = np.asarray(tree["feature"], dtype=np.int64)
            threshold = np.asarray(tree["threshold"])
            left = np.asarray(tree["left"], dtype=np.int64)
            right = np.asarray(tree["right"], dtype=np.int64)
            node = np.zeros(len(features), dtype=np.int64)
            inner = left[node] >= 0
            while inner.any():
                goes_left = features[rows, np.maximum(feature[node], 0)] <= threshold[node]
                node = np.where(inner, np.where(goes_left, left[node], right[node]), node)
                inner = left[node] >= 0
            total += np.asarray(tree["value"])[node]
        return self.init + self.rate * total


@dataclass(frozen=True)
class RerankerModel:
    """A fitted re-ranker with what it was fitted on and how it did in cross-validation."""

    name: str  # "logistic" or "boosting"
    scorer: Linear | Trees
    cv: dict[str, Any]  # metric, folds, base, reranked, gain, gain_std, per_fold
    training: dict[str, Any]  # pairs, positives, negatives, needs, evaluable_needs
    embedding_model: str
    base_ranking: str
    trained_at: str
    features: tuple[str, ...] = FEATURES
    feature_version: int = FEATURE_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cv_gain(self) -> float:
        return float(self.cv.get("gain", 0.0))

    def score(self, features: np.ndarray) -> np.ndarray:
        """A score per row of :data:`FEATURES` (higher ranks first; a log-odds, not a probability)."""
        return self.scorer.raw(np.asarray(features, dtype=np.float64))

    def unusable_because(self, embedding_model: str, base_ranking: str) -> str | None:
        """Why this model must not re-rank under the given model and ranking, or None when it may."""
        if self.features != FEATURES or self.feature_version != FEATURE_VERSION:
            return "it was fitted on another feature set; run `matcher train-reranker` again"
        if self.embedding_model != embedding_model:
            return f"it was fitted with embedding model {self.embedding_model!r}, not {embedding_model!r}"
        if self.base_ranking != base_ranking:
            return f"it was fitted on base ranking {self.base_ranking!r}, not {base_ranking!r}"
        if self.cv_gain <= 0:
            return f"its cross-validated gain ({self.cv_gain:+.4f}) is not positive"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "features": list(self.features),
            "feature_version": self.feature_version,
            "kind": "linear" if isinstance(self.scorer, Linear) else "trees",
            "parameters": asdict(self.scorer),
            "cv": self.cv,
            "training": self.training,
            "embedding_model": self.embedding_model,
            "base_ranking": self.base_ranking,
            "trained_at": self.trained_at,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RerankerModel:
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} file of version {FORMAT_VERSION}")
        kind = {"linear": Linear, "trees": Trees}.get(data.get("kind", ""))
        if kind is None:
            raise ValueError(f"unknown model kind {data.get('kind')!r}; valid kinds are ['linear', 'trees']")
        known = {
            "format",
            "format_version",
            "model",
            "features",
            "feature_version",
            "kind",
            "parameters",
            "cv",
            "training",
            "embedding_model",
            "base_ranking",
            "trained_at",
        }
        return cls(
            name=str(data["model"]),
            scorer=kind(**data["parameters"]),
            cv=dict(data["cv"]),
            training=dict(data["training"]),
            embedding_model=str(data["embedding_model"]),
            base_ranking=str(data["base_ranking"]),
            trained_at=str(data["trained_at"]),
            features=tuple(data["features"]),
            feature_version=int(data["feature_version"]),
            extra={key: value for key, value in data.items() if key not in known},
        )

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        write_atomically(path, json.dumps(self.to_dict(), indent=1).encode("utf-8"))


def load_model(path: Path) -> RerankerModel | None:
    """The model saved at ``path``; None (with a warning for a damaged file) when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RerankerModel.from_dict(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("Ignoring the re-ranker model %s: %s", path, error)
        return None
