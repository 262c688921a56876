#!/usr/bin/env python
"""The re-ranker learnt from outcomes, on outcomes simulated from a labelled set's qrels.

For each BEIR set: documents become projects and queries needs (in a work folder; embeddings
come from the given cache), the first ``--depth`` projects of each need's base ranking get a
simulated outcome (relevant in the qrels: meeting or agreement; otherwise declined as not
relevant), and then:

1. cross-validation over all needs, grouped by need, exactly as `matcher train-reranker` does
   it: mean average precision of each need's labelled projects, base ranking versus re-ranked,
   per fold and overall, for each model;
2. held-out needs: the model is chosen and fitted on the dev half of the needs (the project's
   fixed dev/test split of query ids) and measured on the test half, both on the labelled
   projects (MAP) and as retrieval (nDCG@10, MRR and Recall@1 of the re-ordered top ``--depth``);
3. the engine path: the dev-fitted model is saved in the work folder, and `Matcher.match` by
   need id (top 10) is run for every test need with the re-ranker and without it.

Run from the repository root (the default cache holds the pap2pat papers' passages, sentence
sums and candidate phrases, so nothing but the queries' phrases is encoded):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_reranker.py [--sets pap2pat-title] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import SHARED_DATA, bench_settings, missing_shared, skip_message, work_dir
from matcher.engine import Matcher, open as open_matcher
from matcher.evaluation.beir import load_beir
from matcher.evaluation.metrics import ndcg_at, recall_at, reciprocal_rank
from matcher.evaluation.runner import in_split
from matcher.outcomes.pairs import Pair
from matcher.reranking.dataset import Dataset, build_dataset
from matcher.reranking.model import RerankerModel, base_signature
from matcher.reranking.simulate import ingest_beir, simulate_outcomes
from matcher.reranking.training import MODELS, check_enough, compare, cross_validate, fit

log = logging.getLogger("bench_reranker")


def retrieval(dataset: Dataset, scores: np.ndarray, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10, MRR and Recall@1 of each need's labelled projects ordered by ``scores`` (ties: base rank)."""
    totals = {"ndcg@10": 0.0, "mrr": 0.0, "recall@1": 0.0}
    needs = sorted(set(dataset.needs.tolist()))
    for need in needs:
        rows = np.flatnonzero(dataset.needs == need)
        order = rows[np.lexsort((dataset.base_ranks[rows], -scores[rows]))]
        ranked = [dataset.projects[i] for i in order]
        totals["ndcg@10"] += ndcg_at(ranked, qrels[need], 10)
        totals["mrr"] += reciprocal_rank(ranked, qrels[need])
        totals["recall@1"] += recall_at(ranked, qrels[need], 1)
    return {name: value / len(needs) for name, value in totals.items()}


def engine_path(matcher: Matcher, needs: list[str], qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """nDCG@10 and latency of `Matcher.match` by need id (top 10, explained) for ``needs``."""
    ndcg, times, rankings = [], [], set()
    for need in needs:
        start = time.perf_counter()
        result = matcher.match(matcher.request(record_id=need, top_k=10))
        times.append(time.perf_counter() - start)
        rankings.add(result.ranking)
        ndcg.append(ndcg_at([match.record.id for match in result.matches], qrels[need], 10))
    return {"ndcg@10": statistics.fmean(ndcg), "p50_ms": 1000 * statistics.median(times), "ranking": sorted(rankings)}


def run_set(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    beir = load_beir(folder)
    work = args.work_dir / folder.name
    overrides: dict[str, Any] = {"data_dir": work, "show_progress": args.progress}
    if args.embedding_cache:
        overrides["embedding_cache"] = str(args.embedding_cache)
    settings = bench_settings(**overrides)
    matcher = open_matcher(settings)
    start = time.perf_counter()
    ingest_beir(matcher, beir)
    ingest_seconds = time.perf_counter() - start
    start = time.perf_counter()
    outcomes = simulate_outcomes(matcher, beir.qrels, sorted(beir.queries), args.depth, args.seed, args.noise)
    labels = {Pair(outcome.project_id, outcome.need_id): outcome.label for outcome in outcomes}
    dataset = build_dataset(matcher, labels)
    feature_seconds = time.perf_counter() - start

    # 1. cross-validation over all needs, as `matcher train-reranker` does it
    folds = check_enough(dataset, args.folds)
    cv = {name: cross_validate(dataset, name, folds, args.seed) for name in MODELS}

    # 2. held-out needs: choose and fit on the dev half, measure on the test half
    split = np.asarray([in_split(need, "dev") for need in dataset.needs.tolist()])
    dev, test = dataset.subset(np.flatnonzero(split)), dataset.subset(np.flatnonzero(~split))
    dev_cv = {name: cross_validate(dev, name, check_enough(dev, args.folds), args.seed) for name in MODELS}
    beating = [name for name in MODELS if dev_cv[name].beats_base]
    chosen = max(beating or MODELS, key=lambda name: dev_cv[name].gain)
    scorer = fit(chosen, dev, args.seed)
    base_map, reranked_map, evaluable = compare(test, scorer.raw(test.features))
    held_out = {
        "model": chosen,
        "dev_cv_gain": round(dev_cv[chosen].gain, 4),
        "dev_cv_gain_se": round(dev_cv[chosen].gain_se, 4),
        "dev_beats_base": dev_cv[chosen].beats_base,
        "test_needs": len(set(test.needs.tolist())),
        "test_evaluable_needs": evaluable,
        "map_base": round(base_map, 4),
        "map_reranked": round(reranked_map, 4),
        "map_gain": round(reranked_map - base_map, 4),
        "base": {k: round(v, 4) for k, v in retrieval(test, -test.base_ranks.astype(float), beir.qrels).items()},
        "reranked": {k: round(v, 4) for k, v in retrieval(test, scorer.raw(test.features), beir.qrels).items()},
    }

    # 3. the engine path on the test needs, with the dev-fitted model saved as the active one when
    #    it beat the base ranking on the dev half (as `matcher train-reranker` would save it)
    settings.reranker_path.unlink(missing_ok=True)
    if dev_cv[chosen].beats_base:
        RerankerModel(
            chosen,
            scorer,
            dev_cv[chosen].to_dict(),
            dev.counts(),
            matcher.embedder.name,
            base_signature(settings),
            time.strftime("%Y-%m-%dT%H:%M:%S"),
        ).save(settings.reranker_path)
    test_needs = sorted(set(test.needs.tolist()))
    base_matcher = open_matcher(settings.replace(use_reranker=False))
    engine = {
        "base": engine_path(base_matcher, test_needs, beir.qrels),
        "reranked": engine_path(matcher, test_needs, beir.qrels),
    }
    settings.reranker_path.unlink(missing_ok=True)  # the work folder keeps no active model between runs
    return {
        "set": folder.name,
        "projects": len(beir.corpus),
        "needs": len(beir.queries),
        "depth": args.depth,
        "noise": args.noise,
        "counts": dataset.counts(),
        "ingest_seconds": round(ingest_seconds, 1),
        "simulate_and_features_seconds": round(feature_seconds, 1),
        "cv": {name: result.to_dict() for name, result in cv.items()},
        "held_out": held_out,
        "engine": {
            side: {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
            for side, figures in engine.items()
        },
    }


def print_report(report: dict[str, Any]) -> None:
    counts = report["counts"]
    print(
        f"\n{report['set']}: {report['projects']} projects, {report['needs']} needs, top {report['depth']} of each "
        f"labelled (noise {report['noise']}): {counts['pairs']} pairs, {counts['positives']} positive, "
        f"{counts['evaluable_needs']} needs with both labels"
    )
    print(f"ingest {report['ingest_seconds']} s; simulate + features {report['simulate_and_features_seconds']} s")
    for name, cv in report["cv"].items():
        print(
            f"  CV {name:<9} MAP base {cv['base']:.4f} -> {cv['reranked']:.4f}  gain {cv['gain']:+.4f} "
            f"(se {cv['gain_se']:.4f}, std {cv['gain_std']:.4f}, folds {cv['gain_min']:+.4f} .. {cv['gain_max']:+.4f})"
            f"{'  beats the base' if cv['beats_base'] else ''}"
        )
        for fold in cv["per_fold"]:
            print(
                f"      fold {fold['fold']}: {fold['needs']:>4} needs  {fold['base']:.4f} -> {fold['reranked']:.4f}  {fold['gain']:+.4f}"
            )
    held = report["held_out"]
    print(
        f"  held out ({held['model']} fitted on the dev half, dev CV gain {held['dev_cv_gain']:+.4f} "
        f"(se {held['dev_cv_gain_se']:.4f}{', beats the base' if held['dev_beats_base'] else ', does not beat the base'}); "
        f"{held['test_needs']} test needs, {held['test_evaluable_needs']} with both labels):"
    )
    print(
        f"      MAP of labelled projects {held['map_base']:.4f} -> {held['map_reranked']:.4f} ({held['map_gain']:+.4f})"
    )
    for metric in ("ndcg@10", "mrr", "recall@1"):
        print(
            f"      {metric:<9} {held['base'][metric]:.4f} -> {held['reranked'][metric]:.4f} "
            f"({held['reranked'][metric] - held['base'][metric]:+.4f})"
        )
    engine = report["engine"]
    print(
        f"  engine (Matcher.match by need id, top 10, test needs): nDCG@10 {engine['base']['ndcg@10']:.4f} -> "
        f"{engine['reranked']['ndcg@10']:.4f}; p50 {engine['base']['p50_ms']:.1f} ms -> {engine['reranked']['p50_ms']:.1f} ms; "
        f"rankings {engine['base']['ranking']} / {engine['reranked']['ranking']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--sets", nargs="+", default=["pap2pat-title"])
    parser.add_argument("--work-dir", type=Path, default=work_dir("bench-reranker"))
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        default=work_dir("bench-explain") / "embeddings.sqlite",
        help="an embedding cache to reuse (default: the explanation benchmark's; empty: the work folder's own)",
    )
    parser.add_argument("--depth", type=int, default=30, help="projects of each need's base ranking given an outcome")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.0, help="share of simulated labels flipped at random")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    missing = missing_shared(args.shared_data, [Path(name) / "qrels" / "test.tsv" for name in args.sets])
    if missing:
        print(skip_message(args.shared_data, missing))
        return
    if args.embedding_cache and not args.embedding_cache.is_file():
        args.embedding_cache = None
    for name in args.sets:
        report = run_set(args.shared_data / name, args)
        print_report(report)
        if args.json:
            print(json.dumps(report))


if __name__ == "__main__":
    main()
