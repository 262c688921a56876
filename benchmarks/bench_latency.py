#!/usr/bin/env python
"""Hybrid versus dense-only query latency on the same corpus, measured in one run.

The corpus is real: papers from pap2pat-title as projects and SBIR topics as needs (as in
bench_ingest.py). Two matchers share one data folder and one loaded model and differ only in
`ranking`; each query is timed under both, alternating which goes first, so machine noise falls
on both alike. Two cases:

- by id: a stored need's projects (its vectors come from the cache);
- by text: a free-text need, its vector already in memory (so the time is the ranking's, which is
  what hybrid adds; encoding a new text costs the same under both and is reported apart).

Run from the repository root:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_latency.py [--projects 1813 --needs 1000]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from common import SHARED_DATA, bench_settings, percentile, real_corpus, work_dir
from matcher.engine import open as open_matcher
from matcher.records import Kind

log = logging.getLogger("bench_latency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench-latency"))
    parser.add_argument("--projects", type=int, default=1813)
    parser.add_argument("--needs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    corpus = real_corpus(args.shared_data, args.projects, args.needs)
    if corpus is None:
        return
    projects, needs = corpus

    base = bench_settings(args.data_dir, show_progress=True)
    hybrid = open_matcher(base)
    hybrid.ingest_records(Kind.PROJECTS, projects, "pap2pat-title papers")
    hybrid.ingest_records(Kind.NEEDS, needs, "sbir-topics needs")
    dense = open_matcher(base.replace(ranking="dense", show_progress=False), embedder=hybrid.embedder)
    matchers = {"dense": dense, "hybrid": hybrid}

    need_ids = [record.id for record in needs[: args.queries]]
    texts = [record.title for record in needs[: args.queries]]
    for text in texts:  # encode every free text once, outside the timing
        hybrid.vectors.query_vectors([text])
        dense.vectors._memory.update(hybrid.vectors._memory)
    for matcher in matchers.values():  # load indexes, warm caches
        matcher.match(matcher.request(record_id=need_ids[0]))

    timings: dict[str, dict[str, list[float]]] = {
        case: {name: [] for name in matchers} for case in ("by id", "by text")
    }
    for position, (need_id, text) in enumerate(zip(need_ids, texts)):
        order = list(matchers) if position % 2 == 0 else list(reversed(matchers))
        for case, parameters in (("by id", {"record_id": need_id}), ("by text", {"text": text})):
            for name in order:
                matcher = matchers[name]
                started = time.perf_counter()
                matcher.match(matcher.request(top_k=10, **parameters))
                timings[case][name].append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    encode_samples = [f"{text} (variant)" for text in texts[:50]]
    for text in encode_samples:
        hybrid.embedder.encode([text])
    encode_ms = (time.perf_counter() - started) * 1000 / len(encode_samples)

    print(
        f"corpus: {len(projects)} projects, {len(needs)} needs; {len(need_ids)} queries per case; top 10 with explanations"
    )
    print(f"{'case':<9}{'method':<8}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    summary: dict[str, float] = {}
    for case, by_method in timings.items():
        for name, values in by_method.items():
            print(
                f"{case:<9}{name:<8}{percentile(values, 0.5):>9.2f}{percentile(values, 0.95):>9.2f}{statistics.mean(values):>9.2f}"
            )
        ratio = percentile(by_method["hybrid"], 0.5) / percentile(by_method["dense"], 0.5)
        summary[case] = ratio
        print(f"{case:<9}hybrid/dense p50 ratio: {ratio:.3f} (target <= 1.25): {'MET' if ratio <= 1.25 else 'NOT MET'}")
    print(f"encoding one new free text (either method pays it): {encode_ms:.1f} ms")


if __name__ == "__main__":
    main()
