"""Rate-limit counts in an SQLite file: one store for every worker process, with no server to run.

A storage of the `limits` library, registered under the scheme ``sqlite`` (``sqlite:///path/to/file``),
for the fixed-window strategy only: a counter per key, which starts its window at its first hit
and counts from zero again once the window has passed. Each hit is one ``BEGIN IMMEDIATE``
transaction (an upsert that returns the new count), so hits from any number of processes and
threads are counted together and none is lost. The file is in WAL mode; a writer waits up to
:data:`BUSY_TIMEOUT_MS` for another's lock.

``limits`` 5.8 and flask-limiter 4.1 ship storages for memory (per process), Redis, memcached and
MongoDB only: nothing embedded that processes can share.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from limits.errors import ConfigurationError
from limits.storage import Storage

from matcher.storage.sqlite import ThreadConnections

SCHEME = "sqlite"
BUSY_TIMEOUT_MS = 5_000
PURGE_EVERY = 1_000  # hits of one process between two sweeps of the expired counters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID
"""

# The old values on the right of every SET: a passed window starts again at this hit.
_HIT = """
INSERT INTO rate_counters (key, count, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_counters.expires_at <= :now THEN excluded.count ELSE rate_counters.count + excluded.count END,
    expires_at = CASE WHEN rate_counters.expires_at <= :now THEN excluded.expires_at ELSE rate_counters.expires_at END
RETURNING count
"""


def _setup(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute(_SCHEMA)


def sqlite_uri(path: Path) -> str:
    """The storage URI of the file at ``path`` (made absolute)."""
    return f"{SCHEME}://{path.resolve()}"


class SQLiteStorage(Storage):
    """Fixed-window counters in the SQLite file named by ``sqlite:///<path>``."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 -- read once by the registry of `limits`, as its own storages do

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        path = (uri or "").removeprefix(f"{SCHEME}://")
        if not path:
            raise ConfigurationError(
                f"The SQLite rate-limit storage needs a file: '{SCHEME}:///path/to/file', got {uri!r}"
            )
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = Path(path)
        self._connections = ThreadConnections(self.path, setup=_setup)
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._connections.transaction() as connection:
            rows = connection.execute(
                _HIT, {"key": key, "amount": amount, "expires_at": now + expiry, "now": now}
            ).fetchall()
            self._hits += 1
            if self._hits % PURGE_EVERY == 0:
                connection.execute("DELETE FROM rate_counters WHERE expires_at <= ?", (now,))
        return int(rows[0][0])

    def _row(self, key: str) -> tuple[int, float] | None:
        row = (
            self._connections.get()
            .execute("SELECT count, expires_at FROM rate_counters WHERE key = ? AND expires_at > ?", (key, time.time()))
            .fetchone()
        )
        return None if row is None else (int(row[0]), float(row[1]))

    def get(self, key: str) -> int:
        row = self._row(key)
        return 0 if row is None else row[0]

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return time.time() if row is None else row[1]

    def check(self) -> bool:
        try:
            self._connections.get().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return int(self._connections.get().execute("DELETE FROM rate_counters").rowcount)

    def clear(self, key: str) -> None:
        self._connections.get().execute("DELETE FROM rate_counters WHERE key = ?", (key,))
