"""Introduction planning at scale: all-pairs scoring time and memory, and the exact solver against greedy.

Part 1 plans introductions end to end (scope, conflicts, scoring, solving, ranks, explanations)
on the load-test data folder (`benchmarks/load_test.py` builds it: 4,975 real papers as projects,
1,000 real SBIR needs). Part 2 scores 2,000 projects against 5,000 needs from stored vectors only:
the 2,000 first papers, the 1,000 SBIR needs and 4,000 further real texts whose vectors an earlier
benchmark stored (`--extra-vectors`, one passage each). Part 3 solves part 2's candidates with the
min-cost flow and the greedy baseline under several caps; enterprises and institutions are assigned
at random (seeded) since these corpora name none. Nothing is encoded. Prints one JSON line a row.

    python benchmarks/bench_introductions.py --data-dir var/bench-load --extra-vectors var/bench/embeddings.sqlite
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import time
import tracemalloc
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import common  # noqa: F401  (stops unless matcher is this checkout's)
from matcher.config import load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.introductions.planner import PlanRequest, plan_introductions
from matcher.introductions.scoring import SideVectors, best_pairs, side_vectors
from matcher.introductions.solver import Caps, PairTable, solve_flow, solve_greedy
from matcher.records import Kind

log = logging.getLogger("bench_introductions")


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


def traced(call):
    """``(result, seconds, peak MB of Python and NumPy allocations)`` of ``call()``."""
    tracemalloc.start()
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def extra_rows(path: Path, count: int, dimension: int) -> np.ndarray:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT vector FROM vectors WHERE dim = ? LIMIT ?", (dimension, count)).fetchall()
    if len(rows) < count:
        raise SystemExit(f"{path} holds {len(rows)} vectors of dimension {dimension}; {count} are needed")
    return np.vstack([np.frombuffer(blob, dtype=np.float32) for (blob,) in rows])


def concatenate(first: SideVectors, vectors: np.ndarray, first_key: int) -> SideVectors:
    """``first`` followed by one single-passage record per row of ``vectors``."""
    keys = np.concatenate([first.keys, first_key + np.arange(len(vectors))])
    starts = np.concatenate([first.starts, len(first.vectors) + np.arange(len(vectors))])
    return SideVectors(keys, starts, np.vstack([first.vectors, vectors]).astype(np.float32))


def part_end_to_end(matcher: Matcher, min_score: float) -> None:
    request = PlanRequest.build(matcher.settings, max_per_project=3, max_per_need=2, min_score=min_score)
    plan, seconds, peak = traced(lambda: plan_introductions(matcher, request))
    diagnostics = plan.diagnostics
    emit(
        {
            "part": "end_to_end",
            "projects": diagnostics["projects_in_scope"],
            "needs": diagnostics["needs_in_scope"],
            "pairs_scored": diagnostics["pairs_scored"],
            "candidate_pairs": diagnostics["candidate_pairs"],
            "all_pairs_weighed": diagnostics["all_pairs_weighed"],
            "pairs_pruned": diagnostics["pairs_pruned"],
            "introductions": len(plan.introductions),
            "total_score": round(plan.total_score, 3),
            "seconds": round(seconds, 2),
            "stages": diagnostics["seconds"],
            "peak_mb": round(peak, 1),
        }
    )


def part_scale(matcher: Matcher, extra: Path, projects: int, needs: int, min_score: float, depth: int):
    project_index = matcher.index(Kind.PROJECTS).vector
    project_side = side_vectors(project_index, sorted(project_index.entries)[:projects])
    stored_needs = side_vectors(matcher.index(Kind.NEEDS).vector)
    more = needs - stored_needs.count
    need_side = (
        concatenate(stored_needs, extra_rows(extra, more, project_index.dimension), 10**9) if more > 0 else stored_needs
    )
    need_side = need_side.block(0, min(needs, need_side.count))
    candidates, seconds, peak = traced(lambda: best_pairs(need_side, project_side, depth, min_score))
    matrix_mb = project_side.count * need_side.count * 4 / 2**20
    emit(
        {
            "part": "all_pairs",
            "projects": project_side.count,
            "needs": need_side.count,
            "project_passages": len(project_side.vectors),
            "need_passages": len(need_side.vectors),
            "pairs_scored": candidates.scored_pairs,
            "candidates_per_record": depth,
            "min_score": min_score,
            "candidate_pairs": len(candidates),
            "seconds": round(seconds, 2),
            "peak_mb": round(peak, 1),
            "dense_record_matrix_mb": round(matrix_mb, 1),
            "dense_passage_matrix_mb": round(len(project_side.vectors) * len(need_side.vectors) * 4 / 2**20, 1),
        }
    )
    return candidates


def part_solvers(candidates, seed: int) -> None:
    rng = np.random.default_rng(seed)
    needs, projects = candidates.need_keys.tolist(), candidates.project_keys.tolist()
    enterprise = {key: int(rng.integers(0, 1500)) for key in set(needs)}
    institution = {key: int(rng.integers(0, 150)) for key in set(projects)}
    table = PairTable(
        needs, projects, candidates.scores, [enterprise[k] for k in needs], [institution[k] for k in projects]
    )
    for caps in (Caps(1, 1), Caps(3, 2), Caps(3, 2, per_enterprise=4, per_institution=30, per_need_institution=1)):
        row = {"part": "solver", "pairs": len(table), "caps": {k: v for k, v in vars(caps).items() if v is not None}}
        for name, solve in (("flow", solve_flow), ("greedy", solve_greedy)):
            started = time.perf_counter()
            chosen = solve(table, caps)
            row[name] = {
                "introductions": int(chosen.sum()),
                "total_score": round(float(table.scores[chosen].sum()), 3),
                "seconds": round(time.perf_counter() - started, 2),
            }
        row["flow_over_greedy"] = round(row["flow"]["total_score"] / max(row["greedy"]["total_score"], 1e-9), 4)
        emit(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-load"))
    parser.add_argument("--extra-vectors", type=Path, default=Path("var/bench/embeddings.sqlite"))
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument(
        "--needs",
        type=int,
        nargs="+",
        default=[2500, 5000],
        help="sizes of the needs side (memory should stay flat as it grows)",
    )
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-end-to-end", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (arguments.data_dir / "catalogue.sqlite").exists():
        raise SystemExit(
            f"{arguments.data_dir} has no catalogue: benchmarks/load_test.py builds it from ../shared/data"
        )
    matcher = open_matcher(load_settings(data_dir=arguments.data_dir, show_progress=False))
    if not arguments.skip_end_to_end:
        part_end_to_end(matcher, arguments.min_score)
    for needs in arguments.needs:
        candidates = part_scale(
            matcher, arguments.extra_vectors, arguments.projects, needs, arguments.min_score, arguments.candidates
        )
    part_solvers(candidates, arguments.seed)


if __name__ == "__main__":
    main()
