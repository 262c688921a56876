"""An introduction plan: every project in scope against every need in scope, solved under caps.

Steps: choose the records in scope (filters, a date), find the pairs that must not meet
(:mod:`.conflicts`), score all pairs from the stored vectors keeping each record's best
candidates (:mod:`.scoring`), solve (:mod:`.solver`), then rank and explain the chosen pairs.

Staff can pin pairs beforehand (an event's review): a *struck* pair is never proposed (an
exclusion like a conflict); a *locked* pair is always in the plan, whatever its score or scope,
and uses up its share of every cap before the solver plans the rest around it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, overload

import numpy as np

from matcher.config import Settings
from matcher.errors import InvalidInput
from matcher.filters import Filters
from matcher.introductions.conflicts import PARTY_FIELD, ConflictRule, find_exclusions, normalise
from matcher.introductions.scoring import PairStrengths, best_pairs, side_vectors, strength_ranks
from matcher.introductions.solver import SOLVERS, Caps, PairTable, over_caps, taken_by
from matcher.pipeline.explain import explain_pairs
from matcher.pipeline.reader import Reader
from matcher.records import Kind, Record

log = logging.getLogger(__name__)

CAP_PARAMETERS = (
    "max_per_project",
    "max_per_need",
    "max_per_enterprise",
    "max_per_institution",
    "max_per_need_institution",
)


# The largest cap a plan takes: more introductions than any event holds, and within the solver's
# 64-bit integers (a cap past them failed the job).
MAX_CAP = 1_000_000


@overload
def _cap(name: str, value: Any, required: Literal[True]) -> int: ...
@overload
def _cap(name: str, value: Any, required: bool) -> int | None: ...
def _cap(name: str, value: Any, required: bool) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAP:
        raise InvalidInput(
            f"'{name}' must be a whole number from 1 to {MAX_CAP:,}, got {value!r}",
            details={"parameter": name, "value": value},
        )
    return value


PairIds = tuple[tuple[str, str], ...]  # (need id, project id) pairs


def _pair_ids(name: str, value: Any) -> PairIds:
    """``locked`` or ``struck``: (need id, project id) pairs, each id a non-empty string; order kept, repeats dropped."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidInput(
            f"'{name}' must be a list of [need_id, project_id] pairs", details={"parameter": name, "value": value}
        )
    pairs: dict[tuple[str, str], None] = {}
    for position, item in enumerate(value):
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or not all(isinstance(part, str) and part.strip() for part in item)
        ):
            raise InvalidInput(
                f"'{name}[{position}]' must be a pair [need_id, project_id] of ids, got {item!r}",
                details={"parameter": name, "position": position, "value": item},
            )
        pairs[(item[0].strip(), item[1].strip())] = None
    return tuple(pairs)


def _date(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidInput(
            f"'{name}' must be a date like 2026-01-31, got {value!r}", details={"parameter": name, "value": value}
        ) from None


@dataclass(frozen=True)
class PlanRequest:
    """What staff ask for: caps, a floor, the records in scope, conflicts, and the solver."""

    caps: Caps
    min_score: float
    candidates: int
    project_filters: dict[str, Any] = field(default_factory=dict)
    need_filters: dict[str, Any] = field(default_factory=dict)
    updated_since: str | None = None
    conflicts: tuple[ConflictRule, ...] = ()
    solver: str = "flow"
    explain: bool = True
    locked: PairIds = ()  # (need id, project id): always in the plan, counted against the caps
    struck: PairIds = ()  # (need id, project id): never proposed

    @classmethod
    def build(
        cls,
        settings: Settings,
        max_per_project: Any = None,
        max_per_need: Any = None,
        max_per_enterprise: Any = None,
        max_per_institution: Any = None,
        max_per_need_institution: Any = None,
        min_score: Any = None,
        candidates: Any = None,
        project_filters: Any = None,
        need_filters: Any = None,
        updated_since: Any = None,
        conflicts: Sequence[ConflictRule] = (),
        solver: Any = "flow",
        explain: Any = True,
        locked: Any = None,
        struck: Any = None,
    ) -> PlanRequest:
        """Validate raw parameters (from JSON or the CLI); errors name the parameter."""
        caps = Caps(
            _cap("max_per_project", max_per_project, True),
            _cap("max_per_need", max_per_need, True),
            _cap("max_per_enterprise", max_per_enterprise, False),
            _cap("max_per_institution", max_per_institution, False),
            _cap("max_per_need_institution", max_per_need_institution, False),
        )
        if min_score is None:
            min_score = settings.plan_min_score
        if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1:
            raise InvalidInput(
                f"'min_score' is a floor on match strength and must be a number from 0 to 1, got {min_score!r}",
                details={"parameter": "min_score", "value": min_score},
            )
        candidates = settings.plan_candidates if candidates is None else _cap("candidates", candidates, True)
        # Fewer candidates than a record may take would leave its cap unreachable: the cap raises them.
        candidates = max(candidates, caps.per_project, caps.per_need)
        if solver not in SOLVERS:
            raise InvalidInput(
                f"'solver' must be one of {sorted(SOLVERS)}, got {solver!r}",
                details={"parameter": "solver", "value": solver},
            )
        if not isinstance(explain, bool):
            raise InvalidInput(
                f"'explain' must be true or false, got {explain!r}", details={"parameter": "explain", "value": explain}
            )
        for name, filters, kind in (
            ("project_filters", project_filters, Kind.PROJECTS),
            ("need_filters", need_filters, Kind.NEEDS),
        ):
            if filters is not None and not isinstance(filters, dict):
                raise InvalidInput(f"'{name}' must be an object", details={"parameter": name, "value": filters})
            try:
                Filters.parse(kind, filters)
            except InvalidInput as error:
                raise InvalidInput(f"'{name}': {error.message}", details={**error.details, "parameter": name}) from None
        locked_pairs, struck_pairs = _pair_ids("locked", locked), _pair_ids("struck", struck)
        both = sorted(set(locked_pairs) & set(struck_pairs))
        if both:
            raise InvalidInput(
                f"A pair cannot be both locked and struck: {both[0]}",
                details={"parameter": "struck", "pairs": [list(pair) for pair in both]},
            )
        return cls(
            caps,
            float(min_score),
            int(candidates),
            dict(project_filters or {}),
            dict(need_filters or {}),
            _date("updated_since", updated_since),
            tuple(conflicts),
            solver,
            explain,
            locked_pairs,
            struck_pairs,
        )

    def to_dict(self) -> dict[str, Any]:
        pinned = {"locked": [list(p) for p in self.locked]} if self.locked else {}
        if self.struck:
            pinned["struck"] = [list(p) for p in self.struck]
        return {
            **pinned,
            "max_per_project": self.caps.per_project,
            "max_per_need": self.caps.per_need,
            "max_per_enterprise": self.caps.per_enterprise,
            "max_per_institution": self.caps.per_institution,
            "max_per_need_institution": self.caps.per_need_institution,
            "min_score": self.min_score,
            "candidates": self.candidates,
            "project_filters": self.project_filters,
            "need_filters": self.need_filters,
            "updated_since": self.updated_since,
            "conflict_rules": len(self.conflicts),
            "solver": self.solver,
        }


@dataclass(frozen=True)
class Introduction:
    """One proposed meeting, with both contacts, its score, where each side ranks the other, and why."""

    project: Record
    need: Record
    score: float
    rank_for_need: int  # the project's place among all projects in scope for this need (1 = best)
    rank_for_project: int  # the need's place among all needs in scope for this project
    explanation: str
    strength: float | None = None  # the calibrated match strength (``score`` counts a weak pair 0)
    locked: bool = False  # pinned by staff: in the plan whatever the solver would choose

    def to_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project.id,
            "project_title": self.project.title,
            "project_institution": self.project.attributes.get("institution") or "",
            "project_contact": self.project.attributes.get("contact") or "",
            "need_id": self.need.id,
            "need_title": self.need.title,
            "need_enterprise": self.need.attributes.get("enterprise") or "",
            "need_contact": self.need.attributes.get("contact") or "",
            "score": round(self.score, 4),
            "rank_for_need": self.rank_for_need,
            "rank_for_project": self.rank_for_project,
            "explanation": self.explanation,
        }


COLUMNS = (
    "project_id",
    "project_title",
    "project_institution",
    "project_contact",
    "need_id",
    "need_title",
    "need_enterprise",
    "need_contact",
    "score",
    "rank_for_need",
    "rank_for_project",
    "explanation",
)


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    introductions: list[Introduction]
    diagnostics: dict[str, Any]

    @property
    def total_score(self) -> float:
        return float(sum(introduction.score for introduction in self.introductions))

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": self.request.to_dict(),
            "introductions": [introduction.to_dict() for introduction in self.introductions],
            "count": len(self.introductions),
            "total_score": round(self.total_score, 4),
            "diagnostics": self.diagnostics,
        }


def _in_scope(
    reader: Reader, kind: Kind, indexed: Mapping[int, Any], filters: dict[str, Any], updated_since: str | None
) -> dict[int, Record]:
    """The records of ``kind`` that the filters and date admit, among those ``indexed``."""
    keys = reader.catalogue.keys_matching(kind, Filters.parse(kind, filters), updated_since=updated_since)
    keys = set(indexed) if keys is None else keys
    return reader.catalogue.by_keys(kind, sorted(key for key in keys if key in indexed))


def _party(record: Record, key: int) -> str:
    """The record's enterprise or institution; a record that names none is a party of its own."""
    name = record.attributes.get(PARTY_FIELD[record.kind])
    return normalise(name) if isinstance(name, str) and name.strip() else f"record:{key}"


def _empty_reason(diagnostics: dict[str, Any], request: PlanRequest) -> str:
    if not diagnostics["projects_in_scope"] or not diagnostics["needs_in_scope"]:
        side = "projects" if not diagnostics["projects_in_scope"] else "needs"
        return f"No {side} are in scope: check the filters and updated_since"
    best = diagnostics["best_score"]
    if diagnostics["candidate_pairs"] == 0 and diagnostics["pairs_excluded_at_floor"] == 0:
        return f"No pair reaches min_score {request.min_score:g} (the best pair scores {best:.3f}); lower min_score"
    if diagnostics["candidate_pairs"] == 0:
        return (
            f"Every pair reaching min_score {request.min_score:g} is excluded "
            f"({', '.join(f'{n} {reason}' for reason, n in diagnostics['excluded_pairs'].items())})"
        )
    return ""


def _keys_of(reader: Reader, kind: Kind, ids: set[str], indexed: Mapping[int, Any]) -> dict[str, int]:
    """Catalogue keys of ``ids`` that exist and are indexed (a pinned pair's records may be out of scope)."""
    if not ids:
        return {}
    return {record_id: key for record_id, key in reader.catalogue.keys_of(kind, ids).items() if key in indexed}


@dataclass(frozen=True)
class _Pinned:
    """A request's locked and struck pairs as catalogue keys, with the locked pairs' records."""

    locked: list[tuple[int, int]]  # (need key, project key)
    struck: list[tuple[int, int]]
    needs: dict[int, Record]  # the locked pairs' records, in scope or not
    projects: dict[int, Record]
    unknown: list[list[str]]  # locked pairs whose need or project is missing or not indexed


def _pinned(
    reader: Reader, request: PlanRequest, project_index: Mapping[int, Any], need_index: Mapping[int, Any]
) -> _Pinned:
    pairs = (*request.locked, *request.struck)
    need_keys = _keys_of(reader, Kind.NEEDS, {need for need, _ in pairs}, need_index)
    project_keys = _keys_of(reader, Kind.PROJECTS, {project for _, project in pairs}, project_index)
    locked, unknown = [], []
    for need, project in request.locked:
        if need in need_keys and project in project_keys:
            locked.append((need_keys[need], project_keys[project]))
        else:
            unknown.append([need, project])
    struck = [
        (need_keys[need], project_keys[project])
        for need, project in request.struck
        if need in need_keys and project in project_keys
    ]
    return _Pinned(
        locked,
        struck,
        reader.catalogue.by_keys(Kind.NEEDS, sorted({need for need, _ in locked})),
        reader.catalogue.by_keys(Kind.PROJECTS, sorted({project for _, project in locked})),
        unknown,
    )


def _ranks(
    strengths: PairStrengths, need_keys: np.ndarray, project_keys: np.ndarray, pairs: list[tuple[int, int]]
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """:func:`strength_ranks` of ``pairs`` among the records in scope, and for a pair with a record out
    of scope (a locked one), among those in scope and it."""
    needs_in, projects_in = set(need_keys.tolist()), set(project_keys.tolist())
    inside = [pair for pair in pairs if pair[0] in needs_in and pair[1] in projects_in]
    need_ranks, project_ranks = strength_ranks(strengths, need_keys, project_keys, inside)
    for need, project in (pair for pair in pairs if pair[0] not in needs_in or pair[1] not in projects_in):
        extra_needs = np.asarray(sorted(needs_in | {need}), dtype=np.int64)
        extra_projects = np.asarray(sorted(projects_in | {project}), dtype=np.int64)
        by_need, by_project = strength_ranks(strengths, extra_needs, extra_projects, [(need, project)])
        need_ranks.update(by_need)
        project_ranks.update(by_project)
    return need_ranks, project_ranks


def _pair_strengths(strengths: PairStrengths, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """The calibrated strength of each (need key, project key) pair."""
    if not pairs:
        return {}
    need_keys = np.asarray(sorted({need for need, _ in pairs}), dtype=np.int64)
    project_keys = np.asarray(sorted({project for _, project in pairs}), dtype=np.int64)
    matrix = strengths(need_keys, project_keys)
    row = {int(key): i for i, key in enumerate(need_keys)}
    column = {int(key): i for i, key in enumerate(project_keys)}
    return {(need, project): float(matrix[row[need], column[project]]) for need, project in pairs}


def _cap_report(
    caps: Caps, taken: Mapping[Any, int], needs: Mapping[int, Record], projects: Mapping[int, Record]
) -> list[dict[str, Any]]:
    """The caps that locked pairs alone exceed, named for people (they are kept all the same)."""
    report = []
    for name, used, limit in over_caps(caps, taken):
        kind, *parts = cast(tuple[Any, ...], name)
        if kind == "need":
            what = needs[parts[0]].id
        elif kind == "project":
            what = projects[parts[0]].id
        elif kind == "need-institution":
            what = f"{needs[parts[0]].id} / {parts[1]}"
        else:
            what = str(parts[0])
        report.append({"cap": f"max_per_{kind.replace('-', '_')}", "for": what, "locked": used, "limit": limit})
    return sorted(report, key=lambda item: (item["cap"], item["for"]))


def plan_introductions(
    reader: Reader, request: PlanRequest, progress: Callable[[int, int], None] | None = None
) -> Plan:
    """The plan of greatest total score that keeps every cap, floor and conflict of ``request``,
    with its locked pairs in it and its struck pairs out of it."""
    started = time.perf_counter()
    # Each side's index read once, so scope and vectors come from the same generation.
    project_index, need_index = reader.index(Kind.PROJECTS).vector, reader.index(Kind.NEEDS).vector
    projects = _in_scope(reader, Kind.PROJECTS, project_index.entries, request.project_filters, request.updated_since)
    needs = _in_scope(reader, Kind.NEEDS, need_index.entries, request.need_filters, request.updated_since)
    exclusions = find_exclusions(
        projects, needs, request.conflicts, reader.outcomes.introduced_pairs(), reader.outcomes.declined_not_relevant()
    )
    pinned = _pinned(reader, request, project_index.entries, need_index.entries)
    for need, project in pinned.struck:
        if need in needs and project in projects:
            exclusions.add(need, project, "struck")
    project_side = side_vectors(project_index, projects)
    need_side = side_vectors(need_index, needs)
    scored = time.perf_counter()
    strengths = PairStrengths(reader, weak_as_zero=True)  # a plan proposes no weak pair
    candidates = best_pairs(
        need_side,
        project_side,
        request.candidates,
        request.min_score,
        exclusions.by_need,
        progress=progress,
        keep_all=reader.settings.plan_all_pairs_limit,
        score_block=strengths,
    )
    solving = time.perf_counter()
    all_needs = {**needs, **pinned.needs}
    all_projects = {**projects, **pinned.projects}
    locked = set(pinned.locked)
    # A locked pair is in the plan already: the solver weighs only the others.
    open_rows = [
        i
        for i, pair in enumerate(zip(candidates.need_keys.tolist(), candidates.project_keys.tolist()))
        if pair not in locked
    ]
    need_keys: list[int] = candidates.need_keys[open_rows].tolist()
    project_keys: list[int] = candidates.project_keys[open_rows].tolist()
    table = PairTable(
        need_keys,
        project_keys,
        candidates.scores[open_rows],
        [_party(needs[key], key) for key in need_keys],
        [_party(projects[key], key) for key in project_keys],
    )
    taken = taken_by(
        request.caps,
        (
            (need, project, _party(all_needs[need], need), _party(all_projects[project], project))
            for need, project in pinned.locked
        ),
    )
    chosen = np.flatnonzero(SOLVERS[request.solver](table, request.caps, taken))
    solved = time.perf_counter()
    pairs = [(need_keys[i], project_keys[i]) for i in chosen.tolist()] + pinned.locked
    calibrated = PairStrengths(reader)
    need_ranks, project_ranks = _ranks(calibrated, need_side.keys, project_side.keys, pairs)
    strength_of = _pair_strengths(calibrated, pairs)
    ranked = time.perf_counter()
    summaries = _summaries(reader, all_needs, all_projects, pairs) if request.explain else {}
    scores = [float(table.scores[i]) for i in chosen.tolist()] + [strength_of[pair] for pair in pinned.locked]
    introductions = [
        Introduction(
            all_projects[project],
            all_needs[need],
            score,
            need_ranks[(need, project)],
            project_ranks[(project, need)],
            summaries.get((need, project), ""),
            strength=strength_of[(need, project)],
            locked=(need, project) in locked,
        )
        for score, (need, project) in zip(scores, pairs)
    ]
    introductions.sort(key=lambda item: (item.need.id, -item.score, item.project.id))
    used_needs = Counter(need for need, _ in pairs)
    candidate_needs = set(table.needs) | {need for need, _ in pinned.locked}
    diagnostics: dict[str, Any] = {
        "projects_in_scope": len(projects),
        "needs_in_scope": len(needs),
        "pairs_scored": candidates.scored_pairs,
        "pairs_below_min_score": candidates.below_floor,
        "excluded_pairs": dict(sorted(exclusions.reasons.items())),
        "pairs_excluded_at_floor": candidates.excluded,
        "best_score": None if candidates.best_score is None else round(candidates.best_score, 4),
        "candidate_pairs": len(candidates),
        # True: the solver weighed every eligible pair, so the plan is optimal over all pairs.
        # False: only each record's best `candidates`; the plan is optimal over those.
        "all_pairs_weighed": candidates.complete,
        "pairs_pruned": candidates.pruned,
        "introductions": len(introductions),
        "needs_introduced": len(used_needs),
        "needs_without_candidates": len(needs) - len(candidate_needs & set(needs)),
        "projects_introduced": len({project for _, project in pairs}),
        "solver": request.solver,
        "seconds": {
            "scope_and_conflicts": round(scored - started, 3),
            "scoring": round(solving - scored, 3),
            "solving": round(solved - solving, 3),
            "ranks": round(ranked - solved, 3),
            "explanations": round(time.perf_counter() - ranked, 3),
        },
    }
    if request.locked or request.struck:
        diagnostics["locked_pairs"] = len(pinned.locked)
        diagnostics["struck_pairs"] = len(request.struck)
        diagnostics["locked_unknown"] = pinned.unknown  # missing or not indexed: left out of the plan
        diagnostics["locked_over_caps"] = _cap_report(request.caps, taken, all_needs, all_projects)
    diagnostics["empty_reason"] = _empty_reason(diagnostics, request) if not introductions else ""
    log.info(
        "Planned %d introductions (%d locked; total score %.3f) from %d candidate pairs",
        len(introductions),
        len(pinned.locked),
        sum(item.score for item in introductions),
        len(candidates),
    )
    return Plan(request, introductions, diagnostics)


def _summaries(
    reader: Reader, needs: dict[int, Record], projects: dict[int, Record], pairs: list[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """The explanation summary of each (need, project) pair, in the need's language."""
    explained = explain_pairs(reader.explainer, Kind.NEEDS, needs, projects, pairs)
    return {pair: explanation.summary for pair, explanation in explained.items()}
