"""Choosing introductions: the most total score under caps over the given pairs, as a min-cost flow.

The network (OR-Tools' ``SimpleMinCostFlow``) runs source -> enterprise -> need -> (need,
institution) -> project -> institution -> sink. Capacities carry the caps: per enterprise, per
need, at most ``k`` projects of one institution per need (diversity), per project and per
institution. Each candidate pair is an arc of capacity 1 and cost ``-score``. A free arc from
source to sink lets flow skip pairs, so the optimum is the plan of greatest total score, not the
one with the most introductions. Every layer is a tree over the one below it, so the flow
polytope is integral and the optimum is exact. The greedy baseline takes pairs best first while
the caps allow, for comparison.

Pairs fixed beforehand (an event's locked pairs) are not in the table: what they use of each cap
comes in as ``taken`` (:func:`taken_by`), and the solver plans the rest in what is left.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from ortools.graph.python import min_cost_flow

log = logging.getLogger(__name__)

SCORE_SCALE = 1_000_000  # scores become whole micro-units of cost


@dataclass(frozen=True)
class Caps:
    """How many introductions each project, need, enterprise and institution may take (None: no cap)."""

    per_project: int
    per_need: int
    per_enterprise: int | None = None
    per_institution: int | None = None
    per_need_institution: int | None = None  # diversity: one need, projects of one institution


@dataclass(frozen=True)
class PairTable:
    """Candidate pairs as parallel columns; ``*_party`` give each side's enterprise or institution."""

    needs: Sequence[Hashable]
    projects: Sequence[Hashable]
    scores: np.ndarray
    need_party: Sequence[Hashable]  # the need's enterprise
    project_party: Sequence[Hashable]  # the project's institution

    def __len__(self) -> int:
        return len(self.scores)


def cap_names(
    caps: Caps, need: Hashable, project: Hashable, enterprise: Hashable, institution: Hashable
) -> list[tuple[Hashable, int]]:
    """The caps one pair counts against, as (name, limit): the names :func:`solve_flow` gives its nodes."""
    limits: list[tuple[Hashable, int]] = [(("need", need), caps.per_need), (("project", project), caps.per_project)]
    if caps.per_enterprise is not None:
        limits.append((("enterprise", enterprise), caps.per_enterprise))
    if caps.per_institution is not None:
        limits.append((("institution", institution), caps.per_institution))
    if caps.per_need_institution is not None:
        limits.append((("need-institution", need, institution), caps.per_need_institution))
    return limits


def taken_by(caps: Caps, fixed: Iterable[tuple[Hashable, Hashable, Hashable, Hashable]]) -> Counter[Hashable]:
    """How much of each cap the ``fixed`` pairs (need, project, enterprise, institution) use up."""
    taken: Counter[Hashable] = Counter()
    for need, project, enterprise, institution in fixed:
        taken.update(name for name, _ in cap_names(caps, need, project, enterprise, institution))
    return taken


def over_caps(caps: Caps, taken: Mapping[Hashable, int]) -> list[tuple[Hashable, int, int]]:
    """The caps that fixed pairs alone exceed, as (name, used, limit)."""
    limits = {
        "need": caps.per_need,
        "project": caps.per_project,
        "enterprise": caps.per_enterprise,
        "institution": caps.per_institution,
        "need-institution": caps.per_need_institution,
    }
    found = []
    for name, used in taken.items():
        limit = limits.get(name[0]) if isinstance(name, tuple) else None
        if limit is not None and used > limit:
            found.append((name, used, limit))
    return found


class _Nodes:
    """Node numbers handed out on first sight of each name."""

    def __init__(self) -> None:
        self.numbers: dict[Hashable, int] = {"source": 0, "sink": 1}

    def __getitem__(self, name: Hashable) -> int:
        return self.numbers.setdefault(name, len(self.numbers))


def solve_flow(pairs: PairTable, caps: Caps, taken: Mapping[Hashable, int] | None = None) -> np.ndarray:
    """A boolean mask over ``pairs``: the plan of greatest total score within ``caps`` (exact), less
    what ``taken`` already uses of each (by the names of :func:`cap_names`)."""
    if len(pairs) == 0:
        return np.zeros(0, dtype=bool)
    used = taken or {}

    def left(name: Hashable, limit: int) -> int:
        return max(limit - used.get(name, 0), 0)

    nodes = _Nodes()
    tails: list[int] = []
    heads: list[int] = []
    capacities: list[int] = []
    costs: list[int] = []
    seen: set[tuple[int, int]] = set()

    def arc(tail: int, head: int, capacity: int, cost: int = 0) -> None:
        if (tail, head) in seen:
            return
        seen.add((tail, head))
        tails.append(tail)
        heads.append(head)
        capacities.append(capacity)
        costs.append(cost)

    pair_arcs: list[int] = []
    for need, project, score, enterprise, institution in zip(
        pairs.needs, pairs.projects, pairs.scores, pairs.need_party, pairs.project_party
    ):
        need_node = nodes[("need", need)]
        need_left = left(("need", need), caps.per_need)
        if caps.per_enterprise is None:
            arc(0, need_node, need_left)
        else:
            enterprise_node = nodes[("enterprise", enterprise)]
            arc(0, enterprise_node, left(("enterprise", enterprise), caps.per_enterprise))
            arc(enterprise_node, need_node, need_left)
        entry = need_node
        if caps.per_need_institution is not None:
            entry = nodes[("need-institution", need, institution)]
            arc(need_node, entry, left(("need-institution", need, institution), caps.per_need_institution))
        project_node = nodes[("project", project)]
        project_left = left(("project", project), caps.per_project)
        if caps.per_institution is None:
            arc(project_node, 1, project_left)
        else:
            institution_node = nodes[("institution", institution)]
            arc(project_node, institution_node, project_left)
            arc(institution_node, 1, left(("institution", institution), caps.per_institution))
        pair_arcs.append(len(tails))
        tails.append(entry)
        heads.append(project_node)
        capacities.append(1)
        costs.append(-round(float(score) * SCORE_SCALE))
    need_count = len({need for need in pairs.needs})
    project_count = len({project for project in pairs.projects})
    supply = min(len(pairs), need_count * caps.per_need, project_count * caps.per_project)
    bypass = len(tails)
    tails.append(0)
    heads.append(1)
    capacities.append(supply)
    costs.append(0)

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.asarray(tails, dtype=np.int32),
        np.asarray(heads, dtype=np.int32),
        np.asarray(capacities, dtype=np.int64),
        np.asarray(costs, dtype=np.int64),
    )
    flow.set_node_supply(0, supply)
    flow.set_node_supply(1, -supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"the min-cost flow solver ended with status {status}")
    chosen: np.ndarray = flow.flows(np.asarray(pair_arcs, dtype=np.int32)) > 0
    log.debug(
        "Flow: %d nodes, %d arcs, %d pairs chosen, %d units bypassed",
        len(nodes.numbers),
        len(tails),
        int(chosen.sum()),
        flow.flow(bypass),
    )
    return chosen


def solve_greedy(pairs: PairTable, caps: Caps, taken: Mapping[Hashable, int] | None = None) -> np.ndarray:
    """The baseline: take pairs best first whenever every cap (less what ``taken`` uses) allows one more."""
    used: Counter[Hashable] = Counter(taken or {})
    chosen = np.zeros(len(pairs), dtype=bool)
    for position in np.argsort(-np.asarray(pairs.scores), kind="stable"):
        need, project = pairs.needs[position], pairs.projects[position]
        enterprise, institution = pairs.need_party[position], pairs.project_party[position]
        limits = cap_names(caps, need, project, enterprise, institution)
        if all(used[name] < limit for name, limit in limits):
            used.update(name for name, _ in limits)
            chosen[position] = True
    return chosen


class Solver(str, Enum):
    """How a plan's pairs are chosen: exactly, as a min-cost flow, or best first (the baseline)."""

    FLOW = "flow"
    GREEDY = "greedy"


# Keyed by the names themselves, so a request's text looks its solver up and errors list plain names.
SOLVERS: dict[str, Callable[[PairTable, Caps, Mapping[Hashable, int] | None], np.ndarray]] = {
    Solver.FLOW.value: solve_flow,
    Solver.GREEDY.value: solve_greedy,
}
