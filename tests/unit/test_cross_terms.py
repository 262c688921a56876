"""Translated terms: related terms between a Chinese text and an English text, through CC-CEDICT."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.explanation import explain as explain_module
from matcher.explanation.explain import ExplainPolicy, explain_all
from matcher.explanation.profile import Profile
from matcher.explanation.related import related_terms_many
from matcher.explanation.terms import FieldTerms
from matcher.explanation.translated import crosses_languages, heaviest_terms, term_keys
from matcher.text.bilingual import DictionaryScorer, american, bridge_score, dictionary_scores

ZH_NEED = {
    "title": "电池托盘激光焊接",
    "description": "我们需要激光焊接铝合金电池托盘，并解决快充时的散热问题。",
}
EN_PROJECT = {
    "title": "Laser welding of aluminium battery trays",
    "abstract": "We study laser welding of battery trays and heat dissipation during fast charging.",
}
ZH_UNRELATED = {"title": "大豆育种", "description": "在黑土地上培育耐寒的大豆新品种，提高产量。"}
EN_UNRELATED = {"title": "Drone inspection", "abstract": "A drone with a camera maps cracks on bridge decks."}


def profile(texts: dict[str, str]) -> Profile:
    """A profile with terms only (no candidate vectors, no sentences): all translated terms need."""
    return Profile(FieldTerms.of(texts), [], np.zeros((0, 4), np.float32), [], np.zeros((0, 4), np.float32))


def idf_of(keys: set[str]) -> dict[str, float]:
    return {key: 1.0 for key in keys}


def explained(query: dict[str, str], match: dict[str, str], language: str, policy: ExplainPolicy | None = None):  # type: ignore[no-untyped-def]
    return explain_all(profile(query), [profile(match)], idf_of, policy or ExplainPolicy(), language)[0]


def pairs_of(explanation) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {pair.query_term: pair.match_term for pair in explanation.related}


def test_a_chinese_need_and_an_english_project_name_their_translated_terms():
    explanation = explained(ZH_NEED, EN_PROJECT, "zh")
    pairs = pairs_of(explanation)
    assert pairs["激光焊接"] == "Laser welding"
    assert pairs["散热"] == "heat dissipation"
    assert pairs["铝合金电池托盘"] == "aluminium battery trays"  # the wider pair, not 电池 ~ battery alone
    assert len(explanation.related) <= ExplainPolicy().max_related
    # one pair per term: "焊接" and "welding" are not paired again, nor is 电池 twice
    words = [word for pair in explanation.related for word in pair.query_key.split()]
    assert len(words) == len(set(words))
    assert all(0.85 <= pair.similarity <= 1.0 for pair in explanation.related)
    assert explanation.summary.startswith("相关：") and " ~ " in explanation.summary


def test_translated_terms_point_at_their_text_in_both_sides():
    explanation = explained(ZH_NEED, EN_PROJECT, "zh")
    for pair in explanation.related:
        for place in pair.to_dict()["query_occurrences"]:
            assert ZH_NEED[place["field"]][place["start"] : place["end"]].lower() == pair.query_term.lower()
        for place in pair.to_dict()["match_occurrences"]:
            assert EN_PROJECT[place["field"]][place["start"] : place["end"]].lower() == pair.match_term.lower()
    welding = next(pair for pair in explanation.related if pair.query_term == "激光焊接")
    occurrences = welding.to_dict()["query_occurrences"]
    assert {"field": "title", "start": 4, "end": 8} in occurrences
    assert {"field": "abstract", "start": 9, "end": 22} in welding.to_dict()["match_occurrences"]


def test_battery_and_winter_with_their_offsets():
    explanation = explained(
        {"description": "我们的电池在冬季衰减很快。"}, {"abstract": "Our battery loses range in winter."}, "zh"
    )
    found = {pair.query_term: pair.to_dict() for pair in explanation.related}
    assert found["电池"]["match_term"] == "battery" and found["冬季"]["match_term"] == "winter"
    assert found["电池"]["query_occurrences"] == [{"field": "description", "start": 3, "end": 5}]
    assert found["电池"]["match_occurrences"] == [{"field": "abstract", "start": 4, "end": 11}]
    assert found["电池"]["similarity"] == 1.0


def test_an_english_query_names_its_own_term_first():
    explanation = explained(EN_PROJECT, ZH_NEED, "en")
    pairs = pairs_of(explanation)
    assert pairs["heat dissipation"] == "散热"
    assert explanation.summary.startswith("Related: ") and "~" in explanation.summary


def test_unrelated_texts_name_no_translated_terms():
    assert explained(ZH_UNRELATED, EN_PROJECT, "zh").related == []
    assert explained(EN_UNRELATED, ZH_NEED, "en").related == []
    assert explained(ZH_UNRELATED, EN_PROJECT, "zh").summary == "无共同或相关词语，按整体语义匹配。"


def test_the_threshold_keeps_weak_pairs_out():
    strict = explained(ZH_NEED, EN_PROJECT, "zh", ExplainPolicy(translated_threshold=1.01))
    assert strict.related == []


def test_english_pairs_never_take_the_translated_path(monkeypatch):
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("translated terms for two English texts")

    monkeypatch.setattr(explain_module, "translated_terms", refuse)
    query, match = profile(EN_PROJECT), profile(EN_UNRELATED)
    assert not crosses_languages(query, match)
    policy = ExplainPolicy()
    (explanation,) = explain_all(query, [match], idf_of, policy, "en")
    assert explanation.related == related_terms_many(query, [match], [policy.threshold_for(0)], policy.max_related)[0]
    # and two Chinese texts neither
    assert not crosses_languages(profile(ZH_NEED), profile(ZH_UNRELATED))
    explain_all(profile(ZH_NEED), [profile(ZH_UNRELATED)], idf_of, policy, "zh")


def test_candidate_terms_are_of_one_language_and_no_generic_word():
    terms = FieldTerms.of({"text": "我们需要解决散热问题，PEMFC 两个方案。"})
    chinese = term_keys(terms, chinese=True)
    assert "散热" in chinese and "pemfc" not in chinese and "方案" not in chinese
    english = FieldTerms.of({"text": "Two laser welding trials of 散热 in 20 min."})
    keys = term_keys(english, chinese=False)
    assert "laser weld" in keys and "散热" not in keys and "two" not in keys and "min" not in keys
    assert heaviest_terms(english, keys, {"laser weld": 2.0, "laser": 1.0}, 2) == ["laser weld", "laser"]


@pytest.mark.parametrize(
    ("british", "american_form"),
    [
        ("fibre", "fiber"),
        ("fertiliser", "fertilizer"),
        ("aluminium", "aluminum"),
        ("colour", "color"),
        ("water", "water"),
    ],
)
def test_british_spellings(british: str, american_form: str):
    assert american(british) == american_form


def test_the_bridge_reads_british_spellings_and_no_half_matched_joined_words():
    assert bridge_score("碳纤维", "carbon fibre") == pytest.approx(bridge_score("碳纤维", "carbon fiber"))
    # "specificity data" written as one word begins like "specific": that says nothing of "data"
    assert bridge_score("特异性", "specificity data") < 0.7 < bridge_score("特异性", "specificity")
    assert bridge_score("冠状病毒", "corona virus") == pytest.approx(1.0)


def test_the_scorer_gives_the_same_scores_from_either_side():
    zh = ["激光焊接", "散热", "电池", "大豆"]
    en = ["laser welding", "heat dissipation", "battery packs", "drone"]
    expected = dictionary_scores(zh, en)
    assert expected[0, 0] == pytest.approx(1.0) and expected[3].max() == 0.0
    assert np.array_equal(DictionaryScorer(en, chinese=False).scores(zh), expected)
    assert np.array_equal(DictionaryScorer(zh, chinese=True).scores(en), expected)
