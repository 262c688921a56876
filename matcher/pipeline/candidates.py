"""Which records of the searched side a match may return: its filters, less the pairs declined before."""

from __future__ import annotations

from matcher.filters import Filters
from matcher.outcomes.store import OutcomeStore
from matcher.pipeline.request import MatchRequest
from matcher.storage.catalogue import Catalogue


def allowed_keys(catalogue: Catalogue, outcomes: OutcomeStore, request: MatchRequest) -> set[int] | None:
    """The keys a match may return, or None when every indexed record may be returned.

    A stored record's match also leaves out the records declined as not relevant with it.
    """
    target = request.direction.target_kind
    filters = Filters.parse(target, request.filters)
    declined = (
        outcomes.declined_not_relevant_for(request.direction.query_kind, request.record_id)
        if request.record_id is not None
        else set()
    )
    return catalogue.keys_matching(target, filters, excluded_ids=declined)
