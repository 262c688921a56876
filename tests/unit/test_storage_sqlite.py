"""The shared SQLite plumbing: batched IN, per-thread connections and their pragmas, the clock."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from matcher.storage.sqlite import BATCH_SIZE, PRAGMAS, ThreadConnections, placeholders, select_in
from matcher.support.clock import utc_now


@pytest.fixture
def connection() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, side TEXT NOT NULL, name TEXT NOT NULL)")
    connection.executemany(
        "INSERT INTO items VALUES (?, ?, ?)", [(n, "odd" if n % 2 else "even", f"item {n}") for n in range(1, 2501)]
    )
    return connection


class CountingConnection:
    """Passes statements on to a connection and keeps them, to count the queries made."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.statements: list[tuple[str, tuple[object, ...]]] = []

    def execute(self, sql: str, parameters: tuple[object, ...] = ()) -> sqlite3.Cursor:
        self.statements.append((sql, parameters))
        return self.connection.execute(sql, parameters)


def test_placeholders() -> None:
    assert placeholders(1) == "?"
    assert placeholders(3) == "?,?,?"
    assert placeholders(0) == ""


def test_select_in_reads_more_values_than_one_batch(connection: sqlite3.Connection) -> None:
    wanted = list(range(1, 2 * BATCH_SIZE + 2))  # three batches, the last of one value
    counting = CountingConnection(connection)
    rows = list(select_in(counting, "SELECT id, name FROM items WHERE id IN ({marks})", wanted))  # type: ignore[arg-type]
    assert dict(rows) == {n: f"item {n}" for n in wanted}
    assert [len(parameters) for _, parameters in counting.statements] == [BATCH_SIZE, BATCH_SIZE, 1]


def test_select_in_binds_parameters_before_each_batch(connection: sqlite3.Connection) -> None:
    rows = select_in(
        connection,
        "SELECT id FROM items WHERE side = ? AND id IN ({marks}) ORDER BY id",
        range(1, 8),
        ("odd",),
        batch_size=3,
    )
    assert [row[0] for row in rows] == [1, 3, 5, 7]


def test_select_in_with_no_values_makes_no_query(connection: sqlite3.Connection) -> None:
    counting = CountingConnection(connection)
    assert list(select_in(counting, "SELECT id FROM items WHERE id IN ({marks})", [])) == []  # type: ignore[arg-type]
    assert counting.statements == []


def test_select_in_skips_missing_values_and_keeps_batches_in_order(connection: sqlite3.Connection) -> None:
    wanted = [2500, 9999, 1, -5, 1200]
    rows = list(select_in(connection, "SELECT id FROM items WHERE id IN ({marks})", wanted, batch_size=2))
    assert [row[0] for row in rows] == [2500, 1, 1200]


def test_connections_set_the_shared_pragmas_and_run_setup_once(tmp_path: Path) -> None:
    made: list[sqlite3.Connection] = []
    connections = ThreadConnections(tmp_path / "sub" / "store.sqlite", made.append)
    connection = connections.get()
    assert connections.get() is connection
    assert made == [connection]
    assert connection.isolation_level is None
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert len(PRAGMAS) == 2


def test_each_thread_gets_its_own_connection(tmp_path: Path) -> None:
    connections = ThreadConnections(tmp_path / "store.sqlite")
    other: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: other.append(connections.get()))
    thread.start()
    thread.join()
    assert other[0] is not connections.get()


def test_a_failed_transaction_is_rolled_back(tmp_path: Path) -> None:
    connections = ThreadConnections(tmp_path / "store.sqlite")
    with connections.transaction() as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(ZeroDivisionError), connections.transaction() as connection:
        connection.execute("INSERT INTO t VALUES (1)")
        raise ZeroDivisionError
    assert not connections.get().in_transaction
    assert connections.get().execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_utc_now_is_iso_seconds_in_utc() -> None:
    now = utc_now()
    moment = dt.datetime.fromisoformat(now)
    assert moment.utcoffset() == dt.timedelta(0)
    assert moment.microsecond == 0
    assert now.endswith("+00:00") and len(now) == len("2025-01-31T12:00:00+00:00")
