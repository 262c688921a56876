"""Stored explanation profiles of catalogue records, one SQLite row per record, checked by text hash.

A row is valid while the record's text hash and the profile ``version`` (model, tokenizer, profile
format, candidate count, passage policy) are those it was made with; anything else is made again.
Decoded profiles are kept in a small in-memory LRU.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from matcher.explanation.profile import Profile
from matcher.records import Kind
from matcher.storage.sqlite import ThreadConnections, select_in


def _setup(connection: sqlite3.Connection) -> None:
    # A derived cache in a file of its own (explanations.sqlite), made again at will: no migrations.
    connection.execute(
        "CREATE TABLE IF NOT EXISTS profiles (kind TEXT NOT NULL, key INTEGER NOT NULL, "
        "text_hash TEXT NOT NULL, version TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, key))"
    )


class ProfileStore:
    def __init__(self, path: Path, version: str, memory_size: int = 4096) -> None:
        self.path = path
        self.version = version
        self._memory: OrderedDict[tuple[str, int, str], Profile] = OrderedDict()
        self._memory_size = memory_size
        self._lock = threading.Lock()
        self._connections = ThreadConnections(path, _setup)
        self._connect = self._connections.connect

    def valid_keys(self, kind: Kind, text_hashes: Mapping[int, str]) -> set[int]:
        """Which of the records (key -> text hash) have a profile made for their current text."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT key, text_hash FROM profiles WHERE kind = ? AND version = ?", (kind.value, self.version)
            )
            return {key for key, digest in rows if text_hashes.get(key) == digest}

    def load(self, kind: Kind, wanted: Mapping[int, tuple[str, Mapping[str, str]]]) -> dict[int, Profile]:
        """Profiles of ``wanted`` (key -> (text hash, field texts)) that are stored and current."""
        found: dict[int, Profile] = {}
        with self._lock:
            for key, (digest, _) in wanted.items():
                profile = self._memory.get((kind.value, key, digest))
                if profile is not None:
                    self._memory.move_to_end((kind.value, key, digest))
                    found[key] = profile
        missing = [key for key in wanted if key not in found]
        if missing:
            sql = "SELECT key, text_hash, data FROM profiles WHERE kind = ? AND version = ? AND key IN ({marks})"
            with self._connect() as connection:
                rows = list(select_in(connection, sql, missing, (kind.value, self.version)))
            for key, digest, blob in rows:
                if wanted[key][0] == digest:
                    found[key] = Profile.from_bytes(blob, wanted[key][1])
                    self._remember(kind, key, digest, found[key])
        return found

    def save(self, kind: Kind, profiles: Mapping[int, tuple[str, Profile]]) -> None:
        """Store ``profiles`` (key -> (text hash, profile)) in one transaction."""
        with self._connections.transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO profiles (kind, key, text_hash, version, data) VALUES (?, ?, ?, ?, ?)",
                [
                    (kind.value, key, digest, self.version, profile.to_bytes())
                    for key, (digest, profile) in profiles.items()
                ],
            )
        for key, (digest, profile) in profiles.items():
            self._remember(kind, key, digest, profile)

    def remove_missing(self, kind: Kind, keep: set[int]) -> None:
        """Forget profiles of records no longer in the catalogue."""
        with self._connections.transaction() as connection:
            stored = [key for (key,) in connection.execute("SELECT key FROM profiles WHERE kind = ?", (kind.value,))]
            gone = [key for key in stored if key not in keep]
            connection.executemany(
                "DELETE FROM profiles WHERE kind = ? AND key = ?", [(kind.value, key) for key in gone]
            )

    def _remember(self, kind: Kind, key: int, digest: str, profile: Profile) -> None:
        with self._lock:
            self._memory[(kind.value, key, digest)] = profile
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)
