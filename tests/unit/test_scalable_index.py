"""The approximate vector indexes (HNSW, IVF) and "auto": same results as exact for most queries, filters
inside the search, saving and loading by kind, and retrieval on top of them. Real FAISS, clustered random
vectors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from matcher.errors import ConfigError, IndexMismatch
from matcher.index.factory import vector_index_class
from matcher.index.lexical import BM25Parameters, LexicalIndex
from matcher.index.parameters import ANNParameters
from matcher.index.store import IndexStore, SideIndex
from matcher.index.vector import VectorIndex
from matcher.records import Kind
from matcher.retrieval import retrieve as retrieve_module
from matcher.retrieval.channels import QueryVectors
from matcher.retrieval.ranking import Method, RankingPolicy
from matcher.retrieval.retrieve import retrieve
from matcher.text.passages import PassagePolicy

DIMENSION = 32
RECORDS = 2_000
SMALL_GRAPH = {"hnsw_m": 16, "ef_construction": 40}  # a quick build: 2,000 records need no more


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One FAISS thread, as the service runs: OpenMP's spinning threads crawl on a busy shared machine."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[int], list[np.ndarray], np.ndarray]:
    """Records of 1 to 3 passages around 60 centres, and 40 queries near the centres."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(60, DIMENSION))
    keys = list(range(10, 10 + RECORDS))
    blocks = [
        unit(centres[rng.integers(60)] + 0.5 * rng.normal(size=(int(rng.integers(1, 4)), DIMENSION))) for _ in keys
    ]
    queries = unit(centres[rng.integers(60, size=40)] + 0.5 * rng.normal(size=(40, DIMENSION)))
    return keys, blocks, queries


def built(kind: type[VectorIndex], corpus: tuple[list[int], list[np.ndarray], np.ndarray]) -> VectorIndex:
    keys, blocks, _ = corpus
    index = kind(Kind.PROJECTS, "model-a", DIMENSION)
    index.add(keys, blocks, [f"h{key}" for key in keys])
    return index


def hnsw(**parameters: int) -> type[VectorIndex]:
    return approximate_class("hnsw", **parameters)


def approximate_class(kind: str, **parameters: int) -> type[VectorIndex]:
    return vector_index_class(kind, ANNParameters(**{**SMALL_GRAPH, **parameters}))


@pytest.fixture(scope="module")
def flat(corpus) -> VectorIndex:
    return built(VectorIndex, corpus)


@pytest.fixture(scope="module", params=["hnsw", "ivf"])
def approximate(request, corpus) -> VectorIndex:
    """At most 100 passing passages are scanned exactly; retrieval takes 30 candidates from the index."""
    return built(approximate_class(request.param, exact_filter_below=100, dense_candidates=30), corpus)


def top(index: VectorIndex, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    keys, scores, _ = index.scores_of(query[None, :], index.nearest(query[None, :], k, allowed))
    return [int(keys[i]) for i in np.argsort(-scores, kind="stable")[:k]]


def overlap(first: list[int], second: list[int]) -> float:
    return len(set(first) & set(second)) / len(first)


def test_index_kinds_by_setting():
    assert vector_index_class("flat") is VectorIndex
    with pytest.raises(ConfigError, match="index_kind"):
        vector_index_class("ivf-someday")


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_auto_is_flat_below_its_threshold_and_approximate_from_it(corpus, kind):
    keys, blocks, _ = corpus
    parameters = ANNParameters(exact_below=2_000, approximate_kind=kind)
    auto = vector_index_class("auto", parameters)(Kind.PROJECTS, "model-a", DIMENSION)
    auto.add(keys[:500], blocks[:500], ["h"] * 500)
    assert auto.index_kind == "flat" and not auto.approximate
    auto.add(keys[500:], blocks[500:], ["h"] * (len(keys) - 500))
    assert auto.index_kind == kind and auto.approximate and auto.passage_count > 2_000
    auto.remove(keys[300:])
    assert auto.index_kind == "flat" and auto.count == 300


def test_the_approximate_index_finds_the_exact_top_ten_for_most_queries(corpus, flat, approximate):
    queries = corpus[2]
    overlaps = [overlap(top(flat, query, 10), top(approximate, query, 10)) for query in queries]
    assert np.mean(overlaps) >= 0.95
    assert sum(o == 1.0 for o in overlaps) >= 0.8 * len(queries)


@pytest.mark.parametrize("share", [0.2, 0.01])
def test_a_tight_filter_still_gives_top_k_records_that_pass(corpus, flat, approximate, share):
    """20%: the bitmap selector inside the graph walk; 1%: the few passing passages scanned exactly."""
    keys = corpus[0]
    allowed = np.sort(np.random.default_rng(3).choice(keys, int(share * len(keys)), replace=False))
    overlaps = []
    for query in corpus[2]:
        found = top(approximate, query, 10, allowed)
        assert len(found) == 10 and set(found) <= set(allowed.tolist())
        overlaps.append(overlap(top(flat, query, 10, allowed), found))
    assert np.mean(overlaps) >= 0.95


def test_a_record_scores_by_its_best_passage_on_the_approximate_index_too(corpus, flat, approximate):
    query = corpus[2][:1]
    found = approximate.nearest(query, 20)
    assert [array.tolist() for array in approximate.scores_of(query, found)] == [
        array.tolist() for array in flat.scores_of(query, found)
    ]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_changing_or_removing_records_rebuilds_the_index_without_them(corpus, kind):
    keys, _, queries = corpus
    index = built(approximate_class(kind), corpus)
    best = top(index, queries[0], 5)
    index.remove(best[:2])
    index.add([best[2]], [unit(-queries[:1])], ["changed"])  # now the farthest from the query
    assert index.count == len(keys) - 2 and index.index_kind == kind
    assert not set(top(index, queries[0], 10)) & set(best[:3])
    assert index.record_vectors(best[2], "changed") is not None


def ivf_lists(index: VectorIndex) -> int:
    return int(faiss.downcast_index(index.ids_index.index).nlist)


def ready_for_readers(index: VectorIndex) -> bool:
    """Whether what queries read is made already (IVF direct map, layout), so no query mutates the index."""
    inner = faiss.downcast_index(index.ids_index.index)
    mapped = not isinstance(inner, faiss.IndexIVF) or inner.direct_map.type != faiss.DirectMap.NoMap
    return mapped and index._layout is not None


def test_ivf_grown_eightfold_over_several_adds_is_trained_again_for_its_size():
    """An IVF index extended in place retrains once its lists fall 2x behind what its size calls for."""
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(60, DIMENSION))
    total, step = 8_000, 1_000
    vectors = unit(centres[rng.integers(60, size=total)] + 0.5 * rng.normal(size=(total, DIMENSION)))
    kind = approximate_class("ivf")
    grown = kind(Kind.PROJECTS, "model-a", DIMENSION)
    first_lists = 0
    for start in range(0, total, step):
        keys = list(range(start, start + step))
        grown.add(keys, [vectors[key : key + 1] for key in keys], ["h"] * step)
        assert grown.index_kind == "ivf" and ready_for_readers(grown)
        first_lists = first_lists or ivf_lists(grown)
    fresh = kind(Kind.PROJECTS, "model-a", DIMENSION)
    fresh.add(list(range(total)), [vectors[key : key + 1] for key in range(total)], ["h"] * total)
    assert grown.passage_count == total and ivf_lists(fresh) > 4 * first_lists  # the growth matters
    assert 0.5 <= ivf_lists(grown) / ivf_lists(fresh) <= 2, (ivf_lists(grown), ivf_lists(fresh))
    assert len(grown.nearest(vectors[:1], 10)) == 10


def side_of(vector: VectorIndex, keys: list[int]) -> SideIndex:
    tokens = {key: [f"topic{key % 50}", f"word{key % 7}"] for key in keys}
    return SideIndex(vector, LexicalIndex(BM25Parameters(), tokens), PassagePolicy(), revision=3)


def test_saved_and_loaded_by_kind(tmp_path, corpus, approximate):
    keys, kind = corpus[0], approximate.index_kind
    store = IndexStore(tmp_path, type(approximate))
    store.save(side_of(approximate, keys))
    assert store.manifest(Kind.PROJECTS)["index_kind"] == kind
    loaded = store.load(Kind.PROJECTS, "model-a", PassagePolicy(), BM25Parameters())
    assert loaded is not None and loaded.vector.index_kind == kind and loaded.count == len(keys)
    assert all(top(loaded.vector, q, 10) == top(approximate, q, 10) for q in corpus[2][:5])
    with pytest.raises(IndexMismatch, match="index_kind"):
        IndexStore(tmp_path, VectorIndex).load(Kind.PROJECTS, "model-a", PassagePolicy(), BM25Parameters())
    # "auto" loads either kind, and makes of it what the catalogue's size calls for.
    auto = IndexStore(tmp_path, vector_index_class("auto", ANNParameters(exact_below=10**6)))
    small = auto.load(Kind.PROJECTS, "model-a", PassagePolicy(), BM25Parameters())
    assert small is not None and small.vector.index_kind == "flat" and small.count == len(keys)


def test_a_saved_flat_index_is_refused_by_hnsw(tmp_path, corpus, flat):
    keys = corpus[0]
    IndexStore(tmp_path, VectorIndex).save(side_of(flat, keys))
    with pytest.raises(IndexMismatch, match="is a flat index"):
        IndexStore(tmp_path, hnsw()).load(Kind.PROJECTS, "model-a", PassagePolicy(), BM25Parameters())


@pytest.mark.parametrize("method", [Method.DENSE, Method.HYBRID])
def test_retrieval_on_the_approximate_index_matches_exact_retrieval_for_most_queries(
    corpus, flat, approximate, method, monkeypatch
):
    """Fusion over the approximate index's candidates (not every record) still ranks like the exhaustive one.

    A background sample of 50 records: the default (2,000) would be the whole corpus, and retrieval exhaustive.
    """
    monkeypatch.setattr(retrieve_module, "BACKGROUND_SAMPLE", 50)
    keys = corpus[0]
    exact, candidates = side_of(flat, keys), side_of(approximate, keys)
    scored = retrieve_module.dense_candidates(candidates, QueryVectors(corpus[2][:1]), None, 100, None)
    assert len(scored) < len(keys) // 5  # a candidate set, not every record
    policy = RankingPolicy(method)
    allowed = set(np.random.default_rng(5).choice(keys, 60, replace=False).tolist())
    for among in (None, allowed):
        overlaps = []
        for number, query in enumerate(corpus[2]):
            tokens = [f"topic{number}"]
            want = retrieve(exact, policy, query[None, :], tokens, 10, among)
            got = retrieve(candidates, policy, query[None, :], tokens, 10, among)
            assert len(got) == 10 and (among is None or {hit.key for hit in got} <= among)
            overlaps.append(overlap([hit.key for hit in want], [hit.key for hit in got]))
        filtered = "filtered" if among is not None else "unfiltered"
        assert np.mean(overlaps) >= 0.9, f"{filtered}: mean top-10 overlap {np.mean(overlaps):.3f} with exact retrieval"
