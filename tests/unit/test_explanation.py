"""Explanation parts with hand-made inputs: sentences, profiles, related terms, evidence, summary."""

from __future__ import annotations

import random

import numpy as np
import pytest

from matcher.embedding.encoder import SpanVectors, sum_over_spans
from matcher.evaluation.faithfulness import delete_spans, random_spans, terms_text, tokens_in
from matcher.explanation.evidence import best_evidence, best_evidence_many
from matcher.explanation.explain import ExplainPolicy, explain, shared_weight
from matcher.explanation.profile import Profile, ProfileBuilder, Sentence, Source, candidate_keyphrases
from matcher.explanation.related import _pairs, related_terms, related_terms_many
from matcher.explanation.summary import summary
from matcher.explanation.terms import FieldTerms, Occurrence
from matcher.text.passages import PassagePolicy
from matcher.text.sentences import sentence_spans


def pieces(text: str) -> list[str]:
    return [text[span.start : span.end] for span in sentence_spans(text)]


def test_sentences_in_english_chinese_and_mixed_text():
    assert pieces("Laser welding of Al. It works! Does it? Yes; always") == [
        "Laser welding of Al.",
        "It works!",
        "Does it?",
        "Yes;",
        "always",
    ]
    assert pieces("激光焊接技术。用于铝合金！效果好") == ["激光焊接技术。", "用于铝合金！", "效果好"]
    assert pieces("Title line\n  需要SiC功率模块。For EV inverters.  ") == [
        "Title line",
        "需要SiC功率模块。",
        "For EV inverters.",
    ]
    assert pieces("3.5 kW at 1.2 mm") == ["3.5 kW at 1.2 mm"]  # a point inside a number ends nothing
    assert pieces(" \n ") == []


def test_span_sums_leave_out_special_tokens_and_count_pieces():
    tokens = np.eye(4, dtype=np.float32)
    places = np.array([[0, 0], [0, 5], [6, 9], [0, 0]])  # [CLS] "Laser" "rig" [SEP]
    parts = sum_over_spans(tokens, places, [(0, 5), (6, 9), (20, 30)])
    assert parts.tokens.tolist() == [1, 1, 0]
    assert parts.sums.tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    again = SpanVectors.from_bytes(parts.to_bytes())
    assert np.array_equal(again.sums, parts.sums) and again.spans.tolist() == [[0, 5], [6, 9], [20, 30]]


def test_candidates_are_the_heaviest_words_and_two_word_phrases():
    terms = FieldTerms.of({"text": "Laser welding of battery trays. Laser welding speed. Software."})
    weights = {"laser": 1.0, "weld": 1.0, "laser weld": 3.0, "batteri tray": 2.5, "weld speed": 2.0, "softwar": 0.5}
    # at most a third are phrases, so "weld speed" gives way to words; "laser weld" occurs twice:
    # 3 x (1 + ln 2); the three-word "laser welding speed" is no candidate
    assert candidate_keyphrases(terms, weights, 6) == [
        "laser weld",
        "batteri tray",
        "laser",
        "weld",
        "softwar",
        "batteri",
    ]
    assert candidate_keyphrases(terms, weights, 2) == ["laser", "weld"]


_OWN_DIRECTIONS: dict[str, int] = {}  # shared by all builders, so two texts' phrases never collide


@pytest.fixture(autouse=True)
def _fresh_directions():
    """Each test starts with every direction free (a test's own phrases still never collide)."""
    _OWN_DIRECTIONS.clear()


def _builder(vectors: dict[str, np.ndarray], readable: bool = True) -> ProfileBuilder:
    """Phrases in ``vectors`` get those (3-d, padded); every other phrase a direction of its own."""
    dimension = 256
    own = _OWN_DIRECTIONS

    def phrase_vector(phrase: str) -> np.ndarray:
        vector = np.zeros(dimension, dtype=np.float32)
        if phrase in vectors:
            vector[:3] = vectors[phrase]
        else:
            vector[3 + own.setdefault(phrase, len(own))] = 1.0
        return vector

    def sentence_vectors(texts: list[str]) -> list[SpanVectors]:
        out = []
        for text in texts:
            spans = [(s.start, s.end) for s in sentence_spans(text)]
            sums = np.zeros((len(spans), dimension), dtype=np.float32)
            sums[:, 0] = 1.0
            sums[:, 1] = np.arange(len(spans))
            out.append(SpanVectors(np.array(spans, np.int32).reshape(-1, 2), sums, np.ones(len(spans), np.int32)))
        return out

    return ProfileBuilder(
        PassagePolicy(),
        16,
        lambda keys: {key: 1.0 + key.count(" ") for key in keys},
        lambda phrases: {p: phrase_vector(p) for p in phrases},
        sentence_vectors,
        lambda phrases: [readable] * len(phrases),
        dimension,
    )


def test_profile_places_sentences_in_their_fields_and_survives_storage():
    builder = _builder({})
    profile = builder.build(Source("title", "Rust coatings", "abstract", "Paint for bridges. Cheap and durable."))
    assert [(s.field, s.start, s.end) for s in profile.sentences] == [
        ("title", 0, 13),
        ("abstract", 0, 18),
        ("abstract", 19, 37),
    ]
    texts = {"title": "Rust coatings", "abstract": "Paint for bridges. Cheap and durable."}
    again = Profile.from_bytes(profile.to_bytes(), texts)
    assert again.candidates == profile.candidates and again.sentences == profile.sentences
    assert again.terms.occurrences == profile.terms.occurrences
    assert np.array_equal(again.candidate_vectors, profile.candidate_vectors)
    assert np.array_equal(again.sentence_sums, profile.sentence_sums)


def test_a_stored_profile_gives_each_terms_places_as_a_fresh_one_does():
    texts = {"title": "Rust coatings", "abstract": "Rust on bridges. Coatings stop rust; rust coatings last."}
    profile = _builder({}).build(Source("title", texts["title"], "abstract", texts["abstract"]))
    again = Profile.from_bytes(profile.to_bytes(), texts)
    assert set(again.terms.occurrences) == set(profile.terms.occurrences)
    for key in profile.terms.occurrences:
        fresh, stored = profile.terms.places(key), again.terms.places(key)
        assert stored == fresh and stored.surface == fresh.surface and stored.dicts == fresh.dicts
        assert stored.occurrences == fresh.occurrences == tuple(profile.terms.occurrences[key])
    rust = again.terms.places("rust")
    assert rust.surface == "Rust" and [texts[o.field][o.start : o.end] for o in rust.occurrences] == [
        "Rust",
        "Rust",
        "rust",
        "rust",
    ]
    assert again.terms.places("rust") is rust  # made once


def test_phrases_the_model_cannot_read_are_no_related_candidates():
    profile = _builder({}, readable=False).build(Source("title", "", "text", "激光焊接铝合金"))
    assert profile.candidates == [] and profile.candidate_vectors.shape == (0, 256)
    assert "激光 焊接" in profile.terms.occurrences  # still there for shared keyphrases


def _profile(text: str, vectors: dict[str, list[float]]) -> Profile:
    return _builder({k: np.array(v, dtype=np.float32) for k, v in vectors.items()}).build(
        Source("title", "", "text", text)
    )


UNIT = {
    "corrosion": [1.0, 0.0, 0.0],
    "rust": [0.96, 0.28, 0.0],
    "ev": [0.0, 1.0, 0.0],
    "electric vehicle": [0.0, 0.8, 0.6],
}


def test_related_terms_pair_different_words_of_like_meaning_once_each():
    query = _profile("Corrosion of EV frames", UNIT)
    match = _profile("Rust on electric vehicle bodies", UNIT)
    pairs = related_terms(query, match, threshold=0.75, limit=5)
    assert [(p.query_term, p.match_term, round(p.similarity, 2)) for p in pairs] == [
        ("Corrosion", "Rust", 0.96),
        ("EV", "electric vehicle", 0.8),
    ]
    assert [(o.field, o.start, o.end) for o in pairs[1].match] == [("text", 8, 24)]
    assert related_terms(query, match, threshold=0.9, limit=5)[0].match_term == "Rust"
    assert len(related_terms(query, match, threshold=0.9, limit=5)) == 1


def test_a_shared_term_or_a_term_sharing_a_word_is_not_related():
    vectors = {"laser": [1.0, 0.0, 0.0], "laser welding": [0.99, 0.14, 0.0], "welding": [0.0, 1.0, 0.0]}
    query = _profile("laser", vectors)
    match = _profile("laser welding", vectors)
    assert related_terms(query, match, threshold=0.5, limit=5) == []


def test_evidence_is_the_sentence_pair_contributing_most():
    terms = FieldTerms.of({"text": "One. Two. Three."})
    sentences = [Sentence("text", 0, 4, 2), Sentence("text", 5, 9, 2), Sentence("text", 10, 16, 2)]
    query = Profile(terms, [], np.zeros((0, 2)), sentences[:2], np.array([[1.0, 0.0], [0.0, 3.0]]))
    match = Profile(terms, [], np.zeros((0, 2)), sentences, np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]]))
    evidence = best_evidence(query, match)
    assert evidence is not None
    assert (evidence.query_text, evidence.match_text) == ("Two.", "Three.")
    assert evidence.similarity == pytest.approx(1.0)
    assert evidence.share == pytest.approx(6.0 / (np.array([1.0, 3.0]) @ np.array([2.0, 3.0])))
    empty = Profile(terms, [], np.zeros((0, 2)), [], np.zeros((0, 2)))
    assert best_evidence(query, empty) is None


def _empty_profile() -> Profile:
    return Profile(FieldTerms.of({"text": ""}), [], np.zeros((0, 256), np.float32), [], np.zeros((0, 256), np.float32))


def test_matches_explained_together_get_what_each_gets_alone():
    """Related terms and evidence come from one product over all matches; each keeps its own part and threshold.

    The reference is worked out per match, from that match's own products, as before batching.
    """
    query = _profile("Corrosion of EV frames. Rust is costly.", UNIT)
    matches = [
        _empty_profile(),  # an empty segment first, in the middle and last
        _profile("Rust on electric vehicle bodies. Corrosion study.", UNIT),
        _profile("Nothing alike here", {}),
        _empty_profile(),
        _profile("Electric vehicle frames rust. Bodies too.", UNIT),
        _empty_profile(),
    ]
    thresholds = [0.75, 0.75, 0.75, 0.75, 0.9, 0.75]

    def related_alone(match: Profile, threshold: float) -> list[dict]:
        if not match.candidates:
            return []
        return [
            pair.to_dict()
            for pair in _pairs(query, match, query.candidate_vectors @ match.candidate_vectors.T, threshold, 5)
        ]

    together = related_terms_many(query, matches, thresholds, 5)
    assert [[pair.to_dict() for pair in pairs] for pairs in together] == [
        related_alone(match, threshold) for match, threshold in zip(matches, thresholds)
    ]
    assert [[(p.query_term, p.match_term) for p in pairs] for pairs in together] == [
        [],
        [("EV", "electric vehicle")],
        [],
        [],
        [],
        [],
    ]  # the fifth: 0.8 < 0.9

    def evidence_alone(match: Profile) -> tuple[str, str, float] | None:
        if not match.sentences:
            return None
        parts = query.sentence_sums @ match.sentence_sums.T
        row, column = np.unravel_index(int(np.argmax(parts)), parts.shape)
        share = float(parts[row, column]) / float(query.sentence_total @ match.sentence_total)
        return (
            query.terms.surface(query.sentences[row].occurrence),
            match.terms.surface(match.sentences[column].occurrence),
            share,
        )

    evidence = best_evidence_many(query, matches)
    assert [None if e is None else (e.query_text, e.match_text, pytest.approx(e.share)) for e in evidence] == [
        evidence_alone(match) for match in matches
    ]
    assert [e is None for e in evidence] == [True, False, False, True, False, True]


def test_a_related_pair_reports_its_own_similarity_when_another_candidate_has_its_words_reordered():
    vectors = {"corrosion": [1.0, 0.0, 0.0], "laser weld": [0.9, 0.436, 0.0], "weld laser": [0.7, 0.714, 0.0]}
    query = _profile("corrosion", vectors)
    match = _profile("laser weld and weld laser", vectors)
    assert set(match.candidates) >= {"laser weld", "weld laser"}
    pairs = related_terms(query, match, threshold=0.6, limit=5)
    assert [(pair.match_key, round(pair.similarity, 2)) for pair in pairs] == [("laser weld", 0.9)]


def test_explain_on_a_hand_made_english_pair():
    query = _profile("Corrosion of laser welded aluminium battery trays", UNIT)
    match = _profile("Laser welding of aluminium battery trays resists rust.", UNIT)
    idf = {"laser weld": 3.0, "aluminium batteri tray": 4.0, "laser weld aluminium": 3.5, "weld aluminium batteri": 3.6}
    explanation = explain(query, match, idf, ExplainPolicy(max_terms=10, related_threshold=0.75), "en")
    assert [t.term for t in explanation.shared] == ["aluminium battery trays", "laser welded"]
    assert [(p.query_term, p.match_term) for p in explanation.related] == [("Corrosion", "rust")]
    assert explanation.summary == "Shares aluminium battery trays, laser welded; related: Corrosion ~ rust."
    assert explanation.shared[0].weight == pytest.approx(shared_weight(4.0, 1))


def test_explain_on_hand_made_chinese_and_mixed_pairs():
    query = _profile("需要激光焊接铝合金电池托盘，减少气孔", {})
    match = _profile("铝合金电池托盘的激光焊接工艺，减少焊缝中的气孔。", {})
    idf = {"激光 焊接": 3.0, "铝合金 电池 托盘": 4.0, "气孔": 2.0, "铝合金": 1.0, "电池": 1.0, "托盘": 1.0}
    explanation = explain(query, match, idf, ExplainPolicy(), "zh")
    # 减少 ("reduce") is shared too, but a generic verb is no reason
    assert [t.term for t in explanation.shared] == ["铝合金电池托盘", "激光焊接", "气孔"]
    assert explanation.summary == "共同关键词：铝合金电池托盘、激光焊接、气孔。"
    mixed_query = _profile("需要SiC功率模块 for EV inverters", {})
    mixed_match = _profile("SiC功率模块封装 and packaging for EV inverters", {})
    idf = {"sic 功率 模块": 5.0, "ev invert": 4.0}
    shared = explain(mixed_query, mixed_match, idf, ExplainPolicy(), "zh").shared
    assert [(t.term, t.match_term) for t in shared][:2] == [
        ("SiC功率模块", "SiC功率模块"),
        ("EV inverters", "EV inverters"),
    ]


def test_summaries():
    query = _profile("Corrosion of EV frames", UNIT)
    match = _profile("Rust on electric vehicle bodies", UNIT)
    related = related_terms(query, match, 0.75, 5)
    assert summary([], related, "en") == "Related: Corrosion ~ Rust, EV ~ electric vehicle."
    assert summary([], related, "zh") == "相关：Corrosion ~ Rust、EV ~ electric vehicle。"
    assert summary([], [], "zh") == "无共同或相关词语，按整体语义匹配。"


def test_faithfulness_edits():
    texts = {"title": "Laser welding", "abstract": "Laser welding of the aluminium trays."}
    spans = [Occurrence("title", 0, 13), Occurrence("abstract", 0, 13)]
    assert delete_spans(texts, spans) == {"title": "", "abstract": "of the aluminium trays."}
    assert tokens_in(texts, spans) == 4
    drawn = random_spans(texts, 3, random.Random(1))
    assert len(drawn) == 3 and all(texts[o.field][o.start : o.end] not in {"of", "the"} for o in drawn)
    query = _profile("Corrosion of EV frames", UNIT)
    match = _profile("Rust on electric vehicle frames", UNIT)
    explanation = explain(query, match, {"frame": 2.0}, ExplainPolicy(related_threshold=0.75), "en")
    assert terms_text(explanation) == "frames, Rust, electric vehicle"


def test_a_half_shared_query_term_does_not_pair_and_a_word_pairs_once():
    vectors = {
        "ev battery": [0.0, 1.0, 0.0],
        "ev": [0.0, 0.9, 0.44],
        "electric vehicle": [0.0, 0.95, 0.31],
        "corrosion": [1.0, 0.0, 0.0],
        "rust": [0.96, 0.28, 0.0],
        "show corrosion": [1.0, 0.0, 0.0],
        "study rust": [0.96, 0.28, 0.0],
    }
    query = _profile("EV battery housings show corrosion", vectors)
    match = _profile("We study rust on the battery of an electric vehicle", vectors)
    pairs = [(p.query_term, p.match_term) for p in related_terms(query, match, threshold=0.75, limit=5)]
    # "EV battery" would pair half a shared term ("battery"); "show corrosion ~ study rust" repeats corrosion ~ rust
    assert ("EV battery", "electric vehicle") not in pairs
    assert ("EV", "electric vehicle") in pairs and ("corrosion", "rust") in pairs
    assert not any(q == "show corrosion" or m == "study rust" for q, m in pairs)
