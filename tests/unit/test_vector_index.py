"""The FAISS index against brute force, its updates, and atomic, model-checked saving."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from matcher.errors import IndexMismatch
from matcher.index.lexical import BM25Parameters, LexicalIndex
from matcher.index.store import IndexStore, SideIndex
from matcher.index.vector import PASSAGE_BITS, VectorIndex
from matcher.records import Kind
from matcher.retrieval.ranking import Method, RankingPolicy, rank
from matcher.text.passages import PassagePolicy

DENSE = RankingPolicy(method=Method.DENSE)
POLICY = PassagePolicy()
BM25 = BM25Parameters()


def unit_vectors(count: int, dimension: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def filled_index(count: int = 200) -> tuple[VectorIndex, np.ndarray]:
    vectors = unit_vectors(count)
    index = VectorIndex(Kind.PROJECTS, "model-a", 16)
    keys = list(range(1000, 1000 + count))
    index.add(keys, [vector[None, :] for vector in vectors], [f"h{key}" for key in keys])
    return index, vectors


def side(count: int = 200, revision: int = 1) -> SideIndex:
    vector, _ = filled_index(count)
    lexical = LexicalIndex(BM25, {key: [f"w{key % 7}", "common"] for key in vector.entries})
    return SideIndex(vector, lexical, POLICY, revision)


def search(index: VectorIndex, query: np.ndarray, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
    return [(hit.key, hit.score) for hit in rank(DENSE, index.record_scores(query[None, :]), None, k, allowed)]


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, keys: list[int]) -> list[int]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [keys[i] for i in order]


def test_search_agrees_with_brute_force():
    index, vectors = filled_index()
    keys = list(range(1000, 1200))
    for query in unit_vectors(10, seed=1):
        hits = search(index, query, 10)
        assert [key for key, _ in hits] == brute_force(vectors, query, 10, keys)
        assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_filtered_search_returns_top_k_among_allowed_keys():
    index, vectors = filled_index()
    allowed = set(range(1000, 1200, 7))
    query = unit_vectors(1, seed=2)[0]
    hits = search(index, query, 10, allowed)
    allowed_sorted = sorted(allowed)
    rows = [key - 1000 for key in allowed_sorted]
    assert [key for key, _ in hits] == brute_force(vectors[rows], query, 10, allowed_sorted)
    assert len(search(index, query, 50, {1003, 1004})) == 2
    assert search(index, query, 5, set()) == []


def test_update_and_delete_without_rebuild():
    index, vectors = filled_index()
    replacement = -vectors[0]
    index.add([1000], [replacement[None, :]], ["new"])
    assert index.count == 200 and index.entries[1000] == ("new", 1)
    assert search(index, replacement, 1)[0][0] == 1000
    index.remove([1000, 1001, 99999])
    assert index.count == 198 == index.passage_count
    assert all(key not in (1000, 1001) for key, _ in search(index, replacement, 198))


def test_a_record_scores_by_its_best_pair_of_passages():
    index = VectorIndex(Kind.PROJECTS, "model-a", 4)
    eye = np.eye(4, dtype=np.float32)
    index.add([7, 9], [eye[[0, 1, 2]], eye[[3]]], ["a", "b"])
    assert index.passage_count == 4 and index.entries[7] == ("a", 3)
    keys, scores = index.record_scores(eye[[1]])
    assert keys.tolist() == [7, 9] and scores.tolist() == [1.0, 0.0]
    keys, scores = index.record_scores(eye[[1, 3]])
    assert scores.tolist() == [1.0, 1.0]
    keys, scores = index.record_scores(np.array([[0.6, 0.8, 0, 0], [0, 0, 0, 1]], dtype=np.float32))
    assert scores.tolist() == pytest.approx([0.8, 1.0])
    index.remove([7])
    assert index.passage_count == 1 and index.record_scores(eye[[0]])[0].tolist() == [9]


def test_wrong_dimension_is_refused():
    index, _ = filled_index(5)
    with pytest.raises(IndexMismatch, match="holds 16-dimensional vectors but got 8-dimensional"):
        index.record_scores(np.ones((1, 8), dtype=np.float32))


def test_save_and_load_round_trip_with_manifest(tmp_path):
    store = IndexStore(tmp_path)
    index = side()
    store.save(index)
    loaded = store.load(Kind.PROJECTS, "model-a", POLICY, BM25)
    assert loaded is not None
    assert loaded.vector.entries == index.vector.entries and loaded.revision == 1
    assert loaded.lexical.tokens == index.lexical.tokens
    query = unit_vectors(1, seed=3)[0]
    assert search(loaded.vector, query, 5) == search(index.vector, query, 5)
    keys, scores = loaded.lexical.scores(["w3"])
    assert set(keys[scores > 0].tolist()) == {key for key in index.vector.entries if key % 7 == 3}
    manifest = store.manifest(Kind.PROJECTS)
    assert {k: manifest[k] for k in ("model", "dimension", "count", "passages", "format_version", "kind")} == {
        "model": "model-a",
        "dimension": 16,
        "count": 200,
        "passages": 200,
        "format_version": 2,
        "kind": "projects",
    }
    assert store.load(Kind.NEEDS, "model-a", POLICY, BM25) is None


def test_loading_an_index_of_another_model_says_which_and_how_to_rebuild(tmp_path):
    store = IndexStore(tmp_path)
    store.save(side())
    with pytest.raises(IndexMismatch) as caught:
        store.load(Kind.PROJECTS, "model-b", POLICY, BM25)
    assert str(caught.value) == (
        "The projects index was built with model 'model-a' (16 dimensions) but the configured model is "
        "'model-b'; rebuild it with `matcher index --rebuild`"
    )


def test_loading_an_index_made_with_other_passages_is_refused(tmp_path):
    store = IndexStore(tmp_path)
    store.save(side())
    with pytest.raises(IndexMismatch, match=r"was built with passages .* but the configuration asks for"):
        store.load(Kind.PROJECTS, "model-a", PassagePolicy(max_units=100), BM25)


def test_old_generations_are_pruned(tmp_path):
    store = IndexStore(tmp_path)
    for revision in range(1, 6):
        store.save(side(10, revision))
    generations = [p for p in (tmp_path / "projects").iterdir() if p.is_dir()]
    assert len(generations) == 2
    assert store.load(Kind.PROJECTS, "model-a", POLICY, BM25).revision == 5


def test_failure_in_the_middle_of_a_save_keeps_the_previous_index(tmp_path, monkeypatch):
    store = IndexStore(tmp_path)
    store.save(side(50, revision=1))

    def broken_rename(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError, match="No space left"):
        store.save(side(80, revision=2))
    monkeypatch.undo()
    loaded = store.load(Kind.PROJECTS, "model-a", POLICY, BM25)
    assert (loaded.revision, loaded.count) == (1, 50)
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "projects").iterdir())


@pytest.mark.parametrize("crash_point", ["after_index_file", "before_pointer_swap"])
def test_process_killed_in_the_middle_of_a_save_leaves_the_previous_index_loadable(tmp_path, crash_point):
    """A real process dies (os._exit, no cleanup) mid-save; a new process loads the previous index."""
    store = IndexStore(tmp_path)
    store.save(side(50, revision=1))
    script = textwrap.dedent(
        f"""
        import os, faiss, numpy as np
        from pathlib import Path
        import matcher.index.store as index_store
        from matcher.index.lexical import LexicalIndex
        from matcher.records import Kind
        from matcher.text.passages import PassagePolicy
        from matcher.index.vector import VectorIndex
        if {crash_point!r} == "after_index_file":
            real_write = faiss.write_index
            def write_then_die(index, path):
                real_write(index, path)
                os._exit(9)
            index_store.faiss.write_index = write_then_die
        else:
            index_store.IndexStore._point_to = lambda self, side, generation: os._exit(9)
        vector = VectorIndex(Kind.PROJECTS, "model-a", 16)
        vector.add(list(range(16)), [row[None, :] for row in np.eye(16, dtype=np.float32)], ["h"] * 16)
        side = index_store.SideIndex(vector, LexicalIndex(), PassagePolicy(), revision=2)
        index_store.IndexStore(Path({str(tmp_path)!r})).save(side)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr
    loaded = IndexStore(tmp_path).load(Kind.PROJECTS, "model-a", POLICY, BM25)
    assert (loaded.revision, loaded.count) == (1, 50)


def test_best_passages_name_each_records_best_passage_after_changes():
    index = VectorIndex(Kind.PROJECTS, "model-a", 4)
    eye = np.eye(4, dtype=np.float32)
    index.add([9, 7], [eye[[3]], eye[[0, 1, 2]]], ["b", "a"])
    keys, scores, best = index.best_passages(eye[[2]])
    assert keys.tolist() == [7, 9] and scores.tolist() == [1.0, 0.0]
    assert best.tolist() == [(7 << PASSAGE_BITS) | 2, 9 << PASSAGE_BITS]
    index.add([7], [eye[[1, 0]]], ["a2"])  # replaced: its passages now come last in FAISS
    keys, scores, best = index.best_passages(eye[[0, 3]])
    assert keys.tolist() == [7, 9] and scores.tolist() == [1.0, 1.0]
    assert best.tolist() == [(7 << PASSAGE_BITS) | 1, 9 << PASSAGE_BITS]


def test_a_reader_sees_a_generation_saved_by_another_store(tmp_path):
    reader, writer = IndexStore(tmp_path), IndexStore(tmp_path)  # as two processes would
    assert reader.current_generation(Kind.PROJECTS) is None
    first = writer.save(side())
    assert reader.current_generation(Kind.PROJECTS) == first
    assert reader.current_generation(Kind.PROJECTS) == first  # answered without reading the file again
    second = writer.save(side())
    assert second != first and reader.current_generation(Kind.PROJECTS) == second


def test_record_vectors_only_for_the_text_the_index_holds():
    index = VectorIndex(Kind.PROJECTS, "model-a", 4)
    eye = np.eye(4, dtype=np.float32)
    index.add([3, 8], [eye[[0, 1]], eye[[2]]], ["hash-3", "hash-8"])
    np.testing.assert_array_equal(index.record_vectors(3, "hash-3"), eye[[0, 1]])
    np.testing.assert_array_equal(index.record_vectors(8, "hash-8"), eye[[2]])
    assert index.record_vectors(3, "hash-of-an-edited-text") is None and index.record_vectors(99, "hash-3") is None
