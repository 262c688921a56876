"""The production layout under a slow-client attack: nginx (configured by `matcher proxy-config`) in front of gunicorn.

Fifty connections send headers and part of a body, or part of the headers, and then stall. While
they are held open, health probes and matches through nginx keep answering; nginx then closes the
stalled connections itself (a bounded time to read a request), and gunicorn never saw them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Served, call, copy_sample, free_port, serve

STALLED = 50
HEADER_TIMEOUT_S = 3  # short here, so that the test sees nginx close the stalled connections
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _need_nginx() -> str:
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; `make system-packages` installs it")
        pytest.skip("nginx is not installed (`make system-packages` installs it)")
    return NGINX


@pytest.fixture(scope="module")
def proxied(sample_dir, tmp_path_factory) -> Iterator[tuple[str, Served]]:
    nginx = _need_nginx()
    data_dir = copy_sample(sample_dir, tmp_path_factory, "slow-clients")
    environ = {"MATCHER_TRUSTED_PROXIES": "1", "MATCHER_RATE_LIMIT": "", "MATCHER_WRITE_RATE_LIMIT": ""}
    with serve(data_dir, "--workers", "1", "--threads", "4", environ=environ) as served:
        prefix = data_dir.parent / "nginx"
        config = data_dir.parent / "nginx.conf"
        port = free_port()
        upstream = served.root.removeprefix("http://")
        command = [sys.executable, "-m", "service.cli", "--data-dir", str(data_dir), "proxy-config"]
        command += ["--listen", f"127.0.0.1:{port}", "--upstream", upstream, "--prefix", str(prefix)]
        command += ["--out", str(config), *(["--user", "root"] if os.geteuid() == 0 else [])]
        subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        # The test's own, shorter timeouts, so that closing the stalled connections happens within it.
        text = config.read_text(encoding="utf-8")
        text = text.replace("client_header_timeout 10s", f"client_header_timeout {HEADER_TIMEOUT_S}s")
        config.write_text(text.replace("client_body_timeout 10s", f"client_body_timeout {HEADER_TIMEOUT_S}s"))
        log = (data_dir.parent / "nginx-stderr.log").open("wb")
        process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(config)], stderr=log)
        root = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if call(f"{root}/api/v1/health")[0] == 200:
                        break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {(data_dir.parent / 'nginx-stderr.log').read_text()}")
                time.sleep(0.2)
            yield root, served
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()


def _stall(port: int, number: int) -> socket.socket:
    """A connection that sends part of a request and then nothing: half of them in the body, half in the headers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    if number % 2:
        sock.sendall(
            b"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 4000\r\n\r\n{"text": "laser welding of alumin'
        )
    else:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ended the connection (an answer such as 408, then EOF), waiting at most the socket timeout."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True  # reset by the server
    return True


def test_health_and_matches_answer_while_fifty_clients_stall(proxied):
    root, _served = proxied
    port = int(root.rsplit(":", 1)[1])
    stalled = [_stall(port, number) for number in range(STALLED)]
    try:
        answers = []
        for round_ in range(6):
            answers.append(call(f"{root}/api/v1/health")[0])
            status, body = call(
                f"{root}/api/v1/match",
                body=f'{{"text": "laser welding of aluminium battery trays {round_}", "top_k": 3}}'.encode(),
            )
            answers.append(status)
            assert status != 200 or body["count"] == 3
        assert answers == [200] * len(answers)
        # nginx ends every stalled connection itself, each after its bounded time to send the request.
        assert all(_closed_by_server(sock) for sock in stalled)
    finally:
        for sock in stalled:
            sock.close()


def test_nginx_refuses_an_announced_overlong_body_itself_in_the_apis_json_shape(proxied):
    root, _served = proxied
    port = int(root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 9437184\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # nginx answers, then resets the connection whose body it will not read
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"application/json" in head
    assert json.loads(body)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/v1/projects/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # an error in the request line
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),  # nginx's 501
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),  # nginx's 505
        (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ],
    ids=["nul-in-path", "long-url", "unknown-coding", "http-9", "trace"],
)
def test_nginx_refusals_are_client_errors_in_json_with_the_security_headers(proxied, request_bytes, status):
    root, _served = proxied
    port = int(root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request_bytes)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status)
    assert b"X-Content-Type-Options: nosniff" in head and b"Content-Security-Policy" in head
    assert json.loads(body)["error"]["code"]
    if status == 405:
        assert b"Allow: GET" in head
