"""The service's edge against hostile input: every request gets a 2xx or a JSON 4xx, private fields stay private.

The inputs are those an outside trial found to cause 500s or to be accepted against the
contract: deep nesting, lone surrogates, NaN, empty query values, integer ids, metadata as a list,
impossible dates, and a 405 without ``Allow`` (a chunked body over the limit needs a real server: tests/e2e/test_server.py).
"""

from __future__ import annotations

import json

import pytest

from matcher.records import Kind
from service.headers import SECURITY_HEADERS
from tests.unit.test_service_access import NEED, PROJECT, code, make_app

PRIVATE_PROJECT = {
    **PROJECT,
    "id": "P9",
    "contact": "li.ming@jlu.edu.cn",
    "metadata": {"Phone": "+86 431 1234 5678", "lab": "optics"},
}
PRIVATE_NEED = {**NEED, "id": "N9", "contact": "wang@faw.example", "budget": "500万元"}


@pytest.fixture
def served(settings, fake_embedder):
    app, matcher, key = make_app(settings, fake_embedder, rate_limit="", write_rate_limit="")
    matcher.ingest_batch(Kind.PROJECTS, [PRIVATE_PROJECT])
    matcher.ingest_batch(Kind.NEEDS, [PRIVATE_NEED])
    return app.test_client(), matcher, {"X-API-Key": key}


def post_raw(client, url: str, data: bytes, headers: dict[str, str] | None = None):
    return client.post(url, data=data, content_type="application/json", headers=headers or {})


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"text": "laser", "filters": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"text": "\\ud800 laser"}',
        b'{"text": "laser", "filters": {"field": "\\udfff"}}',
        b'{"text": "laser", "top_k": NaN}',
        b'{"text": "laser", "min_score": Infinity}',
        b'{"text": "laser", "filters": {"trl_min": 1e999}}',
        b'{"text": "\xff\xfe laser"}',
    ],
    ids=[
        "deep-array",
        "deep-filters",
        "very-deep",
        "surrogate",
        "surrogate-filter",
        "nan",
        "infinity",
        "overflowing-number",
        "bad-utf8",
    ],
)
def test_hostile_json_is_a_400_naming_the_body(served, body):
    client, _, _ = served
    response = post_raw(client, "/api/v1/match", body)
    assert code(response) == (400, "invalid_json")
    assert response.get_json()["error"]["details"]["parameter"] == "body"


@pytest.mark.parametrize("url", ["/api/v1/projects", "/api/v1/needs", "/api/v1/outcomes", "/api/v1/introductions/plan"])
def test_writes_refuse_deep_and_surrogate_bodies_with_a_key(served, url):
    client, matcher, key = served
    before = matcher.catalogue.count(Kind.PROJECTS)
    assert code(post_raw(client, url, b"[" * 1000 + b"]" * 1000, key)) == (400, "invalid_json")
    record = b'[{"id": "P77", "title": "T\\ud800", "abstract": "A"}]'
    assert code(post_raw(client, url, record, key)) == (400, "invalid_json")
    assert matcher.catalogue.count(Kind.PROJECTS) == before


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"id": 5, "title": "T", "abstract": "A"}, "id"),
        ({"id": "P5", "title": "T", "abstract": "A", "metadata": ["a", "list"]}, "metadata"),
        ({"id": "P5", "title": "T", "abstract": "A", "updated": "0000-00-00"}, "updated"),
        ({"id": "P5", "title": "T", "abstract": "A", "trl": "4"}, "trl"),
        ({"id": "P5", "title": "T\x00", "abstract": "A"}, "title"),
        ({"id": "P5", "title": "T", "abstract": "A" * 20_001}, "abstract"),
        ({"id": "P" * 201, "title": "T", "abstract": "A"}, "id"),
    ],
    ids=["integer-id", "metadata-list", "impossible-date", "trl-as-text", "control-character", "long-body", "long-id"],
)
def test_records_against_the_contract_are_refused_by_row_and_field(served, record, field):
    client, matcher, key = served
    response = client.post("/api/v1/projects", json=[PROJECT, record], headers=key)
    assert code(response) == (422, "validation_failed")
    problems = response.get_json()["error"]["details"]["problems"]
    assert {(problem["row"], problem["field"].split(".")[0]) for problem in problems} == {(2, field)}
    assert matcher.get(Kind.PROJECTS, "P1").title == PROJECT["title"]
    assert code(client.get("/api/v1/projects/P5")) == (404, "not_found")


def test_valid_requests_the_contract_allows_are_accepted(served):
    client, _, key = served
    for url in ("/api/v1/needs/N1/matches?field=", "/api/v1/needs/N1/matches?field=&field=automotive"):
        assert client.get(url).status_code == 200, url
    body = {"text": "laser welding", "filters": {"field": "", "trl_min": 7, "trl_max": 3}, "top_k": 3.0}
    response = client.post("/api/v1/match", json=body)
    assert response.status_code == 200 and response.get_json()["candidates"] == 0  # an empty TRL range
    repeated = [{**PROJECT, "id": "P6", "title": "First"}, {**PROJECT, "id": "P6", "title": "Second"}]
    assert client.post("/api/v1/projects", json=repeated, headers=key).status_code == 200
    assert client.get("/api/v1/projects/P6").get_json()["title"] == "Second"  # a batch is upserts in order
    plan = {"max_per_project": 2, "max_per_need": 1, "candidates": 1, "updated_since": "2025-02-28"}
    assert client.post("/api/v1/introductions/plan", json=plan, headers=key).status_code == 202


def test_query_values_the_contract_refuses_are_422s_not_500s(served):
    client, _, key = served
    huge = {"max_per_project": 10**30, "max_per_need": 1}  # past the solver's 64-bit integers
    response = client.post("/api/v1/introductions/plan", json=huge, headers=key)
    assert code(response) == (422, "invalid_parameter")
    assert response.get_json()["error"]["details"]["parameter"] == "max_per_project"
    assert code(client.get("/api/v1/outcomes?status=", headers=key)) == (422, "invalid_parameter")
    assert code(client.get("/api/v1/outcomes?limit=0", headers=key)) == (422, "invalid_parameter")
    assert client.get("/api/v1/outcomes?status=meeting", headers=key).status_code == 200
    wrong = {"project_id": "P1", "need_id": "N1", "status": "meeting", "decline_reason": "other"}
    response = client.post("/api/v1/outcomes", json=wrong, headers=key)
    assert code(response) == (422, "invalid_parameter")
    assert response.get_json()["error"]["details"]["parameter"] == "decline_reason"


def test_a_405_says_which_methods_the_path_takes(served):
    client, _, _ = served
    response = client.patch("/api/v1/projects/P1")
    assert code(response) == (405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}


def test_every_response_carries_the_security_headers(served):
    client, _, _ = served
    for path in ("/", "/api/v1/health", "/nowhere", "/static/app.js"):
        response = client.get(path)
        response.close()  # a file answer holds its file open until closed
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (path, name)
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]


def test_public_answers_leave_out_private_fields_and_a_staff_key_shows_them(served):
    client, _, key = served
    public = [
        client.get("/api/v1/projects/P9").get_json(),
        client.get("/api/v1/needs/N9").get_json(),
        client.get("/api/v1/needs/N9/matches?top_k=5").get_json(),
        client.get("/api/v1/projects/P9/matches?top_k=5").get_json(),
        client.post("/api/v1/match", json={"text": "aluminium battery trays laser welding"}).get_json(),
    ]
    text = json.dumps(public, ensure_ascii=False)
    for secret in ("li.ming@jlu.edu.cn", "wang@faw.example", "500万元", "+86 431"):
        assert secret not in text
    assert public[0]["metadata"] == {"lab": "optics"}
    assert "contact" not in public[0] and "budget" not in public[1]
    staff = client.get("/api/v1/needs/N9", headers=key).get_json()
    assert (staff["contact"], staff["budget"]) == ("wang@faw.example", "500万元")
    staff_project = client.get("/api/v1/projects/P9", headers=key).get_json()
    assert staff_project["metadata"]["Phone"] == "+86 431 1234 5678"
    assert code(client.get("/api/v1/needs/N9", headers={"X-API-Key": "tm_forged"})) == (401, "unauthorized")


def test_private_fields_are_a_setting(settings, fake_embedder):
    app, matcher, _ = make_app(settings, fake_embedder, private_fields="")
    matcher.ingest_batch(Kind.NEEDS, [PRIVATE_NEED])
    assert app.test_client().get("/api/v1/needs/N9").get_json()["contact"] == "wang@faw.example"
