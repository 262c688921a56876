"""Owner-only data folders: what the library creates is private whatever the process umask."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher.engine import open as open_matcher
from matcher.storage.sqlite import ThreadConnections
from matcher.support.atomic_files import write_atomically
from matcher.support.locks import WriteLock
from matcher.support.permissions import create_private_file, make_private_folder, tighten_folder
from service.cli import main


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask of a login shell: files 0644, folders 0755 unless the code asks otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_missing_folders_are_made_0700_parents_too(tmp_path, loose_umask):
    make_private_folder(tmp_path / "a" / "b" / "c")
    assert [mode(tmp_path / part) for part in ("a", "a/b", "a/b/c")] == [0o700] * 3


def test_an_existing_folder_is_left_alone_by_make_private_folder(tmp_path, loose_umask):
    (tmp_path / "shared").mkdir(mode=0o755)
    make_private_folder(tmp_path / "shared")
    assert mode(tmp_path / "shared") == 0o755


def test_private_file_is_0600_and_never_truncated(tmp_path, loose_umask):
    path = tmp_path / "var" / "file"
    create_private_file(path)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    path.write_bytes(b"kept")
    path.chmod(0o400)  # read-only: not opened for writing again
    create_private_file(path)
    assert path.read_bytes() == b"kept" and mode(path) == 0o400


def test_tighten_folder_strips_group_and_other_bits(tmp_path, loose_umask):
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    tighten_folder(data_dir)
    assert mode(data_dir) == 0o700


def test_tighten_folder_leaves_a_shared_sticky_folder_and_says_so(tmp_path, loose_umask, caplog):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    with caplog.at_level(logging.WARNING, logger="matcher.support.permissions"):
        tighten_folder(shared)
    assert mode(shared) == 0o1777
    assert "can be read by other users" in caplog.text


def test_sqlite_database_and_its_wal_and_shm_are_0600(tmp_path, loose_umask):
    path = tmp_path / "var" / "db.sqlite"
    connection = ThreadConnections(path).get()
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")
    files = [path, path.with_name("db.sqlite-wal"), path.with_name("db.sqlite-shm")]
    assert all(file.exists() for file in files)
    assert [mode(file) for file in files] == [0o600] * 3
    assert mode(path.parent) == 0o700
    connection.close()


def test_write_lock_and_atomic_writes_are_0600(tmp_path, loose_umask):
    lock = WriteLock(tmp_path / "var" / ".write.lock")
    with lock.held():
        pass
    written = write_atomically(tmp_path / "var" / "sub" / "reranker.json", b"{}")
    assert mode(lock.path) == 0o600 and mode(written) == 0o600
    assert mode(tmp_path / "var") == 0o700 and mode(tmp_path / "var" / "sub") == 0o700


def test_opening_a_data_folder_makes_it_owner_only(settings, fake_embedder, loose_umask):
    settings.data_dir.mkdir(parents=True, mode=0o755)
    open_matcher(settings, embedder=fake_embedder)
    assert mode(settings.data_dir) == 0o700
    assert mode(settings.catalogue_path) == 0o600


def test_the_command_writes_owner_only_and_puts_the_umask_back(tmp_path, loose_umask):
    data_dir = tmp_path / "var"
    result = CliRunner().invoke(main, ["--quiet", "--data-dir", str(data_dir), "init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert mode(data_dir) == 0o700
    modes = {path.name: mode(path) for path in data_dir.iterdir()}
    assert "catalogue.sqlite" in modes and set(modes.values()) == {0o600}, modes
    assert os.umask(0o022) == 0o022  # the test process's own umask again
