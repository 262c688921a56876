"""Dense scores from two channels: the English model for English pairs, the multilingual one otherwise.

The English model (all-MiniLM-L6-v2) ranks English pairs far better than a multilingual encoder,
but reads Chinese as unknown pieces; the multilingual encoder puts a Chinese text next to its
English equivalent. A pair is scored by the multilingual channel when either text is Chinese.

For an English query over a mixed catalogue the two channels' cosines must share one scale. The
query's scores for the English records are known in both channels, so the multilingual scores
are mapped onto the English model's scale by matching the two channels' mean and spread over
those same records (a per-query z-score alignment). A catalogue without Chinese records, or a
setting without the multilingual channel, gives exactly the English model's scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from matcher.index.store import SideIndex
from matcher.index.vector import VectorIndex


class Channel(str, Enum):
    """The dense channel that scored a pair."""

    ENGLISH = "english"
    MULTILINGUAL = "multilingual"


MIN_ALIGNMENT_RECORDS = 5  # fewer English records than this: the multilingual cosines are used as they are


@dataclass(frozen=True)
class QueryVectors:
    """A query's passage vectors in each channel, and its language."""

    english: np.ndarray
    multilingual: np.ndarray | None = None
    language: str = "en"


@dataclass(frozen=True)
class DenseScores:
    """Every record's dense score on one scale, with the best passage of each channel."""

    keys: np.ndarray  # ascending
    scores: np.ndarray
    multilingual: np.ndarray  # bool: this record's score comes from the multilingual channel
    english_best: np.ndarray | None  # passage id of the best English-model passage (None: not scored)
    multilingual_best: np.ndarray | None


def _on(keys: np.ndarray, other_keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (over ``other_keys``) laid out over ``keys``, and where a value was found."""
    if np.array_equal(keys, other_keys):
        return values, np.ones(len(keys), dtype=bool)
    positions = np.minimum(np.searchsorted(other_keys, keys), max(len(other_keys) - 1, 0))
    found = other_keys[positions] == keys if len(other_keys) else np.zeros(len(keys), dtype=bool)
    return np.where(found, values[positions] if len(other_keys) else 0, 0), found


def _aligned(multilingual: np.ndarray, english: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``multilingual`` scores moved onto the English scale by their mean and spread over ``reference``."""
    if reference.sum() < MIN_ALIGNMENT_RECORDS:
        return multilingual
    spread = float(multilingual[reference].std())
    if spread <= 0:
        return multilingual
    scale = float(english[reference].std()) / spread
    return (float(english[reference].mean()) + (multilingual - float(multilingual[reference].mean())) * scale).astype(
        np.float32
    )


def dense_scores(side: SideIndex, query: QueryVectors, candidates: np.ndarray | None = None) -> DenseScores:
    """Every record's dense score for ``query``, each pair from the channel its languages call for.

    With ``candidates`` (keys ascending), only those records are scored (exactly, by their best
    passage): what retrieval does on an approximate index, whose candidates come from its graph.
    """

    def best(index: VectorIndex, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return index.best_passages(vectors) if candidates is None else index.scores_of(vectors, candidates)

    channel = side.multilingual if query.multilingual is not None else None
    if channel is None or query.multilingual is None:
        keys, scores, english_best = best(side.vector, query.english)
        return DenseScores(keys, scores, np.zeros(len(keys), dtype=bool), english_best, None)
    if query.language == "zh":
        keys, scores, multilingual_best = best(channel, query.multilingual)
        return DenseScores(keys, scores, np.ones(len(keys), dtype=bool), None, multilingual_best)
    keys, english, english_best = best(side.vector, query.english)
    chinese = np.isin(keys, side.chinese_keys())
    if not chinese.any():
        return DenseScores(keys, english, chinese, english_best, None)
    other_keys, other, other_best = best(channel, query.multilingual)
    multilingual, found = _on(keys, other_keys, other)
    best_multilingual, _ = _on(keys, other_keys, other_best)
    use = chinese & found
    scores = np.where(use, _aligned(multilingual, english, ~chinese & found), english).astype(np.float32)
    return DenseScores(keys, scores, use, english_best, best_multilingual.astype(np.int64))


def _moved(index: VectorIndex, vectors: np.ndarray, passage_ids: np.ndarray, weight: float) -> np.ndarray:
    """``vectors`` moved towards the mean of the given passages (Rocchio), kept unit-length."""
    if not len(passage_ids):
        return vectors
    moved = vectors + weight * index.vectors_of(passage_ids).mean(axis=0, keepdims=True)
    unit: np.ndarray = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
    return unit


def feedback_query(
    side: SideIndex, query: QueryVectors, first: DenseScores, best_keys: list[int], weight: float
) -> QueryVectors:
    """The query moved towards the best English-model passages of its first results (Rocchio).

    Only the English channel moves: moving the multilingual one cost 2.1 points of Recall@1 on
    xling-tatoeba-zh2en (benchmarks/RESULTS.md), where a sentence's neighbours are not its paraphrases.
    """
    position = {int(key): row for row, key in enumerate(first.keys)}
    rows = [position[key] for key in best_keys if key in position and not first.multilingual[position[key]]]
    if first.english_best is None or not rows:
        return query
    english = _moved(side.vector, query.english, first.english_best[rows], weight)
    return QueryVectors(english, query.multilingual, query.language)
