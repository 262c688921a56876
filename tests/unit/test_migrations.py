"""The migration registry: versions, the order of steps, and the catalogue's own schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from matcher.storage.catalogue import SCHEMA_VERSION, Catalogue
from matcher.storage.migrations import CATALOGUE, Migrations


def _version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _tables(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


@pytest.fixture
def registry() -> Migrations:
    migrations = Migrations()
    migrations.register("log", 1, "CREATE TABLE log (step TEXT NOT NULL); INSERT INTO log VALUES ('log 1')")
    migrations.register("b", 3, "INSERT INTO log VALUES ('b 3')")
    migrations.register("a", 2, "CREATE TABLE a (x INTEGER); INSERT INTO log VALUES ('a 2')")
    migrations.register("c", 3, "INSERT INTO log VALUES ('c 3')")
    return migrations


def _log(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT step FROM log ORDER BY rowid")]


def test_a_fresh_database_gets_every_step_in_order(registry: Migrations) -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    assert registry.version == 3
    assert registry.migrate(connection, "memory") == 0
    assert _version(connection) == 3
    # by version, then in the order registered within a version
    assert _log(connection) == ["log 1", "a 2", "b 3", "c 3"]


def test_an_older_database_is_migrated_step_by_step(registry: Migrations, caplog: pytest.LogCaptureFixture) -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("CREATE TABLE log (step TEXT NOT NULL)")
    connection.execute("PRAGMA user_version = 1")
    with caplog.at_level("INFO", logger="matcher.storage.migrations"):
        assert registry.migrate(connection, "memory") == 1
    assert _log(connection) == ["a 2", "b 3", "c 3"]
    assert [record.getMessage() for record in caplog.records] == [
        "Migrating memory to schema version 2",
        "Migrating memory to schema version 3",
    ]


def test_a_second_migrate_is_a_no_op(registry: Migrations) -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    registry.migrate(connection, "memory")
    assert registry.migrate(connection, "memory") == 3
    assert _log(connection) == ["log 1", "a 2", "b 3", "c 3"]


def test_a_newer_database_is_refused(registry: Migrations) -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("PRAGMA user_version = 4")
    with pytest.raises(RuntimeError, match="memory has schema version 4, newer than this program's 3"):
        registry.migrate(connection, "memory")


def test_a_store_registers_one_step_per_version(registry: Migrations) -> None:
    with pytest.raises(ValueError, match="already has a step"):
        registry.register("a", 2, "SELECT 1")
    with pytest.raises(ValueError, match="start at 1"):
        registry.register("d", 0, "SELECT 1")
    assert Migrations().version == 0


def test_a_failed_step_leaves_the_catalogue_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE api_keys (id INTEGER)")  # step 2 will fail on it
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        Catalogue(path).migrate()
    with sqlite3.connect(path) as connection:
        assert _version(connection) == 0
        assert _tables(connection) == ["api_keys"]


def test_the_catalogue_steps_by_store() -> None:
    assert SCHEMA_VERSION == CATALOGUE.version == 4
    assert [[step.store for step in CATALOGUE.steps(version)] for version in (1, 2, 3, 4)] == [
        ["records"],
        ["api_keys"],
        ["outcomes", "plan_jobs"],
        ["events", "staff_users", "introduction_requests"],
    ]


def test_the_catalogue_from_each_older_version_ends_as_a_fresh_one(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.sqlite"
    assert Catalogue(fresh).migrate() == 0
    assert Catalogue(fresh).migrate() == SCHEMA_VERSION
    with sqlite3.connect(fresh) as connection:
        expected = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        assert _tables(connection) == [
            "api_keys",
            "event_audit",
            "event_pairs",
            "events",
            "introduction_requests",
            "outcomes",
            "plan_jobs",
            "records",
            "revisions",
            "sqlite_sequence",
            "staff_users",
            "term_df",
        ]
    for version in (1, 2, 3):
        path = tmp_path / f"v{version}.sqlite"
        with sqlite3.connect(path, isolation_level=None) as connection:
            for number in range(1, version + 1):
                for step in CATALOGUE.steps(number):
                    step.run(connection)
            connection.execute(f"PRAGMA user_version = {version}")
        assert Catalogue(path).migrate() == version
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall() == expected
            assert _version(connection) == SCHEMA_VERSION
