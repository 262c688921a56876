"""Translated terms: related terms between a Chinese text and an English text, through CC-CEDICT.

The related terms of :mod:`matcher.explanation.related` compare the English model's vectors of
candidate phrases; that model cannot read Chinese, so between a Chinese and an English text they
found almost nothing. Here each side's heaviest terms (chosen like candidate keyphrases, by
TF-IDF, but without the model's readability check) are scored Chinese x English by the bilingual
bridge's dictionary score (:class:`matcher.text.bilingual.DictionaryScorer`), and the pairs
reaching :data:`THRESHOLD` become related terms ("散热 ~ heat dissipation"), with the bridge score
as their similarity. Only what profiles already hold is read, so no stored profile changes.

The threshold was set by measurement (benchmarks/RESULTS.md, "Translated terms"): precision
matters more than recall, since a wrong pair shown to a committee is worse than none.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping

import numpy as np

from matcher.explanation.languages import is_chinese_word, term_keys
from matcher.explanation.profile import Profile
from matcher.explanation.related import RelatedTerm
from matcher.explanation.terms import FieldTerms
from matcher.text.bilingual import DictionaryScorer

__all__ = [
    "crosses_languages",
    "heaviest_terms",
    "is_chinese_word",
    "query_scorer",
    "term_keys",
    "translated_terms",
]

THRESHOLD = 0.85  # the bridge score a pair must reach (benchmarks/RESULTS.md, "Translated terms")
TERMS_PER_SIDE = 40  # each side's heaviest terms that are scored against the other's
PHRASE_SHARE = 2  # at most 1/PHRASE_SHARE of them are phrases (two or three words)
WIDER_MARGIN = 0.1  # a pair gives way to a pair holding it that is at most this much less sure


def crosses_languages(first: Profile, second: Profile) -> bool:
    """Whether one text is Chinese and the other English (the only pairs translated terms are for)."""
    return {first.language, second.language} == {"zh", "en"}


def query_scorer(query: Profile, keys: list[str]) -> DictionaryScorer:
    """The dictionary scorer of a query's heaviest terms (``keys``), for all its matches."""
    return DictionaryScorer([query.terms.first_surface(key) for key in keys], chinese=query.language == "zh")


def heaviest_terms(terms: FieldTerms, keys: Iterable[str], weight_of: Mapping[str, float], limit: int) -> list[str]:
    """The ``limit`` heaviest of ``keys`` by TF-IDF, as candidate keyphrases are weighed; at most half phrases.

    A phrase may be of three words here ("cathodic electrodeposition coating"): a Chinese compound
    often translates as one.
    """
    counts, weight = terms.counts, weight_of.get
    log = math.log
    weighed = [(-weight(key, 0.0) * (1 + log(counts[key])), key) for key in keys]
    phrases = heapq.nsmallest(limit // PHRASE_SHARE, (item for item in weighed if " " in item[1]))
    words = heapq.nsmallest(limit - len(phrases), (item for item in weighed if " " not in item[1]))
    return [key for _, key in heapq.nsmallest(limit, words + phrases)]


def translated_terms(
    query: Profile,
    match: Profile,
    query_keys: list[str],
    match_keys: list[str],
    threshold: float,
    limit: int,
    scorer: DictionaryScorer | None = None,
) -> list[RelatedTerm]:
    """Up to ``limit`` pairs of a query term and a matched term in the other language, surest first.

    ``query_keys`` and ``match_keys`` are each side's heaviest terms (:func:`heaviest_terms`), one
    side Chinese and the other English; ``scorer`` may hold the query's (:func:`query_scorer`), made
    once for all its matches. A term takes part in one pair at most (by its words, so
    after 激光焊接 ~ laser welding neither 焊接 nor "welding" pairs again); a pair gives way to a
    pair holding it that is about as sure (阴极电泳 ~ cathodic electrodeposition rather than
    阴极 ~ cathodic). An English term the Chinese text also holds is a shared term, not translated.
    """
    if limit <= 0 or not query_keys or not match_keys:
        return []
    chinese_query = query.language == "zh"
    if scorer is None:
        scorer = query_scorer(query, query_keys)
    if chinese_query:
        zh_keys, en_keys = query_keys, [key for key in match_keys if key not in query.terms.occurrences]
        scores = scorer.scores([match.terms.first_surface(key) for key in en_keys])
    else:
        zh_keys, en_keys = match_keys, query_keys
        scores = scorer.scores([match.terms.first_surface(key) for key in zh_keys])
        held = [key in match.terms.occurrences for key in en_keys]  # shared terms, not translated ones
        scores[:, held] = 0.0
    if not en_keys:
        return []
    rows, columns = np.nonzero(scores >= threshold)
    if not len(rows):
        return []
    # surest first; at equal scores the pair of heavier terms (both lists are heaviest first)
    order = sorted(zip(rows.tolist(), columns.tolist()), key=lambda at: (-float(scores[at]), at[0] + at[1], at))
    passing = [(float(scores[row, column]), zh_keys[row], en_keys[column]) for row, column in order]
    words = [(frozenset(zh_key.split()), frozenset(en_key.split())) for _, zh_key, en_key in passing]
    used_zh: set[str] = set()
    used_en: set[str] = set()
    found: list[RelatedTerm] = []
    for position, (score, zh_key, en_key) in enumerate(passing):
        zh_words, en_words = words[position]
        if zh_words & used_zh or en_words & used_en:
            continue
        if any(
            other_score >= score - WIDER_MARGIN
            and zh_words <= other_zh
            and en_words <= other_en
            and (other_zh, other_en) != (zh_words, en_words)
            and not (other_zh & used_zh or other_en & used_en)
            for (other_score, _, _), (other_zh, other_en) in zip(passing, words)
        ):
            continue  # a wider pair names the same idea more fully; it comes later
        used_zh.update(zh_words)
        used_en.update(en_words)
        query_key, match_key = (zh_key, en_key) if chinese_query else (en_key, zh_key)
        found.append(
            RelatedTerm(query_key, match_key, score, query.terms.places(query_key), match.terms.places(match_key))
        )
        if len(found) == limit:
            break
    return found
