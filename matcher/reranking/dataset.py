"""Training rows for the re-ranker: each labelled (need, project) pair as the engine sees it.

A need's base ranking is computed over every project (so a labelled project outside the top
still gets its rank), and each labelled pair is explained from the stored profiles, exactly as
a match would be; nothing is encoded that the caches do not hold already.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from matcher.errors import NotFound
from matcher.outcomes.pairs import Pair, PairOutcome, latest_by_pair
from matcher.pipeline.query import Query
from matcher.pipeline.reader import Reader
from matcher.records import Kind, Record
from matcher.reranking.features import FEATURES, Candidate, feature_matrix
from matcher.retrieval.ranking import Ranked

log = logging.getLogger(__name__)


class LabelledOutcome(PairOutcome, Protocol):
    """What the re-ranker reads of a recorded outcome (see :class:`matcher.outcomes.store.Outcome`)."""

    @property
    def label(self) -> bool | None: ...


def latest_labels(outcomes: Iterable[LabelledOutcome]) -> dict[Pair, bool]:
    """Each pair's label from its latest outcome (:func:`~matcher.outcomes.pairs.latest_by_pair`); pending pairs are left out."""
    return {pair: outcome.label for pair, outcome in latest_by_pair(outcomes).items() if outcome.label is not None}


def need_query(reader: Reader, need_id: str) -> Query:
    """A stored need as a query, as a match by its id builds it."""
    return reader.queries.stored(Kind.NEEDS, need_id)


def base_ranking(reader: Reader, query: Query, depth: int | None = None) -> list[Ranked]:
    """The configured (base) ranking of projects for a need, best first: ``depth`` of them, or all."""
    depth = depth or reader.index(Kind.PROJECTS).count
    return reader.rank(Kind.PROJECTS, query.channels, query.tokens, depth) if depth else []


def explained_candidates(
    reader: Reader, query: Query, ranked: list[tuple[int, Ranked]], records: Mapping[int, Record]
) -> list[Candidate]:
    """``(base rank, hit)`` pairs explained against the need, as :class:`Candidate` s."""
    if not ranked:
        return []
    wanted = {hit.key: records[hit.key] for _, hit in ranked}
    explanations = reader.explain(query, Kind.PROJECTS, wanted, [hit.key for _, hit in ranked])
    return [
        Candidate(rank, hit, records[hit.key], explanation) for (rank, hit), explanation in zip(ranked, explanations)
    ]


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # (pairs, len(FEATURES))
    labels: np.ndarray  # bool
    needs: np.ndarray  # the need id of each row: the cross-validation groups
    projects: list[str]
    base_ranks: np.ndarray  # 1-based position of the project in the need's base ranking
    skipped: int = 0  # labelled pairs whose need or project no longer exists

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(
            self.features[rows],
            self.labels[rows],
            self.needs[rows],
            [self.projects[i] for i in rows],
            self.base_ranks[rows],
        )

    def evaluable_needs(self) -> list[str]:
        """Needs with at least one positive and one negative pair: only they can tell two orders apart."""
        found: dict[str, set[bool]] = {}
        for need, label in zip(self.needs.tolist(), self.labels.tolist()):
            found.setdefault(need, set()).add(bool(label))
        return sorted(need for need, labels in found.items() if len(labels) == 2)

    def counts(self) -> dict[str, Any]:
        positives = int(self.labels.sum())
        return {
            "pairs": len(self),
            "positives": positives,
            "negatives": len(self) - positives,
            "needs": len(set(self.needs.tolist())),
            "evaluable_needs": len(self.evaluable_needs()),
            "skipped": self.skipped,
        }


def build_dataset(reader: Reader, labels: Mapping[Pair, bool]) -> Dataset:
    """Feature rows for labelled pairs; pairs whose need or project is gone are counted in ``skipped``."""
    by_need: dict[str, dict[str, bool]] = {}
    for pair, label in labels.items():
        by_need.setdefault(pair.need_id, {})[pair.project_id] = label
    wanted = {project_id for pairs in by_need.values() for project_id in pairs}
    key_of = {
        stored.record.id: stored.key for stored in reader.catalogue.records(Kind.PROJECTS) if stored.record.id in wanted
    }
    blocks: list[np.ndarray] = []
    rows: list[tuple[str, str, bool, int]] = []
    skipped = 0
    for need_id in tqdm(
        sorted(by_need), desc="Features of labelled pairs", unit="need", disable=not reader.settings.show_progress
    ):
        pairs = by_need[need_id]
        try:
            query = need_query(reader, need_id)
        except NotFound:
            skipped += len(pairs)
            continue
        position = {hit.key: (rank, hit) for rank, hit in enumerate(base_ranking(reader, query), start=1)}
        present = [
            (project_id, key_of[project_id])
            for project_id in sorted(pairs)
            if project_id in key_of and key_of[project_id] in position
        ]
        skipped += len(pairs) - len(present)
        if not present:
            continue
        records = reader.catalogue.by_keys(Kind.PROJECTS, [key for _, key in present])
        candidates = explained_candidates(reader, query, [position[key] for _, key in present], records)
        blocks.append(feature_matrix(query.record, candidates))
        rows.extend((need_id, project_id, pairs[project_id], position[key][0]) for project_id, key in present)
    if skipped:
        log.warning("%d labelled pairs name a need or project that no longer exists; they are left out", skipped)
    return Dataset(
        np.vstack(blocks) if blocks else np.zeros((0, len(FEATURES))),
        np.asarray([row[2] for row in rows], dtype=bool),
        np.asarray([row[0] for row in rows], dtype=object),
        [row[1] for row in rows],
        np.asarray([row[3] for row in rows], dtype=np.int64),
        skipped,
    )
