"""A proposed pair (project, need), and each pair's latest outcome: the one that says where it stands.

Outcomes are never overwritten, so a pair may have many; the latest (by ``recorded_at``, then
``id``) counts. The outcome store, its evaluation and the re-ranker's labels all use this one rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol, TypeVar


class Pair(NamedTuple):
    """A project and a need, by id; a plain ``(project_id, need_id)`` tuple equals it."""

    project_id: str
    need_id: str


class PairOutcome(Protocol):
    """What :func:`latest_by_pair` reads of an outcome (see :class:`matcher.outcomes.store.Outcome`)."""

    @property
    def id(self) -> int: ...

    @property
    def project_id(self) -> str: ...

    @property
    def need_id(self) -> str: ...

    @property
    def recorded_at(self) -> str: ...


OutcomeT = TypeVar("OutcomeT", bound=PairOutcome)


def latest_by_pair(outcomes: Iterable[OutcomeT]) -> dict[Pair, OutcomeT]:
    """Each pair's latest outcome (by ``recorded_at``, then ``id``); pairs ordered by their first outcome."""
    return {
        Pair(outcome.project_id, outcome.need_id): outcome
        for outcome in sorted(outcomes, key=lambda outcome: (outcome.recorded_at, outcome.id))
    }
