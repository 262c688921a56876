"""Explaining ranked records against a query, and pairs of stored records, from their profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matcher.explanation.explain import Explanation
from matcher.explanation.explainer import Explainer
from matcher.pipeline.query import Query
from matcher.records import Kind, Record
from matcher.text.tokenize import detect_language


def record_language(record: Record) -> str:
    """A stored record's language: its own field, else detected from its text."""
    return record.language or detect_language(record.text)


def explain_query(
    explainer: Explainer, query: Query, kind: Kind, records: Mapping[int, Record], keys: Sequence[int]
) -> list[Explanation]:
    """The explanation of each of ``keys`` (records of ``kind``) as a match for ``query``."""
    profile = query.profile()
    profiles = explainer.profiles(kind, records)
    return list(explainer.explain_all(profile, [profiles[key] for key in keys], query.language))


def explain_pairs(
    explainer: Explainer,
    query_kind: Kind,
    queries: Mapping[int, Record],
    targets: Mapping[int, Record],
    pairs: Sequence[tuple[int, int]],
) -> dict[tuple[int, int], Explanation]:
    """Each (query key, target key) pair explained, profiles read once per side, in the query's language."""
    if not pairs:
        return {}
    query_keys = sorted({query for query, _ in pairs})
    query_profiles = explainer.profiles(query_kind, {key: queries[key] for key in query_keys})
    target_profiles = explainer.profiles(query_kind.other, {target: targets[target] for _, target in pairs})
    by_query: dict[int, list[int]] = {}
    for query, target in pairs:
        by_query.setdefault(query, []).append(target)
    explained: dict[tuple[int, int], Explanation] = {}
    for query, target_keys in by_query.items():
        language = record_language(queries[query])
        explanations = explainer.explain_all(
            query_profiles[query], [target_profiles[key] for key in target_keys], language
        )
        explained.update(((query, key), explanation) for key, explanation in zip(target_keys, explanations))
    return explained
