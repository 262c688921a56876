"""Planning an event: its scope and parameters as a :class:`PlanRequest`, with its locked and struck
pairs, solved by :func:`plan_introductions` and stored as the event's new plan.

A plan's id is ``event-<event id>-<n>``, ``n`` counting the event's plans from 1, so an outcome
recorded against it (``plan_id``) says which event and which plan proposed the pair.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matcher.config import Settings
from matcher.errors import InvalidInput
from matcher.events.store import Event, EventStore, PairState, ProposedPair
from matcher.introductions.planner import CAP_PARAMETERS, Plan, PlanRequest, plan_introductions
from matcher.pipeline.reader import Reader

log = logging.getLogger(__name__)

SCOPE_KEYS = ("project_filters", "need_filters", "updated_since")
PARAMETER_KEYS = (*CAP_PARAMETERS, "min_score", "solver")
# What an event plans with when its parameters leave a cap out: a few introductions per record.
DEFAULT_PARAMETERS: dict[str, Any] = {"max_per_project": 3, "max_per_need": 3}


@dataclass(frozen=True)
class EventPlan:
    """What planning an event did: the plan's id, its diagnostics, and how the stored pairs changed."""

    plan_id: str
    diagnostics: dict[str, Any]
    counts: dict[str, int]
    introductions: int


def _only(values: Mapping[str, Any], valid: tuple[str, ...], what: str) -> None:
    """Refuse names outside ``valid``, naming the first (``what``: "event parameter", "scope field")."""
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise InvalidInput(
            f"Unknown {what}(s) {unknown}; valid ones are {sorted(valid)}",
            details={"parameter": unknown[0], "valid": sorted(valid)},
        )


def _parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    _only(parameters, PARAMETER_KEYS, "event parameter")
    return {**DEFAULT_PARAMETERS, **{key: value for key, value in parameters.items() if value is not None}}


def _scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    _only(scope, SCOPE_KEYS, "scope field")
    return {key: scope[key] for key in SCOPE_KEYS if scope.get(key) not in (None, {}, "")}


def plan_request(
    settings: Settings,
    scope: Mapping[str, Any],
    parameters: Mapping[str, Any],
    locked: tuple[tuple[str, str], ...] = (),
    struck: tuple[tuple[str, str], ...] = (),
) -> PlanRequest:
    """The plan request of an event's scope and parameters (validated; errors name the field)."""
    return PlanRequest.build(settings, **_scope(scope), **_parameters(parameters), locked=locked, struck=struck)


def checked(
    settings: Settings, scope: Mapping[str, Any], parameters: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(scope, parameters)`` as an event stores them, after the planner's own checks."""
    request = plan_request(settings, scope, parameters)
    stored_scope = {key: value for key, value in _scope(scope).items() if key != "updated_since"}
    if request.updated_since:
        stored_scope["updated_since"] = request.updated_since
    stored = request.to_dict()
    stored_parameters = {key: stored[key] for key in CAP_PARAMETERS if stored[key] is not None}
    stored_parameters["min_score"] = request.min_score
    stored_parameters["solver"] = request.solver
    return stored_scope, stored_parameters


def next_plan_id(store: EventStore, event: Event) -> str:
    """``event-<id>-<n>``: the event's ``n``-th plan."""
    planned = sum(1 for entry in store.audit(event.id) if entry.action == "planned")
    return f"event-{event.id}-{planned + 1}"


def proposed_pairs(plan: Plan) -> list[ProposedPair]:
    """The plan's introductions as the event store keeps them (ids, score, strength, ranks, why)."""
    return [
        ProposedPair(
            need_id=item.need.id,
            project_id=item.project.id,
            score=round(item.score, 4),
            strength=None if item.strength is None else round(item.strength, 4),
            rank_for_need=item.rank_for_need,
            rank_for_project=item.rank_for_project,
            explanation=item.explanation,
        )
        for item in plan.introductions
    ]


def with_outcomes(reader: Reader, store: EventStore, event_id: int) -> set[tuple[str, str]]:
    """The event's pairs (not struck) that have an outcome: introduced already, so a re-plan keeps them
    (the planner would otherwise leave them out as introduced before)."""
    introduced = reader.outcomes.introduced_pairs()
    return {
        pair.key
        for pair in store.pairs(event_id)
        if pair.state is not PairState.STRUCK and (pair.project_id, pair.need_id) in introduced
    }


def plan_event(reader: Reader, store: EventStore, event_id: int, author: str) -> EventPlan:
    """Plan ``event_id`` around its locked pairs (and those with an outcome) and without its struck
    ones, and store the plan."""
    event = store.get(event_id)
    locked, struck = store.pinned(event_id)
    locked |= with_outcomes(reader, store, event_id)
    request = plan_request(reader.settings, event.scope, event.parameters, tuple(sorted(locked)), tuple(sorted(struck)))
    plan = plan_introductions(reader, request)
    plan_id = next_plan_id(store, event)
    diagnostics = {**plan.diagnostics, "parameters": request.to_dict()}
    counts = store.replace_plan(event_id, plan_id, proposed_pairs(plan), diagnostics, author)
    log.info("Event %d: plan %s, %d introductions (%s)", event_id, plan_id, len(plan.introductions), counts)
    return EventPlan(plan_id, diagnostics, counts, len(plan.introductions))
