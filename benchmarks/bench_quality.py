#!/usr/bin/env python
"""Ranking quality on every labelled set in ../shared/data, and the choice of the default fusion.

1. Every candidate ranking (BM25, dense, plain RRF k=60, and blends of min-max normalised scores
   with dense weights 0.4 to 0.7, each without and with pseudo-relevance feedback for short
   queries) is measured on the *dev* half of each set's queries.
2. The candidate with the best mean dev nDCG@10 is the default (it is what `Settings` ships).
3. All methods are then reported on the *test* half (never used for choosing) and on all queries.

Embeddings come from the cache (`--data-dir`'s embeddings.sqlite), so after one full run the
benchmark takes a minute or two. Run from the repository root:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_quality.py --data-dir var/bench [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from common import SHARED_DATA, bench_settings, missing_shared, skip_message, work_dir
from matcher.engine import open as open_matcher
from matcher.evaluation.runner import evaluate, method_policies
from matcher.retrieval.ranking import RankingPolicy

SETS = ("pap2pat-title", "pap2pat-claim", "pap2pat-reverse", "nfcorpus")
WEIGHTS = (0.4, 0.5, 0.6, 0.7)
FEEDBACK = (0.0, 0.5, 1.0)  # weight of pseudo-relevance feedback from the first 3 results (short queries)
log = logging.getLogger("bench_quality")


def candidates() -> dict[str, dict[str, object]]:
    """Name -> settings overrides for the hybrid method."""
    options: dict[str, dict[str, object]] = {"rrf k=60": {"fusion": "rrf", "rrf_k": 60, "feedback_docs": 0}}
    for weight in WEIGHTS:
        for feedback in FEEDBACK:
            options[f"blend w={weight} fb={feedback}"] = {
                "fusion": "blend",
                "dense_weight": weight,
                "feedback_docs": 3 if feedback else 0,
                "feedback_weight": feedback or 1.0,
            }
    return options


def measure(folder: Path, data_dir: Path, split: str, policies: dict[str, RankingPolicy]) -> dict[str, float]:
    settings = bench_settings(data_dir)
    results = evaluate(folder, settings, list(policies), split=split, policies=policies, opener=open_matcher)
    return {result.method: result.metrics["ndcg@10"] for result in results}


def policy_of(overrides: dict[str, object]) -> RankingPolicy:
    return bench_settings(**overrides).ranking_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench"), help="holds the embedding cache")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    missing = missing_shared(args.shared_data, [Path(name) / "corpus.jsonl" for name in args.sets])
    if missing:
        print(skip_message(args.shared_data, missing))
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)

    # 1-2: choose the fusion on the dev halves
    baselines = {
        name: policy for name, policy in method_policies(bench_settings()).items() if name in ("bm25", "dense")
    }
    dev_policies = {**baselines, **{name: policy_of(overrides) for name, overrides in candidates().items()}}
    dev: dict[str, dict[str, float]] = {name: {} for name in dev_policies}
    for s in args.sets:
        for name, value in measure(args.shared_data / s, args.data_dir, "dev", dev_policies).items():
            dev[name][s] = value
    mean = {name: sum(values.values()) / len(values) for name, values in dev.items()}
    chosen = max(candidates(), key=lambda name: mean[name])
    print("\nDev half, nDCG@10 (used to choose the default):")
    print(f"{'candidate':<22}" + "".join(f"{s:>17}" for s in args.sets) + f"{'mean':>9}")
    for name in ["bm25", "dense", *candidates()]:
        marker = "  <- chosen" if name == chosen else ""
        print(f"{name:<22}" + "".join(f"{dev[name][s]:>17.4f}" for s in args.sets) + f"{mean[name]:>9.4f}{marker}")

    # 3: report on the test halves and on all queries, with the chosen default as `hybrid`
    policies = {**method_policies(bench_settings()), "hybrid": policy_of(candidates()[chosen])}
    for split in ("test", "all"):
        print(f"\n{split.capitalize()} {'half' if split == 'test' else 'queries'}, nDCG@10 (hybrid = {chosen}):")
        print(f"{'set':<17}{'bm25':>9}{'dense':>9}{'rrf':>9}{'hybrid':>9}{'gain':>9}")
        for s in args.sets:
            scores = measure(args.shared_data / s, args.data_dir, split, policies)
            gain = scores["hybrid"] - max(scores["bm25"], scores["dense"], scores["rrf"])
            print(
                f"{s:<17}"
                + "".join(f"{scores[m]:>9.4f}" for m in ("bm25", "dense", "rrf", "hybrid"))
                + f"{gain:>+9.4f}"
            )
            if args.json:
                print(
                    json.dumps(
                        {"split": split, "set": s, "hybrid": chosen, **{m: round(v, 4) for m, v in scores.items()}}
                    )
                )


if __name__ == "__main__":
    main()
