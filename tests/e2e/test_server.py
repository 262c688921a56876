"""The real server process (`matcher serve`), called over HTTP on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def server(sample_dir, tmp_path_factory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("served") / "var"
    shutil.copytree(sample_dir, data_dir)
    port = free_port()
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "MATCHER_SHOW_PROGRESS": "false"}
    log_path = data_dir.parent / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--data-dir", str(data_dir), "serve", "--port", str(port)],
        cwd=REPO,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
            try:
                if call(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /health within 120 s")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


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
