"""One match's explanation from the two sides' profiles: shared, related, evidence, summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matcher.explanation.evidence import Evidence, best_evidence_many
from matcher.explanation.profile import Profile
from matcher.explanation.related import RelatedTerm, related_terms_many
from matcher.explanation.summary import summary
from matcher.explanation.terms import SharedTerm, shared_terms
from matcher.explanation.translated import (
    TERMS_PER_SIDE,
    THRESHOLD,
    crosses_languages,
    heaviest_terms,
    is_chinese_word,
    query_scorer,
    translated_terms,
)
from matcher.text.bilingual import DictionaryScorer

# How a term's count in the matched text raises its weight: BM25's saturation with k1 = 1.2.
_K1 = 1.2


@dataclass(frozen=True)
class ExplainPolicy:
    max_terms: int = 10  # shared keyphrases
    max_related: int = 5
    related_threshold: float = 0.55
    candidates: int = 16
    # (pairs compared, threshold): a match comparing few candidate pairs (a short query) may use a
    # lower threshold and still let through no more chance pairs per match (README: "How the
    # threshold was set").
    threshold_steps: tuple[tuple[int, float], ...] = ((16, 0.40), (32, 0.45), (64, 0.50))
    # The bridge score a translated term (a Chinese and an English text) must reach: see translated.py.
    translated_threshold: float = THRESHOLD

    def threshold_for(self, pairs: int) -> float:
        """The related-terms threshold for a match comparing ``pairs`` candidate pairs."""
        for most, threshold in sorted(self.threshold_steps):
            if pairs <= most:
                return max(threshold, 0.0)
        return self.related_threshold


@dataclass(frozen=True)
class Explanation:
    shared: list[SharedTerm]
    related: list[RelatedTerm]
    evidence: Evidence | None
    summary: str

    @property
    def term_count(self) -> int:
        return len(self.shared) + len(self.related)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "shared_terms": [term.to_dict() for term in self.shared],
            "related_terms": [pair.to_dict() for pair in self.related],
            "evidence": self.evidence.to_dict() if self.evidence is not None else None,
        }


def shared_weight(idf: float, count_in_match: int) -> float:
    """A shared term's weight: its IDF, raised (with saturation) by how often the matched text says it."""
    return idf * count_in_match * (_K1 + 1) / (count_in_match + _K1)


def explain(
    query: Profile, match: Profile, idf: Mapping[str, float], policy: ExplainPolicy, language: str
) -> Explanation:
    """Explain why ``match`` was found for ``query``; ``idf`` holds the catalogue IDF of shared keys."""
    return explain_all(query, [match], lambda keys: idf, policy, language)[0]


def _with_translated(
    query: Profile,
    match: Profile,
    query_keys: list[str],
    match_keys: list[str],
    pairs: list[RelatedTerm],
    policy: ExplainPolicy,
    scorer: DictionaryScorer,
) -> list[RelatedTerm]:
    """A Chinese-English match's related terms: its translated terms first, then the model's pairs of
    two Latin terms (the model cannot read a Chinese one), no word in two pairs, at most ``max_related``."""
    translated = translated_terms(
        query, match, query_keys, match_keys, policy.translated_threshold, policy.max_related, scorer
    )
    used = {word for pair in translated for key in (pair.query_key, pair.match_key) for word in key.split()}
    for pair in pairs:
        words = [*pair.query_key.split(), *pair.match_key.split()]
        if any(is_chinese_word(word) for word in words) or used.intersection(words):
            continue
        translated.append(pair)
        used.update(words)
    return translated[: policy.max_related]


def explain_all(
    query: Profile,
    matches: Sequence[Profile],
    idf_of: Callable[[set[str]], Mapping[str, float]],
    policy: ExplainPolicy,
    language: str,
) -> list[Explanation]:
    """Explain each of ``matches`` for ``query``; related terms and evidence come from one product each.

    ``idf_of`` is asked once, for the keys that any match shares with the query.
    """
    query_keys, query_generic = query.terms.occurrences.keys(), query.terms.generic
    # Keys either text has as no reason ("two", "min", 获得) are never named.
    shared_keys = [
        (query_keys & match.terms.occurrences.keys()) - query_generic - match.terms.generic for match in matches
    ]
    # A Chinese text and an English one: each side's terms that may translate, weighed with the same IDF.
    crossing = [crosses_languages(query, match) for match in matches]
    query_translatable = query.translatable if any(crossing) else []
    idf = idf_of(
        set().union(
            *shared_keys, query_translatable, *(match.translatable for match, cross in zip(matches, crossing) if cross)
        )
    )
    thresholds = [policy.threshold_for(len(query.candidates) * len(match.candidates)) for match in matches]
    related = related_terms_many(query, matches, thresholds, policy.max_related)
    if any(crossing):
        query_heaviest = heaviest_terms(query.terms, query_translatable, idf, TERMS_PER_SIDE)
        scorer = query_scorer(query, query_heaviest)
        related = [
            _with_translated(
                query,
                match,
                query_heaviest,
                heaviest_terms(match.terms, match.translatable, idf, TERMS_PER_SIDE),
                pairs,
                policy,
                scorer,
            )
            if cross
            else pairs
            for match, pairs, cross in zip(matches, related, crossing)
        ]
    evidence = best_evidence_many(query, matches)
    idf_value = idf.get
    explanations = []
    for match, keys, pairs, best in zip(matches, shared_keys, related, evidence):
        counts = match.terms.counts
        weights = {key: shared_weight(idf_value(key, 0.0), counts[key]) for key in keys}
        shared = shared_terms(query.terms, match.terms, weights.__getitem__, policy.max_terms, common=weights)
        explanations.append(Explanation(shared, pairs, best, summary(shared, pairs, language)))
    return explanations
