"""The narrow interfaces that application modules take instead of the whole :class:`~matcher.engine.Matcher`.

The planner, all-pairs scoring, outcome evaluation and the re-ranker's training read through a
:class:`Reader`; the evaluations and the outcome simulation, which fill a work folder of their
own, through a :class:`Workspace` made by an :data:`Opener` (in production
:func:`matcher.engine.open`). Tests can fake either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from matcher.config import Settings
from matcher.embedding.cache import VectorCache
from matcher.embedding.encoder import Embedder
from matcher.explanation.explain import Explanation
from matcher.explanation.explainer import Explainer
from matcher.index.store import SideIndex
from matcher.indexing.ingestion import IngestReport
from matcher.outcomes.store import OutcomeStore
from matcher.pipeline.query import Query, QueryBuilder
from matcher.pipeline.request import MatchRequest, MatchResult
from matcher.records import Kind, Record
from matcher.retrieval.channels import QueryVectors
from matcher.retrieval.ranking import Ranked, RankingPolicy
from matcher.storage.catalogue import Catalogue
from matcher.strength.model import StrengthModel


class Reader(Protocol):
    """Records, side vectors and tokens, queries, ranking, profiles and explanations, outcomes."""

    @property
    def settings(self) -> Settings: ...

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def outcomes(self) -> OutcomeStore: ...

    @property
    def queries(self) -> QueryBuilder: ...

    @property
    def explainer(self) -> Explainer: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def strength(self) -> StrengthModel: ...

    def index(self, kind: Kind) -> SideIndex: ...

    def rank(
        self,
        target: Kind,
        query_vectors: np.ndarray | QueryVectors,
        query_tokens: list[str],
        top_k: int,
        allowed: set[int] | None = None,
        policy: RankingPolicy | None = None,
        min_similarity: float | None = None,
    ) -> list[Ranked]: ...

    def explain(
        self, query: Query, kind: Kind, records: Mapping[int, Record], keys: Sequence[int]
    ) -> list[Explanation]: ...


class Workspace(Reader, Protocol):
    """A :class:`Reader` that also takes records and matches requests: an evaluation's work folder."""

    @property
    def vectors(self) -> VectorCache: ...

    @property
    def multilingual_vectors(self) -> VectorCache | None:
        """The multilingual channel's cache; None when that channel is off."""
        ...

    def ingest_records(
        self, kind: Kind, records: list[Record], source: str, delete_missing: bool = False
    ) -> IngestReport: ...

    def sync_index(self, kind: Kind, rebuild: bool = False) -> SideIndex: ...

    def passages_of(self, record: Record) -> list[str]: ...

    def request(self, **parameters: object) -> MatchRequest: ...

    def match(self, request: MatchRequest) -> MatchResult: ...


# Opens a data folder's workspace from settings, with an encoder of the caller's or the configured one.
Opener = Callable[[Settings, Embedder | None], Workspace]
