"""The real server process (`matcher serve`), called over HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import call, copy_sample, serve


@pytest.fixture(scope="module")
def server(sample_dir, tmp_path_factory) -> Iterator[str]:
    with serve(copy_sample(sample_dir, tmp_path_factory, "served")) as served:
        yield served.api


def test_health_over_http(server):
    status, body = call(f"{server}/health")
    assert status == 200 and body["status"] == "ok"
    assert body["indexes"]["projects"]["indexed"] >= 60


def test_sample_need_returns_ranked_projects_with_shared_keywords(server):
    status, body = call(f"{server}/needs/N027/matches?top_k=5")
    assert status == 200
    assert body["matches"][0]["id"] == "P024"
    assert [m["rank"] for m in body["matches"]] == [1, 2, 3, 4, 5]
    assert body["matches"][0]["score"] >= body["matches"][1]["score"]
    assert len(body["matches"][0]["explanation"]["shared_terms"]) >= 2


def test_free_text_in_chinese_over_http(server):
    text = "我们需要提高人参皂苷提取率，采用绿色溶剂替代乙醇回流"
    status, body = call(f"{server}/match", json.dumps({"text": text, "top_k": 3}, ensure_ascii=False).encode())
    assert status == 200
    top = body["matches"][0]
    assert top["id"] == "P066"
    assert body["matches"][0]["explanation"]["summary"].startswith("共同关键词：")


def test_errors_over_http(server):
    assert call(f"{server}/match", b"{oops")[0] == 400
    status, body = call(f"{server}/match", b"text", content_type="text/plain")
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, body = call(f"{server}/needs/nope/matches")
    assert (status, body["error"]["code"]) == (404, "not_found")
