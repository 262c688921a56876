"""The bilingual lexical bridge: CC-CEDICT glosses, BM25 query expansion both ways, term matching."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np

from matcher.index.lexical import lexical_tokens
from matcher.text import bilingual
from matcher.text.bilingual import (
    best_english,
    bridge_score,
    bridge_scores,
    chinese_words,
    clean_senses,
    english_glosses,
    english_stems,
    expand_chinese,
    expand_english,
)
from matcher.text.tokenize import tokenize


def chinese_tokens(text: str) -> list[str]:
    return [token.norm for token in tokenize(text)]


def test_nothing_is_loaded_at_import_time():
    code = "import matcher.text.bilingual as b, sys; assert not b._loaded; assert 'jieba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_glosses_of_common_words():
    assert english_glosses("电池") == ["battery"]
    assert english_glosses("焊接") == ["weld", "welding"]
    assert english_glosses("激光") == ["laser"]


def test_cleaning_drops_pointers_names_registers_pinyin_and_the_to_of_verbs():
    raw = [
        "CL:個|个[ge4]",
        "variant of 焊[han4]",
        "surname Li",
        "(literary) to shine",
        "see 焊接[han4 jie1]",
        "abbr. for 焊接[han4 jie1]",
        "to weld (metal) [han4]",
        "flu; influenza",
        "a welder/a torch",
    ]
    assert clean_senses(raw) == [["weld"], ["flu", "influenza"], ["a welder"], ["a torch"]]


def test_a_word_not_in_the_dictionary_has_no_gloss():
    assert english_glosses("噗噗噗噗") == []
    assert english_glosses("") == []


def test_english_stems_are_the_projects_lexical_tokens():
    for text in ["Laser-welded joints of 6061 aluminium, e.g. 2.5 mm", "the coronavirus disease of 2019", "WHO"]:
        assert list(english_stems(text)) == lexical_tokens(text)


def test_a_chinese_query_expands_to_laser_and_weld():
    tokens = chinese_tokens("铝合金电池托盘的激光焊接")
    expansion = expand_chinese(tokens)
    assert {"laser", "weld", "batteri", "alloy"} <= set(expansion)
    assert all(0 < weight <= 1 for weight in expansion.values())
    assert set(lexical_tokens("laser welding battery")) <= set(expansion)  # the stems BM25 counts


def test_a_compound_not_in_the_dictionary_decomposes_into_its_words():
    assert "激光焊接" not in bilingual._dictionary().raw
    assert set(expand_chinese(["激光焊接"])) == {"laser", "weld"}


def test_single_characters_and_function_words_expand_to_nothing():
    assert expand_chinese(["的", "和", "焊", "电"]) == {}


def test_an_english_query_expands_to_chinese_words():
    expansion = expand_english(lexical_tokens("laser welding of battery trays"))
    assert {"激光", "焊接", "电池"} <= set(expansion)
    assert chinese_words("battery")[0] == "电池"
    assert chinese_words("welding")[0] == "焊接"


def test_an_english_phrase_outweighs_its_words():
    expansion = expand_english(lexical_tokens("lithium battery"))
    assert expansion["锂电池"] > expansion["电池"]


def test_terms_outside_the_dictionary_give_nothing_rather_than_junk():
    assert expand_chinese(["噗噗噗噗"]) == {}
    assert expand_english(["xyzzyq"]) == {}
    assert chinese_words("xyzzyq") == []
    assert bridge_score("噗噗噗噗", "laser welding") == 0.0
    assert bridge_score("激光焊接", "xyzzyq") == 0.0


def test_laser_welding_matches_its_translation_above_unrelated_terms():
    right = bridge_score("激光焊接", "laser welding")
    assert right == 1.0
    for unrelated in ["battery", "protein folding", "wind turbine blade", "laser radar", "spot welding robot"]:
        assert bridge_score("激光焊接", unrelated) < right
    assert bridge_score("激光焊接", "battery") == 0.0
    assert 0 < bridge_score("激光焊接", "welding robot") < right


def test_battery_and_other_whole_words():
    assert bridge_score("电池", "battery") == 1.0
    assert bridge_score("电子显微镜", "electron microscope") == 1.0
    assert best_english("电池", ["laser welding", "battery", "fuel cell stack"]) == ("battery", 1.0)


def test_best_english_is_none_when_nothing_matches():
    assert best_english("噗噗噗噗", ["laser welding", "battery"]) is None
    assert best_english("电池", []) is None


def fake_embed(texts: list[str]) -> np.ndarray:
    """Unit vectors that make 激光焊接 and "laser welding" close and everything else apart."""
    same = {"激光焊接": 0, "laser welding": 0, "焊接机器人": 1, "welding robot": 1}
    vectors = np.zeros((len(texts), 8), dtype=np.float32)
    for row, text in enumerate(texts):
        vectors[row, same.get(text, 2 + row % 6)] = 1.0
    return vectors


def test_an_embedding_joins_the_dictionary():
    zh, en = ["激光焊接", "焊接机器人"], ["welding robot", "laser welding", "battery"]
    dictionary = bridge_scores(zh, en)
    combined = bridge_scores(zh, en, embed=fake_embed)
    assert combined.shape == dictionary.shape == (2, 3)
    assert np.argmax(combined[0]) == 1 and np.argmax(combined[1]) == 0
    assert bridge_score("激光焊接", "laser welding", embed=fake_embed) > bridge_score("激光焊接", "laser welding")
    assert best_english("焊接机器人", en, embed=fake_embed) is not None


def test_the_dictionary_loads_once_across_threads():
    found: list[object] = []
    threads = [threading.Thread(target=lambda: found.append(bilingual._dictionary())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(item is found[0] for item in found)
    assert bilingual.dictionary_date() >= "2023-11-07"
