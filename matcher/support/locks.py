"""An exclusive lock shared by threads and processes, so that writers to one data folder take turns."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matcher.support.permissions import FILE_MODE, make_private_folder

# How often a waiting writer tries the lock again: first soon, then at most this often.
FIRST_POLL_SECONDS = 0.01
LAST_POLL_SECONDS = 0.2


class LockTimeout(TimeoutError):
    """The lock stayed held by another writer for the whole wait."""

    def __init__(self, path: Path, waited: float) -> None:
        super().__init__(f"{path} stayed locked by another writer for {waited:g} s")
        self.path = path
        self.waited = waited


class WriteLock:
    """Held by at most one writer of a data folder at a time, across threads and processes.

    Re-entrant within a thread: a writer that already holds it may take it again (at once,
    without waiting). ``timeout`` is how long :meth:`held` waits for another writer, in seconds;
    0 waits as long as it takes. Across processes the wait polls ``flock(LOCK_NB)``, since a
    blocking ``flock`` cannot be given a time limit.
    """

    def __init__(self, path: Path, timeout: float = 0) -> None:
        self.path = path
        self.timeout = timeout
        self._thread_lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def held(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock for the block; raise :class:`LockTimeout` if another writer keeps it longer than ``timeout``.

        ``timeout`` (seconds, 0: no limit) replaces the lock's own for this call.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit if limit > 0 else None
        if not self._thread_lock.acquire(timeout=limit if limit > 0 else -1):
            raise LockTimeout(self.path, limit)
        try:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            make_private_folder(self.path.parent)
            with os.fdopen(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "a") as handle:
                _lock_file(handle.fileno(), self.path, deadline, limit)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def _lock_file(descriptor: int, path: Path, deadline: float | None, limit: float) -> None:
    """``flock`` the file exclusively: blocking when there is no deadline, else polling until it."""
    if deadline is None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return
    pause = FIRST_POLL_SECONDS
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(path, limit) from None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, LAST_POLL_SECONDS)
