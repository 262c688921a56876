"""Explanations: the keywords and short phrases two texts share, weighted by corpus IDF, with offsets."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from matcher.text.tokenize import Span, terms, tokenize


@dataclass(frozen=True)
class Occurrence:
    field: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class SharedTerm:
    term: str  # as first written in the query text
    key: str  # the normalised form both texts share
    weight: float
    query: tuple[Occurrence, ...]
    match: tuple[Occurrence, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "key": self.key,
            "weight": round(self.weight, 4),
            "query_occurrences": [occurrence.to_dict() for occurrence in self.query],
            "match_occurrences": [occurrence.to_dict() for occurrence in self.match],
        }


@dataclass(frozen=True)
class FieldTerms:
    """The terms of a record's (or query's) text fields, with where each occurs."""

    texts: Mapping[str, str]
    occurrences: dict[str, list[Occurrence]]

    @classmethod
    def of(cls, texts: Mapping[str, str]) -> FieldTerms:
        occurrences: dict[str, list[Occurrence]] = {}
        for field, text in texts.items():
            for key, spans in terms(tokenize(text)).items():
                occurrences.setdefault(key, []).extend(Occurrence(field, span.start, span.end) for span in spans)
        return cls(texts, occurrences)

    def surface(self, occurrence: Occurrence) -> str:
        return self.texts[occurrence.field][occurrence.start : occurrence.end]


def idf(document_frequency: int, document_count: int) -> float:
    """BM25's inverse document frequency, always positive."""
    return math.log(1 + (document_count - document_frequency + 0.5) / (document_frequency + 0.5))


def _covered(occurrences: tuple[Occurrence, ...], by: list[Occurrence]) -> bool:
    return all(
        any(o.field == c.field and c.start <= o.start and o.end <= c.end for c in by) for o in occurrences
    )


def shared_terms(
    query: FieldTerms,
    match: FieldTerms,
    weight_of: Callable[[str], float],
    limit: int = 10,
) -> list[SharedTerm]:
    """Terms both texts contain, heaviest first, at most ``limit``.

    A term is left out when every occurrence of it, in both texts, lies inside a heavier shared
    term already chosen ("laser" inside "laser welding"), so each idea is named once.
    """
    common = query.occurrences.keys() & match.occurrences.keys()
    candidates = sorted(common, key=lambda key: (-weight_of(key), -key.count(" "), key))
    chosen: list[SharedTerm] = []
    query_cover: list[Occurrence] = []
    match_cover: list[Occurrence] = []
    for key in candidates:
        in_query = tuple(query.occurrences[key])
        in_match = tuple(match.occurrences[key])
        if chosen and _covered(in_query, query_cover) and _covered(in_match, match_cover):
            continue
        chosen.append(SharedTerm(query.surface(in_query[0]), key, weight_of(key), in_query, in_match))
        query_cover.extend(in_query)
        match_cover.extend(in_match)
        if len(chosen) == limit:
            break
    return chosen


def summary(shared: list[SharedTerm], language: str, limit: int = 4) -> str:
    """One short sentence naming the heaviest shared terms, in the query's language."""
    names = [term.term for term in shared[:limit]]
    if language == "zh":
        return f"共同关键词：{'、'.join(names)}" if names else "无共同关键词，按语义相似度匹配"
    return f"Shares {', '.join(names)}." if names else "No shared keywords; matched on meaning."


__all__ = ["FieldTerms", "Occurrence", "SharedTerm", "Span", "idf", "shared_terms", "summary"]
