"""Ingestion: validated records upserted into the catalogue and the indexes, all or nothing."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matcher.config import Settings
from matcher.errors import NotFound, TooLarge
from matcher.indexing.indexes import Indexes
from matcher.ingest.readers import read_table, rows_from_objects
from matcher.ingest.validate import validate_table
from matcher.records import Kind, Record
from matcher.storage.catalogue import ChangeSummary
from matcher.text.tokenize import term_set

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


class Ingestion:
    """Writes records of one data folder: a file, a batch or a deletion, each in one transaction."""

    def __init__(self, settings: Settings, indexes: Indexes) -> None:
        self.settings = settings
        self.indexes = indexes
        self.catalogue = indexes.catalogue

    def ingest_file(
        self, path: str | Path, kind: Kind, delete_missing: bool = False, encoding: str = "utf-8"
    ) -> IngestReport:
        """Validate a whole file and apply it (upsert by id); a file with any problem changes nothing."""
        records = validate_table(read_table(path, encoding), kind, self.settings.max_text_chars)
        return self.ingest_records(kind, records, str(path), delete_missing)

    def ingest_batch(self, kind: Kind, items: Any, source: str = "request body") -> IngestReport:
        """Validate and upsert a parsed JSON batch (see :meth:`validate_batch`)."""
        return self.ingest_records(kind, self.validate_batch(kind, items, source), source, delete_missing=False)

    def validate_batch(self, kind: Kind, items: Any, source: str = "request body") -> list[Record]:
        """A parsed JSON batch's records, with the same rules as a file, but that it is a sequence of
        upserts: an id sent twice keeps its last record. Nothing is written."""
        table = rows_from_objects(items, source)
        if len(table.rows) > self.settings.max_batch_records:
            raise TooLarge(
                f"The batch has {len(table.rows)} records; the limit is {self.settings.max_batch_records}",
                details={"parameter": "records", "count": len(table.rows), "limit": self.settings.max_batch_records},
            )
        return validate_table(table, kind, self.settings.max_text_chars, repeated_ids=True)

    def ingest_records(
        self, kind: Kind, records: list[Record], source: str, delete_missing: bool = False
    ) -> IngestReport:
        """Upsert validated records; texts are encoded before anything is written.

        The side's index is brought in step even when nothing changed, in case an earlier write
        was interrupted after its commit (the same file sent again then repairs it).
        """
        with self.indexes.writing():
            stored = self.catalogue.content_hashes(kind)
            changed = [record for record in records if stored.get(record.id) != record.content_hash]
            delete_ids = sorted(set(stored) - {record.id for record in records}) if delete_missing else []
            summary_ = ChangeSummary(unchanged=len(records))
            if changed or delete_ids:
                # Encode before writing anything: a model failure leaves catalogue and indexes as they were.
                texts = [text for record in changed for text in self.indexes.passages_of(record)]
                self.indexes.vectors.vectors(texts, description=f"Encoding {kind.value}", with_sentences=True)
                delta = self._term_delta(kind, changed, delete_ids)
                summary_ = self.catalogue.apply(kind, changed, delete_ids, delta)
                self.indexes.sync(kind)
            elif self.indexes.behind(kind):
                self.indexes.sync(kind)
            unchanged = len(records) - summary_.created - summary_.updated
            report = IngestReport(
                kind.value, source, len(records), summary_.created, summary_.updated, unchanged, summary_.deleted
            )
        log.info("Ingested %s", report)
        return report

    def delete(self, kind: Kind, record_ids: list[str]) -> IngestReport:
        """Remove records by id (all must exist, or nothing changes) and update the indexes."""
        with self.indexes.writing():
            present = self.catalogue.by_ids(kind, record_ids)
            missing = [record_id for record_id in record_ids if record_id not in present]
            if missing:
                raise NotFound(
                    f"{kind.singular.capitalize()} {missing[0]!r} does not exist",
                    details={"kind": kind.value, "id": missing[0]},
                )
            summary_ = self.catalogue.apply(kind, [], record_ids, self._term_delta(kind, [], record_ids))
            self.indexes.sync(kind)
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
