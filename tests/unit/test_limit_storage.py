"""The SQLite rate-limit storage: fixed windows, and hits from several processes counted together."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from limits import parse
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from service import limit_storage
from service.limit_storage import SQLiteStorage, sqlite_uri

HITS_PER_PROCESS = 300


def test_the_scheme_names_a_file_and_counts_within_one_window(tmp_path, monkeypatch):
    clock = SimpleNamespace(now=1_000.0)
    monkeypatch.setattr(limit_storage, "time", SimpleNamespace(time=lambda: clock.now))
    storage = storage_from_string(sqlite_uri(tmp_path / "limits.sqlite"))
    assert isinstance(storage, SQLiteStorage) and storage.path == tmp_path / "limits.sqlite" and storage.check()
    assert storage.get("a") == 0 and storage.get_expiry("a") == clock.now
    assert [storage.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.incr("a", 60, amount=2) == 5 and storage.incr("b", 60) == 1
    clock.now += 59.5
    assert storage.get("a") == 5 and storage.get_expiry("a") == 1_060.0
    clock.now += 0.5  # the window has passed: counting starts again, in a new window
    assert storage.get("a") == 0 and storage.incr("a", 60) == 1 and storage.get_expiry("a") == 1_120.0
    assert storage.get("b") == 0 and storage.incr("b", 60) == 1  # each key has its own window
    storage.clear("a")
    assert storage.get("a") == 0 and storage.get("b") == 1
    assert storage.reset() == 1 and storage.get("b") == 0


def test_a_fixed_window_limiter_over_it_refuses_past_the_limit(tmp_path):
    limiter = FixedWindowRateLimiter(SQLiteStorage(sqlite_uri(tmp_path / "limits.sqlite")))
    limit = parse("3 per minute")
    assert [limiter.hit(limit, "client") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.hit(limit, "another client")
    assert limiter.get_window_stats(limit, "client").remaining == 0


def test_a_uri_without_a_file_is_refused():
    with pytest.raises(ConfigurationError, match="needs a file"):
        storage_from_string("sqlite://")


def test_the_file_is_in_wal_mode_and_waits_for_a_lock(tmp_path):
    storage = SQLiteStorage(sqlite_uri(tmp_path / "limits.sqlite"))
    storage.incr("a", 60)
    with sqlite3.connect(tmp_path / "limits.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert storage._connections.get().execute("PRAGMA busy_timeout").fetchone() == (limit_storage.BUSY_TIMEOUT_MS,)


def _hit_many(path: str, start: Any, results: Any) -> None:
    storage = SQLiteStorage(sqlite_uri(Path(path)))
    start.wait()
    results.put([storage.incr("shared", 60) for _ in range(HITS_PER_PROCESS)])


def test_hits_from_two_processes_are_counted_together_and_none_is_lost(tmp_path):
    context = multiprocessing.get_context("spawn")  # no fork of the test process's threads
    start, results = context.Event(), context.Queue()
    path = str(tmp_path / "limits.sqlite")
    SQLiteStorage(sqlite_uri(Path(path))).check()  # the file exists before both start
    processes = [context.Process(target=_hit_many, args=(path, start, results)) for _ in range(2)]
    for process in processes:
        process.start()
    start.set()
    counts = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    # Every count from 1 to 600 was handed out exactly once: each hit was one atomic increment.
    assert sorted(counts[0] + counts[1]) == list(range(1, 2 * HITS_PER_PROCESS + 1))
    assert SQLiteStorage(sqlite_uri(Path(path))).get("shared") == 2 * HITS_PER_PROCESS
