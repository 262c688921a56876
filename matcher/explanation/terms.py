"""Shared keyphrases: the words and phrases of one to three words two texts both contain, with offsets."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from matcher.text.tokenize import Span, terms, tokenize


class Occurrence(NamedTuple):
    """Where a term occurs: a field and character offsets (a tuple: millions are made cheaply)."""

    field: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "start": self.start, "end": self.end}


PHRASE_PREFERENCE = 0.75  # a phrase replaces a chosen word it contains when it weighs at least this share


def occurrence_dicts(occurrences: Iterable[Occurrence]) -> list[dict[str, Any]]:
    return [{"field": field, "start": start, "end": end} for field, start, end in occurrences]


@dataclass(frozen=True)
class SharedTerm:
    term: str  # as first written in the query text
    match_term: str  # as first written in the matched text
    key: str  # the normalised form both texts share
    weight: float
    query: tuple[Occurrence, ...]
    match: tuple[Occurrence, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "match_term": self.match_term,
            "key": self.key,
            "weight": round(self.weight, 4),
            "query_occurrences": occurrence_dicts(self.query),
            "match_occurrences": occurrence_dicts(self.match),
        }


@dataclass(frozen=True)
class FieldTerms:
    """The terms of a record's (or query's) text fields, with where each occurs."""

    texts: Mapping[str, str]
    occurrences: Mapping[str, list[Occurrence]]

    @classmethod
    def of(cls, texts: Mapping[str, str]) -> FieldTerms:
        occurrences: dict[str, list[Occurrence]] = {}
        for field, text in texts.items():
            for key, spans in terms(tokenize(text)).items():
                occurrences.setdefault(key, []).extend(Occurrence(field, span.start, span.end) for span in spans)
        return cls(texts, occurrences)

    def surface(self, occurrence: Occurrence) -> str:
        return self.texts[occurrence.field][occurrence.start : occurrence.end]

    def first_surface(self, key: str) -> str:
        return self.surface(self.occurrences[key][0])

    def count(self, key: str) -> int:
        """How often ``key`` occurs (without unpacking its occurrences where they are packed)."""
        counter = getattr(self.occurrences, "count", None)
        return int(counter(key)) if counter is not None else len(self.occurrences[key])


def idf(document_frequency: int, document_count: int) -> float:
    """BM25's inverse document frequency, always positive."""
    return math.log(1 + (document_count - document_frequency + 0.5) / (document_frequency + 0.5))


def covered(occurrences: tuple[Occurrence, ...], by: list[Occurrence]) -> bool:
    return all(
        any(o.field == c.field and c.start <= o.start and o.end <= c.end for c in by) for o in occurrences
    )


def shared_terms(
    query: FieldTerms,
    match: FieldTerms,
    weight_of: Callable[[str], float],
    limit: int = 10,
    common: Mapping[str, float] | None = None,
) -> list[SharedTerm]:
    """Terms both texts contain, heaviest first, at most ``limit``, each idea named once.

    A term is left out when its words are a part or a whole of a heavier term already chosen:
    after "laser welding" neither "laser" nor "laser welding process" is named again, except
    that a phrase nearly as heavy as a chosen word it contains replaces the word, or is named
    beside it when the word also stands alone.
    ``common`` may give the shared keys with their weights already worked out.
    """
    weights = common if common is not None else {
        key: weight_of(key) for key in query.occurrences.keys() & match.occurrences.keys()
    }
    candidates = sorted(weights, key=lambda key: (-weights[key], -key.count(" "), key))
    chosen: list[str] = []
    chosen_words: list[frozenset[str]] = []
    for key in candidates:
        if len(chosen) == limit and weights[key] < PHRASE_PREFERENCE * min(weights[other] for other in chosen):
            break  # full, and nothing lighter can replace or join a chosen term
        words = frozenset(key.split())
        related = [index for index, other in enumerate(chosen_words) if words <= other or other <= words]
        if not related:
            if len(chosen) < limit:
                chosen.append(key)
                chosen_words.append(words)
            continue
        # A phrase that contains a chosen word names the idea more fully when it weighs nearly as
        # much: it takes the word's place ("battery trays" rather than "trays"), or joins it when
        # the word also stands alone in a text, outside the phrase ("trays" and "battery trays").
        (index, *others) = related
        word = chosen[index]
        if others or len(words) <= len(word.split()) or weights[key] < PHRASE_PREFERENCE * weights[word]:
            continue
        alone = not covered(tuple(query.occurrences[word]), list(query.occurrences[key])) or not covered(
            tuple(match.occurrences[word]), list(match.occurrences[key])
        )
        if not alone:
            chosen[index], chosen_words[index] = key, words
        elif len(chosen) < limit:
            chosen.insert(index + 1, key)
            chosen_words.insert(index + 1, words)
    return [
        SharedTerm(
            query.surface(query.occurrences[key][0]),
            match.surface(match.occurrences[key][0]),
            key,
            weights[key],
            tuple(query.occurrences[key]),
            tuple(match.occurrences[key]),
        )
        for key in chosen
    ]


__all__ = ["FieldTerms", "Occurrence", "SharedTerm", "Span", "idf", "shared_terms"]
