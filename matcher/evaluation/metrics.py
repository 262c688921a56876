"""Ranking metrics over one query's ranked ids and its graded labels (as BEIR and trec_eval compute them)."""

from __future__ import annotations

import math


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
