"""Tokens with character offsets for English, Chinese and mixed text, and the terms built on them.

English words are lower-cased and stemmed (Snowball), Chinese runs are segmented with jieba so a
token is a word rather than a character. A *term* is one to three consecutive keyword tokens that no
punctuation or function word separates; its key is the tokens' normalised forms joined by spaces,
so "Laser-welded joints" and "laser welding of joints" share the key ``"laser weld"``.
"""

from __future__ import annotations

import logging
import re
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from matcher.text.stopwords import CHINESE, ENGLISH

CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SCAN = re.compile(
    rf"(?P<cjk>[{CJK_CLASS}]+)|(?P<word>[^\W_{CJK_CLASS}]+)|(?P<join>[-‐‑/])|(?P<space>\s+)|(?P<other>.)"
)
_CJK_CHAR = re.compile(rf"[{CJK_CLASS}]")
_ASCII_LETTERS = string.ascii_letters.encode()
_NUMBER = re.compile(r"^[\d.,]+$")

_jieba_lock = threading.Lock()


@dataclass(frozen=True)
class Token:
    surface: str
    norm: str
    start: int
    end: int
    keyword: bool  # may stand in a shared term (not a function word, a bare number or one CJK char)
    chunk: int  # tokens of the same chunk are not separated by punctuation


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
    return jieba


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stem: str = _stemmer().stemWord(word)
    return stem


def _latin_token(word: str, start: int, chunk: int) -> Token:
    lower = word.lower()
    keyword = lower not in ENGLISH and not _NUMBER.match(lower) and len(lower) > 1
    return Token(word, _stem(lower), start, start + len(word), keyword, chunk)


def _cjk_tokens(run: str, offset: int, chunk: int) -> Iterator[Token]:
    for word, start, end in _jieba().tokenize(run):
        keyword = len(word) > 1 and word not in CHINESE
        yield Token(word, word, offset + start, offset + end, keyword, chunk)


def in_dictionary(word: str) -> bool:
    """Whether jieba's dictionary holds ``word`` (a word its HMM made up for unknown text is not held)."""
    return bool(_jieba().dt.FREQ.get(word))


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word tokens with offsets; punctuation starts a new chunk."""
    tokens: list[Token] = []
    chunk = 0
    for match in _SCAN.finditer(text):
        kind = match.lastgroup
        if kind == "cjk":
            tokens.extend(_cjk_tokens(match.group(), match.start(), chunk))
        elif kind == "word":
            tokens.append(_latin_token(match.group(), match.start(), chunk))
        elif kind == "other":
            chunk += 1
    return tokens


def terms(tokens: list[Token], max_words: int = 3) -> dict[str, list[Span]]:
    """Every term of one to ``max_words`` consecutive keyword tokens, with the spans it covers."""
    found: dict[str, list[Span]] = {}
    for i, first in enumerate(tokens):
        if not first.keyword:
            continue
        norms: list[str] = []
        for token in tokens[i : i + max_words]:
            if not token.keyword or token.chunk != first.chunk:
                break
            norms.append(token.norm)
            found.setdefault(" ".join(norms), []).append(Span(first.start, token.end))
    return found


def term_set(text: str, max_words: int = 3) -> set[str]:
    """The distinct term keys of ``text`` (what document frequencies count)."""
    return set(terms(tokenize(text), max_words))


def detect_language(text: str) -> str:
    """``"zh"`` when Chinese characters carry most of the text, else ``"en"``.

    A Chinese character carries about as much as three Latin letters, so it is weighed as three.
    """
    ascii_part = text.encode("ascii", "ignore")
    latin = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    if 3 * (len(text) - len(ascii_part)) < latin:
        return "en"  # even were every other character Chinese: no regex scan needed
    cjk = 3 * len(_CJK_CHAR.findall(text))
    return "zh" if cjk and cjk >= latin else "en"
