"""Ranking metrics over one need's labelled candidates, in the order a ranking puts them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def average_precision(labels: Sequence[bool]) -> float:
    """Average precision of labels listed in ranked order (0 when there is no positive)."""
    hits, total = 0, 0.0
    for position, label in enumerate(labels, start=1):
        if label:
            hits += 1
            total += hits / position
    return total / hits if hits else 0.0


def ndcg(labels: Sequence[bool], k: int = 10) -> float:
    """nDCG@k with binary gains of labels listed in ranked order (0 when there is no positive)."""
    dcg = sum(1.0 / math.log2(position + 2) for position, label in enumerate(labels[:k]) if label)
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(sum(map(bool, labels)), k)))
    return dcg / ideal if ideal else 0.0


def ordered_labels(labels: np.ndarray, scores: np.ndarray, base_ranks: np.ndarray) -> list[bool]:
    """``labels`` sorted by ``scores`` (highest first), ties broken by the base rank."""
    order = np.lexsort((base_ranks, -scores))
    return [bool(label) for label in labels[order]]


METRICS = {"map": average_precision, "ndcg@10": ndcg}
