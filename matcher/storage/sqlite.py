"""One SQLite connection per thread and process, opened on first use and then kept.

Opening a connection and setting its pragmas costs more than a small query; a match makes
several. Connections are never shared between threads, and a process forked from another (a
gunicorn worker) opens its own instead of using its parent's.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class ThreadConnections:
    def __init__(
        self, path: Path, setup: Callable[[sqlite3.Connection], None], isolation_level: str | None = None
    ) -> None:
        self.path = path
        self._setup = setup
        self._isolation_level = isolation_level
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=self._isolation_level)
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
