"""The outcome store: validation naming the field, all-or-nothing imports, latest outcomes, and matches that leave declined pairs out."""

from __future__ import annotations

import sqlite3

import pytest

from matcher.engine import Matcher, open as open_matcher
from matcher.errors import InvalidInput, NotFound, ValidationFailed
from matcher.outcomes.store import AgreementType, DeclineReason, Outcome, OutcomeStatus
from matcher.records import Kind
from tests.unit.test_engine import NEEDS, PROJECTS


@pytest.fixture
def matcher(settings, fake_embedder) -> Matcher:
    engine = open_matcher(settings, embedder=fake_embedder)
    engine.ingest_batch(Kind.PROJECTS, PROJECTS)
    engine.ingest_batch(Kind.NEEDS, NEEDS)
    return engine


def rows_in_table(matcher: Matcher) -> list[tuple]:
    with sqlite3.connect(matcher.settings.catalogue_path) as connection:
        return connection.execute("SELECT * FROM outcomes ORDER BY id").fetchall()


def test_record_stores_every_field_with_author_and_time(matcher):
    outcome = matcher.outcomes.record(
        "P1",
        "N1",
        "agreement",
        author="alice",
        agreement_type="joint_research",
        note=" signed ",
        score=0.71,
        plan_id="plan-1",
    )
    assert outcome.status is OutcomeStatus.AGREEMENT and outcome.agreement_type is AgreementType.JOINT_RESEARCH
    assert (outcome.note, outcome.score, outcome.plan_id, outcome.author) == ("signed", 0.71, "plan-1", "alice")
    assert outcome.recorded_at.endswith("+00:00") and outcome.label is True
    (stored,) = matcher.outcomes.list()
    assert stored == outcome
    assert stored.to_dict() == {
        "id": outcome.id,
        "project_id": "P1",
        "need_id": "N1",
        "status": "agreement",
        "agreement_type": "joint_research",
        "decline_reason": None,
        "note": "signed",
        "score": 0.71,
        "plan_id": "plan-1",
        "author": "alice",
        "recorded_at": outcome.recorded_at,
    }


@pytest.mark.parametrize(("status", "label"), [("contacted", None), ("meeting", True), ("declined", False)])
def test_label_is_positive_negative_or_pending(matcher, status, label):
    reason = "no_budget" if status == "declined" else None
    assert matcher.outcomes.record("P1", "N1", status, author="a", decline_reason=reason).label is label


@pytest.mark.parametrize(
    ("changes", "parameter", "words"),
    [
        (
            {"status": "met"},
            "status",
            "'status' must be one of ['contacted', 'meeting', 'agreement', 'declined'], got 'met'",
        ),
        ({"status": ""}, "status", "'status' is required"),
        ({"project_id": " "}, "project_id", "'project_id' is required"),
        ({"status": "agreement"}, "agreement_type", "An agreement needs 'agreement_type'"),
        ({"status": "agreement", "agreement_type": "merger"}, "agreement_type", "'agreement_type' must be one of"),
        ({"agreement_type": "licence"}, "agreement_type", "'agreement_type' goes only with status 'agreement'"),
        ({"status": "declined"}, "decline_reason", "A decline needs 'decline_reason'"),
        ({"status": "declined", "decline_reason": "boring"}, "decline_reason", "'decline_reason' must be one of"),
        ({"decline_reason": "no_budget"}, "decline_reason", "'decline_reason' goes only with status 'declined'"),
        ({"score": 1.5}, "score", "'score' must be a number from -1 to 1, got 1.5"),
        ({"score": float("nan")}, "score", "'score' must be a number from -1 to 1"),
        ({"note": "x" * 2001}, "note", "'note' has 2001 characters; the limit is 2000"),
        ({"author": ""}, "author", "'author' is required"),
        ({"note": "bad \ud800 text"}, "note", "'note' holds characters that are not valid Unicode"),
        ({"need_id": "N\udfff"}, "need_id", "'need_id' holds characters that are not valid Unicode"),
    ],
)
def test_invalid_outcomes_name_the_parameter_and_store_nothing(matcher, changes, parameter, words):
    values = {"project_id": "P1", "need_id": "N1", "status": "meeting", "author": "alice"} | changes
    with pytest.raises(InvalidInput) as caught:
        matcher.outcomes.record(**values)
    assert caught.value.details == {"parameter": parameter}
    assert words in caught.value.message
    assert rows_in_table(matcher) == []


@pytest.mark.parametrize(
    ("project_id", "need_id", "message"),
    [("P9", "N1", "Project 'P9' does not exist"), ("P1", "N9", "Need 'N9' does not exist")],
)
def test_unknown_records_are_not_found(matcher, project_id, need_id, message):
    with pytest.raises(NotFound, match=message):
        matcher.outcomes.record(project_id, need_id, "meeting", author="alice")
    assert rows_in_table(matcher) == []


def test_spreadsheet_spellings_are_accepted(matcher):
    outcome = matcher.outcomes.record("P1", "N1", "Agreement", author="a", agreement_type="License")
    assert outcome.agreement_type is AgreementType.LICENCE
    outcome = matcher.outcomes.record("P1", "N1", "declined", author="a", decline_reason="too early stage")
    assert outcome.decline_reason is DeclineReason.TOO_EARLY_STAGE


def test_list_filters_and_newest_first(matcher):
    store = matcher.outcomes
    first = store.record("P1", "N1", "contacted", author="a", recorded_at="2024-03-01")
    second = store.record("P2", "N2", "meeting", author="a", recorded_at="2024-03-02T10:00:00+08:00")
    third = store.record("P1", "N2", "declined", author="a", decline_reason="no_budget", recorded_at="2024-03-03")
    assert second.recorded_at == "2024-03-02T02:00:00+00:00"
    assert [o.id for o in store.list()] == [third.id, second.id, first.id]
    assert [o.id for o in store.list(need_id="N2")] == [third.id, second.id]
    assert [o.id for o in store.list(project_id="P1", need_id="N2")] == [third.id]
    assert [o.id for o in store.list(status="contacted")] == [first.id]
    assert [o.id for o in store.list(limit=1)] == [third.id]
    assert len(store.list(limit=10**30)) == 3  # more than SQLite's integers hold: every outcome
    with pytest.raises(InvalidInput) as caught:
        store.list(status="lost")
    assert caught.value.details == {"parameter": "status"}


def test_introduced_and_declined_pairs_follow_the_latest_outcome(matcher):
    store = matcher.outcomes
    store.record("P1", "N1", "declined", author="a", decline_reason="not_relevant", recorded_at="2024-01-01")
    store.record("P2", "N1", "declined", author="a", decline_reason="no_budget", recorded_at="2024-01-01")
    store.record("P3", "N1", "contacted", author="a", recorded_at="2024-01-01")
    store.record("P2", "N2", "declined", author="a", decline_reason="not_relevant", recorded_at="2024-01-01")
    store.record("P2", "N2", "meeting", author="a", recorded_at="2024-02-01")  # they met after all
    assert store.introduced_pairs() == {("P1", "N1"), ("P2", "N1"), ("P3", "N1"), ("P2", "N2")}
    assert store.declined_not_relevant() == {("P1", "N1")}
    assert store.declined_not_relevant_for(Kind.NEEDS, "N1") == {"P1"}
    assert store.declined_not_relevant_for(Kind.PROJECTS, "P1") == {"N1"}
    assert store.declined_not_relevant_for(Kind.NEEDS, "N2") == set()


def test_same_second_outcomes_are_ordered_by_id(matcher):
    store = matcher.outcomes
    store.record("P1", "N1", "meeting", author="a", recorded_at="2024-01-01")
    store.record("P1", "N1", "declined", author="a", decline_reason="not_relevant", recorded_at="2024-01-01")
    assert store.declined_not_relevant() == {("P1", "N1")}


def matched_ids(matcher: Matcher, **request) -> list[str]:
    return [match.record.id for match in matcher.match(matcher.request(top_k=10, explain=False, **request)).matches]


def test_pairs_declined_as_not_relevant_are_not_matched_again(matcher):
    assert "P1" in matched_ids(matcher, record_id="N1")
    assert "N1" in matched_ids(matcher, direction="project_to_needs", record_id="P1")
    candidates = matcher.match(matcher.request(record_id="N1", explain=False)).candidates
    other_need = matched_ids(matcher, record_id="N2")
    matcher.outcomes.record("P1", "N1", "declined", author="a", decline_reason="not_relevant")
    matcher.outcomes.record("P3", "N1", "declined", author="a", decline_reason="no_budget")  # other reasons stay
    assert "P1" not in matched_ids(matcher, record_id="N1")
    assert "P3" in matched_ids(matcher, record_id="N1")
    assert "N1" not in matched_ids(matcher, direction="project_to_needs", record_id="P1")
    assert matcher.match(matcher.request(record_id="N1", explain=False)).candidates == candidates - 1
    filtered = matched_ids(matcher, record_id="N1", filters={"field": "automotive"})
    assert filtered == ["P3"]  # P1 (automotive) is left out, the filter still applies
    assert "P1" in matched_ids(matcher, text="aluminium battery trays laser welding")  # a free text is no pair
    assert "P1" in other_need and matched_ids(matcher, record_id="N2") == other_need  # other needs are unaffected
    matcher.outcomes.record("P1", "N1", "meeting", author="a", note="they met after all")
    assert "P1" in matched_ids(matcher, record_id="N1")


def import_rows(*rows: dict) -> list[tuple[int, dict]]:
    return [(number, row) for number, row in enumerate(rows, start=2)]


def test_record_many_is_all_or_nothing_with_every_problem_named(matcher):
    rows = import_rows(
        {"project_id": "P1", "need_id": "N1", "status": "meeting", "score": "0.7"},
        {"project_id": "P9", "need_id": "N1", "status": "meeting"},
        {"project_id": "P2", "need_id": "N2", "status": "declined", "decline_reason": "", "score": "-2"},
        {"project_id": "P2", "need_id": "N1", "status": "meeting", "colour": "red"},
    )
    with pytest.raises(ValidationFailed) as caught:
        matcher.outcomes.record_many(rows, "outcomes.csv", author="bob")
    problems = [(p.row, p.field, p.code) for p in caught.value.problems]
    assert problems == [
        (3, "project_id", "unknown_project"),
        (4, "decline_reason", "missing_field"),
        (4, "score", "invalid_score"),
        (5, "colour", "unknown_field"),
    ]
    assert "outcomes.csv, row 3, field 'project_id': project 'P9' does not exist" in caught.value.message
    assert rows_in_table(matcher) == []


def test_record_many_stores_rows_with_their_own_author_and_date(matcher):
    rows = import_rows(
        {
            "project_id": "P1",
            "need_id": "N1",
            "status": "agreement",
            "agreement_type": "licence",
            "score": "0.7",
            "recorded_at": "2024-05-01",
        },
        {"project_id": "P2", "need_id": "N1", "status": "contacted", "author": "carol", "score": "", "note": ""},
    )
    stored = matcher.outcomes.record_many(rows, "outcomes.csv", author="bob")
    assert (stored[0].author, stored[0].score, stored[0].recorded_at[:10]) == ("bob", 0.7, "2024-05-01")
    assert (stored[1].author, stored[1].score) == ("carol", None)
    assert matcher.outcomes.list() == sorted(stored, key=lambda o: o.recorded_at, reverse=True)
    assert isinstance(stored[0], Outcome)
