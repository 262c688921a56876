"""A folder made once: kept when made, never half there, and a failed write named with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.embedding.staged import made_once
from matcher.errors import Unavailable


def _writes(calls: list[Path]):
    def build(staging: Path) -> None:
        calls.append(staging)
        (staging / "model.bin").write_bytes(b"weights")
        (staging / "done").write_text("yes")

    return build


def test_a_folder_is_built_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []
    folder = tmp_path / "export-a"
    assert made_once(folder, "done", _writes(calls), "model_cache_dir") == folder
    assert made_once(folder, "done", _writes(calls), "model_cache_dir") == folder
    assert len(calls) == 1 and (folder / "model.bin").read_bytes() == b"weights"
    assert not calls[0].exists()  # the staging folder became the folder


def test_a_failed_build_leaves_nothing_and_names_the_place(tmp_path: Path) -> None:
    def full_disk(staging: Path) -> None:
        (staging / "model.bin").write_bytes(b"half")
        raise RuntimeError("basic_ios::clear: iostream error")  # what OpenVINO raises on a full disk

    folder = tmp_path / "export-b"
    with pytest.raises(Unavailable, match=r"Cannot write export-b into .* MB free there\): basic_ios") as raised:
        made_once(folder, "done", full_disk, "model_cache_dir")
    assert raised.value.details == {"setting": "model_cache_dir", "path": str(tmp_path)}
    assert sorted(path.name for path in tmp_path.iterdir()) == [".export-b.lock"]
    assert made_once(folder, "done", _writes([]), "model_cache_dir") == folder  # a later try succeeds


def test_a_folder_without_its_marker_is_made_again(tmp_path: Path) -> None:
    calls: list[Path] = []
    folder = tmp_path / "export-c"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"copied in by hand, half")
    assert made_once(folder, "done", _writes(calls), "model_cache_dir") == folder
    assert len(calls) == 1 and (folder / "model.bin").read_bytes() == b"weights"
