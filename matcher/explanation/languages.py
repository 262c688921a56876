"""Which of a text's terms are wholly Chinese or wholly English: the terms that may be translated."""

from __future__ import annotations

import re

from matcher.explanation.terms import FieldTerms
from matcher.text.tokenize import CJK_CLASS

_CJK = re.compile(rf"[{CJK_CLASS}]")
_CHINESE_KEY = re.compile(rf"[{CJK_CLASS}]+(?: [{CJK_CLASS}]+)*")
_LETTER = re.compile(r"[^\W\d_]")


def is_chinese_word(word: str) -> bool:
    """Whether ``word`` (or a key) holds a Chinese character."""
    return _CJK.search(word) is not None


def fits(key: str, chinese: bool) -> bool:
    """A key wholly of one language: every word Chinese, or every word with a letter and no Chinese."""
    if chinese:
        return _CHINESE_KEY.fullmatch(key) is not None
    return _CJK.search(key) is None and all(_LETTER.search(word) for word in key.split())


def term_keys(terms: FieldTerms, chinese: bool) -> list[str]:
    """The keys of ``terms`` that may be translated terms: of one language and no generic word."""
    generic = terms.generic
    return [key for key in terms.occurrences if fits(key, chinese) and key not in generic]
