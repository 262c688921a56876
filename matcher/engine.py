"""The matcher: ingestion into the catalogue, index upkeep, and ranked, explained matches."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from matcher import __version__
from matcher.storage.catalogue import Catalogue, ChangeSummary, text_hash
from matcher.config import Settings
from matcher.embedding.encoder import Embedder, SentenceTransformerEmbedder
from matcher.errors import NotFound, TooLarge, Unavailable
from matcher.explanation.explainer import Explainer, PendingProfile
from matcher.explanation.explain import Explanation
from matcher.filters import filter_sql
from matcher.index.store import IndexStore, SideIndex
from matcher.index.lexical import LexicalIndex, lexical_tokens
from matcher.ingest.readers import read_table, rows_from_objects
from matcher.ingest.validate import validate_table
from matcher.support.locks import WriteLock
from matcher.pipeline.request import Direction, Match, MatchRequest, MatchResult
from matcher.outcomes.store import OutcomeStore
from matcher.retrieval.ranking import Ranked, RankingPolicy
from matcher.records import Kind, Record
from matcher.reranking.features import Candidate, feature_matrix
from matcher.reranking.model import RerankerModel, base_signature, load_model
from matcher.retrieval.retrieve import retrieve
from matcher.text.passages import passages
from matcher.text.tokenize import detect_language, term_set
from matcher.embedding.cache import VectorCache
from matcher.index.vector import VectorIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    kind: str
    source: str
    records: int
    created: int
    updated: int
    unchanged: int
    deleted: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Matcher:
    """One data folder's catalogue, embeddings and indexes. Nothing heavy is loaded until used."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(
            settings.model_name, settings.model_path or None, settings.batch_size
        )
        self.catalogue = Catalogue(settings.catalogue_path)
        self.vectors = VectorCache(
            settings.embedding_cache_path,
            self.embedder,
            chunk_size=settings.encode_chunk_size,
            show_progress=settings.show_progress,
            memory_size=settings.query_cache_size,
            phrase_embedder=self._phrase_embedder(),
        )
        self.store = IndexStore(settings.index_dir)
        self._explainer: Explainer | None = None
        self._write_lock = WriteLock(settings.data_dir / ".write.lock")
        self._loaded: dict[Kind, tuple[str, SideIndex]] = {}
        self._load_lock = threading.Lock()
        self._reranker: tuple[tuple[int, int], RerankerModel | None, str | None] | None = None
        faiss.omp_set_num_threads(settings.faiss_threads)
        self.catalogue.migrate()
        self.outcomes = OutcomeStore(settings.catalogue_path)

    # -- ingestion ---------------------------------------------------------------------------

    def ingest_file(
        self, path: str | Path, kind: Kind, delete_missing: bool = False, encoding: str = "utf-8"
    ) -> IngestReport:
        """Validate a whole file and apply it (upsert by id); a file with any problem changes nothing."""
        records = validate_table(read_table(path, encoding), kind)
        return self._ingest(kind, records, str(path), delete_missing)

    def ingest_batch(self, kind: Kind, items: Any, source: str = "request body") -> IngestReport:
        """Validate and upsert a parsed JSON batch, with the same rules as a file."""
        table = rows_from_objects(items, source)
        if len(table.rows) > self.settings.max_batch_records:
            raise TooLarge(
                f"The batch has {len(table.rows)} records; the limit is {self.settings.max_batch_records}",
                details={"parameter": "records", "count": len(table.rows), "limit": self.settings.max_batch_records},
            )
        records = validate_table(table, kind)
        return self._ingest(kind, records, source, delete_missing=False)

    def ingest_records(self, kind: Kind, records: list[Record], source: str, delete_missing: bool = False) -> IngestReport:
        """Upsert records already validated or built by the caller (e.g. an evaluation corpus)."""
        return self._ingest(kind, records, source, delete_missing)

    def _ingest(self, kind: Kind, records: list[Record], source: str, delete_missing: bool) -> IngestReport:
        with self._write_lock.held():
            stored = self.catalogue.content_hashes(kind)
            changed = [record for record in records if stored.get(record.id) != record.content_hash]
            delete_ids = sorted(set(stored) - {record.id for record in records}) if delete_missing else []
            summary_ = ChangeSummary(unchanged=len(records))
            if changed or delete_ids:
                # Encode before writing anything: a model failure leaves catalogue and indexes as they were.
                texts = [text for record in changed for text in self.passages_of(record)]
                self.vectors.vectors(texts, description=f"Encoding {kind.value}", with_sentences=True)
                delta = self._term_delta(kind, changed, delete_ids)
                summary_ = self.catalogue.apply(kind, changed, delete_ids, delta)
                self.sync_index(kind)
            unchanged = len(records) - summary_.created - summary_.updated
            report = IngestReport(
                kind.value, source, len(records), summary_.created, summary_.updated, unchanged, summary_.deleted
            )
        log.info("Ingested %s", report)
        return report

    def delete(self, kind: Kind, record_ids: list[str]) -> IngestReport:
        """Remove records by id (all must exist, or nothing changes) and update the indexes."""
        with self._write_lock.held():
            present = self.catalogue.by_ids(kind, record_ids)
            missing = [record_id for record_id in record_ids if record_id not in present]
            if missing:
                raise NotFound(
                    f"{kind.singular.capitalize()} {missing[0]!r} does not exist",
                    details={"kind": kind.value, "id": missing[0]},
                )
            summary_ = self.catalogue.apply(kind, [], record_ids, self._term_delta(kind, [], record_ids))
            self.sync_index(kind)
        report = IngestReport(kind.value, "delete", len(record_ids), 0, 0, 0, summary_.deleted)
        log.info("Deleted %s", report)
        return report

    def _term_delta(self, kind: Kind, changed: list[Record], delete_ids: list[str]) -> Counter[str]:
        """How each term's document frequency changes when ``changed`` are written and ``delete_ids`` go."""
        previous = self.catalogue.by_ids(kind, [record.id for record in changed] + delete_ids)
        delta: Counter[str] = Counter()
        for record in changed:
            old = previous.get(record.id)
            if old is not None and old.text == record.text:
                continue
            delta.update(term_set(record.text))
            if old is not None:
                delta.subtract(term_set(old.text))
        for record_id in delete_ids:
            delta.subtract(term_set(previous[record_id].text))
        return delta

    def _phrase_embedder(self) -> Embedder:
        """What encodes free-text queries' new phrases: a twin of the model (loaded on first use), or the model."""
        twin = getattr(self.embedder, "twin", None)
        return twin() if self.settings.parallel_query_phrases and twin is not None else self.embedder

    # -- indexes -----------------------------------------------------------------------------

    @property
    def explainer(self) -> Explainer:
        """Explanation profiles; made on first use, since it needs the model's dimension."""
        with self._load_lock:
            if self._explainer is None:
                self._explainer = Explainer(self.settings, self.catalogue, self.vectors, self._dimension())
        return self._explainer

    def _dimension(self) -> int:
        """The model's dimension, from a saved index of this model when there is one: stored profiles
        can then be compared (e.g. for a plan) without loading the model."""
        for kind in Kind:
            manifest = self.store.manifest(kind)
            if manifest and manifest["model"] == self.embedder.name:
                return int(manifest["dimension"])
        return self.embedder.dimension

    def passages_of(self, record: Record) -> list[str]:
        """The texts embedded for ``record``: the whole text, or overlapping passages when long."""
        return passages(record.title, record.body, self.settings.passage_policy)

    def _load_saved(self, kind: Kind) -> SideIndex | None:
        return self.store.load(kind, self.embedder.name, self.settings.passage_policy, self.settings.bm25_parameters)

    def sync_index(self, kind: Kind, rebuild: bool = False) -> SideIndex:
        """Bring the saved indexes of ``kind`` in step with the catalogue, touching only what changed.

        Vectors come from the embedding cache, so only texts never seen are encoded. With
        ``rebuild`` the indexes are made anew (e.g. after the model changed).
        """
        with self._write_lock.held():
            revision = self.catalogue.revision(kind)
            wanted = self.catalogue.text_hashes(kind)
            index = None if rebuild else self._load_saved(kind)
            if index is not None and index.revision == revision and index.vector.text_hashes() == wanted:
                self._update_profiles(kind, wanted)
                return index
            if index is None:
                vector = VectorIndex(kind, self.embedder.name, self.embedder.dimension)
                index = SideIndex(vector, LexicalIndex(self.settings.bm25_parameters), self.settings.passage_policy)
            index.remove([key for key, digest in index.vector.text_hashes().items() if wanted.get(key) != digest])
            missing = [key for key in wanted if key not in index.vector.entries]
            records = self.catalogue.by_keys(kind, missing)
            groups = [self.passages_of(records[key]) for key in missing]
            flat = self.vectors.vectors(
                [text for group in groups for text in group], description=f"Indexing {kind.value}", with_sentences=True
            )
            bounds = np.cumsum([0, *(len(group) for group in groups)])
            blocks = [flat[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
            index.vector.add(missing, blocks, [wanted[key] for key in missing])
            index.lexical.set(missing, [lexical_tokens(records[key].text) for key in missing])
            index.revision = revision
            generation = self.store.save(index)
            with self._load_lock:
                self._loaded[kind] = (generation, index)
            self._update_profiles(kind, wanted)
            return index

    def _update_profiles(self, kind: Kind, wanted: dict[int, str]) -> None:
        """Make the explanation profiles the index's records lack (when ``explain_at_index``)."""
        if not self.settings.explain_at_index:
            return
        self.explainer.forget_others(kind, set(wanted))
        self.explainer.update(kind, wanted)

    def index(self, kind: Kind) -> SideIndex:
        """The current saved index of ``kind``, reloaded when another process saved a newer one."""
        generation = self.store.current_generation(kind)
        if generation is None:
            raise Unavailable(
                f"There is no {kind.value} index yet; ingest a file or run `matcher index`",
                details={"kind": kind.value},
            )
        with self._load_lock:
            loaded = self._loaded.get(kind)
            if loaded is not None and loaded[0] == generation:
                return loaded[1]
            index = self._load_saved(kind)
            if index is None:
                raise Unavailable(f"The {kind.value} index disappeared while loading", details={"kind": kind.value})
            self._loaded[kind] = (generation, index)
            return index

    # -- matching ----------------------------------------------------------------------------

    def request(self, **parameters: Any) -> MatchRequest:
        return MatchRequest.build(self.settings, **parameters)

    def match(self, request: MatchRequest) -> MatchResult:
        """Ranked records of the other side for a stored record or a free text, each explained."""
        target = request.direction.target_kind
        text_profile: PendingProfile | None = None
        if request.record_id is not None:
            stored = self.catalogue.get(request.direction.query_kind, request.record_id)
            vectors = self._stored_vectors(request.direction.query_kind, stored.key, stored.record)
            tokens = self._stored_tokens(request.direction.query_kind, stored.key, stored.record)
            query_text = stored.record.text
        else:
            assert request.text is not None
            # The text's candidate phrases are made beside its own encoding (Explainer.start_text_profile).
            text_profile = self.explainer.start_text_profile(request.text) if request.explain else None
            vectors = self.vectors.query_vectors(passages("", request.text, self.settings.passage_policy))
            tokens = lexical_tokens(request.text)
            query_text = request.text
        condition, parameters = filter_sql(target, request.filters)
        if request.record_id is not None:
            condition, parameters = self._without_declined(request.direction.query_kind, request.record_id, condition, parameters)
        allowed = self.catalogue.filtered_keys(target, condition, parameters) if condition else None
        reranker = self.reranker_for(request)
        depth = max(request.top_k, self.settings.rerank_depth) if reranker else request.top_k
        ranked = self.rank(target, vectors, tokens, depth, allowed, min_similarity=request.min_score)
        records = self.catalogue.by_keys(target, [hit.key for hit in ranked])
        ranked = [hit for hit in ranked if hit.key in records]  # deleted since the index was saved
        explanations: list[Explanation | None] = [None] * len(ranked)
        if (request.explain or reranker) and ranked:
            explainer = self.explainer
            if request.record_id is not None:
                query_kind = request.direction.query_kind
                query = explainer.profiles(query_kind, {stored.key: stored.record})[stored.key]
            else:
                query = (text_profile or explainer.start_text_profile(request.text or "")).result()
            profiles = explainer.profiles(target, records)
            language = (stored.record.language if request.record_id is not None else "") or detect_language(query_text)
            explanations = list(explainer.explain_all(query, [profiles[hit.key] for hit in ranked], language))
        elif text_profile is not None:
            text_profile.cancel()  # nothing to explain
        rerank_scores: list[float | None] = [None] * len(ranked)
        if reranker is not None:
            ranked, explanations, rerank_scores = self._rerank(reranker, stored.record, ranked, records, explanations)
        ranked = ranked[: request.top_k]
        matches = [
            Match(position, hit, records[hit.key], explanation if request.explain else None,
                  self.settings.ranking_policy, rerank_score)
            for position, (hit, explanation, rerank_score) in enumerate(zip(ranked, explanations, rerank_scores), start=1)
        ]
        candidates = self.index(target).count if allowed is None else len(allowed)
        return MatchResult(request, matches, candidates, ranking="reranked" if reranker is not None else "base")

    # -- re-ranking learnt from outcomes (matcher.reranking) ---------------------------------

    def reranker_status(self) -> tuple[RerankerModel | None, str | None]:
        """The saved re-ranker when it may be used, else None and why (the file is re-read when it changes)."""
        if not self.settings.use_reranker:
            return None, "turned off (setting use_reranker)"
        path = self.settings.reranker_path
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None, "no model has been trained (matcher train-reranker)"
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._reranker
        if cached is None or cached[0] != stamp:
            model = load_model(path)
            reason = (
                f"the saved model {path} cannot be read" if model is None
                else model.unusable_because(self.embedder.name, base_signature(self.settings))
            )
            cached = self._reranker = (stamp, model if reason is None else None, reason)
            if reason is not None:
                log.warning("Not re-ranking: %s", reason)
        return cached[1], cached[2]

    def reranker_for(self, request: MatchRequest) -> RerankerModel | None:
        """The re-ranker for ``request``: only stored needs matched to projects, as it was trained and measured."""
        if request.record_id is None or request.direction is not Direction.NEED_TO_PROJECTS:
            return None
        return self.reranker_status()[0]

    def _rerank(
        self, model: RerankerModel, need: Record, ranked: list[Ranked], records: dict[int, Record],
        explanations: list[Explanation | None],
    ) -> tuple[list[Ranked], list[Explanation | None], list[float | None]]:
        """The base ranking with its first ``rerank_depth`` hits re-ordered by the model's scores."""
        depth = min(self.settings.rerank_depth, len(ranked))
        candidates = [
            Candidate(position, hit, records[hit.key], explanation)
            for position, (hit, explanation) in enumerate(zip(ranked[:depth], explanations[:depth]), start=1)
        ]
        scores = model.score(feature_matrix(need, candidates)).tolist()
        order = sorted(range(depth), key=lambda i: (-scores[i], i)) + list(range(depth, len(ranked)))
        return (
            [ranked[i] for i in order],
            [explanations[i] for i in order],
            [scores[i] if i < depth else None for i in order],
        )

    def _without_declined(
        self, query_kind: Kind, record_id: str, condition: str, parameters: list[Any]
    ) -> tuple[str, list[Any]]:
        """The filter condition, also leaving out the records declined as not relevant with this one."""
        declined = sorted(self.outcomes.declined_not_relevant_for(query_kind, record_id))
        if not declined:
            return condition, parameters
        clause = f"id NOT IN ({','.join('?' * len(declined))})"
        return (f"({condition}) AND {clause}" if condition else clause), [*parameters, *declined]

    def _stored_vectors(self, kind: Kind, key: int, record: Record) -> np.ndarray:
        """A stored record's passage vectors: from its index when that holds this text, else the cache."""
        vectors = self.index(kind).vector.record_vectors(key, text_hash(record.text))
        return vectors if vectors is not None else self.vectors.vectors(self.passages_of(record))

    def _stored_tokens(self, kind: Kind, key: int, record: Record) -> list[str]:
        tokens = self.index(kind).lexical.tokens.get(key)
        return tokens if tokens is not None else lexical_tokens(record.text)

    def rank(
        self,
        target: Kind,
        query_vectors: np.ndarray,
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
            self.index(target), policy or self.settings.ranking_policy, query_vectors, query_tokens, top_k, allowed, min_similarity
        )

    # -- records and status ------------------------------------------------------------------

    def get(self, kind: Kind, record_id: str) -> Record:
        return self.catalogue.get(kind, record_id).record

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
                "in_sync": bool(manifest) and manifest["revision"] == revision,
            }
        return {
            "status": "ok" if all(side["in_sync"] for side in sides.values()) else "degraded",
            "version": __version__,
            "model": {"name": self.embedder.name, "loaded": bool(getattr(self.embedder, "loaded", True))},
            "ranking": {
                "method": policy.method.value,
                "fusion": policy.fusion.value,
                "dense_weight": policy.dense_weight,
                "feedback_docs": policy.feedback_docs,
                "reranker": self._reranker_health(),
            },
            "indexes": sides,
            "schema_version": self.catalogue.schema_version(),
        }

    def _reranker_health(self) -> dict[str, Any]:
        model, reason = self.reranker_status()
        if model is None:
            return {"used": False, "reason": reason}
        return {"used": True, "model": model.name, "cv_gain": model.cv_gain, "metric": model.cv.get("metric"),
                "trained_at": model.trained_at, "depth": self.settings.rerank_depth}
