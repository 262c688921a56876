"""Events: the store (states, hand-added pairs, re-plans, audit) and planning around locked and struck pairs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from matcher.engine import Matcher, open as open_matcher
from matcher.errors import InvalidInput, NotFound
from matcher.events.planning import checked, next_plan_id, plan_event, plan_request
from matcher.events.store import EventStore, PairOrigin, PairState, ProposedPair
from matcher.introductions.planner import Plan, PlanRequest, plan_introductions
from matcher.introductions.scoring import pair_strengths
from matcher.introductions.solver import Caps, PairTable, over_caps, solve_flow, solve_greedy, taken_by
from matcher.records import Kind
from tests.unit.test_engine import NEEDS, PROJECTS

# -- the solver with caps already taken -------------------------------------------------------


def test_caps_taken_by_fixed_pairs_are_not_offered_again():
    table = PairTable(
        ["A", "B", "B"], ["x", "x", "y"], np.array([0.9, 0.8, 0.3], np.float32), ["a", "b", "b"], ["i", "i", "j"]
    )
    caps = Caps(per_project=1, per_need=1)
    assert solve_flow(table, caps).tolist() == [True, False, True]
    taken = taken_by(caps, [("C", "x", "c", "i")])  # a fixed pair already uses project x's one place
    for solve in (solve_flow, solve_greedy):
        assert solve(table, caps, taken).tolist() == [False, False, True]


def test_a_fixed_pair_uses_its_enterprise_and_institution_caps_too():
    table = PairTable(["A", "B"], ["x", "y"], np.array([0.9, 0.8], np.float32), ["a", "a"], ["i", "j"])
    caps = Caps(per_project=5, per_need=5, per_enterprise=2, per_institution=5)
    taken = taken_by(caps, [("C", "z", "a", "k")])  # enterprise a has one of its two left
    for solve in (solve_flow, solve_greedy):
        assert solve(table, caps, taken).tolist() == [True, False]


def test_fixed_pairs_past_a_cap_are_reported():
    caps = Caps(per_project=1, per_need=3)
    taken = taken_by(caps, [("A", "x", "a", "i"), ("B", "x", "b", "i")])
    assert over_caps(caps, taken) == [(("project", "x"), 2, 1)]


def test_locked_and_struck_pairs_are_checked(settings):
    with pytest.raises(InvalidInput) as caught:
        PlanRequest.build(settings, max_per_project=1, max_per_need=1, locked=[["N1"]])
    assert caught.value.details["parameter"] == "locked"
    with pytest.raises(InvalidInput) as caught:
        PlanRequest.build(settings, max_per_project=1, max_per_need=1, locked=[("N1", "P1")], struck=[("N1", "P1")])
    assert caught.value.details["parameter"] == "struck"
    request = PlanRequest.build(settings, max_per_project=1, max_per_need=1, locked=[("N1", "P1"), ("N1", "P1")])
    assert request.locked == (("N1", "P1"),) and request.to_dict()["locked"] == [["N1", "P1"]]


# -- the store --------------------------------------------------------------------------------


@pytest.fixture
def small(settings, fake_embedder) -> tuple[Matcher, EventStore]:
    engine = open_matcher(settings, embedder=fake_embedder)
    engine.ingest_batch(Kind.PROJECTS, PROJECTS)
    engine.ingest_batch(Kind.NEEDS, NEEDS)
    return engine, EventStore(settings.catalogue_path)


def test_pair_states_hand_added_pairs_and_the_audit_trail(small):
    _, store = small
    event = store.create("Auto parts day", "web:Li Wei", event_date="2026-12-10", parameters={"max_per_project": 2})
    assert [e.id for e in store.list()] == [event.id]
    store.replace_plan(
        event.id,
        "event-1-1",
        [ProposedPair("N1", "P1", 0.8, 0.8, 1, 1, "shared: battery"), ProposedPair("N2", "P2", 0.6, 0.6, 1, 2)],
        {"introductions": 2},
        "web:Li Wei",
    )
    with pytest.raises(InvalidInput) as caught:
        store.set_state(event.id, "N1", "P1", PairState.STRUCK, "web:Li Wei")
    assert caught.value.details["field"] == "reason"
    store.set_state(event.id, "N1", "P1", PairState.STRUCK, "web:Wang Fang", reason="Met last year")
    store.set_state(event.id, "N2", "P2", "locked", "web:Li Wei")
    added = store.add_pair(event.id, "N1", "P3", "web:Li Wei", strength=0.42)
    assert added.state is PairState.LOCKED and added.origin is PairOrigin.MANUAL and added.strength == 0.42
    with pytest.raises(NotFound):
        store.add_pair(event.id, "N1", "P404", "web:Li Wei")
    with pytest.raises(InvalidInput):
        store.add_pair(event.id, "N1", "P3", "web:Li Wei")
    counts = store.replace_plan(
        event.id, "event-1-2", [ProposedPair("N1", "P1", 0.8), ProposedPair("N2", "P4", 0.5)], {}, "web:Li Wei"
    )
    assert counts == {"proposed": 1, "kept_approved": 0, "kept_locked": 0, "dropped": 0, "skipped_struck": 1}
    states = {pair.key: pair.state for pair in store.pairs(event.id)}
    assert states == {
        ("N1", "P1"): PairState.STRUCK,
        ("N2", "P2"): PairState.LOCKED,
        ("N1", "P3"): PairState.LOCKED,
        ("N2", "P4"): PairState.PROPOSED,
    }
    assert store.pair(event.id, "N1", "P1").reason == "Met last year"
    trail = [(entry.action, entry.author) for entry in store.audit(event.id)]
    assert trail == [
        ("created", "web:Li Wei"),
        ("planned", "web:Li Wei"),
        ("struck", "web:Wang Fang"),
        ("locked", "web:Li Wei"),
        ("added", "web:Li Wei"),
        ("planned", "web:Li Wei"),
    ]
    assert next_plan_id(store, store.get(event.id)) == f"event-{event.id}-3"


def test_event_scope_and_parameters_are_checked_by_the_planners_rules(settings):
    scope, parameters = checked(
        settings,
        {"project_filters": {"field": "automotive"}, "need_filters": {}, "updated_since": "2026-01-05"},
        {"max_per_project": 2, "max_per_need": 1, "min_score": 0.5},
    )
    assert scope == {"project_filters": {"field": "automotive"}, "updated_since": "2026-01-05"}
    assert parameters == {"max_per_project": 2, "max_per_need": 1, "min_score": 0.5, "solver": "flow"}
    with pytest.raises(InvalidInput) as caught:
        checked(settings, {"need_filters": {"trl_min": 3}}, {})
    assert caught.value.details["parameter"] == "need_filters"
    with pytest.raises(InvalidInput) as caught:
        checked(settings, {}, {"max_per_project": 0})
    assert caught.value.details["parameter"] == "max_per_project"
    request = plan_request(settings, {}, {}, locked=(("N1", "P1"),))
    assert request.caps.per_project == 3 and request.locked == (("N1", "P1"),)


# -- planning on the sample with the real model ----------------------------------------------


def _plan(matcher: Matcher, **options) -> tuple[dict[tuple[str, str], float], Plan]:
    request = PlanRequest.build(matcher.settings, max_per_project=1, max_per_need=1, explain=False, **options)
    plan = plan_introductions(matcher, request)
    return {(i.need.id, i.project.id): i.score for i in plan.introductions}, plan


def test_a_struck_pair_the_plan_would_choose_is_not_proposed(copied_matcher):
    chosen, _ = _plan(copied_matcher)
    best = max(chosen, key=chosen.__getitem__)
    again, plan = _plan(copied_matcher, struck=[best])
    assert best not in again and again
    assert plan.diagnostics["excluded_pairs"]["struck"] == 1


def test_a_locked_pair_under_the_floor_is_kept_and_takes_its_projects_place(copied_matcher):
    chosen, _ = _plan(copied_matcher)
    (need, project), _ = max(chosen.items(), key=lambda item: item[1])
    projects = [s.record.id for s in copied_matcher.catalogue.records(Kind.PROJECTS)]
    needs = [s.record.id for s in copied_matcher.catalogue.records(Kind.NEEDS)]
    strengths = pair_strengths(copied_matcher, [(project, other) for other in needs if other != need])
    weak_need = min((other for other in needs if other != need), key=lambda other: strengths[(project, other)])
    assert strengths[(project, weak_need)] < 0.35  # under the floor: the plan alone would never propose it
    again, plan = _plan(copied_matcher, locked=[(weak_need, project)])
    assert (weak_need, project) in again
    assert Counter(p for _, p in again)[project] == 1  # cap 1 per project: the locked pair is its one
    assert Counter(n for n, _ in again)[weak_need] == 1  # and its need's one
    assert (need, project) not in again
    locked = next(i for i in plan.introductions if i.locked)
    assert locked.strength == pytest.approx(strengths[(project, weak_need)], abs=1e-4)
    assert locked.rank_for_need >= 1 and locked.rank_for_project >= 1
    assert plan.diagnostics["locked_pairs"] == 1 and plan.diagnostics["locked_over_caps"] == []
    assert len(projects) > len({p for _, p in again})


def test_locked_pairs_past_a_cap_are_kept_and_reported(copied_matcher):
    _, plan = _plan(copied_matcher, locked=[("N001", "P001"), ("N002", "P001")])
    kept = {(i.need.id, i.project.id) for i in plan.introductions}
    assert {("N001", "P001"), ("N002", "P001")} <= kept
    assert plan.diagnostics["locked_over_caps"] == [{"cap": "max_per_project", "for": "P001", "locked": 2, "limit": 1}]


def test_an_event_re_plans_around_its_locked_and_struck_pairs(copied_matcher):
    store = EventStore(copied_matcher.settings.catalogue_path)
    event = store.create(
        "Materials day", "web:Li Wei", parameters={"max_per_project": 1, "max_per_need": 1, "min_score": 0.35}
    )
    first = plan_event(copied_matcher, store, event.id, "web:Li Wei")
    assert first.plan_id == f"event-{event.id}-1" and first.introductions == first.counts["proposed"] > 2
    pairs = store.pairs(event.id)
    assert all(pair.strength is not None and pair.explanation for pair in pairs)
    struck, locked = pairs[0], pairs[1]
    store.set_state(event.id, *struck.key, PairState.STRUCK, "web:Li Wei", reason="Already partners")
    store.set_state(event.id, *locked.key, PairState.LOCKED, "web:Li Wei")
    second = plan_event(copied_matcher, store, event.id, "web:Li Wei")
    assert second.plan_id == f"event-{event.id}-2"
    assert second.counts["skipped_struck"] == 0 and second.counts["kept_locked"] == 1
    after = {pair.key: pair for pair in store.pairs(event.id)}
    assert after[struck.key].state is PairState.STRUCK and after[struck.key].plan_id == first.plan_id
    assert after[locked.key].state is PairState.LOCKED and after[locked.key].plan_id == second.plan_id
    proposed_projects = Counter(p.project_id for p in after.values() if p.state is not PairState.STRUCK)
    assert max(proposed_projects.values()) == 1
    assert store.get(event.id).plan_diagnostics["struck_pairs"] == 1
