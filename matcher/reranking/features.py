"""Features of a (need, project) pair, from what ranking and explaining a match already computed.

Nothing here encodes text: the dense and BM25 scores and the base rank come from the base
ranking, the keyphrase overlap and related terms from the match's explanation (made from the
profiles stored at indexing time), the rest from the two records' fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.explanation.explain import Explanation
from matcher.records import Record
from matcher.retrieval.ranking import Ranked

# Bump when a feature's meaning or the list changes: a saved model names the version it was fitted on.
FEATURE_VERSION = 1
FEATURES: tuple[str, ...] = (
    "dense",  # cosine similarity of the best passages
    "lexical",  # log(1 + BM25 score)
    "fused",  # the base ranking's score (relative to the query's candidates)
    "log_rank",  # log of the 1-based position in the base ranking
    "shared_weight",  # log(1 + summed weight of the explanation's shared keyphrases: IDF with saturation)
    "shared_terms",  # how many shared keyphrases the explanation lists
    "related_terms",  # how many related-term pairs it lists
    "evidence_similarity",  # cosine similarity of the best pair of sentences (0 without one)
    "field_match",  # a project field equals the need's industry (case-insensitive)
    "field_unknown",  # either side lacks them
    "trl",  # project TRL / 9 (0 when missing)
    "trl_missing",
    "region_match",  # the project's region (from its metadata) equals the need's region
    "region_unknown",  # either side lacks a region
)

_SEPARATORS = re.compile(r"[;；、|,]")


@dataclass(frozen=True)
class Candidate:
    """A project as the base ranking placed it for a need, with its explanation."""

    rank: int  # 1-based position in the base ranking
    hit: Ranked
    project: Record
    explanation: Explanation | None


def _values(raw: Any) -> set[str]:
    """Lower-cased values of a list field, or of a text with list separators; empty when absent."""
    items = raw if isinstance(raw, (list, tuple)) else _SEPARATORS.split(str(raw)) if raw else []
    return {str(item).strip().lower() for item in items if str(item).strip()}


def _match(need_values: set[str], project_values: set[str]) -> tuple[float, float]:
    """(match, unknown) indicators for two sets of values."""
    if not need_values or not project_values:
        return 0.0, 1.0
    return float(bool(need_values & project_values)), 0.0


def _trl(project: Record) -> tuple[float, float]:
    raw = project.attributes.get("trl")
    if raw is None:
        return 0.0, 1.0
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return 0.0, 1.0
    return (value / 9.0, 0.0) if 1 <= value <= 9 else (0.0, 1.0)


def pair_features(need: Record | None, candidate: Candidate) -> list[float]:
    """The values of :data:`FEATURES` for one pair (``need`` is None for a free-text query)."""
    hit, project, explanation = candidate.hit, candidate.project, candidate.explanation
    attributes = need.attributes if need is not None else {}
    shared = explanation.shared if explanation is not None else []
    evidence = explanation.evidence if explanation is not None else None
    field_match, field_unknown = _match(_values(attributes.get("industry")), _values(project.attributes.get("fields")))
    project_region = project.metadata.get("region") or project.attributes.get("region")
    region_match, region_unknown = _match(_values(attributes.get("region")), _values(project_region))
    trl, trl_missing = _trl(project)
    return [
        float(hit.dense or 0.0),
        math.log1p(max(float(hit.lexical or 0.0), 0.0)),
        float(hit.score),
        math.log(candidate.rank),
        math.log1p(sum(term.weight for term in shared)),
        float(len(shared)),
        float(len(explanation.related) if explanation is not None else 0),
        float(evidence.similarity) if evidence is not None else 0.0,
        field_match,
        field_unknown,
        trl,
        trl_missing,
        region_match,
        region_unknown,
    ]


def feature_matrix(need: Record | None, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate."""
    rows = [pair_features(need, candidate) for candidate in candidates]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
