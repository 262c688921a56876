"""Vector and BM25 indexes at 100,000 and 1,000,000: build time, memory, query p50/p95, recall@10.

Vectors: real all-MiniLM-L6-v2 vectors of a few thousand real passages from ../shared/data
(pap2pat-title, nfcorpus and SBIR texts), encoded once and cached in ``var/index_scale/``; a
million is made from them by mixing each base vector with a random second one (weight 0 to 0.3)
and Gaussian noise, then renormalising, so neighbourhoods are continuous rather than tight
clusters of copies. Records own 1 to 3 passages (ids ``key << 8 | passage``, as the service
stores them). Queries are held-out real vectors, searched one at a time on one thread, the way
the service searches; recall@10 is over records, against the exact flat index, with the same
filter. The filter lets a random 10% of records pass.

BM25: texts drawn from the same corpora, each document a random window of words of a random
real text plus a few words of another (repeated with variation), indexed by
:class:`matcher.index.lexical.LexicalIndex`; queries are real SBIR titles+first sentence.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_index_scale.py vectors --sizes 100000,1000000
    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_index_scale.py bm25 --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import SHARED_DATA, missing_shared, percentile, read_jsonl, skip_message, work_dir

SOURCES = (
    Path("pap2pat-title") / "corpus.jsonl",
    Path("nfcorpus") / "corpus.jsonl",
    Path("sbir-topics") / "needs.jsonl",
)
BASES = 4_000
QUERIES = 300
FILTER_SHARE = 0.10
SEED = 18


def rss_mb() -> float:
    """The process's resident memory now (MB), from /proc."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def real_texts(shared: Path) -> list[str]:
    texts = []
    for source in SOURCES:
        for row in read_jsonl(shared / source, 10_000):
            text = f"{row.get('title') or ''}. {row['text']}".strip(". ")
            if len(text) > 40:
                texts.append(text[:1200])
    return texts


def real_vectors(shared: Path, cache: Path) -> np.ndarray:
    """MiniLM vectors of BASES + QUERIES real passages (a random choice), encoded once and cached."""
    path = cache / f"minilm-{BASES + QUERIES}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    from matcher.embedding.encoder import SentenceTransformerEmbedder

    texts = real_texts(shared)
    chosen = np.random.default_rng(SEED).choice(len(texts), BASES + QUERIES, replace=False)
    started = time.perf_counter()
    vectors = SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2").encode([texts[i] for i in chosen])
    print(f"encoded {len(vectors)} real passages in {time.perf_counter() - started:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def synthetic(bases: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` unit vectors near the real ones: base + u * other base + noise, renormalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, bases.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        first = bases[rng.integers(0, len(bases), n)]
        second = bases[rng.integers(0, len(bases), n)]
        mixed = first + rng.uniform(0, 0.3, (n, 1)).astype(np.float32) * second
        mixed += rng.normal(0, 0.03, mixed.shape).astype(np.float32)
        out[start : start + n] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return out


def record_layout(count: int, seed: int) -> tuple[list[int], list[slice]]:
    """Records of 1 to 3 passages covering ``count`` passage rows: keys and their row slices."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, count)
    ends = np.cumsum(sizes)
    ends = ends[ends <= count]
    starts = np.concatenate([[0], ends[:-1]])
    if ends[-1] < count:
        starts, ends = np.append(starts, ends[-1]), np.append(ends, count)
    return list(range(1, len(starts) + 1)), [slice(int(a), int(b)) for a, b in zip(starts, ends)]


def top_records(similarities: np.ndarray, record_of: np.ndarray, k: int) -> list[int]:
    """The ``k`` best distinct records of a ranked list of passages (record per passage given)."""
    seen: list[int] = []
    for record in record_of[np.argsort(-similarities, kind="stable")]:
        if record >= 0 and int(record) not in seen:
            seen.append(int(record))
            if len(seen) == k:
                break
    return seen


def timed(search: Any, queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    """Each query searched alone: the milliseconds it took, and the top-10 records it gave."""
    times, results = [], []
    for query in queries:
        started = time.perf_counter()
        found = search(query[None, :])
        times.append((time.perf_counter() - started) * 1000)
        results.append(found)
    return times, results


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(found, truth)]))


def exact_top(index: Any, allowed: np.ndarray | None) -> Any:
    def search(query: np.ndarray) -> list[int]:
        keys = index.nearest(query, 10, allowed)
        keys, scores, _ = index.scores_of(query, keys)
        return [int(keys[i]) for i in np.argsort(-scores, kind="stable")[:10]]

    return search


def bench_vectors(args: argparse.Namespace) -> list[dict[str, Any]]:
    import faiss

    from matcher.index.approximate import ApproximateIndex
    from matcher.index.parameters import ANNParameters
    from matcher.index.vector import VectorIndex
    from matcher.records import Kind

    faiss.omp_set_num_threads(1)  # searches: one thread, as the service (setting faiss_threads)
    cache = work_dir("index_scale")
    real = real_vectors(SHARED_DATA, cache)
    bases, queries = real[:BASES], real[BASES:][: args.queries]
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        vectors = synthetic(bases, size, SEED + size)
        keys, slices = record_layout(size, SEED)
        blocks = [vectors[s] for s in slices]
        hashes = ["h"] * len(keys)
        rng = np.random.default_rng(SEED)
        allowed = np.sort(rng.choice(np.asarray(keys), max(1, int(FILTER_SHARE * len(keys))), replace=False))
        print(f"\n== {size:,} passages, {len(keys):,} records; load {load_average()}", flush=True)
        before = rss_mb()
        started = time.perf_counter()
        flat = VectorIndex(Kind.PROJECTS, "bench", vectors.shape[1])
        flat.add(keys, blocks, hashes)
        flat.layout()
        build = time.perf_counter() - started
        flat_memory = rss_mb() - before
        truth = {name: timed(exact_top(flat, filt), queries) for name, filt in (("none", None), ("10%", allowed))}
        for name, (times, _) in truth.items():
            rows.append(
                dict(
                    size=size,
                    kind="flat",
                    params="exact",
                    filter=name,
                    build_s=build,
                    memory_mb=flat_memory,
                    p50=percentile(times, 0.5),
                    p95=percentile(times, 0.95),
                    recall=1.0,
                )
            )
            print(rows[-1], flush=True)
        del flat
        gc.collect()
        if args.class_nprobe:
            rows += bench_ivf_class(vectors, keys, slices, allowed, queries, truth, args)
        for nlist_factor in args.ivf:
            rows += bench_ivf(vectors, keys, slices, allowed, queries, truth, nlist_factor, args)
        for m, ef_construction in args.hnsw:
            parameters = ANNParameters(hnsw_m=m, ef_construction=ef_construction)
            saved = cache / f"hnsw-{size}-M{m}-efc{ef_construction}.faiss"
            kind: Any = type("BenchHNSW", (ApproximateIndex,), {"parameters": parameters, "exact_below": 0})
            before = rss_mb()
            started = time.perf_counter()
            if saved.is_file():
                index = kind(
                    Kind.PROJECTS,
                    "bench",
                    vectors.shape[1],
                    {k: ("h", s.stop - s.start) for k, s in zip(keys, slices)},
                    faiss.read_index(str(saved)),
                )
                build = float(json.loads(saved.with_suffix(".json").read_text())["build_s"])
            else:
                index = kind(Kind.PROJECTS, "bench", vectors.shape[1])
                faiss.omp_set_num_threads(args.threads)
                index.add(keys, blocks, hashes)
                faiss.omp_set_num_threads(1)
                build = time.perf_counter() - started
                faiss.write_index(index.ids_index, str(saved))
                saved.with_suffix(".json").write_text(json.dumps({"build_s": build, "threads": args.threads}))
            index.layout()
            memory = rss_mb() - before
            print(
                f"hnsw M={m} efC={ef_construction}: build {build:.0f} s, +{memory:.0f} MB; load {load_average()}",
                flush=True,
            )
            for ef in args.ef:
                kind.parameters = ANNParameters(
                    hnsw_m=m, ef_construction=ef_construction, ef_search=ef, exact_filter_below=args.exact_filter_below
                )
                for name, filt in (("none", None), ("10%", allowed)):
                    times, found = timed(exact_top(index, filt), queries)
                    rows.append(
                        dict(
                            size=size,
                            kind="hnsw",
                            params=f"M={m} efC={ef_construction} ef={ef}",
                            filter=name,
                            build_s=build,
                            memory_mb=memory,
                            p50=percentile(times, 0.5),
                            p95=percentile(times, 0.95),
                            recall=recall(found, truth[name][1]),
                        )
                    )
                    print(rows[-1], flush=True)
            del index
            gc.collect()
    return rows


def bench_ivf_class(
    vectors: np.ndarray,
    keys: list[int],
    slices: list[slice],
    allowed: np.ndarray,
    queries: np.ndarray,
    truth: dict[str, tuple[list[float], list[list[int]]]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """IVF through ``matcher.index`` ("ivf" kind, as "auto" builds it above its threshold)."""
    import faiss

    from matcher.index.approximate import ApproximateIndex
    from matcher.index.parameters import ANNParameters
    from matcher.records import Kind

    size = len(vectors)
    kind: Any = type(
        "BenchIVF", (ApproximateIndex,), {"parameters": ANNParameters(), "exact_below": 0, "approximate_kind": "ivf"}
    )
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    faiss.omp_set_num_threads(args.threads)
    index = kind(Kind.PROJECTS, "bench", vectors.shape[1])
    index.add(keys, [vectors[s] for s in slices], ["h"] * len(keys))
    faiss.omp_set_num_threads(1)
    index.layout()
    build = time.perf_counter() - started
    memory = rss_mb() - before
    print(f"ivf (matcher.index): build {build:.0f} s, +{memory:.0f} MB; load {load_average()}", flush=True)
    rows = []
    for nprobe in args.class_nprobe:
        kind.parameters = ANNParameters(ivf_nprobe=nprobe, exact_filter_below=args.exact_filter_below)
        for name, filt in (("none", None), ("10%", allowed)):
            times, found = timed(exact_top(index, filt), queries)
            rows.append(
                dict(
                    size=size,
                    kind="ivf (matcher.index)",
                    params=f"nlist=4 sqrt(n) nprobe={nprobe}",
                    filter=name,
                    build_s=build,
                    memory_mb=memory,
                    p50=percentile(times, 0.5),
                    p95=percentile(times, 0.95),
                    recall=recall(found, truth[name][1]),
                )
            )
            print(rows[-1], flush=True)
    return rows


def ivf_search(ivf: Any, params: Any, record_of: np.ndarray) -> Any:
    def search(query: np.ndarray) -> list[int]:
        similarities, found = ivf.search(query, 30, params=params)
        return top_records(similarities[0], np.where(found[0] >= 0, record_of[found[0]], -1), 10)

    return search


def bench_ivf(
    vectors: np.ndarray,
    keys: list[int],
    slices: list[slice],
    allowed: np.ndarray,
    queries: np.ndarray,
    truth: dict[str, tuple[list[float], list[list[int]]]],
    nlist_factor: float,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Raw FAISS IVF-Flat (rows as ids), filtered by a bitmap selector, for comparison with HNSW."""
    import faiss

    size = len(vectors)
    record_of = np.repeat(np.asarray(keys), [s.stop - s.start for s in slices])
    passing = np.isin(record_of, allowed)
    bits = np.packbits(passing, bitorder="little")
    nlist = int(nlist_factor * np.sqrt(size))
    before = rss_mb()
    started = time.perf_counter()
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(SEED).choice(size, min(size, 64 * nlist), replace=False)
    faiss.omp_set_num_threads(args.threads)
    ivf.train(vectors[np.sort(sample)])
    ivf.add(vectors)
    faiss.omp_set_num_threads(1)
    build = time.perf_counter() - started
    memory = rss_mb() - before
    print(f"ivf nlist={nlist}: build {build:.0f} s, +{memory:.0f} MB; load {load_average()}", flush=True)
    rows = []
    for nprobe in args.nprobe:
        for name in ("none", "10%"):
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            if name == "10%":
                params.sel = faiss.IDSelectorBitmap(size, faiss.swig_ptr(bits))

            times, found = timed(ivf_search(ivf, params, record_of), queries)
            rows.append(
                dict(
                    size=size,
                    kind="ivf",
                    params=f"nlist={nlist} nprobe={nprobe}",
                    filter=name,
                    build_s=build,
                    memory_mb=memory,
                    p50=percentile(times, 0.5),
                    p95=percentile(times, 0.95),
                    recall=recall(found, truth[name][1]),
                )
            )
            print(rows[-1], flush=True)
    return rows


def synthetic_token_lists(real: list[list[str]], count: int, seed: int) -> list[list[str]]:
    """``count`` documents: a random window (20 to 120 tokens) of a real text plus 5 tokens of another."""
    rng = np.random.default_rng(seed)
    firsts, seconds = rng.integers(0, len(real), count), rng.integers(0, len(real), count)
    lengths, offsets = rng.integers(20, 121, count), rng.random(count)
    documents = []
    for first, second, length, offset in zip(firsts, seconds, lengths, offsets):
        tokens, other = real[first], real[second]
        start = int(offset * max(0, len(tokens) - length))
        documents.append(tokens[start : start + length] + other[:5])
    return documents


def bench_bm25(args: argparse.Namespace) -> list[dict[str, Any]]:
    """BM25 build time, memory and query p50/p95 (score every record, then the best 10), filtered or not."""
    from matcher.index.lexical import lexical_tokens

    real = [lexical_tokens(text) for text in real_texts(SHARED_DATA)]
    needs = read_jsonl(SHARED_DATA / SOURCES[2], 10_000)
    picked = np.random.default_rng(SEED + 1).choice(len(needs), args.queries, replace=False)
    queries = [lexical_tokens(f"{needs[i]['title']}. {needs[i]['text'][:300]}") for i in picked]
    print(f"{len(real)} real texts tokenised; query tokens median {int(np.median([len(q) for q in queries]))}")
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        rows += bm25_at(size, real, queries)
        gc.collect()
    return rows


def bm25_at(size: int, real: list[list[str]], queries: list[list[str]]) -> list[dict[str, Any]]:
    from matcher.index.lexical import BM25Parameters, LexicalIndex
    from matcher.index.vector import keys_in

    rows: list[dict[str, Any]] = []
    documents = synthetic_token_lists(real, size, SEED + size)
    keys = list(range(1, size + 1))
    allowed_set = set(np.random.default_rng(SEED).choice(size, size // 10, replace=False).tolist())
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = LexicalIndex(BM25Parameters())
    index.set(keys, documents)
    index.scores(["x"])  # builds the BM25 matrix
    build = time.perf_counter() - started
    memory = rss_mb() - before
    print(
        f"\n== BM25 {size:,} documents: build {build:.1f} s, +{memory:.0f} MB (tokens included); load {load_average()}"
    )

    def top(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        return np.argpartition(-scores, 9)[:10]

    def scored(mask_of: Any) -> Any:
        def search(query: list[str]) -> np.ndarray:
            keys, scores = index.scores(query)
            return top(scores, mask_of(keys) if mask_of is not None else None)

        return search

    variants = {  # converting the filter's set to an array is timed too, as retrieval pays it
        "none": scored(None),
        "10%, np.isin over all keys (as rank() does)": scored(
            lambda keys: np.isin(keys, np.fromiter(allowed_set, dtype=np.int64))
        ),
        "10%, sorted-key search (keys_in)": scored(
            lambda keys: keys_in(keys, np.fromiter(allowed_set, dtype=np.int64))
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(2):  # alternate the variants over rounds
        for name, search in variants.items():
            for query in queries[round_number::2]:
                started = time.perf_counter()
                search(query)
                times[name].append((time.perf_counter() - started) * 1000)
    for name, values in times.items():
        rows.append(
            dict(
                size=size,
                kind="bm25",
                filter=name,
                build_s=build,
                memory_mb=memory,
                p50=percentile(values, 0.5),
                p95=percentile(values, 0.95),
            )
        )
        print(rows[-1], flush=True)
    return rows


def pairs(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (item.split(":") for item in text.split(",") if item)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["vectors", "bm25"])
    parser.add_argument("--sizes", default="100000,1000000", type=lambda t: [int(x) for x in t.split(",")])
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument(
        "--threads", type=int, default=2, help="FAISS threads while building (search: one query at a time)"
    )
    parser.add_argument("--hnsw", default="16:40", type=pairs, help="M:efConstruction,...")
    parser.add_argument("--ef", default="64,128,256", type=lambda t: [int(x) for x in t.split(",")])
    parser.add_argument(
        "--ivf", default="4", type=lambda t: [float(x) for x in t.split(",") if x], help="nlist = F * sqrt(n)"
    )
    parser.add_argument("--nprobe", default="16,32,64", type=lambda t: [int(x) for x in t.split(",")])
    parser.add_argument(
        "--class-nprobe",
        default="",
        type=lambda t: [int(x) for x in t.split(",") if x],
        help="also measure IVF through matcher.index at these nprobe values",
    )
    parser.add_argument("--exact-filter-below", type=int, default=5_000)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    missing = missing_shared(SHARED_DATA, SOURCES)
    if missing:
        print(skip_message(SHARED_DATA, missing))
        return
    print(f"load average at start: {load_average()}; {os.cpu_count()} cores", flush=True)
    rows = bench_vectors(args) if args.part == "vectors" else bench_bm25(args)
    print(f"load average at end: {load_average()}; peak RSS {peak_rss_mb():.0f} MB", flush=True)
    print(markdown(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as the table in benchmarks/RESULTS.md."""
    lines = [
        "| n | kind | parameters | filter | build s | memory MB | p50 ms | p95 ms | recall@10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['size']:,} | {row['kind']} | {row.get('params', '')} | {row['filter']} | {row['build_s']:.1f} | "
            f"{row['memory_mb']:.0f} | {row['p50']:.2f} | {row['p95']:.2f} | "
            f"{row['recall']:.3f} |"
            if "recall" in row
            else f"| {row['size']:,} | {row['kind']} | {row.get('params', '')} | {row['filter']} | {row['build_s']:.1f} | "
            f"{row['memory_mb']:.0f} | {row['p50']:.2f} | {row['p95']:.2f} | - |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
