"""Ranking metrics: over one query's ranked ids and graded labels (as BEIR and trec_eval compute them),
and over one need's labelled candidates in the order a ranking puts them (for the re-ranker)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def ndcg_at(ranked: list[str], labels: dict[str, int], k: int) -> float:
    """nDCG@k with linear gains: a grade-2 document counts twice a grade-1 one."""
    dcg = sum(labels.get(doc, 0) / math.log2(position + 2) for position, doc in enumerate(ranked[:k]))
    ideal = sorted(labels.values(), reverse=True)[:k]
    idcg = sum(grade / math.log2(position + 2) for position, grade in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], labels: dict[str, int], k: int) -> float:
    relevant = {doc for doc, grade in labels.items() if grade > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: list[str], labels: dict[str, int]) -> float:
    for position, doc in enumerate(ranked, start=1):
        if labels.get(doc, 0) > 0:
            return 1.0 / position
    return 0.0


def summarise(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@1/10/100 and MRR over the queries of ``runs``."""
    count = len(runs)
    if not count:
        return {"ndcg@10": 0.0, "recall@1": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr": 0.0}
    totals = {"ndcg@10": 0.0, "recall@1": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr": 0.0}
    for qid, ranked in runs.items():
        labels = qrels[qid]
        totals["ndcg@10"] += ndcg_at(ranked, labels, 10)
        totals["recall@1"] += recall_at(ranked, labels, 1)
        totals["recall@10"] += recall_at(ranked, labels, 10)
        totals["recall@100"] += recall_at(ranked, labels, 100)
        totals["mrr"] += reciprocal_rank(ranked, labels)
    return {name: value / count for name, value in totals.items()}


# -- labelled candidates in ranked order (the re-ranker's cross-validation) ----------------------


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
