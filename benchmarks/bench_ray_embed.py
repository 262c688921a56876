#!/usr/bin/env python
"""Benchmark of bulk encoding on Ray (``matcher.embedding.bulk``) against encoding in the process.

The same real passages (pap2pat-title papers, cut into passages as the ingest cuts them) are
encoded by the English channel, with their sentence sums, into a fresh embedding cache by:

- ``local-1t`` / ``local-2t``: ``VectorCache.vectors`` in this process, the default encoder
  (``embedding_backend = "auto"``: OpenVINO where it runs) at 1 / 2 threads;
- ``ray-1w`` / ``ray-2w``: ``fill_caches`` on a local Ray cluster (``ray.init(num_cpus=2)``, joined
  once) with 1 / 2 encoder actors of 1 thread each, building the same encoder; each run starts its
  own actor pool, so its time includes the pool's start (a worker process, the model).

The variants alternate over ``--rounds`` rounds (order rotated each round); the median round of
each is reported. Besides, once: the pool's start (a fill of one text), Ray's own cost per batch
(actors whose "encoder" returns zeros at once), and the driver's cache-write rate (``store`` of
the vectors and sentence sums). An extrapolation to N machines rests on those figures.

Run from the repository root::

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_ray_embed.py [--texts 400] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from common import SHARED_DATA, bench_settings, real_corpus, work_dir
from matcher.embedding.bulk import Channel, ClusterOptions, fill_caches, length_batches
from matcher.embedding.cache import VectorCache, sentence_bounds
from matcher.embedding.encoder import SpanVectors
from matcher.embedding.factory import EncoderSpec
from matcher.engine import english_spec
from matcher.text.passages import record_passages

log = logging.getLogger("bench_ray_embed")

VARIANTS = ("local-1t", "local-2t", "ray-1w", "ray-2w")
# Catalogue sizes of the extrapolation: the 100,000 long needs at 4.7 passages each.
TARGET_PASSAGES = 470_000
MACHINES = (1, 2, 4, 8, 16, 32, 64, 128)
CORES_PER_MACHINE = 2


@dataclass
class Results:
    texts: int = 0
    characters: int = 0
    encoder: str = ""  # the identity every variant encodes with
    batch_size: int = 0
    rounds: int = 0
    load_average_start: float = 0.0
    load_average_end: float = 0.0
    load_averages: list[float] = field(default_factory=list)  # after each measured run
    seconds: dict[str, list[float]] = field(default_factory=dict)  # every round of each variant
    texts_per_s: dict[str, float] = field(default_factory=dict)  # median round
    pool_start_seconds: float = 0.0  # a fill of one text: worker, model, one batch
    ray_steady_texts_per_s: dict[str, float] = field(default_factory=dict)  # pool start taken off
    ray_batch_overhead_seconds: float = 0.0  # Ray's cost per batch with zero-cost encoders
    driver_store_texts_per_s: float = 0.0
    scaling_1_to_2: float = 0.0
    ray_1w_vs_local_1t: float = 0.0
    ray_2w_vs_local_2t: float = 0.0
    max_vector_difference: float = 0.0  # ray-2w against local-2t, same texts
    extrapolation: list[dict[str, float | str]] = field(default_factory=list)


class ZeroEmbedder:
    """An encoder that costs nothing: zero vectors and sums of the real shapes, to measure Ray alone."""

    def __init__(self, name: str, identity: str, dimension: int = 384) -> None:
        self.name = name
        self.identity = identity  # the real encoder's, which the fill checks the workers against
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), self._dimension), dtype=np.float32)

    def encode_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SpanVectors]]:
        parts = [
            SpanVectors(
                np.asarray(bounds, dtype=np.int32).reshape(-1, 2),
                np.zeros((len(bounds), self._dimension), dtype=np.float32),
                np.zeros(len(bounds), dtype=np.int32),
            )
            for bounds in spans
        ]
        return self.encode(texts), parts

    def readable(self, texts: list[str]) -> list[bool]:
        return [True] * len(texts)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def passages_of_papers(count: int) -> list[str] | None:
    corpus = real_corpus(SHARED_DATA, projects=count, needs=0)
    if corpus is None:
        return None
    policy = bench_settings().passage_policy
    texts: dict[str, None] = {}
    for record in corpus[0]:
        texts.update(dict.fromkeys(record_passages(record, policy)))
        if len(texts) >= count:
            break
    return list(texts)[:count]


def fresh_cache(folder: Path, embedder: object) -> VectorCache:
    path = Path(tempfile.mkstemp(suffix=".sqlite", dir=folder)[1])
    path.unlink()
    return VectorCache(path, embedder, show_progress=False)  # type: ignore[arg-type]


def _with_threads(spec: EncoderSpec, threads: int) -> EncoderSpec:
    return dataclasses.replace(spec, options=dataclasses.replace(spec.options, threads=threads))


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=bench_settings().ray_batch_size)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--extrapolate-from", type=Path, help="Only redo the extrapolation from a run's --json line (a file)."
    )
    arguments = parser.parse_args()
    if arguments.extrapolate_from:
        saved = Results(**json.loads(arguments.extrapolate_from.read_text().strip().splitlines()[-1]))
        saved.extrapolation = extrapolate(
            saved.texts_per_s["local-1t"],
            saved.ray_batch_overhead_seconds,
            saved.driver_store_texts_per_s,
            saved.batch_size,
            saved.pool_start_seconds,
        )
        report(saved)
        return
    logging.basicConfig(level=logging.WARNING)
    results = Results(batch_size=arguments.batch_size, rounds=arguments.rounds, load_average_start=load())
    print(f"load average at start: {results.load_average_start}")
    texts = passages_of_papers(arguments.texts)
    if texts is None:
        return
    results.texts, results.characters = len(texts), sum(map(len, texts))

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    factory = english_spec(bench_settings(model_cache_dir=str(work_dir("bench-models"))))
    locals_by_threads = {threads: _with_threads(factory, threads)() for threads in (1, 2)}
    for encoder in locals_by_threads.values():
        encoder.encode(["warm up the model once; its load (and first export) is not measured"])
    local = locals_by_threads[2]
    results.encoder = local.identity
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))

    def ray_options(workers: int) -> ClusterOptions:
        return ClusterOptions("local", workers=workers, batch_size=arguments.batch_size, worker_threads=1)

    def ray_fill(cache: VectorCache, workers: int, chosen: list[str], make: Callable[[], object] = factory) -> None:
        fill_caches(chosen, [Channel(cache, make, with_sentences=True)], ray_options(workers))  # type: ignore[arg-type]

    caches: dict[str, VectorCache] = {}

    def run(variant: str) -> float:
        cache = fresh_cache(folder, locals_by_threads[int(variant[-2])] if variant.startswith("local") else local)
        caches[variant] = cache
        if variant.startswith("local"):
            return timed(lambda: cache.vectors(texts, with_sentences=True))
        return timed(lambda: ray_fill(cache, int(variant[-2]), texts))

    results.seconds = {variant: [] for variant in VARIANTS}
    for round_number in range(arguments.rounds):
        shift = round_number % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            seconds = run(variant)
            results.seconds[variant].append(round(seconds, 2))
            results.load_averages.append(load())
            print(
                f"round {round_number + 1} {variant}: {seconds:.1f} s ({len(texts) / seconds:.1f} texts/s), load {load()}"
            )
    for variant, rounds in results.seconds.items():
        results.texts_per_s[variant] = round(len(texts) / statistics.median(rounds), 2)
    reference = caches["local-2t"].vectors(texts)
    results.max_vector_difference = float(np.abs(caches["ray-2w"].vectors(texts) - reference).max())

    # The pool's start: a fill of one text (worker process, the model, one batch).
    one = [texts[-1]]
    results.pool_start_seconds = round(
        statistics.median(timed(lambda: ray_fill(fresh_cache(folder, local), 1, one)) for _ in range(2)), 2
    )
    for variant in ("ray-1w", "ray-2w"):
        steady = statistics.median(results.seconds[variant]) - results.pool_start_seconds
        results.ray_steady_texts_per_s[variant] = round(len(texts) / steady, 2)

    # Ray's own cost per batch: encoders that return zeros at once, all texts against one batch.
    zero = functools.partial(ZeroEmbedder, local.name, local.identity)
    batches = len(length_batches(texts, arguments.batch_size))
    all_zero = statistics.median(timed(lambda: ray_fill(fresh_cache(folder, local), 1, texts, zero)) for _ in range(3))
    one_zero = statistics.median(timed(lambda: ray_fill(fresh_cache(folder, local), 1, one, zero)) for _ in range(3))
    results.ray_batch_overhead_seconds = round(max(all_zero - one_zero, 0.0) / max(batches - 1, 1), 4)

    # The driver's cache writes: vectors and sentence sums of every text, a batch per transaction.
    vectors, sums = local.encode_spans(texts[: arguments.batch_size], sentence_bounds(texts[: arguments.batch_size]))
    store_cache = fresh_cache(folder, local)
    store_texts = [
        f"{text} #{copy}" for copy in range(len(texts) // len(vectors) + 1) for text in texts[: len(vectors)]
    ]
    started = time.perf_counter()
    for start in range(0, len(store_texts), len(vectors)):
        chunk = store_texts[start : start + len(vectors)]
        store_cache.store(chunk, vectors[: len(chunk)], sums[: len(chunk)])
    results.driver_store_texts_per_s = round(len(store_texts) / (time.perf_counter() - started), 1)

    results.scaling_1_to_2 = round(results.texts_per_s["ray-2w"] / results.texts_per_s["ray-1w"], 3)
    results.ray_1w_vs_local_1t = round(results.texts_per_s["ray-1w"] / results.texts_per_s["local-1t"], 3)
    results.ray_2w_vs_local_2t = round(results.texts_per_s["ray-2w"] / results.texts_per_s["local-2t"], 3)
    results.extrapolation = extrapolate(
        results.texts_per_s["local-1t"],
        results.ray_batch_overhead_seconds,
        results.driver_store_texts_per_s,
        arguments.batch_size,
        results.pool_start_seconds,
    )
    ray.shutdown()
    results.load_average_end = load()
    report(results)
    if arguments.json:
        print(json.dumps(asdict(results)))


def extrapolate(
    per_worker: float, batch_overhead: float, store_rate: float, batch_size: int, pool_start: float
) -> list[dict[str, float | str]]:
    """Throughput on N machines of CORES_PER_MACHINE one-thread workers, by arithmetic.

    ``per_worker`` is one thread's encoding rate without Ray (local-1t), ``batch_overhead`` Ray's
    cost per batch (zero-cost encoders: scheduling, serialisation both ways, the driver's
    receive and store), ``store_rate`` the driver's cache writes. Two bounds: the overhead paid by
    each worker in parallel (the rate is then the workers' or the driver's writes, the lesser),
    and the overhead paid serially by the driver (at most one batch per ``batch_overhead``).
    The hours add one pool start to ``TARGET_PASSAGES`` at the rate.
    """
    rows: list[dict[str, float | str]] = []
    for machines in MACHINES:
        workers = machines * CORES_PER_MACHINE
        parallel = min(workers * batch_size / (batch_size / per_worker + batch_overhead), store_rate)
        serial = min(workers * per_worker, batch_size / batch_overhead if batch_overhead else store_rate, store_rate)
        rows.append(
            {
                "machines": machines,
                "workers": workers,
                "texts_per_s": round(parallel, 1),
                "texts_per_s_serial_overhead": round(serial, 1),
                "hours_for_target": round((pool_start + TARGET_PASSAGES / parallel) / 3600, 2),
                "hours_for_target_serial_overhead": round((pool_start + TARGET_PASSAGES / serial) / 3600, 2),
            }
        )
    return rows


def report(results: Results) -> None:
    print(
        f"\n{results.texts} passages ({results.characters} characters), batch {results.batch_size}, {results.rounds} rounds"
    )
    print(f"{'variant':<9} {'texts/s':>8}  rounds (s)")
    for variant in VARIANTS:
        print(f"{variant:<9} {results.texts_per_s[variant]:>8.1f}  {results.seconds[variant]}")
    print(f"ray 1 -> 2 workers: x{results.scaling_1_to_2}")
    print(f"ray-1w / local-1t: {results.ray_1w_vs_local_1t}; ray-2w / local-2t: {results.ray_2w_vs_local_2t}")
    print(f"pool start (fill of one text): {results.pool_start_seconds} s")
    print(f"ray steady (pool start taken off): {results.ray_steady_texts_per_s}")
    print(f"Ray's cost per batch (zero-cost encoders): {results.ray_batch_overhead_seconds * 1000:.1f} ms")
    print(f"driver's cache writes: {results.driver_store_texts_per_s} texts/s")
    print(f"largest vector difference ray-2w vs local-2t: {results.max_vector_difference:.2e}")
    print(f"extrapolation to {TARGET_PASSAGES} passages (overhead on each worker / serial on the driver):")
    for row in results.extrapolation:
        print(
            f"  {row['machines']:>3} machines ({row['workers']:>3} workers): {row['texts_per_s']:>8} / "
            f"{row['texts_per_s_serial_overhead']:>8} texts/s, {row['hours_for_target']} / "
            f"{row['hours_for_target_serial_overhead']} h"
        )
    print(f"load average at end: {results.load_average_end}; after each run: {results.load_averages}")


if __name__ == "__main__":
    main()
