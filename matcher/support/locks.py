"""An exclusive lock shared by threads and processes, so that writers to one data folder take turns."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matcher.support.permissions import FILE_MODE, make_private_folder


class WriteLock:
    """Held by at most one writer of a data folder at a time, across threads and processes.

    Re-entrant within a thread: a writer that already holds it may take it again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            make_private_folder(self.path.parent)
            with os.fdopen(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "a") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
