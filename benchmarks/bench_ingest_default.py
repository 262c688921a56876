#!/usr/bin/env python
"""Ingest + embed + index: the default configuration against the English-only torch pipeline of before.

The same real records (pap2pat-title papers as projects, SBIR topics as needs; 1,000 + 1,000 by
default) are ingested into fresh data folders by two configurations, alternating over ``--rounds``:

- **before**: the English model on torch, no multilingual channel (``embedding_backend = "torch"``,
  ``multilingual_backend = ""``): the pipeline as it was before the encoder runtimes;
- **default**: the shipped settings, both dense channels (the English model on ``auto`` and the
  multilingual encoder), everything else equal (explanation profiles included in both).

Models are loaded and exported before timing (an export is made once per machine). The figure is
before / default seconds per round (same minute, same load) and its median. Run from the
repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ingest_default.py [--projects N] [--needs N] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_ingest import read_beir, write_jsonl
from common import NEEDS, PAPERS, SHARED_DATA
from matcher.config import load_settings
from matcher.engine import open as open_matcher
from matcher.records import Kind

log = logging.getLogger("bench_ingest_default")

# Some SBIR topics run to 33,000 characters, past the service's default limit of 20,000: both
# configurations take them whole, as the earlier ingest benchmarks did.
MAX_TEXT_CHARS = 100_000
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "before": {"embedding_backend": "torch", "multilingual_backend": ""},
    "default": {},
}


def ingest_round(data_dir: Path, models: Path, files: dict[Kind, Path], overrides: dict[str, Any]) -> dict[str, Any]:
    """Seconds to ingest both files into a fresh ``data_dir`` (models loaded first), and texts encoded."""
    settings = load_settings(
        environ={},
        data_dir=data_dir,
        show_progress=False,
        model_cache_dir=str(models),
        max_text_chars=MAX_TEXT_CHARS,
        **overrides,
    )
    matcher = open_matcher(settings)
    matcher.embedder.encode(["warm up"])
    if matcher.multilingual_vectors is not None:
        matcher.multilingual_vectors.embedder.encode(["warm up"])
    started = time.perf_counter()
    for kind in (Kind.PROJECTS, Kind.NEEDS):
        matcher.ingest_file(files[kind], kind)
    seconds = time.perf_counter() - started
    encoded = matcher.vectors.encoded_count + (
        matcher.multilingual_vectors.encoded_count if matcher.multilingual_vectors is not None else 0
    )
    return {"seconds": round(seconds, 1), "texts_encoded": encoded, "encoder": matcher.embedder.identity}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--needs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, help="default: a new temporary folder, removed at the end")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    missing = [str(args.shared_data / name) for name in (PAPERS, NEEDS) if not (args.shared_data / name).is_file()]
    if missing:
        print(f"SKIP: shared data not found ({', '.join(missing)}); this benchmark needs ../shared/data")
        return 0
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="bench_ingest_default_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    files = {Kind.PROJECTS: work / "projects.jsonl", Kind.NEEDS: work / "needs.jsonl"}
    write_jsonl(files[Kind.PROJECTS], read_beir(args.shared_data / PAPERS, args.projects), Kind.PROJECTS)
    write_jsonl(files[Kind.NEEDS], read_beir(args.shared_data / NEEDS, args.needs), Kind.NEEDS)
    load_start = os.getloadavg()[0]
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for number in range(args.rounds):
            order = list(CONFIGURATIONS) if number % 2 == 0 else list(reversed(CONFIGURATIONS))
            figures = {}
            for name in order:
                folder = work / f"data-{name}-{number}"
                figures[name] = ingest_round(folder, work / "models", files, CONFIGURATIONS[name])
                shutil.rmtree(folder, ignore_errors=True)
                log.warning("round %d %s: %s", number + 1, name, figures[name])
            rounds.append(figures)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    ratios = [round(r["before"]["seconds"] / r["default"]["seconds"], 3) for r in rounds]
    print(
        f"\n{args.projects} projects + {args.needs} needs, {args.rounds} alternating rounds; "
        f"load average {load_start:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    for number, (figures, ratio) in enumerate(zip(rounds, ratios), 1):
        print(
            f"round {number}: before {figures['before']['seconds']} s ({figures['before']['texts_encoded']} texts), "
            f"default {figures['default']['seconds']} s ({figures['default']['texts_encoded']} texts), "
            f"before/default {ratio:.2f}x"
        )
    print(
        f"median before/default: {statistics.median(ratios):.2f}x (target at least 1.5x); "
        f"default encoder {rounds[0]['default']['encoder']}"
    )
    if args.json:
        print(json.dumps({"rounds": rounds, "ratios": ratios, "median": statistics.median(ratios)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
