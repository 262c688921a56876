#!/usr/bin/env python
"""What explaining the top 10 matches adds to a query's latency, measured in one run.

The corpus is real (as in bench_latency.py): papers from pap2pat-title as projects and SBIR topics
as needs, ingested with their explanation profiles. Each query is a whole API request through the
Flask app (in process, so no network), JSON answer included, with and without explanations,
alternating which goes first, so machine noise falls on both alike. Cases:

- by id: a stored need's top 10 projects (the need's and the projects' profiles were made at
  indexing time; decoded profiles are kept in a memory LRU, as in a running server);
- by new text: a free text never seen before, so both variants encode it; the explained variant
  also builds the text's profile at query time (its candidate phrases are encoded then, unless
  the corpus already holds them). Each variant gets its own copy of the text (a trailing mark), so
  neither finds the other's vectors in memory.

Run from the repository root:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_explain_speed.py [--projects 1813 --needs 500] [--warm-profiles]
        [--query-phrases N] [--process-defaults] [--parts]

``--parts`` then times, in process, the parts of explaining by id that every explanation needs,
however its shared terms are chosen (reading the need's profile, related terms, evidence, the
shared keys, the JSON), for needs not asked before, against the 30% of a plain request that the
target allows.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from common import SHARED_DATA, bench_settings, percentile, real_corpus, work_dir
from matcher.engine import Matcher, open as open_matcher
from matcher.explanation.evidence import best_evidence_many
from matcher.explanation.related import related_terms_many
from matcher.records import Kind, Record
from service.app import create_app
from service.server import settle_loaded_worker, threads_per_worker

TARGET = 1.30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench-explain"))
    parser.add_argument("--projects", type=int, default=1813)
    parser.add_argument("--needs", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--query-phrases",
        type=int,
        default=None,
        help="a free text's candidate phrases (setting query_phrases; default: the setting's)",
    )
    parser.add_argument(
        "--process-defaults",
        action="store_true",
        help="keep torch's and BLAS's thread counts and the garbage collector as a plain process has them, "
        "instead of as each of `matcher serve`'s workers has them (the cores shared out, collector settled)",
    )
    parser.add_argument(
        "--warm-profiles",
        action="store_true",
        help="decode every record's profile before timing, as a worker that has served a while holds them",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="then time the parts of explaining by id, for needs not yet asked (see above)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    corpus = real_corpus(args.shared_data, args.projects, args.needs)
    if corpus is None:
        return
    projects, needs = corpus

    settings = bench_settings(args.data_dir, show_progress=True)
    if args.query_phrases is not None:
        settings = settings.replace(query_phrases=args.query_phrases)
    matcher = open_matcher(settings)
    started = time.perf_counter()
    matcher.ingest_records(Kind.PROJECTS, projects, "pap2pat-title papers")
    matcher.ingest_records(Kind.NEEDS, needs, "sbir-topics needs")
    for kind in Kind:  # profiles made by an older version are made again here, not during timing
        matcher.sync_index(kind)
    print(f"ingest with profiles: {time.perf_counter() - started:.1f} s")

    client = create_app(matcher.settings.replace(rate_limit="", write_rate_limit=""), matcher=matcher).test_client()

    def by_id(record_id: str, explain: bool) -> None:
        response = client.get(f"/api/v1/needs/{record_id}/matches?top_k=10&explain={str(explain).lower()}")
        assert response.status_code == 200, response.data

    def by_text(text: str, explain: bool) -> None:
        response = client.post("/api/v1/match", json={"text": text, "top_k": 10, "explain": explain})
        assert response.status_code == 200, response.data

    if args.warm_profiles:
        for kind in Kind:
            stored = {item.key: item.record for item in matcher.catalogue.records(kind)}
            matcher.explainer.profiles(kind, stored)
    queries = needs[: args.queries]
    for record in queries[:20]:  # load the indexes and the profile store
        by_id(record.id, True)
        by_id(record.id, False)
    for record in needs[-3:]:  # load the model (and its twin for query phrases), as a server worker does first
        by_text(f"{record.title} warm-up", True)
        by_text(f"{record.title} warm-up", False)
    if not args.process_defaults:  # what service.server.warm does in each worker of `matcher serve`
        threads = threads_per_worker(matcher.settings.model_threads, matcher.settings.workers)
        matcher.embedder.limit_threads(threads)
        settle_loaded_worker(threads)

    timings: dict[str, dict[bool, list[float]]] = {"by id": {False: [], True: []}, "by new text": {False: [], True: []}}
    for position, record in enumerate(queries):
        order = [False, True] if position % 2 == 0 else [True, False]
        for explain in order:
            started = time.perf_counter()
            by_id(record.id, explain)
            timings["by id"][explain].append((time.perf_counter() - started) * 1000)
        text = f"{record.title}. {record.body[:600]}"
        for explain in order:
            started = time.perf_counter()
            by_text(f"{text} {'+' if explain else '-'}", explain)
            timings["by new text"][explain].append((time.perf_counter() - started) * 1000)

    worker = (
        "process defaults"
        if args.process_defaults
        else f"as one of {matcher.settings.workers} server workers "
        f"({threads_per_worker(matcher.settings.model_threads, matcher.settings.workers)} torch and BLAS threads, collector settled)"
    )
    state = "every profile decoded in memory before timing" if args.warm_profiles else "profiles decoded on first use"
    print(
        f"corpus: {len(projects)} projects, {len(needs)} needs; {len(queries)} queries per case; top 10; {state}; {worker}; "
        f"candidate phrases per free text: {matcher.settings.query_phrases}"
    )
    print(f"{'case':<12}{'explained':<10}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for case, by_variant in timings.items():
        for explain, values in by_variant.items():
            print(
                f"{case:<12}{explain!s:<10}{percentile(values, 0.5):>9.2f}{percentile(values, 0.95):>9.2f}{statistics.mean(values):>9.2f}"
            )
        ratio = percentile(by_variant[True], 0.5) / percentile(by_variant[False], 0.5)
        verdict = "MET" if ratio <= TARGET else "NOT MET"
        print(f"{case:<12}explained/plain p50 ratio: {ratio:.3f} (target <= {TARGET}): {verdict}")
    if args.parts:
        print_by_id_parts(matcher, by_id, needs[args.queries : 2 * args.queries])


def print_by_id_parts(matcher: Matcher, by_id: Callable[[str, bool], None], needs: list[Record]) -> None:
    """Median time of each part of explaining a need's top 10 by id, in process, each need asked once."""
    explainer = matcher.explainer
    parts: dict[str, list[float]] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = step()
        parts.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return result

    # Each lambda below is called at once by timed(), within its iteration (so B023 does not apply).
    for record in needs:
        timed("plain request (API, JSON)", lambda: by_id(record.id, False))  # noqa: B023
        stored = matcher.catalogue.get(Kind.NEEDS, record.id)
        request = matcher.request(direction="need_to_projects", record_id=record.id, top_k=10, explain=False)
        found = matcher.match(request)
        records = {match.hit.key: match.record for match in found.matches}
        query = timed(
            "need's profile: read, decode",
            lambda: explainer.profiles(Kind.NEEDS, {stored.key: stored.record})[stored.key],  # noqa: B023
        )
        held = explainer.profiles(Kind.PROJECTS, records)
        matched = [held[match.hit.key] for match in found.matches]
        thresholds = [explainer.policy.threshold_for(len(query.candidates) * len(m.candidates)) for m in matched]
        limit = explainer.policy.max_related
        timed("related terms (one product)", lambda: related_terms_many(query, matched, thresholds, limit))  # noqa: B023
        timed("evidence (one product)", lambda: best_evidence_many(query, matched))  # noqa: B023
        keys = query.terms.occurrences.keys()
        timed("shared keys (set intersections)", lambda: [keys & m.terms.occurrences.keys() for m in matched])  # noqa: B023
        explanations = timed("explain_all, whole", lambda: explainer.explain_all(query, matched, "en"))  # noqa: B023
        timed("to_dict + JSON", lambda: orjson.dumps([explanation.to_dict() for explanation in explanations]))  # noqa: B023
    medians = {name: statistics.median(values) for name, values in parts.items()}
    print(f"by id, in process, {len(needs)} needs each asked once (p50 of each part, ms):")
    for name, value in medians.items():
        print(f"  {name:<34}{value:>7.3f}")
    allowed = (TARGET - 1) * medians["plain request (API, JSON)"]
    fixed = (
        "need's profile: read, decode",
        "related terms (one product)",
        "evidence (one product)",
        "shared keys (set intersections)",
        "to_dict + JSON",
    )
    needed = sum(medians[name] for name in fixed)
    print(
        f"allowed by the target: {allowed:.3f} ms; the five parts above that every explanation needs, "
        f"before any shared term is chosen: {needed:.3f} ms"
    )


if __name__ == "__main__":
    main()
