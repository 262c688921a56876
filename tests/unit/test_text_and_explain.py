"""Tokens, terms and shared keywords in English, Chinese and mixed text, with exact expectations."""

from __future__ import annotations

from matcher.explanation.summary import summary
from matcher.explanation.terms import FieldTerms, idf, shared_terms
from matcher.text.tokenize import CJK_CLASS, detect_language, terms, tokenize


def keywords(text: str) -> list[str]:
    return [token.surface for token in tokenize(text) if token.keyword]


def test_english_words_are_stemmed_and_function_words_and_numbers_dropped():
    assert keywords("The welding of 6061 aluminium alloys, at 3.5 kW.") == ["welding", "aluminium", "alloys", "kW"]
    assert [token.norm for token in tokenize("Welded welds welding")] == ["weld", "weld", "weld"]


def test_chinese_is_segmented_into_words_not_characters():
    assert keywords("采用激光焊接铝合金电池托盘的方法") == ["激光", "焊接", "铝合金", "电池", "托盘"]


def test_offsets_point_at_the_surface_text():
    text = "Mixed 文本: SiC功率模块 for EVs."
    for token in tokenize(text):
        assert text[token.start : token.end] == token.surface
    assert keywords(text) == ["Mixed", "文本", "SiC", "功率", "模块", "EVs"]


def test_terms_are_one_to_three_words_not_crossing_punctuation_or_function_words():
    found = terms(tokenize("Laser welding, aluminium battery trays of steel"))
    assert sorted(found) == [
        "aluminium",
        "aluminium batteri",
        "aluminium batteri tray",
        "batteri",
        "batteri tray",
        "laser",
        "laser weld",
        "steel",
        "tray",
        "weld",
    ]


def test_chinese_terms_join_adjacent_words():
    assert sorted(terms(tokenize("激光焊接铝合金"))) == [
        "激光",
        "激光 焊接",
        "激光 焊接 铝合金",
        "焊接",
        "焊接 铝合金",
        "铝合金",
    ]


def test_language_detection():
    assert detect_language("激光焊接铝合金电池托盘 using SiC") == "zh"
    assert detect_language("Laser welding of aluminium with a 激光 head") == "en"


def test_language_detection_agrees_with_counting_every_character():
    """The shortcut (too few non-ASCII characters to outweigh the letters) never changes the answer."""
    import random
    import re

    def counted(text: str) -> str:
        cjk = 3 * len(re.findall(f"[{CJK_CLASS}]", text))
        latin = len(re.findall(r"[A-Za-z]", text))
        return "zh" if cjk and cjk >= latin else "en"

    rng = random.Random(5)
    alphabet = ["a", "Z", " ", "1", "é", "—", "激", "光", "。", "\u3400", "\uf900", "\U0001f600", "K"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert detect_language(text) == counted(text), text


def _shared(query: dict[str, str], match: dict[str, str]) -> list[str]:
    # weight by number of words, so phrases outrank their parts, as corpus IDF does
    return [
        term.term for term in shared_terms(FieldTerms.of(query), FieldTerms.of(match), lambda key: 1 + key.count(" "))
    ]


def test_shared_english_phrases_name_each_idea_once():
    query = {"text": "We need laser welding of aluminium battery trays without porosity."}
    match = {"title": "Laser-welded aluminium battery trays", "abstract": "Reduced porosity in laser welding."}
    assert _shared(query, match) == ["aluminium battery trays", "laser welding", "porosity"]


def test_a_part_or_a_whole_of_a_chosen_phrase_is_not_named_again():
    query = {"text": "Corrosion coatings. Corrosion of bridges. Anti corrosion coatings."}
    match = {"abstract": "Corrosion coatings for bridges. Anti corrosion coatings."}
    assert _shared(query, match) == ["Anti corrosion coatings", "bridges"]


def test_shared_chinese_terms():
    query = {"text": "激光焊接铝合金电池托盘气孔问题"}
    match = {"abstract": "研究铝合金激光焊接工艺，减少电池托盘焊缝气孔。"}
    assert _shared(query, match) == ["激光焊接", "电池托盘", "气孔", "铝合金"]


def test_shared_terms_in_mixed_text_with_offsets_in_both():
    query = {"text": "需要SiC功率模块 for EV inverters"}
    match = {"title": "SiC功率模块封装", "abstract": "Packaging for EV inverters."}
    shared = shared_terms(FieldTerms.of(query), FieldTerms.of(match), lambda key: 1 + key.count(" "))
    assert [(term.term, term.key) for term in shared] == [
        ("SiC功率模块", "sic 功率 模块"),
        ("EV inverters", "ev invert"),
    ]
    first = shared[0]
    assert [(o.field, o.start, o.end) for o in first.query] == [("text", 2, 9)]
    assert [(o.field, o.start, o.end) for o in first.match] == [("title", 0, 7)]


def test_limit_and_weights():
    query = {"text": "alpha beta gamma delta"}
    match = {"text": "delta gamma beta alpha"}
    weights = {"alpha": 4.0, "beta": 3.0, "gamma": 2.0, "delta": 1.0}
    shared = shared_terms(FieldTerms.of(query), FieldTerms.of(match), lambda key: weights.get(key, 0.0), limit=2)
    assert [(term.term, term.weight) for term in shared] == [("alpha", 4.0), ("beta", 3.0)]


def test_idf_falls_with_document_frequency_and_stays_positive():
    assert idf(1, 100) > idf(10, 100) > idf(100, 100) > 0


def test_summary_in_the_query_language():
    shared = shared_terms(FieldTerms.of({"t": "激光焊接"}), FieldTerms.of({"t": "激光焊接"}), lambda key: 1.0)
    assert summary(shared, [], "zh") == "共同关键词：激光焊接。"
    assert summary([], [], "en") == "No shared or related terms; matched on overall meaning."


def test_a_phrase_replaces_its_word_or_joins_it_when_the_word_also_stands_alone():
    weights = {"tray": 3.0, "batteri tray": 2.5, "batteri": 1.0}
    only_inside = _shared_weighted({"text": "Battery trays leak."}, {"text": "Welded battery trays."}, weights)
    assert only_inside == ["Battery trays"]
    also_alone = _shared_weighted(
        {"text": "Battery trays leak. Test trays too."}, {"text": "Welded battery trays."}, weights
    )
    assert also_alone == ["trays", "Battery trays"]


def _shared_weighted(query: dict[str, str], match: dict[str, str], weights: dict[str, float]) -> list[str]:
    return [
        term.term
        for term in shared_terms(FieldTerms.of(query), FieldTerms.of(match), lambda key: weights.get(key, 0.0))
    ]
