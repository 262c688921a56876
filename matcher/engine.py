"""The matcher: ingestion into the catalogue, index upkeep, and ranked, explained matches."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher import __version__
from matcher.catalogue import Catalogue, ChangeSummary
from matcher.config import Settings
from matcher.embedding import Embedder, SentenceTransformerEmbedder
from matcher.errors import IndexMismatch, TooLarge, Unavailable
from matcher.explain import FieldTerms, idf, shared_terms, summary
from matcher.filters import filter_sql
from matcher.index_store import IndexStore
from matcher.ingest.readers import read_table, rows_from_objects
from matcher.ingest.validate import validate_table
from matcher.locks import WriteLock
from matcher.matching import Match, MatchRequest, MatchResult
from matcher.records import Kind, Record
from matcher.text.tokenize import detect_language, term_set
from matcher.vector_cache import VectorCache
from matcher.vector_index import VectorIndex

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
        )
        self.store = IndexStore(settings.index_dir)
        self._write_lock = WriteLock(settings.data_dir / ".write.lock")
        self._loaded: dict[Kind, tuple[str, VectorIndex]] = {}
        self._load_lock = threading.Lock()
        self.catalogue.migrate()

    # -- ingestion ---------------------------------------------------------------------------

    def ingest_file(
        self, path: str | Path, kind: Kind, delete_missing: bool = False, encoding: str = "utf-8"
    ) -> IngestReport:
        """Validate a whole file and apply it (upsert by id); a file with any problem changes nothing."""
        records = validate_table(read_table(path, encoding), kind)
        return self._ingest(kind, records, str(path), delete_missing)

    def ingest_batch(self, kind: Kind, items: Any, source: str = "request body") -> IngestReport:
        """Validate and upsert a parsed JSON batch, with the same rules as a file."""
        if isinstance(items, list) and len(items) > self.settings.max_batch_records:
            raise TooLarge(
                f"The batch has {len(items)} records; the limit is {self.settings.max_batch_records}",
                details={"parameter": "records", "count": len(items), "limit": self.settings.max_batch_records},
            )
        records = validate_table(rows_from_objects(items, source), kind)
        return self._ingest(kind, records, source, delete_missing=False)

    def _ingest(self, kind: Kind, records: list[Record], source: str, delete_missing: bool) -> IngestReport:
        with self._write_lock.held():
            stored = self.catalogue.content_hashes(kind)
            changed = [record for record in records if stored.get(record.id) != record.content_hash]
            delete_ids = sorted(set(stored) - {record.id for record in records}) if delete_missing else []
            summary_ = ChangeSummary(unchanged=len(records))
            if changed or delete_ids:
                # Encode before writing anything: a model failure leaves catalogue and indexes as they were.
                self.vectors.vectors([record.text for record in changed], description=f"Encoding {kind.value}")
                delta = self._term_delta(kind, changed, delete_ids)
                summary_ = self.catalogue.apply(kind, changed, delete_ids, delta)
                self.sync_index(kind)
            unchanged = len(records) - summary_.created - summary_.updated
            report = IngestReport(
                kind.value, source, len(records), summary_.created, summary_.updated, unchanged, summary_.deleted
            )
        log.info("Ingested %s", report)
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

    # -- indexes -----------------------------------------------------------------------------

    def sync_index(self, kind: Kind, rebuild: bool = False) -> VectorIndex:
        """Bring the saved index of ``kind`` in step with the catalogue, touching only what changed.

        Vectors come from the embedding cache, so only texts never seen are encoded. With
        ``rebuild`` the index is made anew (e.g. after the model changed).
        """
        with self._write_lock.held():
            revision = self.catalogue.revision(kind)
            wanted = self.catalogue.text_hashes(kind)
            index = None if rebuild else self.store.load(kind, self.embedder.name)
            if index is not None and self.store.current_generation(kind) and index.revision == revision:
                if index.entries == wanted:
                    return index
            if index is None:
                index = VectorIndex(kind, self.embedder.name, self.embedder.dimension)
            index.remove([key for key, digest in index.entries.items() if wanted.get(key) != digest])
            missing = [key for key, digest in wanted.items() if index.entries.get(key) != digest]
            records = self.catalogue.by_keys(kind, missing)
            vectors = self.vectors.vectors([records[key].text for key in missing], description=f"Indexing {kind.value}")
            index.add(missing, vectors, [wanted[key] for key in missing])
            index.revision = revision
            generation = self.store.save(index)
            with self._load_lock:
                self._loaded[kind] = (generation, index)
            return index

    def index(self, kind: Kind) -> VectorIndex:
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
            index = self.store.load(kind, self.embedder.name)
            assert index is not None  # the generation exists
            self._loaded[kind] = (generation, index)
            return index

    # -- matching ----------------------------------------------------------------------------

    def request(self, **parameters: Any) -> MatchRequest:
        return MatchRequest.build(self.settings, **parameters)

    def match(self, request: MatchRequest) -> MatchResult:
        """Ranked records of the other side for a stored record or a free text, each explained."""
        target = request.direction.target_kind
        if request.record_id is not None:
            stored = self.catalogue.get(request.direction.query_kind, request.record_id)
            query_texts = stored.record.text_fields
            vector = self.vectors.vectors([stored.record.text])[0]
            language = stored.record.language or detect_language(stored.record.text)
        else:
            assert request.text is not None
            query_texts = {"text": request.text}
            vector = self.vectors.query_vector(request.text)
            language = detect_language(request.text)
        index = self.index(target)
        condition, parameters = filter_sql(target, request.filters)
        allowed = self.catalogue.filtered_keys(target, condition, parameters) if condition else None
        hits = index.search(np.asarray(vector), request.top_k, allowed)
        if request.min_score is not None:
            hits = [(key, score) for key, score in hits if score >= request.min_score]
        records = self.catalogue.by_keys(target, [key for key, _ in hits])
        hits = [(key, score) for key, score in hits if key in records]  # deleted since the index was saved
        explanations = self._explain(query_texts, [records[key] for key, _ in hits], language)
        matches = [
            Match(rank, score, records[key], explanation)
            for rank, ((key, score), explanation) in enumerate(zip(hits, explanations), start=1)
        ]
        candidates = index.count if allowed is None else len(allowed)
        return MatchResult(request, matches, candidates)

    def _explain(self, query_texts: dict[str, str], records: Sequence[Record], language: str) -> list[dict[str, Any]]:
        query = FieldTerms.of(query_texts)
        matched = [FieldTerms.of(record.text_fields) for record in records]
        common = set().union(*(query.occurrences.keys() & terms.occurrences.keys() for terms in matched)) if matched else set()
        frequencies = self.catalogue.document_frequencies(common)
        count = max(self.catalogue.document_count(), 1)

        def weight(key: str) -> float:
            return idf(frequencies.get(key, 1), count)

        explanations = []
        for terms in matched:
            shared = shared_terms(query, terms, weight, self.settings.max_explained_terms)
            explanations.append(
                {"shared_terms": [term.to_dict() for term in shared], "summary": summary(shared, language)}
            )
        return explanations

    # -- records and status ------------------------------------------------------------------

    def get(self, kind: Kind, record_id: str) -> Record:
        return self.catalogue.get(kind, record_id).record

    def health(self) -> dict[str, Any]:
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
            "indexes": sides,
            "schema_version": self.catalogue.schema_version(),
        }


__all__ = ["IndexMismatch", "IngestReport", "Matcher"]
