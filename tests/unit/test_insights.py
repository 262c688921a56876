"""The dashboard's computations: funnel stages from outcomes, market pull, supply gaps, histograms, agreements."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.config import load_settings
from matcher.introductions import insights
from matcher.introductions.insights import InsightCache, PlannedEvent, StrongMatches
from matcher.introductions.scoring import PairStrengths
from matcher.outcomes.store import Outcome, OutcomeStatus
from matcher.records import Kind, Record
from matcher.strength.model import Band

HOME = insights.home_names("Changchun, 长春,Jilin")


def outcome(need: str, project: str, status: str, at: str = "2026-03-05T10:00:00+00:00", plan: str | None = None):
    return Outcome(
        project_id=project,
        need_id=need,
        status=OutcomeStatus(status),
        agreement_type=None,
        decline_reason=None,
        note="",
        score=None,
        plan_id=plan,
        author="test",
        recorded_at=at,
        id=0,
    )


EVENT = PlannedEvent(1, "Spring fair", (("N1", "P1"), ("N2", "P1"), ("N3", "P2"), ("N4", "P3")), frozenset({"plan-a"}))
OTHER = PlannedEvent(2, "Autumn fair", (("N1", "P1"), ("N5", "P4")), frozenset({"plan-b"}))


def test_a_pair_counts_at_its_furthest_stage_and_every_stage_before():
    outcomes = [
        outcome("N1", "P1", "contacted", "2026-01-02T00:00:00+00:00"),
        outcome("N1", "P1", "agreement", "2026-02-02T00:00:00+00:00"),
        outcome("N1", "P1", "declined", "2026-03-02T00:00:00+00:00"),  # later than the agreement: still agreed
        outcome("N2", "P1", "meeting"),
        outcome("N3", "P2", "declined"),  # a decline came after a contact
    ]
    (funnel,) = insights.event_funnels([EVENT], outcomes)
    assert funnel.counts == (4, 3, 2, 1)
    assert insights.overall_funnel([EVENT], outcomes).counts == (4, 3, 2, 1)


def test_an_outcome_of_another_events_plan_does_not_count_but_one_without_a_plan_counts_for_both():
    outcomes = [outcome("N1", "P1", "meeting", plan="plan-b"), outcome("N5", "P4", "contacted")]
    spring, autumn = insights.event_funnels([EVENT, OTHER], outcomes)
    assert spring.counts == (4, 0, 0, 0)
    assert autumn.counts == (2, 2, 1, 0)
    plan_job = [outcome("N1", "P1", "agreement", plan="job-123")]  # a plan of no event: counts where the pair is
    assert [f.counts for f in insights.event_funnels([EVENT, OTHER], plan_job)] == [(4, 1, 1, 1), (2, 1, 1, 1)]


def test_the_overall_funnel_counts_a_pair_once_and_outcomes_outside_any_event():
    outcomes = [outcome("N9", "P9", "agreement"), outcome("N1", "P1", "contacted")]
    assert insights.overall_funnel([EVENT, OTHER], outcomes).counts == (6, 2, 1, 1)
    assert insights.overall_funnel([], []).empty


def test_the_funnel_by_month_counts_when_each_stage_was_first_reached_and_fills_empty_months():
    outcomes = [
        outcome("N1", "P1", "contacted", "2025-11-20T09:00:00+00:00"),
        outcome("N1", "P1", "agreement", "2026-01-03T09:00:00+00:00"),
        outcome("N2", "P1", "meeting", "2026-01-31T23:00:00+00:00"),
        outcome("N2", "P1", "meeting", "2026-02-01T00:00:00+00:00"),  # reached already
    ]
    months = insights.funnel_by_month(outcomes)
    assert [(m.month, m.counts) for m in months] == [
        ("2025-11", (1, 0, 0)),
        ("2025-12", (0, 0, 0)),
        ("2026-01", (1, 2, 1)),
    ]
    assert insights.funnel_by_month([]) == []


def need(identifier: str, industry: str, region: str, deadline: str = "") -> Record:
    attributes = {"industry": industry, "region": region, "enterprise": f"{identifier} Co."}
    if deadline:
        attributes["deadline"] = deadline
    return Record(Kind.NEEDS, identifier, f"title {identifier}", "text", attributes)


def project(identifier: str, institution: str = "Uni", fields: list[str] | None = None, language: str = "en"):
    return Record(
        Kind.PROJECTS,
        identifier,
        f"project {identifier}",
        "text",
        {"institution": institution, "fields": fields or ["energy"], "language": language},
    )


@pytest.fixture
def matches() -> StrongMatches:
    needs = {
        1: need("N1", "energy", "长春市"),
        2: need("N2", "energy", "Harbin"),
        3: need("N3", "automotive", "Jilin City"),
        4: need("N4", "automotive", "Dalian"),
        5: need("N5", "", "Changchun", deadline="2026-01-01"),  # closed
        6: need("N6", "optics", "Shenyang"),
    }
    projects = {10: project("P1"), 11: project("P2"), 12: project("P3")}
    strong = {10: {1: 0.9, 2: 0.8, 4: 0.7}, 11: {3: 0.95, 5: 0.9}, 12: {5: 0.91}}
    best = {1: (10, 0.9), 2: (10, 0.8), 3: (11, 0.95), 4: (10, 0.7), 5: (11, 0.9), 6: (12, 0.3)}
    return StrongMatches(needs, projects, strong, best, frozenset({1, 2, 3, 4, 5}))


def test_market_pull_counts_open_needs_by_industry_and_region_with_local_projects_first(matches):
    pulls = insights.market_pull(matches, HOME, today="2026-06-01")
    assert [(p.project_id, p.local, p.elsewhere) for p in pulls] == [("P1", 1, 2), ("P2", 1, 0)]  # P3: closed only
    first = pulls[0]
    assert first.by_industry == {"energy": 2, "automotive": 1}
    assert first.by_region == {"长春市": 1, "Harbin": 1, "Dalian": 1}
    assert first.need_ids == ("N1", "N2", "N4")  # best first
    assert first.total == 3


def test_supply_gaps_are_the_open_needs_without_a_strong_project(matches):
    gaps = insights.supply_gaps(matches, HOME, today="2026-06-01")
    assert [(g.need_id, g.industry, g.local, g.best_project_id, g.best_strength) for g in gaps] == [
        ("N6", "optics", False, "P3", 0.3)
    ]
    assert insights.gaps_by_industry(gaps) == [("optics", 1)]
    later = insights.supply_gaps(matches, HOME, today="2027-01-01")
    assert [g.need_id for g in later] == ["N6"]  # no deadline: still open


def test_local_means_the_region_contains_a_home_name_and_empty_regions_are_not_local():
    assert insights.is_local(need("N", "x", "吉林省长春市"), insights.home_names("Changchun,长春"))
    assert insights.is_local(need("N", "x", "CHANGCHUN"), insights.home_names("changchun"))
    assert not insights.is_local(need("N", "x", ""), insights.home_names("Changchun"))
    assert insights.home_names(" , ,") == ()


def test_the_home_region_is_a_setting():
    assert insights.home_names(load_settings(environ={}).home_region) == ("changchun", "长春", "jilin", "吉林")
    chosen = load_settings(environ={"MATCHER_HOME_REGION": "Harbin,哈尔滨"}).home_region
    assert insights.home_names(chosen) == ("harbin", "哈尔滨")


def test_the_histogram_bins_strengths_and_counts_pairs_without_one():
    event = PlannedEvent(3, "e", (("a", "b"),) * 5, strengths=(0.05, 0.35, 0.39, 1.0, None), min_score=0.35)
    histogram = insights.strength_histogram(event)
    assert histogram.edges[0] == 0.0 and histogram.edges[-1] == 1.0 and len(histogram.counts) == 10
    assert histogram.counts == (1, 0, 0, 2, 0, 0, 0, 0, 0, 1)
    assert histogram.unscored == 1 and histogram.total == 5 and histogram.floor == 0.35


def test_agreements_count_each_field_of_the_project_its_institution_and_the_language_pair():
    needs = {"N1": need("N1", "energy", "x"), "N2": need("N2", "energy", "x")}
    projects = {
        "P1": project("P1", "Uni A", ["energy", "new materials"]),
        "P2": project("P2", "Uni B", ["energy"], language=""),
    }
    outcomes = [
        outcome("N1", "P1", "agreement"),
        outcome("N2", "P2", "meeting"),
        outcome("N2", "P2", "agreement"),
        outcome("N1", "P2", "meeting"),  # not an agreement
    ]
    result = insights.agreements(
        outcomes, needs, projects, {(Kind.NEEDS, "N1"): "zh", (Kind.NEEDS, "N2"): "en", (Kind.PROJECTS, "P2"): "zh"}
    )
    assert result.pairs == 2
    assert result.by_field == [("energy", 2), ("new materials", 1)]
    assert result.by_institution == [("Uni A", 1), ("Uni B", 1)]
    assert result.by_language == [("en → zh", 1), ("zh → en", 1)]  # N1 has no language field: the detected one


# -- all-pairs strong matches on the real sample ----------------------------------------------


def test_strong_matches_are_the_pairs_in_the_strong_band_whatever_the_block_size(sample_matcher):
    whole = insights.strong_matches(sample_matcher)
    blocked = insights.strong_matches(sample_matcher, block=7)
    assert whole.strong == blocked.strong and whole.best == blocked.best
    assert len(whole.needs) == 56 and len(whole.projects) == 66
    need_keys = np.asarray(sorted(whole.needs), dtype=np.int64)
    project_keys = np.asarray(sorted(whole.projects), dtype=np.int64)
    matrix = PairStrengths(sample_matcher)(need_keys, project_keys)
    model = sample_matcher.strength
    bands = {band for kind in model.bands for band in [model.bands[kind].strong]}
    assert len(bands) == 1  # the shipped model draws one line for every kind of pair
    (line,) = bands
    expected = {
        int(project_keys[c]): {int(need_keys[r]) for r in np.flatnonzero(matrix[:, c] >= line)}
        for c in range(len(project_keys))
    }
    assert {p: set(n) for p, n in whole.strong.items()} == {p: n for p, n in expected.items() if n}
    assert all(model.band(s, next(iter(model.bands))) is Band.STRONG for n in whole.strong.values() for s in n.values())
    row = int(np.argmax(matrix.max(axis=1)))
    assert whole.best[int(need_keys[row])][1] == pytest.approx(float(matrix[row].max()))
    assert 0 < len(whole.strong_needs) < 56  # some needs have a strong project, and the sample has needs none fits


def test_the_cache_scores_once_per_catalogue_revision(copied_matcher):
    cache = InsightCache()
    first = cache.get(copied_matcher)
    assert cache.get(copied_matcher) is first and cache.computed == 1
    record = copied_matcher.get(Kind.NEEDS, "N001")
    changed = Record(Kind.NEEDS, record.id, record.title, record.body + " Also laser welding.", record.attributes)
    copied_matcher.ingest_records(Kind.NEEDS, [changed], "test")
    assert cache.get(copied_matcher) is not first and cache.computed == 2


def test_a_big_catalogue_is_scored_behind_and_kept(copied_matcher):
    cache = InsightCache()
    assert cache.get_or_start(copied_matcher) is None  # not scored yet: started behind
    cache.wait(timeout=300)
    ready = cache.get_or_start(copied_matcher)
    assert ready is not None and cache.computed == 1
    assert cache.get(copied_matcher) is ready
    assert insights.pair_count(copied_matcher) == 56 * 66
