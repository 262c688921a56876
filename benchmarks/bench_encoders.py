#!/usr/bin/env python
"""Encoder runtimes: texts/s against torch FP32 on the same real passages, and nDCG@10 on the English sets.

1. Speed: the passages the pipeline embeds for ``--texts`` real pap2pat papers and SBIR needs,
   encoded by each runtime (torch FP32, OpenVINO float, OpenVINO int8, ONNX FP32, ONNX int8) in
   ``--rounds`` alternating rounds on the same machine; the ratio to torch is taken per round
   (same minute, same load) and its median reported, with each runtime's cosine to torch's vectors.
   Export time (made once per machine, then cached) is reported apart and excluded.
2. Quality (``--quality``): hybrid and dense nDCG@10 on every English labelled set with the default
   encoder (``auto``), and with torch on ``--torch-sets`` in the same run, through the evaluation
   code the CLI uses; the embedding cache in ``--data-dir`` keys vectors by encoder identity.

Run from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_encoders.py [--texts 500] [--rounds 4] [--quality] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from common import SHARED_DATA, bench_settings, missing_shared, real_corpus, skip_message, work_dir
from matcher.embedding.encoder import Runtime, SentenceTransformerEmbedder
from matcher.engine import open as open_matcher
from matcher.evaluation.runner import evaluate, method_policies
from matcher.text.passages import record_passages

log = logging.getLogger("bench_encoders")

VARIANTS = (
    ("torch", "none"),
    ("openvino", "none"),
    ("openvino", "int8"),
    ("onnx", "none"),
    ("onnx", "int8"),
)
SETS = ("pap2pat-title", "pap2pat-claim", "pap2pat-reverse", "nfcorpus")


def label(runtime: str, quantisation: str) -> str:
    return runtime if quantisation == "none" else f"{runtime}-{quantisation}"


def real_passages(shared: Path, count: int) -> list[str]:
    corpus = real_corpus(shared, count // 2, count - count // 2)
    if corpus is None:
        return []
    policy = bench_settings().passage_policy
    passages = [passage for records in corpus for record in records for passage in record_passages(record, policy)]
    return passages[: count * 2]


def speed(texts: list[str], models: Path, rounds: int, variants: list[tuple[str, str]]) -> dict[str, Any]:
    """Each variant's best and per-round texts/s, median ratio to torch, export seconds and agreement."""
    embedders: dict[str, SentenceTransformerEmbedder] = {}
    prepared: dict[str, float] = {}
    for runtime, quantisation in variants:
        name = label(runtime, quantisation)
        embedders[name] = SentenceTransformerEmbedder(
            "sentence-transformers/all-MiniLM-L6-v2", runtime=Runtime(runtime, quantisation, models)
        )
        started = time.perf_counter()
        embedders[name].encode(texts[:4])  # loads the model, exporting it first if this machine has none
        prepared[name] = round(time.perf_counter() - started, 1)
    reference = embedders["torch"].encode(texts)
    agreement = {}
    for name, embedder in embedders.items():
        cosines = (embedder.encode(texts) * reference).sum(axis=1)
        agreement[name] = {"min_cosine": round(float(cosines.min()), 4), "mean_cosine": round(float(cosines.mean()), 5)}
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for round_number in range(rounds):
        order = list(embedders) if round_number % 2 == 0 else list(reversed(embedders))
        for name in order:
            started = time.perf_counter()
            embedders[name].encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    return {
        name: {
            "texts_per_second": [round(rate, 2) for rate in rates[name]],
            "best": round(max(rates[name]), 2),
            "x_torch_median": round(statistics.median(r / t for r, t in zip(rates[name], rates["torch"])), 3),
            "load_and_export_seconds": prepared[name],
            "identity": embedders[name].identity,
            **agreement[name],
        }
        for name in embedders
    }


def quality(shared: Path, data_dir: Path, sets: list[str], torch_sets: list[str]) -> list[dict[str, Any]]:
    """Hybrid and dense nDCG@10 per set with the default encoder, and with torch on ``torch_sets``."""
    rows = []
    for backend, chosen in (("auto", sets), ("torch", torch_sets)):
        settings = bench_settings(data_dir, embedding_backend=backend)
        policies = {name: policy for name, policy in method_policies(settings).items() if name in ("dense", "hybrid")}
        for name in chosen:
            started = time.perf_counter()
            results = evaluate(shared / name, settings, list(policies), policies=policies, opener=open_matcher)
            scores = {result.method: round(result.metrics["ndcg@10"], 4) for result in results}
            rows.append({"backend": backend, "set": name, **scores, "seconds": round(time.perf_counter() - started)})
            log.warning("%s %s: %s", backend, name, scores)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench"), help="holds the embedding cache")
    parser.add_argument("--models", type=Path, default=work_dir("bench-models"), help="holds the exports")
    parser.add_argument("--texts", type=int, default=500, help="real passages for the speed part")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--variants", nargs="+", default=[label(*variant) for variant in VARIANTS])
    parser.add_argument("--quality", action="store_true", help="also nDCG@10 on the English labelled sets")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--torch-sets", nargs="*", default=["pap2pat-title"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    missing = missing_shared(args.shared_data, [Path(name) / "corpus.jsonl" for name in args.sets])
    texts = real_passages(args.shared_data, args.texts)[: args.texts]
    if missing or not texts:
        print(skip_message(args.shared_data, missing or ["pap2pat-title/corpus.jsonl"]))
        return
    wanted = [variant for variant in VARIANTS if label(*variant) in set(args.variants) | {"torch"}]
    load_start = os.getloadavg()[0]
    figures = speed(texts, args.models, args.rounds, wanted)
    print(
        f"\n{len(texts)} real passages, {args.rounds} alternating rounds; load average {load_start:.1f} -> "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'runtime':<15}{'best texts/s':>13}{'x torch (median)':>18}{'min cos':>9}{'mean cos':>10}{'export+load s':>15}"
    )
    for name, row in figures.items():
        print(
            f"{name:<15}{row['best']:>13.1f}{row['x_torch_median']:>18.2f}{row['min_cosine']:>9.4f}"
            f"{row['mean_cosine']:>10.5f}{row['load_and_export_seconds']:>15.1f}"
        )
    if args.json:
        print(json.dumps({"texts": len(texts), "rounds": args.rounds, "speed": figures}))
    if args.quality:
        rows = quality(args.shared_data, args.data_dir, args.sets, args.torch_sets)
        print(f"\n{'backend':<8}{'set':<17}{'hybrid':>9}{'dense':>9}{'seconds':>9}")
        for row in rows:
            print(f"{row['backend']:<8}{row['set']:<17}{row['hybrid']:>9.4f}{row['dense']:>9.4f}{row['seconds']:>9}")
        if args.json:
            print(json.dumps({"quality": rows}))


if __name__ == "__main__":
    main()
