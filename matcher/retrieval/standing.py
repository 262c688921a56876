"""How a record's score stands against the query's other records: what match strength reads.

A cosine or a BM25 score means different things for different queries; how far it stands above
the query's background (every record of the side) and above the best other candidate is
comparable across queries, and does not depend on how many matches were asked for.
"""

from __future__ import annotations

import numpy as np


def standing(scores: np.ndarray, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each score's z-score over all ``scores``, and its lead over the best other candidate.

    ``among`` (a mask) limits the candidates a lead is measured against (e.g. those a filter
    allows); the lead is in standard deviations, negative below the best candidate.
    """
    values = scores.astype(np.float64)
    if len(values) == 0:
        return values, values
    mean, spread = float(values.mean()), float(values.std())
    spread = spread if spread > 0 else 1.0
    pool = values if among is None else values[among]
    top = np.sort(pool)[-2:][::-1] if len(pool) else np.asarray([mean])
    first, second = float(top[0]), float(top[1]) if len(top) > 1 else mean
    other = np.where(values >= first, second, first)
    return (values - mean) / spread, (values - other) / spread
