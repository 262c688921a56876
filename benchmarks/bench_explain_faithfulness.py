#!/usr/bin/env python
"""Faithfulness of explanations on every labelled set in ../shared/data (see `matcher explain-eval`).

Runs the same code as the CLI for each BEIR folder and prints one table. Embeddings come from
the data folder's cache, so only edited texts (three per query) are encoded.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_explain_faithfulness.py [--max-queries 300]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from common import SHARED_DATA, bench_settings, work_dir
from matcher.engine import open as open_matcher
from matcher.evaluation.faithfulness import explain_eval

TARGETS = {"faithful_share": 0.95, "sufficiency_mean": 0.9, "sufficiency_p10": 0.7, "coverage": 0.98}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench"))
    parser.add_argument("--max-queries", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sets = sorted(path.parent.parent for path in args.shared_data.glob("*/qrels/test.tsv"))
    if not sets:
        print(f"SKIP: no labelled BEIR sets under {args.shared_data}; this benchmark needs ../shared/data")
        return
    settings = bench_settings(args.data_dir)
    print(
        f"{'set':<18}{'queries':>8}{'faithful':>10}{'drop expl':>10}{'drop rand':>10}{'suff mean':>10}{'suff p10':>9}{'coverage':>9}"
    )
    for folder in sets:
        report = explain_eval(folder, settings, max_queries=args.max_queries, opener=open_matcher).to_dict()
        missed = [name for name, target in TARGETS.items() if report[name] < target]
        print(
            f"{folder.name:<18}{report['queries']:>8}{report['faithful_share']:>10.4f}{report['mean_drop_explained']:>10.4f}"
            f"{report['mean_drop_random']:>10.4f}{report['sufficiency_mean']:>10.4f}{report['sufficiency_p10']:>9.4f}"
            f"{report['coverage']:>9.4f}  {'all targets met' if not missed else 'below target: ' + ', '.join(missed)}"
        )
        print("  " + json.dumps(report))


if __name__ == "__main__":
    main()
