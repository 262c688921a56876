"""SQLite plumbing shared by every store: per-thread connections, their pragmas, batched ``IN``.

Opening a connection and setting its pragmas costs more than a small query; a match makes
several. So each store keeps one connection per thread and process, opened on first use: never
shared between threads, and a process forked from another (a gunicorn worker) opens its own
instead of using its parent's.

Every connection is in autocommit mode (``isolation_level=None``) with the same :data:`PRAGMAS`;
a write of more than one statement goes through :meth:`ThreadConnections.transaction`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matcher.support.permissions import create_private_file

# WAL: readers never wait for the writer, and a reader's snapshot is consistent. synchronous=NORMAL
# is safe with WAL (no corruption on power loss; the last commits may be lost) and spares an fsync
# per commit. journal_mode is kept in the file, so setting it again costs nothing.
PRAGMAS: tuple[str, ...] = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")

# Values per ``IN (?, ...)`` statement: well under SQLite's limit on bound parameters (999 before 3.32).
BATCH_SIZE = 500
MAX_ID = 2**63 - 1  # the largest INTEGER SQLite stores: a larger id cannot even be looked up (OverflowError)

TIMEOUT_SECONDS = 30  # how long a writer waits for another's lock before "database is locked"


def apply_pragmas(connection: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        connection.execute(pragma)


class ThreadConnections:
    """One connection per thread and process to the database at ``path``.

    ``setup`` runs once on each new connection after the pragmas (e.g. a cache creating its tables).
    """

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.path = path
        self._setup = setup
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            create_private_file(self.path)  # owner-only, and so are its -wal and -shm (support/permissions.py)
            connection = sqlite3.connect(self.path, timeout=TIMEOUT_SECONDS, isolation_level=None)
            apply_pragmas(connection)
            if self._setup is not None:
                self._setup(connection)
            local.connection, local.pid = connection, os.getpid()
        return local.connection  # type: ignore[no-any-return]

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for a ``with`` block; it stays open afterwards."""
        yield self.get()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

        The connection lives on after a failure, so it must never be left holding the write lock.
        """
        connection = self.get()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside a read transaction: every query in it sees one state."""
        connection = self.get()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")


def placeholders(count: int) -> str:
    """``?,?,...`` for ``count`` values, to put inside ``IN (...)``."""
    return ",".join("?" * count)


def select_in(
    connection: sqlite3.Connection,
    sql: str,
    values: Sequence[Any],
    parameters: Sequence[Any] = (),
    batch_size: int = BATCH_SIZE,
) -> Iterator[Any]:
    """The rows of ``sql`` for every one of ``values``, asked ``batch_size`` values at a time.

    ``sql`` holds one ``IN ({marks})`` and no other braces; ``parameters`` bind the ``?`` before
    it, the batch fills ``{marks}``. No values, no query. Each batch is read whole before its rows
    are yielded, so the caller may use the connection in between.
    """
    for start in range(0, len(values), batch_size):
        batch = values[start : start + batch_size]
        statement = sql.format(marks=placeholders(len(batch)))
        yield from connection.execute(statement, (*parameters, *batch)).fetchall()
