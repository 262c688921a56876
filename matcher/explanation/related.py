"""Related terms: a query term and a matched-text term worded differently but meaning nearly the same.

Found among the two texts' candidate keyphrases by the cosine similarity of their embeddings
(each phrase encoded on its own by the matching model). A pair is kept when the similarity
reaches a threshold (see the README for how it was set), the two share no word (so "laser" and
"laser welding" are not related terms), and the matched term is worded apart from the query
text. Forms the stemmer does not join ("thermostabilized" and "thermal stabilization") can pair:
they name one idea in different words. Each term takes part in at most one pair, strongest first.
Two Chinese terms sharing a character are not worded apart either (in Chinese a character is a
part of a word's meaning): 成本 ~ 合成 and 下一代 ~ 同一 are no pairs. Candidates are only terms
that can be reasons (:mod:`matcher.explanation.generic`), so a pair is made of real words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.explanation.generic import share_a_character
from matcher.explanation.profile import Profile
from matcher.explanation.terms import InBothTexts, TermPlaces


@dataclass(frozen=True)
class RelatedTerm(InBothTexts):
    query_key: str
    match_key: str
    similarity: float
    in_query: TermPlaces
    in_match: TermPlaces

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_term": self.query_term,
            "match_term": self.match_term,
            "similarity": round(self.similarity, 4),
            "query_occurrences": self.in_query.dicts,
            "match_occurrences": self.in_match.dicts,
        }


def _share_a_word(first: str, second: str) -> bool:
    """Whether two keys share a word, or a Chinese character (成本 and 合成 are not worded apart)."""
    return not set(first.split()).isdisjoint(second.split()) or share_a_character(first, second)


def _in(key: str, profile: Profile) -> list[bool]:
    return [word in profile.terms.occurrences for word in key.split()]


def _eligible(query_key: str, match_key: str, query: Profile, match: Profile) -> bool:
    """The matched term is worded apart from the query text; the query term is wholly shared or not at all.

    ("EV battery" against a text saying "battery" and "electric vehicle" would pair half a shared
    term; "deafness" shared and also close to "hearing loss" is a fair pair.)
    """
    if any(_in(match_key, query)):
        return False
    shared = _in(query_key, match)
    return all(shared) or not any(shared)


PAIRS_PER_QUERY_WORD = 1
PARTS_MARGIN = 0.03  # a pair gives way to a pair of its parts that is at most this much less similar


def related_terms(query: Profile, match: Profile, threshold: float, limit: int) -> list[RelatedTerm]:
    """Up to ``limit`` related pairs, most similar first (see :func:`related_terms_many`)."""
    return related_terms_many(query, [match], [threshold], limit)[0]


def related_terms_many(
    query: Profile, matches: Sequence[Profile], thresholds: Sequence[float], limit: int
) -> list[list[RelatedTerm]]:
    """Each match's related pairs with ``query`` (its own threshold), from one product of all candidates.

    Most matches have no pair reaching the threshold; only those that do are examined one by one.
    """
    found: list[list[RelatedTerm]] = [[] for _ in matches]
    if limit <= 0 or not query.candidates or not matches:
        return found
    sizes = [len(match.candidates) for match in matches]
    if not sum(sizes):
        return found
    similarities = query.candidate_vectors @ np.concatenate([match.candidate_vectors for match in matches]).T
    floors = np.repeat(np.asarray(thresholds, dtype=similarities.dtype), sizes)
    ends = np.cumsum(sizes)
    reaching = np.flatnonzero((similarities >= floors).any(axis=0))
    for position in np.unique(np.searchsorted(ends, reaching, side="right")).tolist():
        start = int(ends[position]) - sizes[position]
        found[position] = _pairs(
            query, matches[position], similarities[:, start : int(ends[position])], thresholds[position], limit
        )
    return found


def _pairs(query: Profile, match: Profile, similarities: np.ndarray, threshold: float, limit: int) -> list[RelatedTerm]:
    """The related pairs of one match, given its candidates' similarities with the query's.

    A word takes part in one pair at most; a pair gives way to a pair of its own parts that is
    about as similar ("corrosion ~ rust" rather than "shows corrosion ~ study rust"), but not to
    a clearly less similar one ("EV ~ electric vehicle" stays rather than "EV ~ electric").
    """
    rows, columns = np.nonzero(similarities >= threshold)
    rows_list, columns_list = rows.tolist(), columns.tolist()
    passing = {
        (frozenset(query.candidates[row].split()), frozenset(match.candidates[column].split())): float(
            similarities[row, column]
        )
        for row, column in zip(rows_list, columns_list)
        if not _share_a_word(query.candidates[row], match.candidates[column])
        and _eligible(query.candidates[row], match.candidates[column], query, match)
    }
    if not passing:
        return []
    order = np.argsort(-similarities[rows, columns], kind="stable").tolist()
    used_query: Counter[str] = Counter()
    used_match: set[str] = set()
    found: list[RelatedTerm] = []
    for position in order:
        query_key = query.candidates[rows_list[position]]
        match_key = match.candidates[columns_list[position]]
        query_words, match_words = frozenset(query_key.split()), frozenset(match_key.split())
        if any(used_query[word] >= PAIRS_PER_QUERY_WORD for word in query_words):
            continue
        if match_words & used_match or (query_words, match_words) not in passing:
            continue
        # This pair's own similarity: two candidates may hold the same words in another order.
        similarity = float(similarities[rows_list[position], columns_list[position]])
        if any(
            q <= query_words
            and m <= match_words
            and (q, m) != (query_words, match_words)
            and value >= similarity - PARTS_MARGIN
            for (q, m), value in passing.items()
        ):
            continue  # a smaller pair says the same
        used_query.update(query_words)
        used_match.update(match_words)
        found.append(
            RelatedTerm(query_key, match_key, similarity, query.terms.places(query_key), match.terms.places(match_key))
        )
        if len(found) == limit:
            break
    return found
