"""The composition root: :func:`open` builds a data folder's :class:`Matcher` from the settings.

Every collaborator is made here and passed in; backends are chosen by configuration through
small factories (:mod:`matcher.embedding.factory`, :mod:`matcher.index.factory`, :data:`STAGES`).
A match is a short pipeline (:meth:`Matcher.match`): query, candidates, retrieval, ranking
stages, explanation.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from matcher import __version__
from matcher.config import Settings
from matcher.embedding.cache import VectorCache
from matcher.embedding.encoder import Embedder
from matcher.embedding.factory import EncoderOptions, EncoderSpec, phrase_embedder
from matcher.errors import ConfigError
from matcher.explanation.explain import Explanation
from matcher.explanation.explainer import Explainer
from matcher.index.factory import vector_index_class
from matcher.index.store import IndexStore, SideIndex
from matcher.indexing.indexes import Indexes, Repair
from matcher.indexing.ingestion import Ingestion, IngestReport
from matcher.outcomes.store import OutcomeStore
from matcher.pipeline.candidates import allowed_keys
from matcher.pipeline.explain import explain_query, record_language
from matcher.pipeline.query import Query, QueryBuilder
from matcher.pipeline.request import Match, MatchRequest, MatchResult
from matcher.pipeline.stages import Hit, RankingStage, apply_stage
from matcher.records import Kind, Record
from matcher.reranking.stage import LearntReranker
from matcher.retrieval.channels import QueryVectors
from matcher.retrieval.ranking import Ranked, RankingPolicy
from matcher.retrieval.retrieve import retrieve
from matcher.storage.catalogue import Catalogue
from matcher.strength.model import PairKind, StrengthModel, bundled_model, pair_kind
from matcher.support.atomic_files import remove_stale_temporaries
from matcher.support.lazy import Lazy
from matcher.support.locks import WriteLock
from matcher.support.permissions import tighten_folder

__all__ = ["STAGES", "IngestReport", "Matcher", "Repair", "open"]

log = logging.getLogger(__name__)

# A temporary file of an atomic write (the re-ranker's model) this much older is a dead writer's.
STALE_TEMPORARY_SECONDS = 3600

# Ranking stages by the names the ``ranking_stages`` setting uses; a new stage is one entry here.
STAGES: dict[str, Callable[[Settings, Embedder], RankingStage]] = {
    "reranker": lambda settings, embedder: LearntReranker(settings, embedder.identity),
}


def make_stages(settings: Settings, embedder: Embedder) -> list[RankingStage]:
    names = [name.strip() for name in settings.ranking_stages.split(",") if name.strip()]
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        raise ConfigError(
            f"Setting 'ranking_stages' names unknown stage(s) {unknown}; valid stages are {sorted(STAGES)}",
            details={"setting": "ranking_stages", "value": settings.ranking_stages},
        )
    return [STAGES[name](settings, embedder) for name in names]


def _encoder_options(settings: Settings) -> EncoderOptions:
    return EncoderOptions(
        settings.batch_size, settings.embedding_quantisation, settings.models_dir, settings.model_threads
    )


def english_spec(settings: Settings) -> EncoderSpec:
    """What builds the English channel's encoder the settings choose (picklable, no other setting in it)."""
    return EncoderSpec(settings.embedding_backend, settings.model_name, settings.model_path, _encoder_options(settings))


def multilingual_spec(settings: Settings) -> EncoderSpec | None:
    """What builds the multilingual channel's encoder, or None when the channel is off."""
    if not settings.multilingual_backend:
        return None
    options = dataclasses.replace(
        _encoder_options(settings),
        threads=settings.multilingual_threads,
        runtime=settings.multilingual_runtime,
        precision=settings.multilingual_precision,
    )
    return EncoderSpec(
        settings.multilingual_backend,
        settings.multilingual_model_name,
        settings.multilingual_model_path,
        options,
        setting="multilingual_backend",
    )


# Shadows the builtin on purpose: `matcher.engine.open(settings)` is the library's entry point.
def open(settings: Settings, embedder: Embedder | None = None, multilingual: Embedder | None = None) -> Matcher:
    """A data folder's matcher with the collaborators the settings choose; nothing heavy loads yet.

    The data folder is made owner-only (0o700) first, and the stores create their files 0o600
    (:mod:`matcher.support.permissions`); the process umask is left to the application.
    """
    tighten_folder(settings.data_dir)
    embedder = embedder or english_spec(settings)()
    if multilingual is None and (spec := multilingual_spec(settings)) is not None:
        multilingual = spec()
    catalogue = Catalogue(settings.catalogue_path)
    vectors = VectorCache(
        settings.embedding_cache_path,
        embedder,
        chunk_size=settings.encode_chunk_size,
        show_progress=settings.show_progress,
        memory_size=settings.query_cache_size,
        phrase_embedder=phrase_embedder(embedder, settings.parallel_query_phrases),
    )
    # The multilingual channel's vectors share the cache file: its keys hash the model's name too.
    multilingual_vectors = (
        VectorCache(
            settings.embedding_cache_path,
            multilingual,
            chunk_size=settings.encode_chunk_size,
            show_progress=settings.show_progress,
            memory_size=settings.query_cache_size,
        )
        if multilingual is not None
        else None
    )
    store = IndexStore(settings.index_dir, vector_index_class(settings.index_kind, settings.ann_parameters))
    indexes = Indexes(
        settings,
        catalogue,
        vectors,
        store,
        WriteLock(settings.data_dir / ".write.lock", settings.write_lock_timeout),
        multilingual=multilingual_vectors,
    )
    # Explanation profiles need the model's dimension, so the explainer is made on first use.
    explainer = Lazy(
        lambda: Explainer(
            settings.explain_policy,
            settings.passage_policy,
            catalogue,
            vectors,
            indexes.dimension(),
            settings.profile_path,
            settings.profile_cache_size,
            settings.threads,
            settings.query_phrases,
        )
    )
    if settings.explain_at_index:

        def update_profiles(kind: Kind, wanted: dict[int, str]) -> None:
            explainer().forget_others(kind, set(wanted))
            explainer().update(kind, wanted)

        indexes.on_indexed = update_profiles
    faiss.omp_set_num_threads(settings.faiss_threads)
    catalogue.migrate()
    return Matcher(
        settings,
        embedder=embedder,
        catalogue=catalogue,
        vectors=vectors,
        indexes=indexes,
        ingestion=Ingestion(settings, indexes),
        outcomes=OutcomeStore(settings.catalogue_path),
        explainer=explainer,
        queries=QueryBuilder(
            catalogue, indexes.current, vectors, explainer, settings.passage_policy, multilingual_vectors
        ),
        stages=make_stages(settings, embedder),
    )


class Matcher:
    """One data folder's catalogue, indexes, explanations and outcomes, behind one facade."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder,
        catalogue: Catalogue,
        vectors: VectorCache,
        indexes: Indexes,
        ingestion: Ingestion,
        outcomes: OutcomeStore,
        explainer: Callable[[], Explainer],
        queries: QueryBuilder,
        stages: Sequence[RankingStage],
        strength: StrengthModel | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.catalogue = catalogue
        self.vectors = vectors
        self.indexes = indexes
        self.ingestion = ingestion
        self.outcomes = outcomes
        self.queries = queries
        self.stages = list(stages)
        self._explainer = explainer
        self.strength = strength or bundled_model()

    # -- writing -----------------------------------------------------------------------------

    def ingest_file(
        self, path: str | Path, kind: Kind, delete_missing: bool = False, encoding: str = "utf-8"
    ) -> IngestReport:
        return self.ingestion.ingest_file(path, kind, delete_missing, encoding)

    def ingest_batch(self, kind: Kind, items: Any, source: str = "request body") -> IngestReport:
        return self.ingestion.ingest_batch(kind, items, source)

    def validate_batch(self, kind: Kind, items: Any, source: str = "request body") -> list[Record]:
        return self.ingestion.validate_batch(kind, items, source)

    def ingest_records(
        self, kind: Kind, records: list[Record], source: str, delete_missing: bool = False
    ) -> IngestReport:
        return self.ingestion.ingest_records(kind, records, source, delete_missing)

    def delete(self, kind: Kind, record_ids: list[str]) -> IngestReport:
        return self.ingestion.delete(kind, record_ids)

    def sync_index(self, kind: Kind, rebuild: bool = False) -> SideIndex:
        return self.indexes.sync(kind, rebuild)

    def heal(self, timeout: float | None = None) -> Repair:
        """Repair what writers killed midway left, under the write lock (at most ``timeout`` s, else Busy).

        Each side's index behind the catalogue is brought in step from the embedding cache and the
        leftovers of interrupted saves are removed (:meth:`Indexes.heal`); so are temporary files
        of the re-ranker's model. Its training does not take the write lock, so only those older
        than :data:`STALE_TEMPORARY_SECONDS` go. The server runs this as each worker starts.
        """
        with self.indexes.writing(timeout):
            repair = self.indexes.heal()
            repair.removed.extend(remove_stale_temporaries(self.settings.reranker_path, STALE_TEMPORARY_SECONDS))
        return repair

    # -- reading -----------------------------------------------------------------------------

    @property
    def multilingual_vectors(self) -> VectorCache | None:
        return self.indexes.multilingual

    @property
    def store(self) -> IndexStore:
        return self.indexes.store

    @property
    def explainer(self) -> Explainer:
        """Explanation profiles; made on first use, since it needs the model's dimension."""
        return self._explainer()

    def index(self, kind: Kind) -> SideIndex:
        return self.indexes.current(kind)

    def passages_of(self, record: Record) -> list[str]:
        return self.indexes.passages_of(record)

    def get(self, kind: Kind, record_id: str) -> Record:
        return self.catalogue.get(kind, record_id).record

    def query(self, request: MatchRequest) -> Query:
        """The request's query: its stored record, or its free text (explained beside its encoding)."""
        if request.record_id is not None:
            return self.queries.stored(request.direction.query_kind, request.record_id)
        assert request.text is not None
        return self.queries.free_text(request.text, request.explain)

    def explain(
        self, query: Query, kind: Kind, records: Mapping[int, Record], keys: Sequence[int]
    ) -> list[Explanation]:
        """Each of ``keys`` explained as a match for ``query``."""
        return explain_query(self.explainer, query, kind, records, keys)

    # -- matching ----------------------------------------------------------------------------

    def request(self, **parameters: Any) -> MatchRequest:
        return MatchRequest.build(self.settings, **parameters)

    def match(self, request: MatchRequest) -> MatchResult:
        """Ranked records of the other side for a stored record or a free text, each explained."""
        target = request.direction.target_kind
        query = self.query(request)
        allowed = allowed_keys(self.catalogue, self.outcomes, request)
        stages = [(stage, depth) for stage in self.stages if (depth := stage.depth(request))]
        depth = max([request.top_k, *(depth for _, depth in stages)])
        policy = self.settings.ranking_policy  # parsed once per match, not once per hit
        ranked = self.rank(target, query.channels, query.tokens, depth, allowed, policy)
        records = self.catalogue.by_keys(target, [hit.key for hit in ranked])
        hits = [Hit(hit, records[hit.key]) for hit in ranked if hit.key in records]  # deleted since the index was saved
        # Strength before explanations: min_score leaves weak matches out before anything explains them.
        kinds = {hit.ranked.key: self.pair_kind(query, hit.ranked, hit.record) for hit in hits}
        strengths = {
            key: self.strength.strength(hit.ranked, kinds[key]) for key, hit in ((h.ranked.key, h) for h in hits)
        }
        if request.min_score is not None:
            hits = [hit for hit in hits if strengths[hit.ranked.key] >= request.min_score]
        if (request.explain or any(stage.needs_explanations for stage, _ in stages)) and hits:
            explained = self.explain(query, target, records, [hit.ranked.key for hit in hits])
            hits = [Hit(hit.ranked, hit.record, explanation) for hit, explanation in zip(hits, explained)]
        else:
            query.drop_profile()  # nothing to explain
        for stage, stage_depth in stages:
            hits = apply_stage(stage, query, hits, stage_depth)
        matches = [
            Match(
                position,
                hit.ranked,
                hit.record,
                hit.explanation if request.explain else None,
                policy,
                hit.stage_score,
                strengths[hit.ranked.key],
                self.strength.band(strengths[hit.ranked.key], kinds[hit.ranked.key]),
            )
            for position, hit in enumerate(hits[: request.top_k], start=1)
        ]
        candidates = self.index(target).count if allowed is None else len(allowed)
        return MatchResult(request, matches, candidates, ranking="reranked" if stages else "base")

    @staticmethod
    def pair_kind(query: Query, hit: Ranked, record: Record) -> PairKind:
        """Which strength model a pair takes: by its dense channel and the two languages."""
        return pair_kind(query.language, record_language(record), hit.multilingual)

    def rank(
        self,
        target: Kind,
        query_vectors: np.ndarray | QueryVectors,
        query_tokens: list[str],
        top_k: int,
        allowed: set[int] | None = None,
        policy: RankingPolicy | None = None,
        min_similarity: float | None = None,
    ) -> list[Ranked]:
        """The ``top_k`` records of ``target`` for a query, by the configured (or given) ranking policy.

        ``min_similarity`` is a floor on the dense (cosine) similarity, which unlike a fused score
        means the same for every query.
        """
        return retrieve(
            self.index(target),
            policy or self.settings.ranking_policy,
            query_vectors,
            query_tokens,
            top_k,
            allowed,
            min_similarity,
        )

    # -- status ------------------------------------------------------------------------------

    def stage(self, name: str) -> RankingStage | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def health(self) -> dict[str, Any]:
        policy = self.settings.ranking_policy
        sides: dict[str, Any] = {}
        for kind in Kind:
            manifest = self.store.manifest(kind)
            revision = self.catalogue.revision(kind)
            sides[kind.value] = {
                "records": self.catalogue.count(kind),
                "indexed": manifest["count"] if manifest else 0,
                "index_model": manifest["model"] if manifest else None,
                "in_sync": manifest["revision"] == revision if manifest else False,
            }
        reranker = self.stage(LearntReranker.name)
        return {
            "status": "ok" if all(side["in_sync"] for side in sides.values()) else "degraded",
            "version": __version__,
            "model": {"name": self.embedder.name, "loaded": bool(getattr(self.embedder, "loaded", True))},
            "ranking": {
                "method": policy.method.value,
                "fusion": policy.fusion.value,
                "dense_weight": policy.dense_weight,
                "feedback_docs": policy.feedback_docs,
                "reranker": reranker.status()
                if reranker is not None
                else {"used": False, "reason": "not among ranking_stages"},
            },
            "indexes": sides,
            "schema_version": self.catalogue.schema_version(),
        }
