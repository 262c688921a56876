#!/usr/bin/env python
"""Benchmark of ingest + embed + index against raw ``SentenceTransformer.encode``, on the same texts.

In one run, on real texts (pap2pat-title papers as projects, SBIR topics as needs):

1. raw ``SentenceTransformer.encode`` throughput on exactly the texts the pipeline embeds;
2. the full pipeline (``Matcher.ingest_file`` of both files on a fresh data folder: validate,
   SQLite upsert, embed, FAISS index) and its ratio to the raw figure (target >= 0.9); raw and
   pipeline alternate over ``--rounds`` rounds and the best round of each is compared;
3. a second ingest of the unchanged files by a new ``Matcher`` (target >= 50x faster, nothing encoded);
4. match latency (p50/p95) by need id and by new free text (whose encoding is part of the latency).

Model load time is excluded from every measurement. Run from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ingest.py [--projects N] [--needs N] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common import NEEDS, PAPERS, REPO_ROOT, SHARED_DATA
from matcher.config import load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.records import Kind, Record

log = logging.getLogger("bench_ingest")

BATCH_SIZE = 32  # what the raw baseline uses; the pipeline uses settings.batch_size (checked equal)
# Characters the validator rejects: such rows are skipped so the files always ingest.
_REJECTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")


@dataclass
class Results:
    """Every figure the benchmark prints (and emits as one JSON line with ``--json``)."""

    projects: int = 0
    needs: int = 0
    texts: int = 0  # distinct texts the pipeline sends to the model (passages of the records)
    torch_threads: int = 0
    # 1-minute load averages (about 2 is this benchmark alone on 2 cores; more is other work skewing the figures)
    load_average_start: float = 0.0
    load_average_end: float = 0.0
    load_averages_after: list[float] = field(default_factory=list)  # after each raw and each pipeline measurement
    rounds: int = 0
    raw_rounds_seconds: list[float] = field(default_factory=list)
    pipeline_rounds_seconds: list[float] = field(default_factory=list)
    pipeline_rounds_encode_seconds: list[float] = field(default_factory=list)  # model time within each
    raw_seconds: float = 0.0  # best round
    raw_texts_per_s: float = 0.0
    pipeline_seconds: float = 0.0  # best round; the breakdown below is of that round
    pipeline_projects_seconds: float = 0.0
    pipeline_needs_seconds: float = 0.0
    pipeline_encode_seconds: float = 0.0  # time inside the model's encode during the pipeline
    pipeline_texts_per_s: float = 0.0
    pipeline_records_per_s: float = 0.0
    pipeline_encoded: int = 0
    # candidate phrases of the records' explanation profiles, encoded on top of the passages
    # (the raw baseline encodes only the passages; the phrases are the pipeline's own extra work)
    phrases_encoded: int = 0
    pipeline_raw_ratio: float = 0.0
    max_vector_difference: float = 0.0  # pipeline vs raw vectors of the same texts
    second_seconds: float = 0.0
    second_encoded: int = -1
    first_second_ratio: float = 0.0
    cold_first_query_ms: float = 0.0  # first match of the new Matcher: loads the index from disk
    by_id: dict[str, float] = field(default_factory=dict)
    by_text: dict[str, float] = field(default_factory=dict)
    by_text_encoded: int = 0  # free-text queries that had to be encoded (should be all of them)

    @property
    def targets(self) -> dict[str, bool]:
        return {
            "pipeline_raw_ratio>=0.9": self.pipeline_raw_ratio >= 0.9,
            "first_second_ratio>=50": self.first_second_ratio >= 50,
            "second_run_encoded==0": self.second_encoded == 0,
        }


# -- corpus ------------------------------------------------------------------------------------


def read_beir(path: Path, limit: int) -> list[dict[str, str]]:
    """The first ``limit`` usable rows (``_id``, ``title``, ``text``) of a BEIR-style JSONL file."""
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if len(rows) >= limit:
                break
            item = json.loads(line)
            row = {key: str(item.get(key) or "").strip() for key in ("_id", "title", "text")}
            if not all(row.values()) or row["_id"] in seen or any(_REJECTED.search(v) for v in row.values()):
                continue
            seen.add(row["_id"])
            rows.append(row)
    if len(rows) < limit:
        raise SystemExit(f"{path} has only {len(rows)} usable rows; {limit} were asked for")
    return rows


def write_jsonl(path: Path, rows: list[dict[str, str]], kind: Kind) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {"id": row["_id"], "title": row["title"], kind.body_field: row["text"]}
            # ASCII-escaped: the matcher's JSONL reader splits lines with str.splitlines(), which also
            # breaks at U+2028 and the like; escaped, those stay inside their JSON string (sbir-00885 has one).
            handle.write(json.dumps(record, ensure_ascii=True) + "\n")


def embedded_texts(matcher: Matcher, kind: Kind, rows: list[dict[str, str]]) -> list[str]:
    """What the pipeline sends to the model for ``rows``: each record's passages when the matcher splits
    long texts (``passages_of``), else its title, newline, body (stripped, as the validator does)."""
    split = getattr(matcher, "passages_of", None)
    if split is None:
        return [f"{row['title']}\n{row['text']}" for row in rows]
    return [text for row in rows for text in split(Record(kind, row["_id"], row["title"], row["text"]))]


def query_texts(titles: list[str], count: int, avoid: set[str], seed: int) -> list[str]:
    """``count`` distinct short texts: need titles with one random word dropped (never cached before)."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    for title in rng.sample(titles, len(titles)):
        words = title.split()
        if len(words) >= 3:
            del words[rng.randrange(len(words))]
        text = " ".join(words)
        if text and text not in avoid:
            found.setdefault(text, None)
        if len(found) == count:
            return list(found)
    raise SystemExit(f"could only build {len(found)} distinct free-text queries; {count} were asked for")


# -- measurement helpers -----------------------------------------------------------------------


def timed_encode(matcher: Matcher) -> Callable[[], float]:
    """Wrap the matcher's model calls (encode, encode_spans) to total their time; return a reader of that total."""
    embedder: Any = matcher.embedder
    total = [0.0]

    def timed(inner: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args)
            finally:
                total[0] += time.perf_counter() - start

        return call

    # instance attributes: they shadow the methods for this object only
    embedder.encode = timed(embedder.encode)
    embedder.encode_spans = timed(embedder.encode_spans)
    return lambda: total[0]


def latencies(calls: Iterator[Callable[[], Any]]) -> list[float]:
    """Milliseconds taken by each call."""
    result = []
    for call in calls:
        start = time.perf_counter()
        call()
        result.append((time.perf_counter() - start) * 1000)
    return result


def summary(milliseconds: list[float]) -> dict[str, float]:
    values = np.asarray(milliseconds)
    return {
        "n": float(len(values)),
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "mean_ms": float(values.mean()),
        "max_ms": float(values.max()),
    }


# -- the benchmark -----------------------------------------------------------------------------


@dataclass
class PipelineRound:
    """One timed ingest of both files into a fresh data folder."""

    matcher: Matcher
    seconds: float
    projects_seconds: float
    needs_seconds: float
    encode_seconds: float


def raw_round(model: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    """Seconds of one raw ``SentenceTransformer.encode`` of ``texts`` (model already loaded), and the vectors."""
    start = time.perf_counter()
    vectors = model.encode(
        texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return time.perf_counter() - start, vectors


def pipeline_round(matcher: Matcher, files: dict[Kind, Path]) -> PipelineRound:
    """Ingest both files with ``matcher`` (fresh data folder); its model is loaded before timing."""
    matcher.embedder.encode(["warm up"])  # loads the model; goes around the embedding cache
    encode_time = timed_encode(matcher)
    start = time.perf_counter()
    matcher.ingest_file(files[Kind.PROJECTS], Kind.PROJECTS)
    middle = time.perf_counter()
    matcher.ingest_file(files[Kind.NEEDS], Kind.NEEDS)
    end = time.perf_counter()
    return PipelineRound(matcher, end - start, middle - start, end - middle, encode_time())


def run(args: argparse.Namespace, shared: Path, work_dir: Path) -> Results:
    import torch
    from sentence_transformers import SentenceTransformer

    results = Results(torch_threads=torch.get_num_threads(), rounds=args.rounds, load_average_start=os.getloadavg()[0])
    papers = read_beir(shared / PAPERS, args.projects)
    needs = read_beir(shared / NEEDS, args.needs)
    files = {Kind.PROJECTS: work_dir / "projects.jsonl", Kind.NEEDS: work_dir / "needs.jsonl"}
    write_jsonl(files[Kind.PROJECTS], papers, Kind.PROJECTS)
    write_jsonl(files[Kind.NEEDS], needs, Kind.NEEDS)

    def settings_of(round_: int) -> Any:
        return load_settings(data_dir=work_dir / f"data-{round_}", show_progress=False)

    matcher = open_matcher(settings_of(1))
    # Distinct texts, as the embedding cache encodes each once.
    texts = list(
        dict.fromkeys(embedded_texts(matcher, Kind.PROJECTS, papers) + embedded_texts(matcher, Kind.NEEDS, needs))
    )
    results.projects, results.needs, results.texts = len(papers), len(needs), len(texts)
    log.info(
        "Corpus: %d projects, %d needs, %d distinct texts to embed, in %s",
        len(papers),
        len(needs),
        len(texts),
        work_dir,
    )
    if matcher.settings.batch_size != BATCH_SIZE:
        log.warning("settings.batch_size is %d, the raw baseline uses %d", matcher.settings.batch_size, BATCH_SIZE)
    model_path = matcher.embedder.path  # type: ignore[attr-defined]
    log.info("Raw baseline: the model in %s", model_path)
    model = SentenceTransformer(str(model_path), device="cpu")
    model.encode(["warm up"], batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False)

    # 1-2. Raw encode and full pipeline, alternated (raw, pipeline, raw, pipeline...): this machine's
    # speed drifts by tens of percent, so each side's best round is compared.
    best: PipelineRound | None = None
    for round_ in range(1, args.rounds + 1):
        seconds, raw_vectors = raw_round(model, texts)
        results.raw_rounds_seconds.append(seconds)
        results.load_averages_after.append(os.getloadavg()[0])
        log.info("Round %d raw: %.1f s, %.2f texts/s", round_, seconds, len(texts) / seconds)
        if round_ > 1:
            matcher = open_matcher(settings_of(round_))
        timing = pipeline_round(matcher, files)
        results.pipeline_rounds_seconds.append(timing.seconds)
        results.pipeline_rounds_encode_seconds.append(timing.encode_seconds)
        results.load_averages_after.append(os.getloadavg()[0])
        log.info("Round %d pipeline: %.1f s, %.2f texts/s", round_, timing.seconds, len(texts) / timing.seconds)
        # Read back from the cache: anything encoded here means the raw run used other texts than the pipeline.
        encoded = matcher.vectors.encoded_count
        cached = matcher.vectors.vectors(texts)
        if encoded < len(texts) or matcher.vectors.encoded_count != encoded:
            raise SystemExit("the texts of the raw run differ from those the pipeline embedded")
        results.max_vector_difference = max(results.max_vector_difference, float(np.abs(cached - raw_vectors).max()))
        results.pipeline_encoded = encoded
        results.phrases_encoded = encoded - len(texts)
        if best is None or timing.seconds < best.seconds:
            best = timing
    assert best is not None
    del model
    gc.collect()
    results.raw_seconds = min(results.raw_rounds_seconds)
    results.raw_texts_per_s = len(texts) / results.raw_seconds
    results.pipeline_seconds = best.seconds
    results.pipeline_projects_seconds, results.pipeline_needs_seconds = best.projects_seconds, best.needs_seconds
    results.pipeline_encode_seconds = best.encode_seconds
    results.pipeline_texts_per_s = len(texts) / best.seconds
    results.pipeline_records_per_s = (len(papers) + len(needs)) / best.seconds
    results.pipeline_raw_ratio = results.pipeline_texts_per_s / results.raw_texts_per_s

    # 3. Second ingest of the unchanged files by a new Matcher (as a new process would), in the
    # data folder of the last round; compared with the best first run.
    second = open_matcher(matcher.settings)
    start = time.perf_counter()
    second.ingest_file(files[Kind.PROJECTS], Kind.PROJECTS)
    second.ingest_file(files[Kind.NEEDS], Kind.NEEDS)
    results.second_seconds = time.perf_counter() - start
    results.second_encoded = second.vectors.encoded_count
    results.first_second_ratio = results.pipeline_seconds / results.second_seconds
    log.info("Second run: %.3f s, %d texts encoded", results.second_seconds, results.second_encoded)

    # 4. Latency, on the second Matcher with its model loaded first (load time excluded).
    second.embedder.encode(["warm up"])
    rng = random.Random(args.seed)
    need_ids = [row["_id"] for row in needs]
    cold_id, *sample_ids = rng.sample(need_ids, min(args.queries + 1, len(need_ids)))

    def by_id(record_id: str) -> Callable[[], Any]:
        return lambda: second.match(second.request(direction="need_to_projects", record_id=record_id, top_k=10))

    def by_text(text: str) -> Callable[[], Any]:
        return lambda: second.match(second.request(direction="need_to_projects", text=text, top_k=10))

    log.info("Latency: %d matches by id, then %d by free text", len(sample_ids), args.queries)
    results.cold_first_query_ms = latencies(iter([by_id(cold_id)]))[0]
    results.by_id = summary(latencies(by_id(record_id) for record_id in sample_ids))
    queries = query_texts([row["title"] for row in needs], args.queries, set(texts), args.seed)
    encoded_before = second.vectors.encoded_count
    results.by_text = summary(latencies(by_text(text) for text in queries))
    results.by_text_encoded = second.vectors.encoded_count - encoded_before
    results.load_average_end = os.getloadavg()[0]
    return results


def report(results: Results, raw_json: bool) -> None:
    """The figures as a table (and, with ``--json``, one JSON line)."""
    r = results
    rows = [
        ("corpus", f"{r.projects} projects + {r.needs} needs; {r.texts} distinct texts (passages) to embed"),
        ("machine", f"torch threads {r.torch_threads}, CPU; {r.rounds} alternated raw/pipeline round(s)"),
        ("load average (1 min) start / end", f"{r.load_average_start:.2f} / {r.load_average_end:.2f}"),
        ("load average after raw / pipeline", "  ".join(f"{value:.2f}" for value in r.load_averages_after)),
        ("raw encode, each round", "  ".join(f"{seconds:.1f} s" for seconds in r.raw_rounds_seconds)),
        ("pipeline ingest, each round", "  ".join(f"{seconds:.1f} s" for seconds in r.pipeline_rounds_seconds)),
        (
            "  model encode in it, each round",
            "  ".join(f"{seconds:.1f} s" for seconds in r.pipeline_rounds_encode_seconds),
        ),
        ("raw SentenceTransformer.encode", f"{r.raw_seconds:8.1f} s   {r.raw_texts_per_s:7.2f} texts/s (best round)"),
        (
            "pipeline ingest (projects+needs)",
            f"{r.pipeline_seconds:8.1f} s   {r.pipeline_texts_per_s:7.2f} texts/s (best round)",
        ),
        ("  records per second", f"{r.pipeline_records_per_s:.2f} records/s"),
        ("  of which projects / needs", f"{r.pipeline_projects_seconds:.1f} s / {r.pipeline_needs_seconds:.1f} s"),
        (
            "  of which model encode",
            f"{r.pipeline_encode_seconds:.1f} s ({r.pipeline_encoded} texts encoded: "
            f"{r.pipeline_encoded - r.phrases_encoded} passages, {r.phrases_encoded} candidate phrases)",
        ),
        ("  other (validate, SQLite, FAISS)", f"{r.pipeline_seconds - r.pipeline_encode_seconds:.1f} s"),
        ("pipeline / raw", f"{r.pipeline_raw_ratio:.3f}   (target >= 0.9)"),
        ("max |pipeline - raw| vector diff", f"{r.max_vector_difference:.2e}"),
        ("second ingest (new Matcher)", f"{r.second_seconds:8.3f} s   texts encoded: {r.second_encoded}"),
        ("first / second", f"{r.first_second_ratio:.0f}x   (target >= 50)"),
        ("cold first match by id", f"{r.cold_first_query_ms:.1f} ms (loads the index from disk)"),
        (
            "match by need id, top 10",
            f"p50 {r.by_id['p50_ms']:.1f} ms  p95 {r.by_id['p95_ms']:.1f} ms  (n={int(r.by_id['n'])})",
        ),
        (
            "match by free text, top 10",
            f"p50 {r.by_text['p50_ms']:.1f} ms  p95 {r.by_text['p95_ms']:.1f} ms  "
            f"(n={int(r.by_text['n'])}, {r.by_text_encoded} encoded in the query)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for target, met in r.targets.items():
        print(f"target {target}: {'MET' if met else 'NOT MET'}")
    if raw_json:
        print(json.dumps({**asdict(r), "targets": r.targets}, sort_keys=True))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA, help="folder of the shared data sets")
    parser.add_argument("--projects", type=int, default=1000, help="papers ingested as projects (default 1000)")
    parser.add_argument("--needs", type=int, default=1000, help="SBIR topics ingested as needs (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated raw/pipeline rounds; best counts (default 2)")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency measurement (default 200)")
    parser.add_argument("--work-dir", type=Path, help="where files and data go (default: a new temporary folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the query sampling")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    if min(args.projects, args.needs, args.queries, args.rounds) < 1:
        parser.error("--projects, --needs, --queries and --rounds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    shared = args.shared_data.resolve()
    missing = [str(shared / name) for name in (PAPERS, NEEDS) if not (shared / name).is_file()]
    if missing:
        print(f"Skipping the benchmark: shared data not found ({', '.join(missing)}); give --shared-data DIR")
        return 0
    temporary = args.work_dir is None  # a folder of our own, removed at the end
    work_dir = (args.work_dir or Path(tempfile.mkdtemp(prefix="bench_ingest_"))).resolve()
    if work_dir.is_relative_to(REPO_ROOT):
        print(f"Refusing to write into the repository ({work_dir}); choose a --work-dir outside it")
        return 2
    if any(work_dir.glob("data-*")):
        print(f"{work_dir} already holds data folders; the pipeline needs fresh ones")
        return 2
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = run(args, shared, work_dir)
    finally:
        if temporary:
            shutil.rmtree(work_dir, ignore_errors=True)
    report(results, args.json)
    return 0 if results.second_encoded == 0 else 1  # the second run must encode nothing


if __name__ == "__main__":
    sys.exit(main())
