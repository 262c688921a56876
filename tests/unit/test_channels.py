"""Two dense channels on real FAISS indexes built by hand: which channel scores a pair, and the alignment."""

from __future__ import annotations

import numpy as np

from matcher.index.lexical import LexicalIndex
from matcher.index.store import SideIndex
from matcher.index.vector import VectorIndex
from matcher.records import Kind
from matcher.retrieval.channels import QueryVectors, dense_scores
from matcher.retrieval.ranking import Method, RankingPolicy
from matcher.retrieval.retrieve import retrieve
from matcher.text.passages import PassagePolicy

rng = np.random.default_rng(7)


def units(count: int, dimension: int) -> np.ndarray:
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def index_of(vectors: np.ndarray, name: str) -> VectorIndex:
    index = VectorIndex(Kind.PROJECTS, name, vectors.shape[1])
    keys = list(range(1, len(vectors) + 1))
    index.add(keys, [row[None, :] for row in vectors], [f"h{key}" for key in keys])
    return index


def side(english: np.ndarray, multilingual: np.ndarray | None, chinese: set[int]) -> SideIndex:
    keys = range(1, len(english) + 1)
    return SideIndex(
        index_of(english, "english"),
        LexicalIndex(tokens={key: ["x"] for key in keys}),
        PassagePolicy(),
        revision=1,
        multilingual=index_of(multilingual, "multilingual") if multilingual is not None else None,
        languages={key: "zh" if key in chinese else "en" for key in keys},
    )


ENGLISH, MULTILINGUAL = units(30, 8), units(30, 6)


def test_an_english_catalogue_is_scored_by_the_english_model_alone():
    query = units(1, 8)
    plain = dense_scores(side(ENGLISH, None, set()), QueryVectors(query))
    both = dense_scores(side(ENGLISH, MULTILINGUAL, set()), QueryVectors(query, units(1, 6), "en"))
    assert np.array_equal(plain.scores, both.scores) and not both.multilingual.any()
    np.testing.assert_allclose(plain.scores, (ENGLISH @ query[0]), rtol=1e-5)


def test_a_chinese_query_is_scored_by_the_multilingual_channel_for_every_record():
    query = MULTILINGUAL[[4]]  # the multilingual twin of record 5
    scores = dense_scores(side(ENGLISH, MULTILINGUAL, {2, 3}), QueryVectors(units(1, 8), query, "zh"))
    assert scores.multilingual.all()
    assert int(scores.keys[np.argmax(scores.scores)]) == 5
    np.testing.assert_allclose(scores.scores, MULTILINGUAL @ query[0], rtol=1e-5)


def test_chinese_records_of_an_english_query_are_aligned_onto_the_english_scale():
    chinese = {3, 9, 17}
    # The English model scores on a narrow scale, the multilingual channel on a wide one.
    english_query, multilingual_query = units(1, 8), MULTILINGUAL[[8]]  # record 9 is the query's translation
    scores = dense_scores(side(ENGLISH * 1.0, MULTILINGUAL, chinese), QueryVectors(english_query, multilingual_query))
    is_chinese = np.isin(scores.keys, sorted(chinese))
    assert np.array_equal(scores.multilingual, is_chinese)
    english_rows = ~is_chinese
    np.testing.assert_allclose(scores.scores[english_rows], (ENGLISH @ english_query[0])[english_rows], rtol=1e-5)
    # Record 9 is the best multilingual match, so after alignment it stands above every English record.
    assert int(scores.keys[np.argmax(scores.scores)]) == 9
    raw = MULTILINGUAL @ multilingual_query[0]
    english = ENGLISH @ english_query[0]
    # Aligned: the Chinese records sit where their z-score over the English records puts them.
    z = (raw[8] - raw[english_rows].mean()) / raw[english_rows].std()
    expected = english[english_rows].mean() + z * english[english_rows].std()
    assert abs(float(scores.scores[8]) - expected) < 1e-4


def test_retrieval_reports_channel_and_background_of_each_hit():
    hits = retrieve(
        side(ENGLISH, MULTILINGUAL, {9}),
        RankingPolicy(Method.DENSE),
        QueryVectors(units(1, 8), MULTILINGUAL[[8]]),
        ["x"],
        3,
    )
    assert hits[0].key == 9 and hits[0].multilingual and not hits[1].multilingual
    assert hits[0].lead_z is not None and hits[0].lead_z > 0 > (hits[1].lead_z or 0)
    assert hits[0].dense_z is not None and hits[0].dense_z > (hits[1].dense_z or 0)
