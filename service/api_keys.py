"""API keys for writing to the service: made at random, shown once, stored only as a SHA-256 hash.

A key is 32 random bytes (URL-safe text, prefixed ``tm_``), so a plain hash is enough: there is
nothing to guess that a salt or a slow hash would protect. The first characters are kept as a
``prefix`` so a person can tell keys apart in ``matcher keys list``; keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matcher.errors import InvalidInput, NotFound
from matcher.storage.sqlite import ThreadConnections
from matcher.support.clock import utc_now

KEY_PREFIX = "tm_"
SHOWN_PREFIX = 10


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "active": self.active}


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The keys table of a catalogue database (schema version 2, see :mod:`matcher.storage.migrations`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self._connect = self._connections.connect

    def create(self, name: str) -> tuple[str, KeyInfo]:
        """Make a key; the key itself is returned here and never again."""
        if not name.strip():
            raise InvalidInput("A key needs a name (who or what uses it)", details={"parameter": "name"})
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        created = utc_now()
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO api_keys (name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?)",
                (name.strip(), key[:SHOWN_PREFIX], _hash(key), created),
            )
        return key, KeyInfo(int(cursor.lastrowid or 0), name.strip(), key[:SHOWN_PREFIX], created, None)

    def list(self) -> list[KeyInfo]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY id"
            ).fetchall()
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_id: int) -> KeyInfo:
        with self._connections.transaction() as connection:
            connection.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (utc_now(), key_id)
            )
            row = connection.execute(
                "SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"There is no API key with id {key_id}", details={"parameter": "id", "value": key_id})
        return KeyInfo(*row)

    def is_active(self, key_id: int | None) -> bool:
        """Whether the key with this id exists and is not revoked."""
        with self._connect() as connection:
            row = connection.execute("SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)).fetchone()
        return row is not None

    def check(self, key: str | None) -> KeyInfo | None:
        """The active key ``key`` is, or None."""
        if not key:
            return None
        digest = _hash(key)
        with self._connect() as connection:
            row = connection.execute(
                "SELECT id, name, prefix, created_at, revoked_at, key_hash FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (digest,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[5], digest):
            return None
        return KeyInfo(*row[:5])
