"""Fusion arithmetic, BM25 over English/Chinese/mixed tokens, and passage splitting, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.index.lexical import LexicalIndex, lexical_tokens
from matcher.retrieval.ranking import Fusion, Method, RankingPolicy, fuse, rank
from matcher.text.passages import PassagePolicy, passages

KEYS = np.array([1, 2, 3, 4], dtype=np.int64)
DENSE = (KEYS, np.array([0.9, 0.5, 0.7, 0.1], dtype=np.float32))
LEXICAL = (KEYS, np.array([0.0, 8.0, 2.0, 4.0], dtype=np.float32))


def keys_of(policy: RankingPolicy, allowed=None, top_k=4, dense=DENSE, lexical=LEXICAL) -> list[int]:
    return [hit.key for hit in rank(policy, dense, lexical, top_k, allowed)]


def test_single_methods_rank_by_their_own_scores():
    assert keys_of(RankingPolicy(Method.DENSE), lexical=None) == [1, 3, 2, 4]
    assert keys_of(RankingPolicy(Method.BM25), dense=None) == [2, 4, 3, 1]


def test_rrf_sums_reciprocal_ranks_and_ignores_zero_lexical_scores():
    policy = RankingPolicy(Method.HYBRID, Fusion.RRF, rrf_k=60)
    fused = fuse(policy, DENSE[1], LEXICAL[1])
    expected = [1 / 61, 1 / 63 + 1 / 61, 1 / 62 + 1 / 63, 1 / 64 + 1 / 62]
    assert fused.tolist() == pytest.approx(expected)
    assert keys_of(policy) == [2, 3, 4, 1]


def test_blend_weighs_min_max_normalised_scores():
    policy = RankingPolicy(Method.HYBRID, Fusion.BLEND, dense_weight=0.75)
    fused = fuse(policy, DENSE[1], LEXICAL[1])
    dense_norm = (np.array([0.9, 0.5, 0.7, 0.1]) - 0.1) / 0.8
    lexical_norm = np.array([0.0, 1.0, 0.25, 0.5])
    assert fused.tolist() == pytest.approx((0.75 * dense_norm + 0.25 * lexical_norm).tolist(), abs=1e-6)


def test_filters_apply_before_normalising_and_ranking():
    policy = RankingPolicy(Method.HYBRID, Fusion.BLEND, dense_weight=0.5)
    hits = rank(policy, DENSE, LEXICAL, 10, allowed={1, 4})
    assert [hit.key for hit in hits] == [1, 4]
    assert [hit.score for hit in hits] == pytest.approx([0.5, 0.5])  # each is best on one side among the two
    assert [(hit.dense, hit.lexical) for hit in hits] == [(pytest.approx(0.9), 0.0), (pytest.approx(0.1), 4.0)]
    assert rank(policy, DENSE, LEXICAL, 10, allowed=set()) == []


def test_scores_over_different_key_sets_are_aligned():
    lexical = (np.array([2, 4], dtype=np.int64), np.array([8.0, 4.0], dtype=np.float32))
    hits = rank(RankingPolicy(Method.HYBRID, Fusion.RRF), DENSE, lexical, 4)
    assert {hit.key: hit.lexical for hit in hits} == {1: 0.0, 2: 8.0, 3: 0.0, 4: 4.0}


def test_lexical_tokens_in_english_chinese_and_mixed_text():
    assert lexical_tokens("The welding of aluminium alloys, 2024.") == ["weld", "aluminium", "alloy"]
    assert lexical_tokens("激光焊接铝合金的气孔") == ["激光", "焊接", "铝合金", "气孔"]
    assert lexical_tokens("SiC功率模块 for EV inverters") == ["sic", "功率", "模块", "ev", "invert"]


def test_bm25_finds_chinese_english_and_mixed_matches():
    index = LexicalIndex()
    texts = {
        10: "激光焊接铝合金电池托盘",
        11: "Laser welding of aluminium battery trays",
        12: "SiC功率模块 for EV inverters",
        13: "大豆育种 soybean breeding",
    }
    index.set(list(texts), [lexical_tokens(text) for text in texts.values()])

    def best(query: str) -> int:
        keys, scores = index.scores(lexical_tokens(query))
        return int(keys[np.argmax(scores)])

    assert best("铝合金焊接") == 10
    assert best("welded aluminium trays") == 11
    assert best("EV用SiC模块") == 12
    assert best("soybean 育种") == 13
    keys, scores = index.scores(lexical_tokens("unrelated words"))
    assert keys.tolist() == [10, 11, 12, 13] and scores.tolist() == [0, 0, 0, 0]


def test_a_removed_record_never_comes_back_from_bm25():
    index = LexicalIndex()
    index.set([1, 2], [["weld"], ["weld", "laser"]])
    assert index.scores(["weld"])[0].tolist() == [1, 2]
    index.remove([2])
    keys, scores = index.scores(["laser", "weld"])
    assert keys.tolist() == [1] and scores[0] > 0


def test_short_text_is_one_passage_and_long_text_overlapping_windows():
    policy = PassagePolicy(max_units=4, overlap=1, max_passages=3)
    assert passages("Title", "a b c d", policy) == ["Title\na b c d"]
    assert passages("Title", "a b c d e f g", policy) == ["Title\na b c d", "Title\nd e f g"]
    assert passages("", "a b c d e f g h i j k l m", policy) == ["a b c d", "d e f g", "g h i j"]  # bounded
    assert passages("T", "激光焊接铝合金", policy) == ["T\n激光焊接", "T\n接铝合金"]


def test_passage_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="overlap"):
        PassagePolicy(max_units=4, overlap=4)


def test_bm25_scores_equal_bm25s_own_including_repeated_query_tokens():
    index = LexicalIndex()
    texts = ["laser welding of aluminium trays", "welding robots", "电池 激光 焊接", "aluminium casting aluminium dies"]
    index.set([3, 1, 8, 5], [lexical_tokens(text) for text in texts])
    query = lexical_tokens("aluminium laser welding welding 激光 unknownword")
    keys, scores = index.scores(query)
    model = index._built()
    expected = model.get_scores([token for token in query if token in model.vocab_dict])
    assert keys.tolist() == [1, 3, 5, 8]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert scores[keys.tolist().index(3)] > scores[keys.tolist().index(1)] > 0
