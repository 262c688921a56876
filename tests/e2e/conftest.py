"""Starting the real server (`matcher serve`: gunicorn) on a copy of the sample data, on loopback."""

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    url: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        headers={**({"Content-Type": content_type} if body is not None else {}), **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass(frozen=True)
class Served:
    root: str  # http://127.0.0.1:PORT
    data_dir: Path
    pid: int = 0  # the gunicorn master's; its workers are its children

    @property
    def api(self) -> str:
        return f"{self.root}/api/v1"


@contextmanager
def serve(data_dir: Path, *arguments: str, environ: dict[str, str] | None = None) -> Iterator[Served]:
    """Run `matcher serve` on ``data_dir`` until the block ends; wait until /health answers."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MATCHER_SHOW_PROGRESS": "false", **(environ or {})}
    log_path = data_dir.parent / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "--data-dir",
                str(data_dir),
                "serve",
                "--port",
                str(port),
                *arguments,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        served = Served(f"http://127.0.0.1:{port}", data_dir, process.pid)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
                try:
                    if call(f"{served.api}/health")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not answer /health within 180 s")
                time.sleep(0.3)
            yield served
        finally:
            process.terminate()
            process.wait(timeout=60)


def copy_sample(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    data_dir = tmp_path_factory.mktemp(name) / "var"
    shutil.copytree(sample_dir, data_dir)
    return data_dir


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (nothing is downloaded by Playwright)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.console import CHROMIUM

    assert Path(CHROMIUM).exists(), (
        f"Chromium is needed for the browser tests (looked for {CHROMIUM}); .ci/run installs it"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()
