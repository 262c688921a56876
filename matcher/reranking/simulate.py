"""Outcomes simulated from relevance labels (a BEIR set's qrels), to train and test the re-ranker.

A BEIR set's queries become needs (the query text as the description, no title, so a need's
passages are exactly the texts `matcher evaluate` encodes for the query) and its documents
projects. For each need the first ``depth`` projects of the base ranking are "introduced": a
pair the qrels mark relevant ends in a meeting or an agreement, any other is declined as not
relevant. With ``noise`` a share of the labels is flipped at random (a fixed seed).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass

from tqdm import tqdm

from matcher.evaluation.beir import BeirSet
from matcher.index.lexical import LexicalIndex, lexical_tokens
from matcher.indexing.ingestion import IngestReport
from matcher.outcomes.store import AgreementType, DeclineReason, OutcomeStatus
from matcher.pipeline.reader import Workspace
from matcher.records import Kind, Record
from matcher.reranking.dataset import base_ranking, need_query

log = logging.getLogger(__name__)

AGREEMENT_SHARE = 0.3  # of simulated positive outcomes, the share that are agreements rather than meetings


def subset(beir: BeirSet, query_ids: Iterable[str], neighbours: int) -> BeirSet:
    """``beir`` cut to some queries, their relevant documents and each query's ``neighbours`` best BM25 documents.

    The neighbours are hard negatives found without any encoding, so a small corpus still ranks like a large one.
    """
    chosen = [query_id for query_id in query_ids if query_id in beir.queries]
    index = LexicalIndex()
    index.set(list(range(len(beir.corpus))), [lexical_tokens(f"{doc.title}\n{doc.text}") for doc in beir.corpus])
    keep: set[str] = set()
    for query_id in chosen:
        keys, scores = index.scores(lexical_tokens(beir.queries[query_id]))
        keep.update(beir.corpus[int(keys[i])].id for i in (-scores).argsort(kind="stable")[:neighbours])
        keep.update(beir.qrels[query_id])
    return BeirSet(
        beir.name,
        [doc for doc in beir.corpus if doc.id in keep],
        {query_id: beir.queries[query_id] for query_id in chosen},
        {query_id: beir.qrels[query_id] for query_id in chosen},
    )


def ingest_beir(reader: Workspace, beir: BeirSet) -> tuple[IngestReport, IngestReport]:
    """Documents as projects and queries as needs (embeddings through the cache; indexes and profiles made)."""
    projects = [Record(Kind.PROJECTS, doc.id, doc.title, doc.text) for doc in beir.corpus]
    needs = [Record(Kind.NEEDS, query_id, "", text) for query_id, text in beir.queries.items()]
    return (
        reader.ingest_records(Kind.PROJECTS, projects, f"{beir.name}/corpus.jsonl", delete_missing=True),
        reader.ingest_records(Kind.NEEDS, needs, f"{beir.name}/queries.jsonl", delete_missing=True),
    )


@dataclass(frozen=True)
class SimulatedOutcome:
    need_id: str
    project_id: str
    status: OutcomeStatus  # meeting, agreement or declined
    agreement_type: AgreementType | None = None
    decline_reason: DeclineReason | None = None

    @property
    def label(self) -> bool:
        return self.status is not OutcomeStatus.DECLINED

    def values(self) -> dict[str, str]:
        """The outcome as an import row (see :meth:`matcher.outcomes.store.OutcomeStore.record_many`)."""
        row = {"need_id": self.need_id, "project_id": self.project_id, "status": self.status.value}
        if self.agreement_type:
            row["agreement_type"] = self.agreement_type.value
        if self.decline_reason:
            row["decline_reason"] = self.decline_reason.value
        return row


def simulate_outcomes(
    reader: Workspace,
    qrels: dict[str, dict[str, int]],
    need_ids: Iterable[str],
    depth: int = 20,
    seed: int = 13,
    noise: float = 0.0,
) -> list[SimulatedOutcome]:
    """An outcome for each of the first ``depth`` projects of each need's base ranking, from ``qrels``."""
    if not 0 <= noise <= 1:
        raise ValueError(f"noise must be from 0 to 1, got {noise}")
    rng = random.Random(seed)
    outcomes: list[SimulatedOutcome] = []
    for need_id in tqdm(
        list(need_ids), desc="Simulating outcomes", unit="need", disable=not reader.settings.show_progress
    ):
        hits = base_ranking(reader, need_query(reader, need_id), depth)
        records = reader.catalogue.by_keys(Kind.PROJECTS, [hit.key for hit in hits])
        relevant = qrels.get(need_id, {})
        for hit in hits:
            project_id = records[hit.key].id
            positive = relevant.get(project_id, 0) > 0
            if noise and rng.random() < noise:
                positive = not positive
            if not positive:
                outcomes.append(
                    SimulatedOutcome(
                        need_id, project_id, OutcomeStatus.DECLINED, decline_reason=DeclineReason.NOT_RELEVANT
                    )
                )
            elif rng.random() < AGREEMENT_SHARE:
                outcomes.append(
                    SimulatedOutcome(
                        need_id, project_id, OutcomeStatus.AGREEMENT, agreement_type=AgreementType.JOINT_RESEARCH
                    )
                )
            else:
                outcomes.append(SimulatedOutcome(need_id, project_id, OutcomeStatus.MEETING))
    return outcomes


def record_outcomes(reader: Workspace, outcomes: list[SimulatedOutcome], author: str = "simulation") -> int:
    """Store simulated outcomes in the data folder's outcome store, all in one transaction."""
    stored = reader.outcomes.record_many(
        ((number, outcome.values()) for number, outcome in enumerate(outcomes, start=1)), "simulated outcomes", author
    )
    log.info("Recorded %d simulated outcomes", len(stored))
    return len(stored)
