"""The catalogue: projects and needs in SQLite (WAL, transactions, versioned schema).

Every record has a stable integer ``key`` (never reused, thanks to AUTOINCREMENT) that the vector
indexes use as their id, and a per-kind ``revision`` that grows with every change, so an index can
tell whether it is in step with the catalogue.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.errors import InvalidInput, NotFound
from matcher.filters import FILTERS, Filters, FilterType
from matcher.records import Kind, Record
from matcher.storage.migrations import CATALOGUE
from matcher.storage.sqlite import ThreadConnections, select_in
from matcher.support.clock import utc_now

SCHEMA_VERSION = CATALOGUE.version  # the version ``migrate`` brings the file to


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    key: int
    record: Record


@dataclass(frozen=True)
class ListedRecord:
    """A record as the staff console lists it: with the times the catalogue first stored and last changed it."""

    key: int
    record: Record
    created_at: str
    updated_at: str

    @property
    def updated(self) -> str:
        """The record's own ``updated`` date, else the day the catalogue last changed it."""
        return str(self.record.attributes.get("updated") or self.updated_at[:10])


@dataclass(frozen=True)
class ListedPage:
    total: int  # records that pass the filters and the search, on every page
    records: list[ListedRecord]


# A search's words: at most this many, each matched with LIKE anywhere in the id, title or body.
MAX_SEARCH_WORDS = 8
# ... each at most this long: SQLite refuses a LIKE pattern over 50,000 bytes ("pattern too complex").
MAX_SEARCH_WORD_CHARS = 1000


@dataclass(frozen=True)
class ChangeSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


class Catalogue:
    """Access to the SQLite catalogue; one kept connection per thread (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self._connect = self._connections.connect

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`, in one transaction; return the version it had before."""
        with self._connections.transaction() as connection:
            return CATALOGUE.migrate(connection, self.path)

    def schema_version(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])

    # -- reading -----------------------------------------------------------------------------

    def change_stamp(self) -> int:
        """A number that grows with every change to either side (for caches of corpus statistics)."""
        with self._connect() as connection:
            return int(connection.execute("SELECT SUM(revision) FROM revisions").fetchone()[0] or 0)

    def revision(self, kind: Kind) -> int:
        with self._connect() as connection:
            row = connection.execute("SELECT revision FROM revisions WHERE kind = ?", (kind.value,)).fetchone()
        return int(row[0])

    def count(self, kind: Kind) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM records WHERE kind = ?", (kind.value,)).fetchone()[0])

    def content_hashes(self, kind: Kind) -> dict[str, str]:
        with self._connect() as connection:
            rows = connection.execute("SELECT id, content_hash FROM records WHERE kind = ?", (kind.value,))
            return dict(rows.fetchall())

    def text_hashes(self, kind: Kind) -> dict[int, str]:
        """``{key: hash of the record's text}``: what the vector index must hold."""
        with self._connect() as connection:
            rows = connection.execute("SELECT key, text_hash FROM records WHERE kind = ?", (kind.value,))
            return dict(rows.fetchall())

    def get(self, kind: Kind, record_id: str) -> StoredRecord:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT key, data FROM records WHERE kind = ? AND id = ?", (kind.value, record_id)
            ).fetchone()
        if row is None:
            raise NotFound(
                f"{kind.singular.capitalize()} {record_id!r} does not exist",
                details={"kind": kind.value, "id": record_id},
            )
        return StoredRecord(row[0], Record.from_dict(kind, json.loads(row[1])))

    def _records_where_in(self, kind: Kind, column: str, values: Iterable[object]) -> Iterator[tuple[object, Record]]:
        with self._connect() as connection:
            sql = f"SELECT {column}, data FROM records WHERE kind = ? AND {column} IN ({{marks}})"
            for value, data in select_in(connection, sql, list(values), (kind.value,)):
                yield value, Record.from_dict(kind, json.loads(data))

    def by_keys(self, kind: Kind, keys: Iterable[int]) -> dict[int, Record]:
        return {int(key): record for key, record in self._records_where_in(kind, "key", keys)}  # type: ignore[call-overload]

    def by_ids(self, kind: Kind, record_ids: Iterable[str]) -> dict[str, Record]:
        return {str(record_id): record for record_id, record in self._records_where_in(kind, "id", record_ids)}

    def keys_of(self, kind: Kind, record_ids: Iterable[str]) -> dict[str, int]:
        """``{id: key}`` of the given records of ``kind`` that exist."""
        with self._connect() as connection:
            sql = "SELECT id, key FROM records WHERE kind = ? AND id IN ({marks})"
            return dict(select_in(connection, sql, list(record_ids), (kind.value,)))

    def keys_matching(
        self, kind: Kind, filters: Filters, excluded_ids: Collection[str] = (), updated_since: str | None = None
    ) -> set[int] | None:
        """Keys of the records of ``kind`` the filters admit, less ``excluded_ids``, updated since a date
        (a record's own ``updated`` field, else when the catalogue last changed it); None when nothing
        narrows the side down."""
        clauses, parameters = _filter_clauses(filters)
        if updated_since is not None:
            clauses.append("COALESCE(json_extract(data, '$.updated'), substr(updated_at, 1, 10)) >= ?")
            parameters.append(updated_since)
        if not clauses and not excluded_ids:
            return None
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT key FROM records WHERE kind = ? AND {' AND '.join(clauses) or '1'}", (kind.value, *parameters)
            )
            keys = {row[0] for row in rows}
        return keys - set(self.keys_of(kind, excluded_ids).values()) if excluded_ids else keys

    def records(self, kind: Kind) -> Iterator[StoredRecord]:
        with self._connect() as connection:
            rows = connection.execute("SELECT key, data FROM records WHERE kind = ? ORDER BY key", (kind.value,))
            for key, data in rows:
                yield StoredRecord(key, Record.from_dict(kind, json.loads(data)))

    def entry(self, kind: Kind, record_id: str) -> ListedRecord:
        """One record with its stored times; :class:`NotFound` if there is none."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT key, data, created_at, updated_at FROM records WHERE kind = ? AND id = ?",
                (kind.value, record_id),
            ).fetchone()
        if row is None:
            raise NotFound(
                f"{kind.singular.capitalize()} {record_id!r} does not exist",
                details={"kind": kind.value, "id": record_id},
            )
        return _listed(kind, row)

    def search(
        self,
        kind: Kind,
        filters: Filters | None = None,
        text: str = "",
        limit: int = 25,
        offset: int = 0,
        newest_first: bool = False,
    ) -> ListedPage:
        """A page of the records of ``kind`` the filters admit whose id, title or body holds every word of
        ``text`` (SQL LIKE, case-insensitive for Latin letters), by id or last changed first, and how many
        there are in all."""
        clauses, parameters = _filter_clauses(filters or Filters(kind))
        for word in text.split()[:MAX_SEARCH_WORDS]:
            if len(word) > MAX_SEARCH_WORD_CHARS:
                raise InvalidInput(
                    f"A search word has at most {MAX_SEARCH_WORD_CHARS} characters, got {len(word)}",
                    details={"parameter": "q", "length": len(word)},
                )
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(id LIKE ? ESCAPE '\\' OR json_extract(data, '$.title') LIKE ? ESCAPE '\\'"
                " OR json_extract(data, ?) LIKE ? ESCAPE '\\')"
            )
            parameters += [pattern, pattern, f"$.{kind.body_field}", pattern]
        where = f"kind = ? AND {' AND '.join(clauses) or '1'}"
        order = "updated_at DESC, id" if newest_first else "id"
        with self._connections.snapshot() as connection:  # the count and the page agree
            total = int(
                connection.execute(f"SELECT COUNT(*) FROM records WHERE {where}", (kind.value, *parameters)).fetchone()[
                    0
                ]
            )
            rows = connection.execute(
                f"SELECT key, data, created_at, updated_at FROM records WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                (kind.value, *parameters, max(limit, 0), max(offset, 0)),
            ).fetchall()
        return ListedPage(total, [_listed(kind, row) for row in rows])

    def values_of(self, kind: Kind, field: str) -> list[tuple[str, int]]:
        """The values a field of ``kind`` takes (each item of a list field), with how many records have each,
        the most common first: the vocabulary of a filter's drop-down."""
        with self._connect() as connection:
            rows = connection.execute(
                """
                SELECT trim(item.value) AS value, COUNT(DISTINCT records.key) AS n
                FROM records, json_each(records.data, ?) AS item
                WHERE records.kind = ? AND item.type IN ('text', 'integer', 'real') AND trim(item.value) != ''
                GROUP BY trim(item.value) ORDER BY n DESC, value
                """,
                (f"$.{field}", kind.value),
            ).fetchall()
        return [(str(value), int(count)) for value, count in rows]

    def vocabularies(self, kind: Kind) -> dict[str, list[tuple[str, int]]]:
        """Each text filter of ``kind`` (one name per field: ``field`` and ``industry`` share one) with the
        values its field takes in the catalogue and their counts: what a drop-down of that filter offers."""
        fields: dict[str, str] = {}
        for name, spec in FILTERS[kind].items():
            if spec.takes_values:
                fields.setdefault(spec.field, name)
        return {name: self.values_of(kind, field) for field, name in fields.items()}

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        return self.term_statistics(terms)[0]

    def term_statistics(self, terms: Iterable[str]) -> tuple[dict[str, int], int]:
        """The document frequency of each term, and how many records there are, read together."""
        terms = list(set(terms))
        with self._connections.snapshot() as connection:  # one snapshot: frequencies and the count agree
            found = dict(select_in(connection, "SELECT term, df FROM term_df WHERE term IN ({marks})", terms))
            count = int(connection.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        return found, count

    def document_count(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    # -- writing -----------------------------------------------------------------------------

    def apply(
        self,
        kind: Kind,
        upserts: list[Record],
        delete_ids: list[str],
        term_delta: Counter[str],
    ) -> ChangeSummary:
        """Upsert and delete records of ``kind`` and adjust term frequencies, all in one transaction."""
        now = utc_now()
        created = updated = unchanged = deleted = 0
        with self._connections.transaction() as connection:
            for record in upserts:
                content_hash = record.content_hash
                row = connection.execute(
                    "SELECT content_hash FROM records WHERE kind = ? AND id = ?", (kind.value, record.id)
                ).fetchone()
                if row is not None and row[0] == content_hash:
                    unchanged += 1
                    continue
                data = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True)
                connection.execute(
                    """
                    INSERT INTO records (kind, id, data, content_hash, text_hash, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (kind, id) DO UPDATE SET
                        data = excluded.data, content_hash = excluded.content_hash,
                        text_hash = excluded.text_hash, updated_at = excluded.updated_at
                    """,
                    (kind.value, record.id, data, content_hash, text_hash(record.text), now, now),
                )
                if row is None:
                    created += 1
                else:
                    updated += 1
            for record_id in delete_ids:
                cursor = connection.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind.value, record_id))
                deleted += cursor.rowcount
            connection.executemany(
                "INSERT INTO term_df (term, df) VALUES (?, ?) ON CONFLICT (term) DO UPDATE SET df = df + excluded.df",
                [(term, delta) for term, delta in term_delta.items() if delta > 0],
            )
            connection.executemany(
                "UPDATE term_df SET df = df + ? WHERE term = ?",
                [(delta, term) for term, delta in term_delta.items() if delta < 0],
            )
            connection.execute("DELETE FROM term_df WHERE df <= 0")
            summary = ChangeSummary(created, updated, unchanged, deleted)
            if summary.changed:
                connection.execute("UPDATE revisions SET revision = revision + 1 WHERE kind = ?", (kind.value,))
        return summary


def _listed(kind: Kind, row: tuple[Any, ...]) -> ListedRecord:
    key, data, created_at, updated_at = row
    return ListedRecord(int(key), Record.from_dict(kind, json.loads(data)), str(created_at), str(updated_at))


def _filter_clauses(filters: Filters) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``records.data`` (JSON) for validated filters, and their parameters."""
    clauses: list[str] = []
    parameters: list[Any] = []
    for condition in filters.conditions:
        spec = condition.spec
        path = f"$.{spec.field}"
        marks = ",".join("?" * len(condition.values))
        if spec.type is FilterType.ANY_OF:
            clauses.append(f"lower(json_extract(data, ?)) IN ({marks})")
            parameters += [path, *condition.values]
        elif spec.type is FilterType.LIST_ANY_OF:
            clauses.append(f"EXISTS (SELECT 1 FROM json_each(data, ?) WHERE lower(value) IN ({marks}))")
            parameters += [path, *condition.values]
        elif spec.type is FilterType.ON_OR_AFTER:
            clauses.append("json_extract(data, ?) >= ?")
            parameters += [path, condition.values[0]]
        else:
            clauses.append(f"json_extract(data, ?) {'>=' if spec.type is FilterType.MIN else '<='} ?")
            parameters += [path, condition.bound]
    return clauses, parameters
