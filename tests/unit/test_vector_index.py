"""The FAISS index against brute force, its updates, and atomic, model-checked saving."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from matcher.errors import IndexMismatch
from matcher.index_store import IndexStore
from matcher.records import Kind
from matcher.vector_index import VectorIndex


def unit_vectors(count: int, dimension: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def filled_index(count: int = 200, revision: int = 1) -> tuple[VectorIndex, np.ndarray]:
    vectors = unit_vectors(count)
    index = VectorIndex(Kind.PROJECTS, "model-a", 16, revision=revision)
    keys = list(range(1000, 1000 + count))
    index.add(keys, vectors, [f"h{key}" for key in keys])
    return index, vectors


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, keys: list[int]) -> list[int]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [keys[i] for i in order]


def test_search_agrees_with_brute_force():
    index, vectors = filled_index()
    keys = list(range(1000, 1200))
    for query in unit_vectors(10, seed=1):
        hits = index.search(query, 10)
        assert [key for key, _ in hits] == brute_force(vectors, query, 10, keys)
        assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_filtered_search_returns_top_k_among_allowed_keys():
    index, vectors = filled_index()
    allowed = set(range(1000, 1200, 7))
    query = unit_vectors(1, seed=2)[0]
    hits = index.search(query, 10, allowed)
    allowed_sorted = sorted(allowed)
    rows = [key - 1000 for key in allowed_sorted]
    assert [key for key, _ in hits] == brute_force(vectors[rows], query, 10, allowed_sorted)
    assert len(index.search(query, 50, {1003, 1004})) == 2
    assert index.search(query, 5, set()) == []


def test_update_and_delete_without_rebuild():
    index, vectors = filled_index()
    replacement = -vectors[0]
    index.add([1000], replacement[None, :], ["new"])
    assert index.count == 200 and index.entries[1000] == "new"
    assert index.search(replacement, 1)[0][0] == 1000
    index.remove([1000, 1001, 99999])
    assert index.count == 198
    assert all(key not in (1000, 1001) for key, _ in index.search(replacement, 198))


def test_wrong_dimension_is_refused():
    index, _ = filled_index(5)
    with pytest.raises(IndexMismatch, match="holds 16-dimensional vectors but got 8-dimensional"):
        index.search(np.ones(8, dtype=np.float32), 3)


def test_save_and_load_round_trip_with_manifest(tmp_path):
    store = IndexStore(tmp_path)
    index, vectors = filled_index()
    store.save(index)
    loaded = store.load(Kind.PROJECTS, "model-a")
    assert loaded is not None
    assert loaded.entries == index.entries and loaded.revision == 1
    query = vectors[5]
    assert loaded.search(query, 5) == index.search(query, 5)
    manifest = store.manifest(Kind.PROJECTS)
    assert {k: manifest[k] for k in ("model", "dimension", "count", "format_version", "kind")} == {
        "model": "model-a", "dimension": 16, "count": 200, "format_version": 1, "kind": "projects",
    }
    assert store.load(Kind.NEEDS, "model-a") is None


def test_loading_an_index_of_another_model_says_which_and_how_to_rebuild(tmp_path):
    store = IndexStore(tmp_path)
    store.save(filled_index()[0])
    with pytest.raises(IndexMismatch) as caught:
        store.load(Kind.PROJECTS, "model-b")
    assert str(caught.value) == (
        "The projects index was built with model 'model-a' (16 dimensions) but the configured model is "
        "'model-b'; rebuild it with `matcher index --rebuild`"
    )


def test_old_generations_are_pruned(tmp_path):
    store = IndexStore(tmp_path)
    for revision in range(1, 6):
        store.save(filled_index(10, revision)[0])
    generations = [p for p in (tmp_path / "projects").iterdir() if p.is_dir()]
    assert len(generations) == 2
    assert store.load(Kind.PROJECTS, "model-a").revision == 5


def test_failure_in_the_middle_of_a_save_keeps_the_previous_index(tmp_path, monkeypatch):
    store = IndexStore(tmp_path)
    store.save(filled_index(50, revision=1)[0])

    def broken_rename(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError, match="No space left"):
        store.save(filled_index(80, revision=2)[0])
    monkeypatch.undo()
    loaded = store.load(Kind.PROJECTS, "model-a")
    assert (loaded.revision, loaded.count) == (1, 50)
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "projects").iterdir())


@pytest.mark.parametrize("crash_point", ["after_index_file", "before_pointer_swap"])
def test_process_killed_in_the_middle_of_a_save_leaves_the_previous_index_loadable(tmp_path, crash_point):
    """A real process dies (os._exit, no cleanup) mid-save; a new process loads the previous index."""
    store = IndexStore(tmp_path)
    store.save(filled_index(50, revision=1)[0])
    script = textwrap.dedent(
        f"""
        import os, faiss, numpy as np
        from pathlib import Path
        import matcher.index_store as index_store
        from matcher.records import Kind
        from matcher.vector_index import VectorIndex
        if {crash_point!r} == "after_index_file":
            real_write = faiss.write_index
            def write_then_die(index, path):
                real_write(index, path)
                os._exit(9)
            index_store.faiss.write_index = write_then_die
        else:
            index_store.IndexStore._point_to = lambda self, side, generation: os._exit(9)
        index = VectorIndex(Kind.PROJECTS, "model-a", 16, revision=2)
        vectors = np.eye(16, dtype=np.float32)
        index.add(list(range(16)), vectors, ["h"] * 16)
        index_store.IndexStore(Path({str(tmp_path)!r})).save(index)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr
    loaded = IndexStore(tmp_path).load(Kind.PROJECTS, "model-a")
    assert (loaded.revision, loaded.count) == (1, 50)
