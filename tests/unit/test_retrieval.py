"""Retrieval over real FAISS and BM25 indexes built by hand: feedback, filters and similarity floors."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.index.lexical import LexicalIndex
from matcher.index.store import SideIndex
from matcher.index.vector import VectorIndex
from matcher.records import Kind
from matcher.retrieval.ranking import Fusion, Method, RankingPolicy
from matcher.retrieval.retrieve import retrieve
from matcher.text.passages import PassagePolicy


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def side() -> SideIndex:
    vector = VectorIndex(Kind.PROJECTS, "m", 3)
    # 1 is nearest the query; 2 is near 1 but far from the query; 3 is in between, on the other side.
    vectors = {1: unit(1, 1, 0), 2: unit(0.2, 1, 0), 3: unit(0.6, 0, 0.8)}
    vector.add(list(vectors), [v[None, :] for v in vectors.values()], ["h1", "h2", "h3"])
    lexical = LexicalIndex(tokens={1: ["alpha"], 2: ["beta"], 3: ["gamma"]})
    return SideIndex(vector, lexical, PassagePolicy(), revision=1)


QUERY = unit(1, 0, 0)[None, :]
PLAIN = RankingPolicy(Method.DENSE)
FEEDBACK = RankingPolicy(Method.DENSE, feedback_docs=1, feedback_weight=2.0, feedback_max_tokens=3)


def keys(hits) -> list[int]:
    return [hit.key for hit in hits]


def test_feedback_moves_a_short_query_towards_its_first_result():
    index = side()
    assert keys(retrieve(index, PLAIN, QUERY, ["x"], 3)) == [1, 3, 2]
    hits = retrieve(index, FEEDBACK, QUERY, ["x"], 3)
    assert keys(hits) == [1, 2, 3]  # 2 resembles the first result, so it rises above 3
    similarities = {hit.key: hit.dense for hit in hits}
    assert similarities[2] == pytest.approx(float(unit(0.2, 1, 0) @ QUERY[0]))  # reported for the query itself


def test_long_queries_get_no_feedback():
    assert keys(retrieve(side(), FEEDBACK, QUERY, ["a", "b", "c", "d"], 3)) == [1, 3, 2]


def test_filters_and_similarity_floor_apply_to_both_passes():
    index = side()
    assert keys(retrieve(index, FEEDBACK, QUERY, ["x"], 3, allowed={2, 3})) == [3, 2]
    assert keys(retrieve(index, FEEDBACK, QUERY, ["x"], 3, min_similarity=0.5)) == [1, 3]


def test_hybrid_blends_bm25_with_dense():
    policy = RankingPolicy(Method.HYBRID, Fusion.BLEND, dense_weight=0.4)
    hits = retrieve(side(), policy, QUERY, ["beta"], 3)
    assert keys(hits) == [2, 1, 3]
    assert [round(hit.lexical, 3) > 0 for hit in hits] == [True, False, False]
