"""Evaluate ranking methods on a BEIR set in a private work folder, reusing cached embeddings."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm import tqdm

from matcher.config import Settings
from matcher.embedding.encoder import Embedder
from matcher.errors import InvalidInput
from matcher.evaluation.beir import BeirSet, load_beir
from matcher.evaluation.metrics import summarise
from matcher.index.lexical import lexical_tokens
from matcher.index.store import SideIndex
from matcher.pipeline.reader import Opener, Workspace
from matcher.records import Kind, Record
from matcher.retrieval.channels import QueryVectors
from matcher.retrieval.ranking import Fusion, Method, RankingPolicy
from matcher.retrieval.retrieve import retrieve
from matcher.text.passages import passages
from matcher.text.tokenize import detect_language

log = logging.getLogger(__name__)

SPLITS = ("all", "dev", "test")
METHODS = ("bm25", "dense", "rrf", "hybrid")  # the keys of method_policies, in the order reports list them


def method_policies(settings: Settings) -> dict[str, RankingPolicy]:
    """The methods an evaluation can compare; ``hybrid`` is whatever the settings make the default."""
    return {
        "bm25": RankingPolicy(Method.BM25),
        "dense": RankingPolicy(Method.DENSE),
        "rrf": RankingPolicy(Method.HYBRID, Fusion.RRF, rrf_k=60),
        "hybrid": settings.ranking_policy,
    }


@dataclass(frozen=True)
class MethodResult:
    method: str
    metrics: dict[str, float]
    queries: int

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **{k: round(v, 4) for k, v in self.metrics.items()}, "queries": self.queries}


def in_split(query_id: str, split: str) -> bool:
    """A fixed half of the queries is ``dev`` (for choosing defaults), the other half ``test``."""
    if split == "all":
        return True
    half = hashlib.sha256(query_id.encode("utf-8")).digest()[0] % 2
    return half == (0 if split == "dev" else 1)


@contextmanager
def _work_folder(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
    else:
        with tempfile.TemporaryDirectory(prefix="matcher-evaluate-") as folder:
            yield Path(folder)


def _ingest_corpus(matcher: Workspace, beir: BeirSet) -> dict[int, str]:
    records = [Record(Kind.PROJECTS, doc.id, doc.title, doc.text) for doc in beir.corpus]
    matcher.ingest_records(Kind.PROJECTS, records, f"{beir.name}/corpus.jsonl", delete_missing=True)
    return {stored.key: stored.record.id for stored in matcher.catalogue.records(Kind.PROJECTS)}


@dataclass(frozen=True)
class SetQuery:
    id: str
    text: str
    vectors: QueryVectors
    tokens: list[str]


@dataclass(frozen=True)
class PreparedSet:
    """A BEIR set ingested into a work folder: its side index, key -> document id, encoded queries."""

    beir: BeirSet
    side: SideIndex
    id_of: dict[int, str]
    queries: list[SetQuery]


@contextmanager
def prepared_set(
    folder: str | Path,
    settings: Settings,
    split: str,
    opener: Opener,
    embedder: Embedder | None = None,
    work_dir: Path | None = None,
) -> Iterator[PreparedSet]:
    """The set's corpus indexed (both dense channels when on) and its ``split`` of queries encoded."""
    beir = load_beir(folder)
    queries = {qid: text for qid, text in beir.queries.items() if in_split(qid, split)}
    with _work_folder(work_dir) as work:
        # The work folder gets its own catalogue and indexes; embeddings stay in the shared cache.
        work_settings = settings.replace(data_dir=work, embedding_cache=str(settings.embedding_cache_path))
        matcher = opener(work_settings, embedder)
        id_of = _ingest_corpus(matcher, beir)
        side = matcher.sync_index(Kind.PROJECTS)
        groups = [passages("", text, settings.passage_policy) for text in queries.values()]
        texts = [p for group in groups for p in group]
        flat = matcher.vectors.vectors(texts, description=f"Encoding {beir.name} queries")
        cache = matcher.multilingual_vectors
        multilingual = cache.vectors(texts, description=f"Encoding {beir.name} queries") if cache else None
        bounds = np.cumsum([0, *(len(group) for group in groups)])
        encoded = [
            SetQuery(
                qid,
                text,
                QueryVectors(
                    flat[start:end],
                    multilingual[start:end] if multilingual is not None else None,
                    detect_language(text),
                ),
                lexical_tokens(text),
            )
            for (qid, text), start, end in zip(queries.items(), bounds[:-1], bounds[1:])
        ]
        yield PreparedSet(beir, side, id_of, encoded)


def evaluate(
    folder: str | Path,
    settings: Settings,
    methods: list[str],
    top_k: int = 100,
    work_dir: Path | None = None,
    run_out: IO[str] | None = None,
    split: str = "all",
    embedder: Embedder | None = None,
    policies: dict[str, RankingPolicy] | None = None,
    *,
    opener: Opener,
) -> list[MethodResult]:
    """Rank every labelled query of a BEIR set with each method and measure the rankings.

    ``opener`` opens the work folder (:func:`matcher.engine.open`, or a fake in tests).

    ``policies`` replaces the named methods of :func:`method_policies` (to compare many fusions
    while the corpus is ingested and every query scored only once).
    """
    policies = policies or method_policies(settings)
    unknown = [method for method in methods if method not in policies]
    if unknown or split not in SPLITS:
        raise InvalidInput(
            f"Unknown method(s) {unknown} or split {split!r}; methods are {sorted(policies)}, splits {list(SPLITS)}",
            details={"parameter": "method"},
        )
    with prepared_set(folder, settings, split, opener, embedder, work_dir) as prepared:
        runs: dict[str, dict[str, list[str]]] = {method: {} for method in methods}
        progress = tqdm(
            total=len(prepared.queries),
            desc=f"Ranking {prepared.beir.name}",
            unit="query",
            disable=not settings.show_progress,
        )
        for query in prepared.queries:
            for method in methods:
                hits = retrieve(prepared.side, policies[method], query.vectors, query.tokens, top_k)
                runs[method][query.id] = [prepared.id_of[hit.key] for hit in hits]
                if run_out is not None:
                    for position, hit in enumerate(hits, start=1):
                        run_out.write(f"{query.id} Q0 {prepared.id_of[hit.key]} {position} {hit.score:.6f} {method}\n")
            progress.update(1)
        progress.close()
        qrels = prepared.beir.qrels
    return [MethodResult(method, summarise(runs[method], qrels), len(runs[method])) for method in methods]
