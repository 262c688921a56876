"""Which records of the searched side a match may return: its filters, less the pairs declined before."""

from __future__ import annotations

from typing import Any

from matcher.filters import filter_sql
from matcher.outcomes.store import OutcomeStore
from matcher.pipeline.request import MatchRequest
from matcher.storage.catalogue import Catalogue


def allowed_keys(catalogue: Catalogue, outcomes: OutcomeStore, request: MatchRequest) -> set[int] | None:
    """The keys a match may return, or None when every indexed record may be returned.

    A stored record's match also leaves out the records declined as not relevant with it.
    """
    target = request.direction.target_kind
    condition, parameters = filter_sql(target, request.filters)
    if request.record_id is not None:
        declined = sorted(outcomes.declined_not_relevant_for(request.direction.query_kind, request.record_id))
        condition, parameters = _without(declined, condition, parameters)
    return catalogue.filtered_keys(target, condition, parameters) if condition else None


def _without(ids: list[str], condition: str, parameters: list[Any]) -> tuple[str, list[Any]]:
    if not ids:
        return condition, parameters
    clause = f"id NOT IN ({','.join('?' * len(ids))})"
    return (f"({condition}) AND {clause}" if condition else clause), [*parameters, *ids]
