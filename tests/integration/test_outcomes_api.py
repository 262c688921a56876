"""Outcomes through the Flask app on the sample data: keys, authors, errors, and declined pairs leaving the matches."""

from __future__ import annotations

import logging

import pytest

from service import create_app
from service.api_keys import ApiKeys

KEY_NAME = "event staff"


@pytest.fixture
def app_and_key(copied_matcher):
    app = create_app(copied_matcher.settings, matcher=copied_matcher)
    key, _ = ApiKeys(copied_matcher.settings.catalogue_path).create(KEY_NAME)
    return app, key


def error_of(response) -> tuple[int, str, dict]:
    body = response.get_json()
    assert set(body) == {"error"}
    return response.status_code, body["error"]["code"], body["error"]["details"]


def test_recording_needs_a_key_and_stores_nothing_without_one(app_and_key, copied_matcher):
    app, _ = app_and_key
    client = app.test_client()
    body = {"project_id": "P024", "need_id": "N027", "status": "meeting"}
    assert error_of(client.post("/api/v1/outcomes", json=body))[:2] == (401, "unauthorized")
    assert error_of(client.post("/api/v1/outcomes", json=body, headers={"X-API-Key": "tm_wrong"}))[:2] == (
        401,
        "unauthorized",
    )
    assert copied_matcher.outcomes.list() == []


def test_the_author_is_the_key_name_and_the_key_is_never_logged(app_and_key, copied_matcher, caplog):
    caplog.set_level(logging.DEBUG)
    app, key = app_and_key
    body = {
        "project_id": "P024",
        "need_id": "N027",
        "status": "agreement",
        "agreement_type": "licence",
        "note": "licence signed at the fair",
        "score": 0.74,
        "plan_id": "fair-2024",
    }
    response = app.test_client().post("/api/v1/outcomes", json=body, headers={"X-API-Key": key})
    assert response.status_code == 201
    stored = response.get_json()
    assert stored["author"] == KEY_NAME
    assert {name: stored[name] for name in body} == body
    assert stored["decline_reason"] is None and stored["recorded_at"].endswith("+00:00")
    (outcome,) = copied_matcher.outcomes.list()
    assert outcome.to_dict() == stored
    assert key not in caplog.text


def test_the_author_cannot_be_given_in_the_body(app_and_key):
    app, key = app_and_key
    body = {"project_id": "P024", "need_id": "N027", "status": "meeting", "author": "someone else"}
    assert error_of(app.test_client().post("/api/v1/outcomes", json=body, headers={"X-API-Key": key})) == (
        422,
        "invalid_parameter",
        {"parameter": "author"},
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"need_id": "N027", "status": "meeting"}, (422, "invalid_parameter", "project_id")),
        ({"project_id": "P024", "need_id": "N027", "status": "won"}, (422, "invalid_parameter", "status")),
        (
            {"project_id": "P024", "need_id": "N027", "status": "agreement"},
            (422, "invalid_parameter", "agreement_type"),
        ),
        ({"project_id": "P024", "need_id": "N027", "status": "declined"}, (422, "invalid_parameter", "decline_reason")),
        (
            {"project_id": "P024", "need_id": "N027", "status": "meeting", "decline_reason": "no_budget"},
            (422, "invalid_parameter", "decline_reason"),
        ),
        (
            {"project_id": "P024", "need_id": "N027", "status": "meeting", "score": 2},
            (422, "invalid_parameter", "score"),
        ),
        (
            {"project_id": "P024", "need_id": "N027", "status": "meeting", "score": "0.5"},
            (422, "invalid_parameter", "score"),
        ),
        ({"project_id": "P404", "need_id": "N027", "status": "meeting"}, (404, "not_found", "project_id")),
        ({"project_id": "P024", "need_id": "N404", "status": "meeting"}, (404, "not_found", "need_id")),
    ],
)
def test_bad_outcomes_name_the_parameter(app_and_key, copied_matcher, body, expected):
    app, key = app_and_key
    status, code, details = error_of(app.test_client().post("/api/v1/outcomes", json=body, headers={"X-API-Key": key}))
    assert (status, code, details["parameter"]) == expected
    assert copied_matcher.outcomes.list() == []


def test_list_filters_by_need_project_and_status(app_and_key, copied_matcher):
    app, key = app_and_key
    client = app.test_client()
    for body in (
        {"project_id": "P024", "need_id": "N027", "status": "contacted"},
        {"project_id": "P015", "need_id": "N001", "status": "meeting"},
        {"project_id": "P032", "need_id": "N027", "status": "declined", "decline_reason": "no_budget"},
    ):
        assert client.post("/api/v1/outcomes", json=body, headers={"X-API-Key": key}).status_code == 201
    assert client.get("/api/v1/outcomes").status_code == 401  # staff notes: never public
    client.environ_base["HTTP_X_API_KEY"] = key
    everything = client.get("/api/v1/outcomes").get_json()
    assert everything["count"] == 3 and [o["project_id"] for o in everything["outcomes"]] == ["P032", "P015", "P024"]
    assert [o["project_id"] for o in client.get("/api/v1/outcomes?need_id=N027").get_json()["outcomes"]] == [
        "P032",
        "P024",
    ]
    assert [o["need_id"] for o in client.get("/api/v1/outcomes?project_id=P015").get_json()["outcomes"]] == ["N001"]
    assert [o["status"] for o in client.get("/api/v1/outcomes?status=declined").get_json()["outcomes"]] == ["declined"]
    assert client.get("/api/v1/outcomes?limit=1").get_json()["count"] == 1
    assert client.get("/api/v1/outcomes?need_id=N404").get_json() == {"count": 0, "outcomes": []}
    assert error_of(client.get("/api/v1/outcomes?status=won"))[::2] == (
        422,
        {"parameter": "status", "valid": ["contacted", "meeting", "agreement", "declined"]},
    )
    assert error_of(client.get("/api/v1/outcomes?limit=0"))[::2] == (422, {"parameter": "limit"})
    assert error_of(client.get("/api/v1/outcomes?colour=red"))[2]["parameter"] == "colour"


def test_listing_needs_a_key_when_reads_are_not_public(copied_matcher):
    settings = copied_matcher.settings.replace(public_reads=False)
    copied_matcher.settings = settings
    app = create_app(settings, matcher=copied_matcher)
    key, _ = ApiKeys(copied_matcher.settings.catalogue_path).create("reader")
    client = app.test_client()
    assert error_of(client.get("/api/v1/outcomes"))[:2] == (401, "unauthorized")
    assert client.get("/api/v1/outcomes", headers={"X-API-Key": key}).get_json() == {"count": 0, "outcomes": []}


def test_a_pair_declined_as_not_relevant_leaves_the_need_s_matches(app_and_key):
    app, key = app_and_key
    client = app.test_client()
    before = [m["id"] for m in client.get("/api/v1/needs/N027/matches?top_k=5&explain=false").get_json()["matches"]]
    assert before[0] == "P024"
    body = {"project_id": "P024", "need_id": "N027", "status": "declined", "decline_reason": "not_relevant"}
    assert client.post("/api/v1/outcomes", json=body, headers={"X-API-Key": key}).status_code == 201
    after = [m["id"] for m in client.get("/api/v1/needs/N027/matches?top_k=5&explain=false").get_json()["matches"]]
    assert (
        "P024" not in after and len(after) == 5
    )  # the rest shift up (their fused scores are relative to the candidates)
    projects_matches = client.get("/api/v1/projects/P024/matches?top_k=100&explain=false").get_json()["matches"]
    assert "N027" not in [m["id"] for m in projects_matches]
    text = client.post(
        "/api/v1/match", json={"text": "laser welding porosity in aluminium battery trays", "top_k": 3}
    ).get_json()
    assert text["matches"][0]["id"] == "P024"  # a free text is no pair: nothing to leave out
