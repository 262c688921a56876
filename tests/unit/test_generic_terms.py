"""Words that are no reason for a match stay out of shared terms, related terms and candidates."""

from __future__ import annotations

import pytest

from matcher.explanation.explain import ExplainPolicy, explain
from matcher.explanation.generic import EDGE, GENERIC, fragment, reason
from matcher.explanation.related import related_terms
from matcher.explanation.terms import FieldTerms
from matcher.text.tokenize import tokenize
from tests.unit.test_explanation import _profile


def named(text: str) -> set[str]:
    """The first surfaces of the terms of ``text`` that an explanation may name."""
    terms = FieldTerms.of({"text": text})
    return {terms.first_surface(key) for key in terms.occurrences if key not in terms.generic}


def words(text: str) -> list[str]:
    return [token.surface.lower() for token in tokenize(text) if token.keyword]


@pytest.mark.parametrize(
    "junk",
    ["two", "Roughly", "approximately", "various", "min", "mm", "kg", "kW", "5kW", "20Hz", "Hz", "CNY", "based"],
)
def test_english_number_words_hedges_units_and_writing_verbs_are_no_reasons(junk):
    assert not reason(words(junk))


@pytest.mark.parametrize("junk", ["获得", "开展", "方案", "合作", "超过", "三个", "万次", "东北", "下比"])
def test_chinese_generic_words_number_words_and_fragments_are_no_reasons(junk):
    assert not reason([junk])


@pytest.mark.parametrize(
    "good",
    [
        "laser welding",
        "激光焊接",
        "battery tray",
        "电池托盘",
        "low temperature",
        "salt spray test",
        "散热方案",
        "受电弓",
    ],
)
def test_technical_terms_are_reasons(good):
    assert reason(words(good) if good.isascii() else [token.surface for token in tokenize(good)])


def test_a_text_names_its_technical_terms_only():
    text = "Roughly two trays per min at 3 m/min and 20 Hz, 5kW, 99.9% yield; laser welding of battery trays cuts cost."
    found = named(text)
    assert {"laser welding", "battery trays", "trays", "yield"} <= found
    assert not found & {"Roughly", "Roughly two", "two", "two trays", "min", "m/min", "Hz", "20 Hz", "5kW", "cost"}
    assert not any("%" in term or "99" in term for term in found)  # a figure is never a term
    # a generic word may be part of a term, but not stand alone or at the edge of one
    assert named("low temperature at low cost") == {"low temperature", "temperature"}
    assert named("We developed laser welding") == {"laser welding", "laser", "welding"}


def test_a_chinese_text_names_its_technical_terms_only():
    found = named("获得激光焊接方案，开展合作，超过三个电池托盘。")
    assert {"激光焊接", "激光", "焊接", "电池托盘", "焊接方案"} <= found
    assert not found & {"获得", "方案", "开展", "合作", "开展合作", "超过", "三个", "获得激光"}
    # "密度下比对照" is cut by jieba's HMM into 密度 | 下比 | 对照; 下比 is no word
    found = named("种植密度下比对照增产")
    assert "下比" in {token.surface for token in tokenize("种植密度下比对照增产")}
    assert "下比" not in found and "密度下比" not in found and {"种植密度", "对照增产"} <= found


def test_a_fragment_is_a_made_up_word_cut_at_a_grammatical_character():
    assert fragment("下比") and fragment("率为") and fragment("其木脂")
    assert not fragment("受电弓") and not fragment("外泌体") and not fragment("冷链")  # made up by the HMM, but words
    assert not fragment("下一代") and not fragment("激光")  # in jieba's dictionary


def test_the_lists_hold_lower_case_words_only():
    assert all(word == word.lower() and " " not in word for word in EDGE | GENERIC)


def test_shared_terms_leave_out_generic_words_of_either_text():
    query = _profile("Two laser welding tests cut cost; 获得激光焊接方案", {})
    match = _profile("Laser welding tests for two trays at low cost; 激光焊接方案获得认可", {})
    explanation = explain(query, match, {}, ExplainPolicy(), "en")
    terms = [term.term for term in explanation.shared]
    # "laser welding tests" is a term: its last word is generic, but not all its words are
    assert terms == ["laser welding tests", "激光焊接方案"]
    assert not {"Two", "tests", "cost", "获得", "方案"} & set(terms)


def test_no_related_pair_with_a_generic_word_a_fragment_or_a_shared_character():
    same = [1.0, 0.0, 0.0]
    # identical vectors: only the rules can keep these apart
    query = _profile("下一代车身，成分", {"下一代": same, "车身": [0.0, 1.0, 0.0], "成分": [0.0, 0.0, 1.0]})
    match = _profile(
        "种植密度下比对照增产，合成路线", {"下比": same, "对照增产": [0.0, 1.0, 0.0], "合成": [0.0, 0.0, 1.0]}
    )
    assert "下比" not in match.candidates  # a fragment is no candidate
    pairs = [(pair.query_term, pair.match_term) for pair in related_terms(query, match, 0.9, 5)]
    assert pairs == [("车身", "对照增产")]  # 下一代 ~ 下比: a fragment; 成分 ~ 合成 share 成: not worded apart
    query = _profile("Two housings", {"two": same, "housings": [0.0, 1.0, 0.0]})
    match = _profile("Three casings", {"three": same, "casings": [0.0, 1.0, 0.0]})
    assert [(p.query_term, p.match_term) for p in related_terms(query, match, 0.9, 5)] == [("housings", "casings")]
