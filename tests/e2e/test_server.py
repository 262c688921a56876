"""The real server process (`matcher serve`), called over HTTP on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
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


def _raw(server: str, request: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes to the server; its answer's head and body."""
    host, port = server.removeprefix("http://").split("/", 1)[0].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered before the whole body came
            sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # an answer sent before the body was read, then a reset
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_a_chunked_body_over_the_limit_is_a_413_and_hostile_json_a_400(server):
    chunk = b"a" * 1_000_000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(9)) + b"0\r\n\r\n"
    head, body = _raw(
        server,
        b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nX-API-Key: tm_none\r\nConnection: close\r\n\r\n" + chunks,
    )
    assert head.split(b" ", 2)[1] in {b"401", b"413"}  # the key is checked first, or the size
    head, body = _raw(
        server,
        b"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks,
    )
    assert head.startswith(b"HTTP/1.1 413") and json.loads(body)["error"]["code"] == "payload_too_large"
    head, body = _raw(
        server,
        b"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"]["code"] == "bad_request"  # bad framing
    small = b'{"text": "laser welding", "top_k": 2}'
    head, body = _raw(
        server,
        b"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(small), small),
    )
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["count"] == 2  # a chunked body is read whole
    for hostile in (b"[" * 5000 + b"]" * 5000, b'{"text": "\\ud800"}'):
        status, answer = call(f"{server}/match", hostile)
        assert (status, answer["error"]["code"]) == (400, "invalid_json")


def test_errors_over_http(server):
    assert call(f"{server}/match", b"{oops")[0] == 400
    status, body = call(f"{server}/match", b"text", content_type="text/plain")
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, body = call(f"{server}/needs/nope/matches")
    assert (status, body["error"]["code"]) == (404, "not_found")
