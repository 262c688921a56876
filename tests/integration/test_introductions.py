"""Introduction plans on the sample data with the real model: every cap and conflict checked on the output."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from matcher.introductions.conflicts import normalise, rules_from_objects
from matcher.introductions.planner import PlanRequest, plan_introductions
from matcher.introductions.scoring import pair_strengths
from matcher.records import Kind
from service import create_app
from service.api_keys import ApiKeys
from service.cli import main

CONFLICTS = [
    {"project": "Northeast Automotive University", "need": "Changbai Auto Parts Co., Ltd."},
    {"project": "Xu Min", "need": "@dlowstructures.example.com"},
]
CAPS = {
    "max_per_project": 2,
    "max_per_need": 2,
    "max_per_enterprise": 3,
    "max_per_institution": 4,
    "max_per_need_institution": 1,
    "min_score": 0.4,
}


@pytest.fixture
def planned(copied_matcher):
    """A plan under every kind of constraint, after recording one decline and one introduction."""
    matcher = copied_matcher
    # A need posted by a university that also has projects: its own projects must not be proposed.
    matcher.ingest_batch(
        Kind.NEEDS,
        [
            {
                "id": "N900",
                "title": "Radar perception in snow for our campus shuttle",
                "description": "We run a logistics shuttle and need 4D imaging radar and camera fusion that keeps "
                "detecting vehicles in heavy snow when lane markings disappear.",
                "enterprise": "Northeast Automotive University",
                "contact": "Fleet office <fleet@neau.example.edu>",
            }
        ],
    )
    matcher.outcomes.record(
        project_id="P015", need_id="N001", status="declined", decline_reason="not_relevant", author="staff"
    )
    matcher.outcomes.record(project_id="P026", need_id="N003", status="contacted", author="staff")
    request = PlanRequest.build(matcher.settings, conflicts=rules_from_objects(CONFLICTS), **CAPS)
    return matcher, plan_introductions(matcher, request)


def test_plan_keeps_every_cap_floor_and_conflict(planned):
    matcher, plan = planned
    rows = plan.to_dict()["introductions"]
    # No weak pair is proposed: every row reaches its pair kind's "possible" band (39 on the sample).
    assert len(rows) >= 30
    assert min(r["score"] for r in rows) >= min(bands.possible for bands in matcher.strength.bands.values())
    projects = {r.id: r for r in (s.record for s in matcher.catalogue.records(Kind.PROJECTS))}
    needs = {r.id: r for r in (s.record for s in matcher.catalogue.records(Kind.NEEDS))}
    assert max(Counter(r["project_id"] for r in rows).values()) <= 2
    assert max(Counter(r["need_id"] for r in rows).values()) <= 2
    assert max(Counter(normalise(r["need_enterprise"]) for r in rows).values()) <= 3
    assert max(Counter(normalise(r["project_institution"]) for r in rows).values()) <= 4
    assert max(Counter((r["need_id"], normalise(r["project_institution"])) for r in rows).values()) <= 1
    assert min(r["score"] for r in rows) >= 0.4
    pairs = {(r["project_id"], r["need_id"]) for r in rows}
    assert ("P015", "N001") not in pairs and ("P026", "N003") not in pairs  # declined; introduced before
    for r in rows:
        assert normalise(r["project_institution"]) != normalise(r["need_enterprise"])
        assert not (
            r["project_institution"] == "Northeast Automotive University"
            and r["need_enterprise"] == "Changbai Auto Parts Co., Ltd."
        )
        assert not ("Xu Min" in r["project_contact"] and "dlowstructures.example.com" in r["need_contact"])
        assert r["project_contact"] == projects[r["project_id"]].attributes["contact"]
        assert r["need_contact"] == needs[r["need_id"]].attributes.get("contact", "")
    reasons = plan.diagnostics["excluded_pairs"]
    assert reasons["same_party"] >= 4 and reasons["conflicts_file"] >= 2  # N900 against its university's projects
    assert reasons["declined_not_relevant"] == 1 and reasons["introduced_before"] == 1
    project_ids = list(projects)
    similarities = pair_strengths(matcher, [(p, "N900") for p in project_ids])
    best = max(project_ids, key=lambda p: similarities[(p, "N900")])
    assert best == "P002" and similarities[(best, "N900")] > 0.5  # its own university's project: left out
    assert all(r["project_institution"] != "Northeast Automotive University" for r in rows if r["need_id"] == "N900")


def test_plan_scores_ranks_and_explanations_are_the_pairs_own(planned):
    matcher, plan = planned
    rows = plan.to_dict()["introductions"][:6]
    need_id = rows[0]["need_id"]
    project_ids = [s.record.id for s in matcher.catalogue.records(Kind.PROJECTS)]
    similarities = pair_strengths(matcher, [(p, need_id) for p in project_ids])
    for row in (r for r in rows if r["need_id"] == need_id):
        own = similarities[(row["project_id"], need_id)]
        assert row["score"] == pytest.approx(own, abs=1e-4)
        assert row["rank_for_need"] == 1 + sum(value > own for value in similarities.values())
    summaries = {
        match.record.id: match.explanation.summary
        for match in matcher.match(matcher.request(direction="need_to_projects", record_id=need_id, top_k=66)).matches
    }
    for row in (r for r in rows if r["need_id"] == need_id):
        assert row["explanation"] and row["explanation"] == summaries[row["project_id"]]


def test_flow_plan_totals_at_least_the_greedy_plan(copied_matcher):
    totals = {}
    for solver in ("flow", "greedy"):
        request = PlanRequest.build(
            copied_matcher.settings, max_per_project=1, max_per_need=1, solver=solver, explain=False
        )
        totals[solver] = plan_introductions(copied_matcher, request).total_score
    assert totals["flow"] >= totals["greedy"] - 1e-6


def test_filters_and_dates_narrow_the_scope(copied_matcher):
    request = PlanRequest.build(
        copied_matcher.settings,
        max_per_project=1,
        max_per_need=1,
        need_filters={"industry": "energy"},
        project_filters={"trl_min": 5},
        updated_since="2025-01-01",
        explain=False,
    )
    plan = plan_introductions(copied_matcher, request)
    needs = copied_matcher.catalogue.by_ids(Kind.NEEDS, [i.need.id for i in plan.introductions])
    assert plan.introductions and all(record.attributes["industry"] == "energy" for record in needs.values())
    assert all(
        i.project.attributes["trl"] >= 5 and i.project.attributes["updated"] >= "2025-01-01" for i in plan.introductions
    )
    catalogue = copied_matcher.catalogue
    assert plan.diagnostics["needs_in_scope"] < catalogue.count(Kind.NEEDS)
    assert plan.diagnostics["projects_in_scope"] < catalogue.count(Kind.PROJECTS)


def test_an_empty_plan_says_why(copied_matcher):
    plan = plan_introductions(
        copied_matcher, PlanRequest.build(copied_matcher.settings, max_per_project=1, max_per_need=1, min_score=1.0)
    )
    assert plan.introductions == [] and "No pair reaches min_score 1 " in plan.diagnostics["empty_reason"]
    plan = plan_introductions(
        copied_matcher,
        PlanRequest.build(
            copied_matcher.settings, max_per_project=1, max_per_need=1, need_filters={"region": "Atlantis"}
        ),
    )
    assert "No needs are in scope" in plan.diagnostics["empty_reason"]


def test_cli_writes_csv_and_xlsx_and_names_bad_parameters(copied_settings, tmp_path):
    conflicts = tmp_path / "conflicts.csv"
    conflicts.write_text(
        "project,need\n" + "\n".join(f'"{c["project"]}","{c["need"]}"' for c in CONFLICTS) + "\n", encoding="utf-8"
    )
    base = [
        "--quiet",
        "--data-dir",
        str(copied_settings.data_dir),
        "introduce",
        "--max-per-project",
        "3",
        "--max-per-need",
        "2",
        "--conflicts",
        str(conflicts),
    ]
    result = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "plan.csv")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with (tmp_path / "plan.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert {"project_id", "need_id", "score", "project_institution", "need_enterprise", "explanation"} <= set(rows[0])
    assert (
        max(Counter(r["project_id"] for r in rows).values()) <= 3
        and max(Counter(r["need_id"] for r in rows).values()) <= 2
    )
    assert f"{len(rows)} introductions" in result.output
    result = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "plan.xlsx"), "--json"], catch_exceptions=False)
    assert json.loads(result.stdout)["count"] == len(rows)
    assert len(list(load_workbook(tmp_path / "plan.xlsx")["introductions"].values)) == len(rows) + 1
    bad = CliRunner().invoke(
        main, [*base[:-6], "--max-per-project", "0", "--max-per-need", "1", "--out", str(tmp_path / "x.csv")]
    )
    assert bad.exit_code == 1 and "'max_per_project' must be a whole number from 1 to 1,000,000, got 0" in bad.output
    assert not (tmp_path / "x.csv").exists()
    missing = CliRunner().invoke(
        main, [*base[:-2], "--conflicts", str(tmp_path / "none.csv"), "--out", str(tmp_path / "y.csv")]
    )
    assert missing.exit_code == 1 and "none.csv" in missing.output


def _wait(client, location: str) -> dict:
    for _ in range(600):
        body = client.get(location).get_json()
        if body["state"] in {"done", "failed"}:
            return body
        time.sleep(0.1)
    raise AssertionError(f"the plan job never finished: {body}")


def test_api_plan_job_runs_reports_and_exports(copied_matcher):
    app = create_app(copied_matcher.settings, matcher=copied_matcher)
    key, _ = ApiKeys(copied_matcher.settings.catalogue_path).create("event staff")
    client = app.test_client()
    assert client.post("/api/v1/introductions/plan", json={"max_per_project": 1, "max_per_need": 1}).status_code == 401
    client.environ_base["HTTP_X_API_KEY"] = key
    response = client.post("/api/v1/introductions/plan", json={**CAPS, "conflicts": CONFLICTS})
    assert response.status_code == 202 and response.get_json()["author"] == "event staff"
    body = _wait(client, response.headers["Location"])
    assert body["state"] == "done" and body["error"] is None
    expected = plan_introductions(
        copied_matcher, PlanRequest.build(copied_matcher.settings, conflicts=rules_from_objects(CONFLICTS), **CAPS)
    )
    result = body["result"]
    assert result["count"] == len(expected.introductions) and result["total_score"] == pytest.approx(
        expected.total_score, abs=1e-3
    )
    assert {(r["project_id"], r["need_id"]) for r in result["introductions"]} == {
        (i.project.id, i.need.id) for i in expected.introductions
    }
    exported = client.get(f"{response.headers['Location']}/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert len(exported.data.decode("utf-8-sig").strip().splitlines()) == result["count"] + 1
    assert client.get(f"{response.headers['Location']}/export.xlsx").data[:2] == b"PK"
    bad = client.post("/api/v1/introductions/plan", json={"max_per_project": 0, "max_per_need": 1})
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["parameter"] == "max_per_project"
    bad = client.post(
        "/api/v1/introductions/plan", json={"max_per_project": 1, "max_per_need": 1, "need_filters": {"regio": "x"}}
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["parameter"] == "need_filters.regio", (
        bad.get_json()
    )
    assert client.get("/api/v1/introductions/plan/nope").status_code == 404
