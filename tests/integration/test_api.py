"""The Flask app with the real model, FAISS and SQLite: every endpoint, and every bad request's error."""

from __future__ import annotations

import pytest

from service import create_app
from service.api_keys import ApiKeys


@pytest.fixture
def client(copied_matcher):
    """A client that sends a valid API key with every request (access itself is tested in test_service_access)."""
    app = create_app(copied_matcher.settings, matcher=copied_matcher)
    key, _ = ApiKeys(copied_matcher.settings.catalogue_path).create("api tests")
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = key
    return client


def error_of(response) -> tuple[int, str]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return response.status_code, body["error"]["code"]


def test_health(client):
    body = client.get("/api/v1/health").get_json()
    assert body["status"] == "ok" and body["version"] == "0.1.0"
    assert body["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert body["ranking"] == {
        "method": "hybrid",
        "fusion": "blend",
        "dense_weight": 0.6,
        "feedback_docs": 3,
        "reranker": {"used": False, "reason": "no model has been trained (matcher train-reranker)"},
    }
    assert body["indexes"]["projects"]["records"] == body["indexes"]["projects"]["indexed"] >= 60
    assert body["indexes"]["needs"]["records"] == body["indexes"]["needs"]["indexed"] >= 40


def test_match_free_text_need_to_projects(client):
    response = client.post(
        "/api/v1/match", json={"text": "laser welding porosity in aluminium battery trays", "top_k": 3}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 3 and [m["rank"] for m in body["matches"]] == [1, 2, 3]
    top = body["matches"][0]
    assert top["id"] == "P024"
    assert {"id", "rank", "score", "title", "abstract", "institution", "explanation"} <= set(top)
    terms = [t["term"] for t in top["explanation"]["shared_terms"]]
    assert "aluminium battery trays" in terms or "battery trays" in terms
    occurrence = top["explanation"]["shared_terms"][0]["match_occurrences"][0]
    assert occurrence["field"] in {"title", "abstract"}


def test_match_project_to_needs_with_filters(client):
    body = client.post(
        "/api/v1/match",
        json={
            "text": "frost and ice on wind turbine blades",
            "direction": "project_to_needs",
            "top_k": 2,
            "filters": {"industry": "energy"},
        },
    ).get_json()
    assert body["matches"][0]["id"] == "N003"
    assert all(m["industry"] == "energy" for m in body["matches"])


def test_matches_by_id_both_directions(client):
    body = client.get("/api/v1/needs/N027/matches?top_k=5&min_score=0.2").get_json()
    assert body["matches"][0]["id"] == "P024" and all(m["strength"] >= 0.2 for m in body["matches"])
    assert body["matches"][0]["band"] in ("strong", "possible") and body["no_good_match"] is False
    body = client.get("/api/v1/projects/P024/matches?top_k=3").get_json()
    assert "N027" in [m["id"] for m in body["matches"]]


def test_query_string_filters(client):
    body = client.get("/api/v1/needs/N027/matches?top_k=100&field=automotive&trl_min=5").get_json()
    assert body["matches"] and all("automotive" in m["fields"] and m["trl"] >= 5 for m in body["matches"])
    assert body["count"] == body["candidates"]


def test_get_records(client):
    project = client.get("/api/v1/projects/P024").get_json()
    assert project["id"] == "P024" and "abstract" in project and "metadata" in project
    need = client.get("/api/v1/needs/N005").get_json()
    assert need["language"] == "zh"


def test_post_batch_then_match_it(client):
    batch = [
        {
            "id": "PX1",
            "title": "Hydrogen embrittlement of pipeline steel",
            "abstract": "Testing hydrogen embrittlement in X70 pipeline steel.",
            "trl": 4,
        }
    ]
    response = client.post("/api/v1/projects", json=batch)
    assert response.status_code == 200
    assert response.get_json() == {
        "kind": "projects",
        "source": "request body",
        "records": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
    }
    body = client.post(
        "/api/v1/match", json={"text": "hydrogen embrittlement in pipeline steel", "top_k": 1}
    ).get_json()
    assert body["matches"][0]["id"] == "PX1"


def test_bad_batch_is_rejected_whole_with_every_problem(client):
    before = client.get("/api/v1/health").get_json()["indexes"]
    batch = [
        {"id": "PX2", "title": "Fine", "abstract": "A fine project"},
        {"id": "PX3", "title": "", "abstract": "No title", "trl": 15},
    ]
    response = client.post("/api/v1/projects", json=batch)
    assert error_of(response) == (422, "validation_failed")
    problems = response.get_json()["error"]["details"]["problems"]
    assert [(p["row"], p["field"], p["code"]) for p in problems] == [
        (2, "title", "empty_required_field"),
        (2, "trl", "invalid_trl"),
    ]
    assert client.get("/api/v1/projects/PX2").status_code == 404
    assert client.get("/api/v1/health").get_json()["indexes"] == before


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "expected"),
    [
        ("post", "/api/v1/match", {"data": "{not json", "content_type": "application/json"}, (400, "invalid_json")),
        (
            "post",
            "/api/v1/match",
            {"data": "text=x", "content_type": "application/x-www-form-urlencoded"},
            (415, "unsupported_media_type"),
        ),
        ("post", "/api/v1/match", {"json": ["a list"]}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": 42}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"direction": "need_to_projects"}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "direction": "sideways"}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "top_k": "ten"}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "top_k": 1000}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "min_score": "high"}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "filters": {"colour": "red"}}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "filters": ["field"]}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "filters": {"trl_min": "high"}}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x", "colour": 1}}, (422, "invalid_parameter")),
        ("post", "/api/v1/match", {"json": {"text": "x" * 20_001}}, (413, "payload_too_large")),
        (
            "post",
            "/api/v1/match",
            {"data": "x" * (9 * 1024 * 1024), "content_type": "application/json"},
            (413, "payload_too_large"),
        ),
        ("post", "/api/v1/projects", {"json": {"not": "a list"}}, (422, "validation_failed")),
        (
            "post",
            "/api/v1/projects",
            {"json": [{"id": f"B{i}", "title": "t", "abstract": "a"} for i in range(1001)]},
            (413, "payload_too_large"),
        ),
        ("get", "/api/v1/needs/N404/matches", {}, (404, "not_found")),
        ("get", "/api/v1/projects/P404", {}, (404, "not_found")),
        ("get", "/api/v1/needs/N027/matches?top_k=x", {}, (422, "invalid_parameter")),
        ("get", "/api/v1/needs/N027/matches?min_score=x", {}, (422, "invalid_parameter")),
        ("get", "/api/v1/needs/N027/matches?region=x", {}, (422, "invalid_parameter")),
        ("get", "/api/v1/nowhere", {}, (404, "not_found")),
        ("patch", "/api/v1/projects/P024", {}, (405, "method_not_allowed")),
        ("delete", "/api/v1/projects/NOPE", {}, (404, "not_found")),
        (
            "put",
            "/api/v1/projects/P024",
            {"json": {"id": "P024", "title": "t", "abstract": "a"}},
            (422, "invalid_parameter"),
        ),
    ],
)
def test_bad_requests_get_json_errors(client, method, url, kwargs, expected):
    assert error_of(getattr(client, method)(url, **kwargs)) == expected


def test_mismatched_index_is_503(copied_matcher):
    from matcher.embedding.encoder import SentenceTransformerEmbedder
    from matcher.engine import open as open_matcher

    settings = copied_matcher.settings.replace(model_name="another/model")
    other = open_matcher(settings, embedder=SentenceTransformerEmbedder("another/model", copied_matcher.embedder.path))
    client = create_app(settings, matcher=other).test_client()
    response = client.post("/api/v1/match", json={"text": "laser welding"})
    assert error_of(response) == (503, "index_mismatch")
    assert "matcher index --rebuild" in response.get_json()["error"]["message"]
