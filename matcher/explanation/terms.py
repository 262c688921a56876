"""Shared keyphrases: the words and phrases of one to three words two texts both contain, with offsets."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from matcher.explanation.generic import not_reasons
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


class TermPlaces:
    """A term in one text: as first written, and every occurrence as a JSON dict (and as tuples, on demand).

    Made once per text and term (:meth:`FieldTerms.places`) and shared by every explanation that
    names the term, so a stored record's profile answers many matches without rebuilding them.
    The dicts are shared too: read them, never change them.
    """

    __slots__ = ("_occurrences", "dicts", "surface")

    def __init__(self, surface: str, dicts: list[dict[str, Any]]) -> None:
        self.surface = surface
        self.dicts = dicts
        self._occurrences: tuple[Occurrence, ...] | None = None

    @property
    def occurrences(self) -> tuple[Occurrence, ...]:
        if self._occurrences is None:
            self._occurrences = tuple(Occurrence(place["field"], place["start"], place["end"]) for place in self.dicts)
        return self._occurrences

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TermPlaces) and (self.surface, self.dicts) == (other.surface, other.dicts)

    def __repr__(self) -> str:
        return f"TermPlaces({self.surface!r}, {self.dicts!r})"


class InBothTexts:
    """A term of an explanation with its places in the query text and in the matched text."""

    in_query: TermPlaces
    in_match: TermPlaces

    @property
    def query_term(self) -> str:
        """As first written in the query text."""
        return self.in_query.surface

    @property
    def match_term(self) -> str:
        """As first written in the matched text."""
        return self.in_match.surface

    @property
    def query(self) -> tuple[Occurrence, ...]:
        return self.in_query.occurrences

    @property
    def match(self) -> tuple[Occurrence, ...]:
        return self.in_match.occurrences


@dataclass(frozen=True)
class SharedTerm(InBothTexts):
    key: str  # the normalised form both texts share
    weight: float
    in_query: TermPlaces
    in_match: TermPlaces

    @property
    def term(self) -> str:
        """As first written in the query text (both texts share its normalised form)."""
        return self.query_term

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "match_term": self.match_term,
            "key": self.key,
            "weight": round(self.weight, 4),
            "query_occurrences": self.in_query.dicts,
            "match_occurrences": self.in_match.dicts,
        }


@dataclass(frozen=True)
class FieldTerms:
    """The terms of a record's (or query's) text fields, with where each occurs.

    ``generic`` holds the keys whose first occurrence is no reason for a match (a number word, a
    unit, a generic word, a fragment of a Chinese word: :mod:`matcher.explanation.generic`); they
    stay terms of the text, but no explanation names them.
    """

    texts: Mapping[str, str]
    occurrences: Mapping[str, list[Occurrence]]
    generic: frozenset[str] = frozenset()
    _places: dict[str, TermPlaces] = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def of(cls, texts: Mapping[str, str]) -> FieldTerms:
        occurrences: dict[str, list[Occurrence]] = {}
        seen: set[str] = set()
        generic: list[str] = []
        for name, text in texts.items():
            tokens = tokenize(text)
            for key, spans in terms(tokens).items():
                occurrences.setdefault(key, []).extend(Occurrence(name, span.start, span.end) for span in spans)
            generic.extend(not_reasons(tokens, seen))
        return cls(texts, occurrences, frozenset(generic))

    def surface(self, occurrence: Occurrence) -> str:
        return self.texts[occurrence.field][occurrence.start : occurrence.end]

    def first_surface(self, key: str) -> str:
        return self.surface(self.occurrences[key][0])

    def places(self, key: str) -> TermPlaces:
        """Where ``key`` occurs, made on first use and kept with these terms."""
        found = self._places.get(key)
        if found is None:
            packed = getattr(self.occurrences, "dicts", None)  # straight to dicts, no tuples on the way
            dicts = packed(key) if packed is not None else occurrence_dicts(self.occurrences[key])
            first = dicts[0]
            surface = self.texts[first["field"]][first["start"] : first["end"]]
            found = self._places[key] = TermPlaces(surface, dicts)
        return found

    @cached_property
    def counts(self) -> Mapping[str, int]:
        """How often each key occurs (without unpacking occurrences where they are packed)."""
        packed = getattr(self.occurrences, "counts", None)
        return packed if packed is not None else {key: len(places) for key, places in self.occurrences.items()}


def shared_keys(query: FieldTerms, match: FieldTerms) -> set[str]:
    """The keys both texts hold that an explanation may name (no generic word of either text)."""
    return (query.occurrences.keys() & match.occurrences.keys()) - query.generic - match.generic


def idf(document_frequency: int, document_count: int) -> float:
    """BM25's inverse document frequency, always positive."""
    return math.log(1 + (document_count - document_frequency + 0.5) / (document_frequency + 0.5))


def covered(occurrences: tuple[Occurrence, ...], by: list[Occurrence]) -> bool:
    return all(any(o.field == c.field and c.start <= o.start and o.end <= c.end for c in by) for o in occurrences)


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
    Keys that either text has as no reason (:attr:`FieldTerms.generic`) are not shared terms.
    ``common`` may give the shared keys with their weights already worked out (without those).
    """
    weights = common if common is not None else {key: weight_of(key) for key in shared_keys(query, match)}
    candidates = sorted(weights.items(), key=_heaviest_first)
    chosen: list[str] = []
    chosen_words: list[frozenset[str]] = []
    chosen_any: set[str] = set()  # every word of a chosen term: a key sharing none is unrelated to them all
    floor = -math.inf  # once full, a lighter key can neither replace nor join a chosen term

    def changed() -> float:
        chosen_any.clear()
        chosen_any.update(*chosen_words)
        return PHRASE_PREFERENCE * min(weights[other] for other in chosen) if len(chosen) == limit else -math.inf

    for key, weight in candidates:
        if weight < floor:
            break
        words = frozenset(key.split())
        related = (
            []
            if chosen_any.isdisjoint(words)
            else [index for index, other in enumerate(chosen_words) if words <= other or other <= words]
        )
        if not related:
            if len(chosen) < limit:
                chosen.append(key)
                chosen_words.append(words)
                floor = changed()
            continue
        # A phrase that contains a chosen word names the idea more fully when it weighs nearly as
        # much: it takes the word's place ("battery trays" rather than "trays"), or joins it when
        # the word also stands alone in a text, outside the phrase ("trays" and "battery trays").
        (index, *others) = related
        word = chosen[index]
        if others or len(words) <= len(word.split()) or weight < PHRASE_PREFERENCE * weights[word]:
            continue
        alone = not covered(tuple(query.occurrences[word]), list(query.occurrences[key])) or not covered(
            tuple(match.occurrences[word]), list(match.occurrences[key])
        )
        if not alone:
            chosen[index], chosen_words[index] = key, words
        elif len(chosen) < limit:
            chosen.insert(index + 1, key)
            chosen_words.insert(index + 1, words)
        floor = changed()
    return [SharedTerm(key, weights[key], query.places(key), match.places(key)) for key in chosen]


def _heaviest_first(item: tuple[str, float]) -> tuple[float, int, str]:
    """Heavier first; at equal weight the longer phrase, then the key (a stable order)."""
    key, weight = item
    return (-weight, -key.count(" "), key)


__all__ = [
    "FieldTerms",
    "InBothTexts",
    "Occurrence",
    "SharedTerm",
    "Span",
    "TermPlaces",
    "idf",
    "shared_keys",
    "shared_terms",
]
