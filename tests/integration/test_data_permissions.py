"""A data folder made by the `matcher` command with the real model is owner-only, whatever the umask."""

from __future__ import annotations

import os
import stat

from click.testing import CliRunner

from service.cli import main
from tests.conftest import SAMPLE_DATA


def head(source, target, rows: int) -> None:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[: rows + 1]), encoding="utf-8")


def test_init_ingest_index_leave_no_group_or_other_bits(tmp_path):
    head(SAMPLE_DATA / "projects.csv", tmp_path / "projects.csv", 6)
    head(SAMPLE_DATA / "needs.csv", tmp_path / "needs.csv", 6)
    data_dir = tmp_path / "var"
    previous = os.umask(0o022)  # a login shell's: without the command's own, files would be 0644
    try:
        for args in (
            ["init"],
            ["ingest", str(tmp_path / "projects.csv"), "--kind", "projects"],
            ["ingest", str(tmp_path / "needs.csv"), "--kind", "needs"],
            ["index", "--rebuild"],
        ):
            result = CliRunner().invoke(main, ["--quiet", "--data-dir", str(data_dir), *args], catch_exceptions=False)
            assert result.exit_code == 0, result.output
    finally:
        os.umask(previous)
    paths = [data_dir, *data_dir.rglob("*")]
    names = {path.relative_to(data_dir).as_posix() for path in paths}
    assert {"catalogue.sqlite", "embeddings.sqlite", ".write.lock"} <= names
    assert any(name.startswith("indexes/") for name in names), names
    loose = {
        path.relative_to(data_dir).as_posix() or ".": oct(stat.S_IMODE(path.lstat().st_mode))
        for path in paths
        if stat.S_IMODE(path.lstat().st_mode) & 0o077
    }
    assert loose == {}
    folders = [path for path in paths if path.is_dir() and not path.is_symlink()]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o700 for path in folders)
