"""The outside security trial's figures, re-measured against the real server (gunicorn, and nginx in front).

Run from the repository root with the venv's Python::

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/security_trial.py [SECTION ...]

Sections (default: all, in this order): headers, private, size, hostile, slow, schemathesis.
It builds its own data folder from the sample data in a temporary folder (``matcher init``, both
ingests, ``index``; the sample's embedding cache, ``var/sample/embeddings.sqlite`` or
``--embedding-cache``, is copied in first so nothing is re-encoded), creates a key with ``matcher
keys create``, starts ``python -m service.cli --data-dir D serve --port P --workers 2`` and, where
stated, nginx with the configuration of ``matcher proxy-config``, and talks to them over raw
sockets, as an outside tester would. Each section ends with a table of its figures.

- hostile: a battery of hand-made bad requests, unkeyed then keyed, direct to gunicorn and through
  nginx; status classes, error shape of every 4xx, 405s' ``Allow``, and "Traceback" in the server log.
  Rate limits are off on that server, so that no answer is a 429 of the battery's own making.
- slow: 50 connections that stall mid-request, held ~30 s, while a health probe and a match are sent
  every second (5 s timeout): gunicorn alone (``--workers 1 --threads 4``), then nginx in front.
- private: unkeyed answers (broad matches both ways, every record) hold no contact, budget nor e-mail.
- headers: the security headers on /, /api/v1/health, an error, a static file; the data folder's modes.
- size: the largest answer to a public 40-character query after a record at ``max_text_chars``.
- schemathesis: the CLI against the OpenAPI document, keyed and unkeyed, rate limits off.
"""

# The battery's bodies are JSON texts, full of braces: %-formatting keeps them readable.
# ruff: noqa: UP031

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import REPO_ROOT

PYTHON = sys.executable
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SCHEMATHESIS = str(Path(PYTHON).with_name("schemathesis"))


def _sample_cache() -> Path:
    """The sample's embedding cache: this checkout's ``var/sample``, else the main worktree's (a git worktree has none)."""
    here = REPO_ROOT / "var" / "sample" / "embeddings.sqlite"
    done = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=REPO_ROOT, capture_output=True, text=True)
    common = Path(done.stdout.strip() or ".git")
    main = (
        (common if common.is_absolute() else REPO_ROOT / common).resolve().parent
        / "var"
        / "sample"
        / "embeddings.sqlite"
    )
    return here if here.is_file() or not main.is_file() else main


SAMPLE_CACHE = _sample_cache()
API = "/api/v1"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MATCHER_SHOW_PROGRESS": "false", "PYTHONPATH": str(REPO_ROOT)}
NO_LIMITS = {"MATCHER_RATE_LIMIT": "", "MATCHER_WRITE_RATE_LIMIT": ""}
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Permissions-Policy",
)
EMAIL = re.compile(rb"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def table(title: str, rows: list[tuple[Any, ...]], header: tuple[str, ...] = ("figure", "value")) -> None:
    """A compact fixed-width table."""
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n== {title} ==")
    for number, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    sys.stdout.flush()


def cli(data_dir: Path, *arguments: str, environ: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [PYTHON, "-m", "service.cli", "--data-dir", str(data_dir), *arguments],
        cwd=REPO_ROOT,
        env={**ENV, **(environ or {})},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"matcher {' '.join(arguments)} failed: {done.stderr[-2000:]}")
    return done.stdout


def build_sample(data_dir: Path, cache: Path) -> None:
    """The sample catalogue, indexed, in ``data_dir``; the embedding cache copied in first (SQLite backup, WAL included)."""
    started = time.monotonic()
    cli(data_dir, "init")
    if cache.is_file():
        source = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
        target = sqlite3.connect(data_dir / "embeddings.sqlite")
        source.backup(target)
        target.close()
        source.close()
    else:
        print(f"note: no embedding cache at {cache}; the sample is encoded from scratch")
    cli(data_dir, "ingest", str(REPO_ROOT / "data" / "projects.csv"), "--kind", "projects")
    cli(data_dir, "ingest", str(REPO_ROOT / "data" / "needs.csv"), "--kind", "needs")
    cli(data_dir, "index")
    print(f"built the sample data folder {data_dir} in {time.monotonic() - started:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- raw HTTP --------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no answer (timeout, reset, closed)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_shaped(self) -> bool:
        value = self.json()
        if not isinstance(value, dict) or set(value) != {"error"} or not isinstance(value["error"], dict):
            return False
        error = value["error"]
        return (
            {"code", "message", "details"} <= set(error)
            and isinstance(error["code"], str)
            and isinstance(error["message"], str)
            and isinstance(error["details"], dict)
        )


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def parse_answer(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return Answer(0, body=raw, error=f"unparsable answer {raw[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Answer(status, headers, body)


def send_raw(port: int, data: bytes | list[bytes], timeout: float = 60.0) -> Answer:
    """Send bytes (or pieces of them) on a new connection, read the answer until the server closes."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                for piece in data if isinstance(data, list) else [data]:
                    sock.sendall(piece)
            except OSError:  # the server may answer (413) and close before it has read everything
                pass
            raw = b""
            try:
                while chunk := sock.recv(65536):
                    raw += chunk
            except ConnectionResetError:
                pass
    except TimeoutError:
        return Answer(0, error="timeout")
    except OSError as error:
        return Answer(0, error=type(error).__name__)
    if not raw:
        return Answer(0, error="closed without an answer")
    return parse_answer(raw)


def request_bytes(
    method: str,
    target: str | bytes,
    body: bytes | None = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> bytes:
    """One HTTP/1.1 request with ``Connection: close``; ``length`` overrides the Content-Length sent."""
    target_bytes = target if isinstance(target, bytes) else target.encode("utf-8")
    lines = [method.encode() + b" " + target_bytes + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if body is not None and content_type is not None:
        lines.append(f"Content-Type: {content_type}".encode())
    if body is not None or length is not None:
        lines.append(f"Content-Length: {len(body or b'') if length is None else length}".encode())
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode("utf-8", "surrogateescape"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def call(port: int, method: str, target: str, body: Any = None, key: str | None = None, timeout: float = 120) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    return send_raw(port, request_bytes(method, target, data, headers={"X-API-Key": key} if key else None), timeout)


# -- servers -----------------------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_healthy(port: int, process: subprocess.Popen[bytes], seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-3000:]}")
        if send_raw(port, request_bytes("GET", f"{API}/health"), timeout=10).status == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer /health within {seconds:.0f} s")
        time.sleep(0.3)


@contextmanager
def serve(data_dir: Path, *arguments: str, environ: dict[str, str] | None = None) -> Iterator[Server]:
    """``python -m service.cli --data-dir D serve --port P ARGUMENTS`` until the block ends."""
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    with log_path.open("wb") as log:
        command = [PYTHON, "-m", "service.cli", "--data-dir", str(data_dir), "serve", "--port", str(port), *arguments]
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**ENV, **(environ or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        started = time.monotonic()
        try:
            wait_healthy(port, process, 300, "the server", log_path)
            print(f"server up on port {port} ({' '.join(arguments)}) in {time.monotonic() - started:.0f} s")
            yield Server(port, data_dir, log_path, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def nginx_in_front(server: Server) -> Iterator[int]:
    """nginx with the configuration `matcher proxy-config` writes, in front of ``server``; yields its port."""
    port = free_port()
    prefix = server.data_dir.parent / f"nginx-{port}"
    config = server.data_dir.parent / f"nginx-{port}.conf"
    arguments = ["proxy-config", "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{server.port}"]
    arguments += ["--prefix", str(prefix), "--out", str(config)]
    arguments += ["--user", "root"] if os.geteuid() == 0 else []
    cli(server.data_dir, *arguments)
    log_path = server.data_dir.parent / f"nginx-{port}-stderr.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(config)], stderr=log)
        try:
            wait_healthy(port, process, 30, "nginx", log_path)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def create_key(data_dir: Path) -> str:
    return cli(data_dir, "keys", "create", "--name", "trial").strip().splitlines()[0]


# -- 1. hostile inputs -------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    data: bytes | list[bytes]  # the request's bytes, or pieces sent one after another
    pre_app: bool = False  # nginx or gunicorn may answer it before the app (overlong request line, bad framing)
    timeout: float = 60.0


def deep(levels: int, opener: str = "[", closer: str = "]", inner: str = "1") -> str:
    return opener * levels + inner + closer * levels


def deep_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def hostile_cases(key: str | None) -> list[Case]:
    """The battery: each case is the raw bytes of one request (``key`` sent as X-API-Key when given)."""
    auth = {"X-API-Key": key} if key else {}
    cases: list[Case] = []

    def add(
        name: str,
        method: str,
        target: str | bytes,
        body: bytes | str | None = None,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        cases.append(
            Case(name, request_bytes(method, target, data, content_type, {**auth, **(headers or {})}), **options)
        )

    record_p = '{"id":"ZP1","title":"Hostile trial project","abstract":"Laser welding of aluminium trays."%s}'
    record_n = '{"id":"ZN1","title":"Hostile trial need","description":"We need laser welding of trays."%s}'
    write_targets = (f"{API}/projects", f"{API}/needs")

    # Deep nesting: the body itself, filters, record fields and metadata, outcomes and plans.
    for levels in (1_000, 100_000):
        for kind in ("arrays", "objects"):
            text = deep(levels) if kind == "arrays" else deep_object(levels)
            add(f"body: {kind} {levels} deep /match", "POST", f"{API}/match", text)
            add(f"body: {kind} {levels} deep /projects", "POST", f"{API}/projects", text)
        add(f"filters {levels} deep", "POST", f"{API}/match", '{"text":"laser welding","filters":%s}' % deep(levels))
        add(
            f"filter value {levels} deep",
            "POST",
            f"{API}/match",
            '{"text":"laser welding","filters":{"institution":%s}}' % deep(levels),
        )
        add(
            f"metadata {levels} deep",
            "POST",
            write_targets[0],
            "[%s]" % (record_p % (',"metadata":' + deep_object(levels))),
        )
        add(
            f"title {levels} deep",
            "POST",
            write_targets[1],
            "[%s]" % (record_n.replace('"Hostile trial need"', deep(levels)) % ""),
        )
        add(
            f"extra column {levels} deep",
            "PUT",
            f"{API}/needs/ZN1",
            '{"title":"t","description":"d","x":%s}' % deep(levels),
        )
        add(
            f"outcome note {levels} deep",
            "POST",
            f"{API}/outcomes",
            '{"project_id":"P001","need_id":"N001","status":"contacted","note":%s}' % deep(levels),
        )
        add(
            f"plan conflicts {levels} deep",
            "POST",
            f"{API}/introductions/plan",
            '{"max_per_project":1,"max_per_need":1,"conflicts":%s}' % deep(levels),
        )
        add(f"unclosed {levels} deep", "POST", f"{API}/match", "[" * levels)

    # Lone surrogates (JSON escapes) and invalid UTF-8 bytes, in every place a string goes.
    for label, escape in (("\\ud800", "\\ud800"), ("\\udfff", "\\udfff"), ("\\udc80 pair-less low", "x\\udc80y")):
        add(f"surrogate {label} in text", "POST", f"{API}/match", '{"text":"laser %s welding"}' % escape)
        add(
            f"surrogate {label} in filter",
            "POST",
            f"{API}/match",
            '{"text":"laser","filters":{"institution":"%s"}}' % escape,
        )
        add(
            f"surrogate {label} in filter key", "POST", f"{API}/match", '{"text":"laser","filters":{"%s":"x"}}' % escape
        )
        add(f"surrogate {label} in body key", "POST", f"{API}/match", '{"text":"laser","%s":1}' % escape)
        add(
            f"surrogate {label} in title",
            "POST",
            write_targets[0],
            "[%s]" % (record_p.replace("Hostile trial project", escape) % ""),
        )
        add(f"surrogate {label} in id", "POST", write_targets[1], "[%s]" % (record_n.replace("ZN1", escape) % ""))
        add(
            f"surrogate {label} in metadata key",
            "POST",
            write_targets[0],
            "[%s]" % (record_p % (',"metadata":{"%s":"v"}' % escape)),
        )
        add(
            f"surrogate {label} in extra column",
            "PUT",
            f"{API}/needs/ZN1",
            '{"title":"t","description":"d","%s":"v"}' % escape,
        )
        add(
            f"surrogate {label} in outcome id",
            "POST",
            f"{API}/outcomes",
            '{"project_id":"%s","need_id":"N001","status":"contacted"}' % escape,
        )
        add(
            f"surrogate {label} in plan conflict",
            "POST",
            f"{API}/introductions/plan",
            '{"max_per_project":1,"max_per_need":1,"conflicts":[{"project":"%s","need":"x"}]}' % escape,
        )
    for label, raw in (
        ("\\xff\\xfe", b"\xff\xfe"),
        ("CESU \\xed\\xa0\\x80", b"\xed\xa0\x80"),
        ("truncated \\xe6\\x97", b"\xe6\x97"),
    ):
        cases.append(
            Case(
                f"raw {label} in text",
                request_bytes("POST", f"{API}/match", b'{"text":"laser ' + raw + b' welding"}', headers=auth),
            )
        )
        cases.append(
            Case(
                f"raw {label} in record",
                request_bytes(
                    "POST", write_targets[0], b'[{"id":"ZP1","title":"' + raw + b'","abstract":"x"}]', headers=auth
                ),
            )
        )
        cases.append(
            Case(
                f"raw {label} in path",
                request_bytes("GET", f"{API}/projects/".encode() + raw, headers=auth),
                pre_app=True,
            )
        )
        cases.append(
            Case(
                f"raw {label} in query",
                request_bytes("GET", f"{API}/projects/P001/matches?institution=".encode() + raw, headers=auth),
                pre_app=True,
            )
        )
        cases.append(
            Case(
                f"raw {label} in header key",
                request_bytes("GET", f"{API}/health", headers={"X-API-Key": raw.decode("latin-1")}),
                pre_app=True,
            )
        )
    for label, encoded in (
        ("%ED%A0%80", "%ED%A0%80"),
        ("%FF", "%FF"),
        ("%C0%AE", "%C0%AE"),
        ("%00", "%00"),
        ("%F4%90%80%80", "%F4%90%80%80"),
    ):
        add(f"path {label} GET project", "GET", f"{API}/projects/{encoded}")
        add(f"path {label} GET need matches", "GET", f"{API}/needs/{encoded}/matches")
        add(f"path {label} PUT", "PUT", f"{API}/projects/{encoded}", '{"title":"t","abstract":"a"}')
        add(f"path {label} DELETE", "DELETE", f"{API}/needs/{encoded}")
        add(f"path {label} plan job", "GET", f"{API}/introductions/plan/{encoded}")
        add(f"query {label} filter", "GET", f"{API}/projects/P001/matches?institution={encoded}")
        add(f"query {label} name", "GET", f"{API}/needs/N001/matches?{encoded}=x")
        add(f"query {label} top_k", "GET", f"{API}/needs/N001/matches?top_k={encoded}")
        add(f"query {label} outcomes", "GET", f"{API}/outcomes?need_id={encoded}")

    # Empty and repeated query parameters.
    for query in (
        "status=",
        "top_k=",
        "min_score=",
        "explain=",
        "field=&field=",
        "field=a&field=",
        "top_k=1&top_k=2",
        "trl_min=",
        "trl_min=abc",
        "trl_min=99999999999999999999",
        "top_k=0",
        "top_k=-1",
        "top_k=100000",
        "top_k=99999999999999999999999",
        "top_k=1e3",
        "min_score=nan",
        "min_score=inf",
        "min_score=-1",
        "min_score=1e400",
        "explain=maybe",
        "region=&region=&region=",
        "=",
        "&&&",
        "top_k",
    ):
        add(f"matches ?{query}", "GET", f"{API}/projects/P001/matches?{query}")
    for query in (
        "status=",
        "limit=",
        "limit=0",
        "limit=abc",
        "limit=99999999999999999999999",
        "status=bogus",
        "x=1",
        "status=&status=",
    ):
        add(f"outcomes ?{query}", "GET", f"{API}/outcomes?{query}")

    # Numbers: huge, NaN and Infinity literals, and wrong types everywhere.
    for literal in (
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1" + "0" * 5000,
        "10000000000000000000000",
        "1.5",
        '"10"',
        "true",
        "null",
        "[]",
        "{}",
    ):
        add(f"top_k {literal[:20]}", "POST", f"{API}/match", '{"text":"laser welding","top_k":%s}' % literal)
    for literal in ("NaN", "Infinity", "1e400", "-1e400", "1e-400", '"0.5"', "true"):
        add(f"min_score {literal}", "POST", f"{API}/match", '{"text":"laser welding","min_score":%s}' % literal)
        add(f"trl {literal}", "POST", write_targets[0], "[%s]" % (record_p % (',"trl":%s' % literal)))
        add(f"budget {literal}", "POST", write_targets[1], "[%s]" % (record_n % (',"budget":%s' % literal)))
        add(
            f"outcome score {literal}",
            "POST",
            f"{API}/outcomes",
            '{"project_id":"P001","need_id":"N001","status":"contacted","score":%s}' % literal,
        )
        add(f"filter trl_min {literal}", "POST", f"{API}/match", '{"text":"laser","filters":{"trl_min":%s}}' % literal)
        add(
            f"metadata value {literal}",
            "POST",
            write_targets[0],
            "[%s]" % (record_p % (',"metadata":{"x":%s}' % literal)),
        )
    add("budget 1e308 (finite)", "POST", write_targets[1], "[%s]" % (record_n % ',"budget":1e308'))
    add(
        "metadata integer past 64 bits",
        "POST",
        write_targets[0],
        "[%s]" % (record_p % ',"metadata":{"x":123456789012345678901234567890}'),
    )
    add("plan caps 1e400", "POST", f"{API}/introductions/plan", '{"max_per_project":1e400,"max_per_need":1}')
    add(
        "plan caps 10**30",
        "POST",
        f"{API}/introductions/plan",
        '{"max_per_project":1000000000000000000000000000000,"max_per_need":1}',
    )
    add("plan caps 0", "POST", f"{API}/introductions/plan", '{"max_per_project":0,"max_per_need":0}')
    add("plan caps NaN", "POST", f"{API}/introductions/plan", '{"max_per_project":NaN,"max_per_need":1}')
    wrong_types = {
        "id integer": record_p.replace('"ZP1"', "12345") % "",
        "id null": record_p.replace('"ZP1"', "null") % "",
        "id list": record_p.replace('"ZP1"', '["a"]') % "",
        "title number": record_p.replace('"Hostile trial project"', "1") % "",
        "abstract object": record_p.replace('"Laser welding of aluminium trays."', '{"a":1}') % "",
        "metadata list": record_p % ',"metadata":[1,2]',
        "metadata string": record_p % ',"metadata":"x"',
        "fields object": record_p % ',"fields":{"a":1}',
        "fields list of ints": record_p % ',"fields":[1,2]',
        "trl string": record_p % ',"trl":"5"',
        "trl boolean": record_p % ',"trl":true',
        "trl 99": record_p % ',"trl":99',
        "updated number": record_p % ',"updated":20240101',
        "updated Feb 30": record_p % ',"updated":"2024-02-30"',
        "updated 0000-00-00": record_p % ',"updated":"0000-00-00"',
        "contact list": record_p % ',"contact":["a@b.example"]',
        "unknown field (kept as metadata)": record_p % ',"zz_unknown":"x"',
    }
    for name, record in wrong_types.items():
        add(f"record {name}", "POST", write_targets[0], "[%s]" % record)
    for name, body in {
        "text number": '{"text":1}',
        "text list": '{"text":["laser"]}',
        "text null": '{"text":null}',
        "text empty": '{"text":""}',
        "text blank": '{"text":"   "}',
        "direction number": '{"text":"laser","direction":1}',
        "direction unknown": '{"text":"laser","direction":"sideways"}',
        "explain 1": '{"text":"laser","explain":1}',
        "explain string": '{"text":"laser","explain":"true"}',
        "filters list": '{"text":"laser","filters":["a"]}',
        "filters string": '{"text":"laser","filters":"a"}',
        "filter unknown": '{"text":"laser","filters":{"colour":"red"}}',
        "filter value object": '{"text":"laser","filters":{"institution":{"a":1}}}',
        "filter value ints": '{"text":"laser","filters":{"institution":[1,2]}}',
        "filter needs-only on projects": '{"text":"laser","filters":{"region":"x"}}',
        "unknown top-level field": '{"text":"laser","colour":"red"}',
        "duplicate keys": '{"text":"laser","text":"welding","top_k":1,"top_k":2}',
        "body {}": "{}",
        "body []": "[]",
        "body string": '"laser welding"',
        "body null": "null",
        "body number": "42",
        "body true": "true",
        "body empty": "",
        "body whitespace": "   \n ",
        "body trailing garbage": '{"text":"laser"} x',
        "body BOM": '\ufeff{"text":"laser"}',
        "body single quotes": "{'text':'laser'}",
    }.items():
        add(f"match {name}", "POST", f"{API}/match", body)
    for name, body in {
        "records object": '{"records":{"a":1}}',
        "records strings": '["a","b"]',
        "records nulls": "[null]",
        "records empty": "[]",
        "records + extra key": '{"records":[],"x":1}',
        "body string": '"x"',
        "body null": "null",
        "duplicate ids": "[%s,%s]" % (record_p % "", record_p % ""),
        "1001 records": "[" + ",".join(['{"id":"Z%d","title":"t","abstract":"a"}' % i for i in range(1001)]) + "]",
    }.items():
        add(f"ingest {name}", "POST", write_targets[0], body)
    for name, body in {
        "status unknown": '{"project_id":"P001","need_id":"N001","status":"married"}',
        "agreement without type": '{"project_id":"P001","need_id":"N001","status":"agreement"}',
        "decline reason on meeting": '{"project_id":"P001","need_id":"N001","status":"meeting","decline_reason":"other"}',
        "ids as integers": '{"project_id":1,"need_id":2,"status":"contacted"}',
        "unknown ids": '{"project_id":"NOPE","need_id":"NOPE","status":"contacted"}',
        "note 100k": '{"project_id":"P001","need_id":"N001","status":"contacted","note":"%s"}' % ("x" * 100_000),
        "body list": "[]",
    }.items():
        add(f"outcome {name}", "POST", f"{API}/outcomes", body)
    for name, body in {
        "conflicts wrong shape": '{"max_per_project":1,"max_per_need":1,"conflicts":[["a","b"]]}',
        "solver unknown": '{"max_per_project":1,"max_per_need":1,"solver":"magic"}',
        "unknown field": '{"max_per_project":1,"max_per_need":1,"x":1}',
        "caps as strings": '{"max_per_project":"1","max_per_need":"1"}',
        "missing caps": "{}",
    }.items():
        add(f"plan {name}", "POST", f"{API}/introductions/plan", body)
    add("plan job unknown", "GET", f"{API}/introductions/plan/doesnotexist")
    add("plan export .exe", "GET", f"{API}/introductions/plan/doesnotexist/export.exe")
    add("plan export traversal", "GET", f"{API}/introductions/plan/..%2F..%2Fetc/export.csv")

    # Content types.
    valid_match = '{"text":"laser welding","top_k":1,"explain":false}'
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "application/merge-patch+json",
        "",
        "*/*",
        "application/json\x01",
    ):
        add(
            f"content type {content_type!r}",
            "POST",
            f"{API}/match",
            valid_match,
            content_type=content_type,
            pre_app="\x01" in content_type,
        )
    add("missing content type", "POST", f"{API}/match", valid_match, content_type=None)
    add("missing content type, ingest", "POST", write_targets[0], "[%s]" % (record_p % ""), content_type=None)
    add(
        "utf-16 body",
        "POST",
        f"{API}/match",
        valid_match.encode("utf-16"),
        content_type="application/json; charset=utf-16",
    )

    # Bodies: chunked over the limit, lying and malformed lengths.
    head = f"POST {API}/match HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n".encode()
    head += "".join(f"{n}: {v}\r\n" for n, v in auth.items()).encode()
    chunk = b"x" * (1 << 20)
    over = [head + b"Transfer-Encoding: chunked\r\n\r\n"] + [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 9 + [b"0\r\n\r\n"]
    cases.append(Case("chunked 9 MiB body /match", over))
    ingest_head = head.replace(f"{API}/match".encode(), f"{API}/projects".encode())
    cases.append(Case("chunked 9 MiB body /projects", [ingest_head + b"Transfer-Encoding: chunked\r\n\r\n", *over[1:]]))
    cases.append(
        Case(
            "chunked small valid body",
            head
            + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(valid_match), valid_match.encode()),
        )
    )
    cases.append(
        Case("chunked bad size line", head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", pre_app=True)
    )
    cases.append(
        Case("chunked never ends", head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", pre_app=True, timeout=15)
    )
    cases.append(
        Case("Content-Length 9 MiB announced", head + b"Content-Length: 9437184\r\n\r\n" + b"x" * 1000, timeout=8)
    )
    cases.append(
        Case(
            "Content-Length 8 MiB + 1 sent",
            head + b"Content-Length: %d\r\n\r\n" % (8 * 1024 * 1024 + 1) + b" " * (8 * 1024 * 1024 + 1),
        )
    )
    cases.append(
        Case(
            "Content-Length larger than body",
            head + b"Content-Length: 500\r\n\r\n" + valid_match.encode(),
            pre_app=True,
            timeout=15,
        )
    )
    cases.append(Case("Content-Length smaller than body", head + b"Content-Length: 10\r\n\r\n" + valid_match.encode()))
    cases.append(
        Case("Content-Length negative", head + b"Content-Length: -1\r\n\r\n" + valid_match.encode(), pre_app=True)
    )
    cases.append(
        Case("Content-Length not a number", head + b"Content-Length: abc\r\n\r\n" + valid_match.encode(), pre_app=True)
    )
    cases.append(
        Case(
            "Content-Length twice, differing",
            head + b"Content-Length: 5\r\nContent-Length: 50\r\n\r\n" + valid_match.encode(),
            pre_app=True,
        )
    )
    cases.append(
        Case(
            "Content-Length and chunked",
            head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            pre_app=True,
        )
    )
    cases.append(
        Case(
            "Transfer-Encoding gzip",
            head + b"Transfer-Encoding: gzip\r\n\r\n" + valid_match.encode(),
            pre_app=True,
            timeout=15,
        )
    )

    # Overlong URLs and headers.
    for size in (5_000, 20_000, 100_000):
        add(f"path id {size} chars", "GET", f"{API}/projects/{'x' * size}", pre_app=True)
        add(f"query {size} chars", "GET", f"{API}/projects/P001/matches?institution={'x' * size}", pre_app=True)
    add("header 100 KB", "GET", f"{API}/health", headers={"X-Junk": "x" * 100_000}, pre_app=True)
    add("key header 10 KB", "GET", f"{API}/health", headers={"X-API-Key": "tm_" + "x" * 10_000}, pre_app=True)
    add("bearer made-up key", "GET", f"{API}/outcomes", headers={"Authorization": "Bearer tm_madeup"})
    add("300 headers", "GET", f"{API}/health", headers={f"X-H{i}": "v" for i in range(300)}, pre_app=True)
    cases.append(Case("request line garbage", b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", pre_app=True))
    cases.append(Case("HTTP/0.9 style", b"GET /\r\n\r\n", pre_app=True))
    cases.append(Case("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", pre_app=True))
    cases.append(Case("absolute-form target", request_bytes("GET", "http://evil.example/api/v1/health"), pre_app=True))
    cases.append(
        Case(
            "header without colon",
            b"GET / HTTP/1.1\r\nHost: x\r\nbroken header\r\nConnection: close\r\n\r\n",
            pre_app=True,
        )
    )

    # Methods on the wrong paths (405 must carry Allow).
    for method, target in (
        ("GET", f"{API}/match"),
        ("DELETE", f"{API}/match"),
        ("PUT", f"{API}/health"),
        ("POST", f"{API}/health"),
        ("PATCH", f"{API}/projects/P001"),
        ("POST", f"{API}/projects/P001"),
        ("DELETE", f"{API}/outcomes"),
        ("PUT", "/"),
        ("POST", "/static/app.js"),
        ("DELETE", f"{API}/openapi.json"),
        ("GET", f"{API}/projects"),
        ("PUT", f"{API}/needs"),
        ("POST", f"{API}/needs/N001/matches"),
        ("DELETE", f"{API}/introductions/plan"),
        ("TRACE", f"{API}/health"),
        ("FOO", f"{API}/health"),
        ("CONNECT", "127.0.0.1:80"),
    ):
        add(f"{method} {target}", method, target, pre_app=method in ("TRACE", "FOO", "CONNECT"))

    # Long texts and control characters.
    add("text 20,001 chars", "POST", f"{API}/match", json.dumps({"text": "laser " * 3334}))
    add("text 1,000,000 chars", "POST", f"{API}/match", json.dumps({"text": "w" * 1_000_000}))
    add(
        "title 100k chars",
        "POST",
        write_targets[0],
        "[%s]" % record_p.replace("Hostile trial project", "t" * 100_000) % "",
    )
    add("id 10k chars", "POST", write_targets[0], "[%s]" % record_p.replace("ZP1", "i" * 10_000) % "")
    add(
        "abstract 20,001 chars",
        "POST",
        write_targets[0],
        "[%s]" % record_p.replace("Laser welding of aluminium trays.", "a" * 20_001) % "",
    )
    for label, char in (
        ("NUL", "\\u0000"),
        ("BEL", "\\u0007"),
        ("ESC", "\\u001b"),
        ("U+FFFD", "\\ufffd"),
        ("DEL", "\\u007f"),
        ("U+2028", "\\u2028"),
    ):
        add(f"{label} in text", "POST", f"{API}/match", '{"text":"laser%swelding"}' % char)
        add(f"{label} in id", "POST", write_targets[1], "[%s]" % record_n.replace("ZN1", "Z%sN" % char) % "")
        add(
            f"{label} in title",
            "POST",
            write_targets[0],
            "[%s]" % record_p.replace("Hostile trial", "Hostile%s" % char) % "",
        )
    add("id path traversal", "POST", write_targets[0], "[%s]" % record_p.replace("ZP1", "../../etc/passwd") % "")
    add("path traversal GET", "GET", f"{API}/projects/..%2F..%2Fetc%2Fpasswd")
    add("static traversal", "GET", "/static/..%2F..%2Fapp.py")
    add("static traversal 2", "GET", "/static/../../service/app.py")
    add("newline in path id", "GET", f"{API}/projects/P001%0D%0AX-Injected:%201")
    add("CR LF in header value", "GET", f"{API}/health", headers={"X-A": "a\rb"}, pre_app=True)
    return cases


@dataclass
class Outcome:
    case: Case
    keyed: bool
    answer: Answer
    seconds: float


def classify(outcome: Outcome) -> str:
    status = outcome.answer.status
    return "no answer" if status == 0 else f"{status // 100}xx"


def run_battery(port: int, key: str) -> list[Outcome]:
    outcomes = []
    for keyed in (False, True):
        for case in hostile_cases(key if keyed else None):
            started = time.monotonic()
            answer = send_raw(port, case.data, case.timeout)
            outcomes.append(Outcome(case, keyed, answer, time.monotonic() - started))
    return outcomes


def answered_by(outcome: Outcome) -> str:
    """Who wrote the answer: the app (its JSON error shape, or any 2xx/3xx), else the front (gunicorn's or nginx's own page)."""
    answer = outcome.answer
    if answer.status == 0:
        return "none"
    if answer.status < 400 or answer.error_shaped():
        return "app"
    return "front"


def _who(outcome: Outcome) -> str:
    return "keyed" if outcome.keyed else "unkeyed"


def report_battery(title: str, outcomes: list[Outcome], server_log: str, log_from: int) -> list[str]:
    """The battery's table; the findings: 5xx, answers out of the error shape, 405 without Allow, tracebacks."""
    failures: list[str] = []
    classes = Counter(classify(o) for o in outcomes)
    statuses = Counter(o.answer.status for o in outcomes)
    front = [o for o in outcomes if answered_by(o) == "front"]
    front_expected = [o for o in front if o.case.pre_app]
    front_unexpected = [o for o in front if not o.case.pre_app]
    for o in outcomes:
        a = o.answer
        if a.status >= 500:
            failures.append(
                f"{title}: {a.status} ({'app' if a.error_shaped() else 'front: ' + a.headers.get('server', 'gunicorn')}) "
                f"for [{_who(o)}] {o.case.name}: request {_shown(o.case.data)}; answer {a.body[:160]!r}"
            )
        elif o in front_unexpected:
            failures.append(
                f"{title}: {a.status} not in the error shape for [{_who(o)}] {o.case.name}: "
                f"request {_shown(o.case.data)}; answer {a.body[:160]!r}"
            )
        if a.status == 405 and not a.headers.get("allow"):
            failures.append(f"{title}: 405 without Allow ({answered_by(o)}) for [{_who(o)}] {o.case.name}")
    no_answer = [o for o in outcomes if o.answer.status == 0]
    tracebacks = server_log[log_from:].count("Traceback")
    app_405 = [o for o in outcomes if o.answer.status == 405 and answered_by(o) == "app"]
    rows: list[tuple[Any, ...]] = [
        (
            "requests (unkeyed + keyed)",
            f"{len(outcomes)} ({sum(not o.keyed for o in outcomes)} + {sum(o.keyed for o in outcomes)})",
        ),
        *[(f"status class {name}", count) for name, count in sorted(classes.items())],
        ("statuses", ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()) if s)),
        ("responses >= 500, all", sum(o.answer.status >= 500 for o in outcomes)),
        ("  ... answered by the app", sum(o.answer.status >= 500 and answered_by(o) == "app" for o in outcomes)),
        (
            "  ... answered before the app (front)",
            sum(o.answer.status >= 500 and answered_by(o) == "front" for o in outcomes),
        ),
        (
            "4xx from the app in the JSON error shape",
            f"{sum(400 <= o.answer.status < 500 and answered_by(o) == 'app' for o in outcomes)}",
        ),
        ("4xx/5xx before the app, expected (bad framing, overlong)", len(front_expected)),
        ("4xx/5xx out of the error shape, unexpected", len(front_unexpected)),
        (
            "405 from the app / with Allow",
            f"{len(app_405)} / {sum(bool(o.answer.headers.get('allow')) for o in app_405)}",
        ),
        ("2xx answers (requests valid after all)", classes.get("2xx", 0)),
        ("no answer within the client timeout", len(no_answer)),
        ("'Traceback' in the server log", tracebacks),
        ("slowest request (s)", f"{max(o.seconds for o in outcomes):.1f}"),
    ]
    table(f"hostile inputs: {title}", rows)
    if front:
        grouped = Counter(
            (
                o.case.name[:44],
                o.answer.status,
                o.answer.headers.get("server", "gunicorn"),
                "yes" if o.case.pre_app else "NO",
            )
            for o in front
        )
        table(
            f"answered before the app ({title}; unkeyed and keyed together)",
            [(*key, n) for key, n in sorted(grouped.items(), key=lambda item: (item[0][1], item[0][0]))],
            ("case", "status", "server", "expected", "times"),
        )
    odd = [o for o in outcomes if o.answer.status == 0 or o.answer.status < 400]
    if odd:
        table(
            f"answers other than 4xx/5xx ({title})",
            [(o.case.name[:50], _who(o), o.answer.status or o.answer.error) for o in odd],
            ("case", "key", "status"),
        )
    if tracebacks:
        failures.append(f"{title}: {tracebacks} Traceback(s) in the server log:\n" + _tracebacks(server_log[log_from:]))
    return failures


def _shown(data: bytes | list[bytes]) -> str:
    """A request's bytes, shortened for a report."""
    raw = (
        data[0] + (b"... (%d more pieces)" % (len(data) - 1) if len(data) > 1 else b"")
        if isinstance(data, list)
        else data
    )
    raw = re.sub(rb"X-API-Key: tm_\S+", b"X-API-Key: KEY", raw)
    return repr(raw if len(raw) <= 300 else raw[:240] + b"...(%d bytes)" % len(raw))


def _tracebacks(log: str, limit: int = 3) -> str:
    blocks = []
    for match in re.finditer(r"Traceback", log):
        start = log.rfind("\n", 0, max(0, match.start() - 300))
        blocks.append(log[start + 1 : match.start() + 2500])
        if len(blocks) == limit:
            break
    return "\n---\n".join(blocks)


def follow_ups(port: int, key: str) -> list[str]:
    """What some accepted hostile writes left behind: an infinite budget read back, a plan with a cap past 64 bits."""
    failures = []
    rows = []
    body = b'{"title":"Infinite budget","description":"We need laser welding of trays.","budget":1e400,"metadata":{"x":-1e400}}'
    put = send_raw(port, request_bytes("PUT", f"{API}/needs/ZINF", body, headers={"X-API-Key": key}))
    rows.append(("PUT /needs/ZINF budget 1e400, metadata.x -1e400 (keyed)", put.status))
    project = b'{"title":"Infinite metadata","abstract":"Laser welding of aluminium trays.","metadata":{"x":1e400}}'
    put_project = send_raw(port, request_bytes("PUT", f"{API}/projects/ZPINF", project, headers={"X-API-Key": key}))
    rows.append(("PUT /projects/ZPINF metadata.x 1e400 (keyed)", put_project.status))
    for who, headers in (("keyed", {"X-API-Key": key}), ("unkeyed", {})):
        got = send_raw(port, request_bytes("GET", f"{API}/needs/ZINF", headers=headers))
        value = got.json() or {}
        rows.append(
            (
                f"GET /needs/ZINF ({who})",
                f"{got.status}; budget {value.get('budget', '(absent)')!r}, metadata {value.get('metadata')!r}",
            )
        )
    matched = call(
        port, "POST", f"{API}/match", {"text": "We need laser welding of trays.", "direction": "project_to_needs"}
    )
    found = [m for m in (matched.json() or {}).get("matches", []) if m.get("id") == "ZINF"]
    rows.append(("match that finds ZINF (unkeyed)", f"{matched.status}; ZINF matched: {bool(found)}"))
    for name, target, payload in (
        ("GET /projects/P001/matches?field=optics (unkeyed)", f"{API}/projects/P001/matches?field=optics", None),
        (
            "POST /match project_to_needs, filters.region Dalian (unkeyed)",
            f"{API}/match",
            {"text": "laser welding", "direction": "project_to_needs", "filters": {"region": "Dalian"}},
        ),
        (
            "POST /match need_to_projects, filters.trl_min 1 (unkeyed)",
            f"{API}/match",
            {"text": "laser welding", "filters": {"trl_min": 1}},
        ),
        (
            "POST /match project_to_needs, no filter (unkeyed)",
            f"{API}/match",
            {"text": "laser welding", "direction": "project_to_needs"},
        ),
    ):
        answer = call(port, "GET" if payload is None else "POST", target, payload)
        rows.append((name, f"{answer.status} {answer.body[:70]!r}" if answer.status != 200 else "200"))
        if answer.status >= 500:
            failures.append(
                f"after a record whose metadata holds 1e400 is stored (records.data then holds the JSON text "
                f"'-Infinity', which SQLite's json_extract refuses), every filtered match over that side fails: "
                f"{name.split(' (')[0]} -> {answer.status} (server log: sqlite3.OperationalError: malformed JSON in "
                "matcher/storage/catalogue.py keys_matching)"
            )
    if put.status == 200:
        failures.append(
            "1e400 (Python's parser reads it as inf; NaN and Infinity literals are refused) is accepted in a need's "
            "budget (stored as the text 'inf') and in metadata (stored as -Infinity, read back as null): "
            f"PUT {API}/needs/ZINF {body.decode()} -> 200; read back keyed: {rows[3][1]}; "
            f"PUT {API}/projects/ZPINF {project.decode()} -> {put_project.status}"
        )
    plan = b'{"max_per_project":1000000000000000000000000000000,"max_per_need":1}'
    submitted = send_raw(port, request_bytes("POST", f"{API}/introductions/plan", plan, headers={"X-API-Key": key}))
    job = (submitted.json() or {}).get("id") or (submitted.json() or {}).get("job_id")
    state = "-"
    if job:
        for _ in range(60):
            status = call(port, "GET", f"{API}/introductions/plan/{job}", key=key)
            value = status.json() or {}
            state = f"{status.status} {value.get('state')} {str(value.get('error', ''))[:100]}"
            if value.get("state") in ("done", "failed"):
                break
            time.sleep(0.5)
    rows.append(("POST plan max_per_project 10**30 (keyed)", f"{submitted.status}; job {job}: {state}"))
    if submitted.status == 202 and "failed" in state:
        failures.append(
            f"a plan whose cap is past 64 bits is accepted (202) and then fails in the worker with a traceback "
            f"(OverflowError in matcher/introductions/solver.py solve_flow): POST {API}/introductions/plan "
            f"{plan.decode()} -> 202; GET the job -> {state}"
        )
    table("hostile inputs: what accepted writes left behind", rows)
    return failures


def section_hostile(ctx: Context) -> list[str]:
    failures = []
    data_dir = ctx.copy("hostile")
    key = create_key(data_dir)
    with serve(data_dir, "--workers", "2", environ=NO_LIMITS) as server:
        started = time.monotonic()
        outcomes = run_battery(server.port, key)
        failures += report_battery("gunicorn direct", outcomes, server.log_text(), 0)
        print(f"(battery direct: {time.monotonic() - started:.0f} s)")
        failures += follow_ups(server.port, key)
        log_from = len(server.log_text())
        with nginx_in_front(server) as port:
            started = time.monotonic()
            outcomes = run_battery(port, key)
            failures += report_battery("through nginx (proxy-config)", outcomes, server.log_text(), log_from)
            print(f"(battery through nginx: {time.monotonic() - started:.0f} s)")
            nginx_log = server.data_dir.parent / f"nginx-{port}" / "error.log"
            errors = Counter(
                re.sub(r"^.*?\[(\w+)\] \d+#\d+: (\*\d+ )?", r"[\1] ", line).split(", client:")[0][:110]
                for line in nginx_log.read_text(errors="replace").splitlines()
                if "[error]" in line or "[crit]" in line or "[alert]" in line
            )
            table(
                "nginx error.log during the battery",
                [(m, n) for m, n in errors.most_common()] or [("-", 0)],
                ("message", "times"),
            )
    return failures


# -- 3. slow clients ---------------------------------------------------------------------------------

STALLED = 50
HOLD_S = 30


def _stall(port: int, number: int) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if number % 2:
            sock.sendall(
                f"POST {API}/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                'Content-Length: 4000\r\n\r\n{"text": "laser welding of alumin'.encode()
            )
        else:
            sock.sendall(f"GET {API}/health HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
        return sock
    except OSError:
        return None


def slow_clients(port: int) -> dict[str, Any]:
    """Hold 50 stalled connections for HOLD_S seconds; every second, a health probe and a match (5 s timeout)."""
    stalled = [_stall(port, n) for n in range(STALLED)]
    opened = sum(s is not None for s in stalled)
    results: dict[str, list[int]] = {"health": [], "match": []}
    lock = threading.Lock()

    def probe(kind: str, number: int) -> None:
        if kind == "health":
            answer = send_raw(port, request_bytes("GET", f"{API}/health"), timeout=5)
        else:
            body = json.dumps({"text": f"laser welding of aluminium battery trays {number}", "top_k": 3}).encode()
            answer = send_raw(port, request_bytes("POST", f"{API}/match", body), timeout=5)
        with lock:
            results[kind].append(answer.status)

    threads = []
    started = time.monotonic()
    number = 0
    while time.monotonic() - started < HOLD_S:
        for kind in ("health", "match"):
            thread = threading.Thread(target=probe, args=(kind, number))
            thread.start()
            threads.append(thread)
        number += 1
        time.sleep(max(0.0, started + number - time.monotonic()))
    for thread in threads:
        thread.join()
    closed_by_server = 0
    for sock in stalled:
        if sock is None:
            continue
        sock.settimeout(0.5)
        try:
            closed_by_server += sock.recv(65536) is not None  # data or b"" (EOF): the server ended it
        except TimeoutError:
            pass
        except OSError:
            closed_by_server += 1
        sock.close()
    return {
        "opened": opened,
        "health": results["health"],
        "match": results["match"],
        "closed_by_server": closed_by_server,
    }


def section_slow(ctx: Context) -> list[str]:
    data_dir = ctx.copy("slow")
    rows = []
    failures = []
    environ = {"MATCHER_TRUSTED_PROXIES": "1"}
    with serve(data_dir, "--workers", "1", "--threads", "4", environ=environ) as server:
        figures = {"gunicorn direct (1 worker x 4 threads)": slow_clients(server.port)}
        time.sleep(3)  # the stalled connections are closed; gunicorn's threads free again
        with nginx_in_front(server) as port:
            figures["nginx in front (proxy-config)"] = slow_clients(port)
    for layout, f in figures.items():
        ok_h = sum(s == 200 for s in f["health"])
        ok_m = sum(s == 200 for s in f["match"])
        others = Counter(s for s in f["health"] + f["match"] if s != 200)
        rows.append(
            (
                layout,
                f"{f['opened']}/{STALLED}",
                f"{ok_h}/{len(f['health'])}",
                f"{ok_m}/{len(f['match'])}",
                ", ".join(f"{'timeout/none' if s == 0 else s}: {n}" for s, n in sorted(others.items())) or "-",
                f["closed_by_server"],
            )
        )
        if layout.startswith("nginx") and (ok_h < len(f["health"]) or ok_m < len(f["match"])):
            failures.append(
                f"slow clients through nginx: {ok_h} health and {ok_m} matches answered 200 of {len(f['health'])} each"
            )
    table(
        f"slow clients: {STALLED} stalled connections held {HOLD_S} s, probes every second (5 s timeout)",
        rows,
        ("layout", "stalled opened", "health 200", "match 200", "other outcomes", "stalled closed by server"),
    )
    return failures


# -- 4. private fields -------------------------------------------------------------------------------

PRIVATE = ("contact", "budget", "email", "e-mail", "phone")


def _private_hits(value: Any) -> Counter[str]:
    """Private field names (record fields or metadata keys) holding a value, anywhere in an answer."""
    hits: Counter[str] = Counter()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name, child in item.items():
                if str(name).lower() in PRIVATE and child not in (None, "", []):
                    hits[str(name).lower()] += 1
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return hits


def private_survey(port: int, key: str | None) -> dict[str, Any]:
    answers: list[tuple[str, Answer]] = []
    for direction, text in (
        ("need_to_projects", "materials manufacturing sensors energy software testing"),
        ("project_to_needs", "materials manufacturing sensors energy software testing"),
    ):
        body = {"text": text, "direction": direction, "top_k": 100}
        answers.append((f"match {direction}", call(port, "POST", f"{API}/match", body, key)))
    for kind in ("projects", "needs"):
        ids = [row.split(",", 1)[0] for row in (REPO_ROOT / "data" / f"{kind}.csv").read_text().splitlines()[1:]]
        for record_id in ids:
            answers.append((f"GET {kind}/{record_id}", call(port, "GET", f"{API}/{kind}/{record_id}", key=key)))
        answers.append(
            (f"GET {kind}/{ids[0]}/matches", call(port, "GET", f"{API}/{kind}/{ids[0]}/matches?top_k=100", key=key))
        )
    hits: Counter[str] = Counter()
    emails = 0
    matches = 0
    statuses = Counter(a.status for _, a in answers)
    examples = []
    for name, answer in answers:
        value = answer.json()
        hits += _private_hits(value)
        found = EMAIL.findall(answer.body)
        emails += len(EMAIL.findall(answer.body))
        if found and len(examples) < 3:
            examples.append(f"{name}: {EMAIL.search(answer.body).group(0)!r}")  # type: ignore[union-attr]
        if isinstance(value, dict):
            matches += len(value.get("matches", []))
    return {
        "answers": len(answers),
        "statuses": statuses,
        "hits": hits,
        "emails": emails,
        "matches": matches,
        "examples": examples,
    }


def section_private(ctx: Context) -> list[str]:
    failures = []
    with ctx.shared_server() as (server, key):
        surveys = {"no key": private_survey(server.port, None), "staff key": private_survey(server.port, key)}
    rows = []
    for who, s in surveys.items():
        rows.append(
            (
                who,
                s["answers"],
                ", ".join(f"{k}: {v}" for k, v in sorted(s["statuses"].items())),
                s["matches"],
                s["hits"]["contact"],
                s["hits"]["budget"],
                sum(n for k, n in s["hits"].items() if k not in ("contact", "budget")),
                s["emails"],
            )
        )
    table(
        "private fields: 2 broad matches (top_k 100), 2 record matches, every record's GET",
        rows,
        (
            "caller",
            "answers",
            "statuses",
            "matched records",
            "contact",
            "budget",
            "other private keys",
            "'@domain' in JSON",
        ),
    )
    unkeyed = surveys["no key"]
    if sum(unkeyed["hits"].values()) or unkeyed["emails"]:
        failures.append(
            f"private fields in unkeyed answers: {dict(unkeyed['hits'])}, e-mails {unkeyed['emails']}: {unkeyed['examples']}"
        )
    return failures


# -- 5. security headers and file modes --------------------------------------------------------------


def section_headers(ctx: Context) -> list[str]:
    failures = []
    with ctx.shared_server() as (server, _key):
        targets = {
            "/": request_bytes("GET", "/"),
            f"{API}/health": request_bytes("GET", f"{API}/health"),
            f"{API}/docs": request_bytes("GET", "/api/docs"),
            "error (404 /api/v1/projects/NOPE)": request_bytes("GET", f"{API}/projects/NOPE"),
            "error (400 bad JSON)": request_bytes("POST", f"{API}/match", b"{"),
            "static /static/app.js": request_bytes("GET", "/static/app.js"),
            "static /static/style.css": request_bytes("GET", "/static/style.css"),
        }
        answers = {name: send_raw(server.port, data) for name, data in targets.items()}
        with nginx_in_front(server) as port:
            answers["via nginx: /api/v1/health"] = send_raw(port, targets[f"{API}/health"])
            answers["via nginx: 413 (nginx's own)"] = send_raw(
                port, request_bytes("POST", f"{API}/match", length=9 * 1024 * 1024), timeout=20
            )
    rows = []
    for name, answer in answers.items():
        missing = [h for h in SECURITY_HEADERS if h.lower() not in answer.headers]
        rows.append(
            (
                name,
                answer.status,
                len(SECURITY_HEADERS) - len(missing),
                ", ".join(missing) or "-",
                answer.headers.get("server", "-"),
            )
        )
        if missing:
            failures.append(f"security headers missing on {name} (status {answer.status}): {', '.join(missing)}")
    table(
        "security headers (of 6: CSP, X-Frame-Options, nosniff, Referrer-Policy, COOP, Permissions-Policy)",
        rows,
        ("answer", "status", "present", "missing", "server"),
    )
    modes = []
    for path in sorted(server.data_dir.rglob("*")):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            modes.append((str(path.relative_to(server.data_dir)) + ("/" if path.is_dir() else ""), stat.filemode(mode)))
    if modes:
        failures.append(
            f"{len(modes)} files and folders of the data folder (catalogue with contacts and key hashes included) are "
            f"readable by group/other ({modes[0][0]} {modes[0][1]}, ...): the app creates them with the umask's modes "
            f"(here {ctx.umask:03o}), owner-only is not enforced"
        )
    table(
        f"data folder modes: files with group/other bits ({len(modes)} of {sum(1 for _ in server.data_dir.rglob('*'))}; umask {ctx.umask:03o})",
        modes or [("-", "-")],
        ("path", "mode"),
    )
    return failures


# -- 6. answer size ----------------------------------------------------------------------------------


def section_size(ctx: Context) -> list[str]:
    failures = []
    settings_limit = 20_000
    query = "laser welding of aluminium battery trays"  # 40 characters
    assert len(query) == 40
    with ctx.shared_server() as (server, key):

        def largest() -> tuple[int, str]:
            sizes = []
            for direction in ("need_to_projects", "project_to_needs"):
                for top_k in (10, 100):
                    answer = call(
                        server.port, "POST", f"{API}/match", {"text": query, "direction": direction, "top_k": top_k}
                    )
                    sizes.append((len(answer.body), f"{direction} top_k={top_k} ({answer.status})"))
            return max(sizes)

        before = largest()
        words = ("laser welding aluminium battery trays " * 600)[: settings_limit - 1].rstrip() + "."
        abstract = words + "x" * (settings_limit - len(words))
        record = {"id": "ZSIZE1", "title": "Laser welding of aluminium battery trays", "abstract": abstract}
        at_limit = call(server.port, "POST", f"{API}/projects", [record], key, timeout=300)
        over = call(
            server.port,
            "POST",
            f"{API}/projects",
            [{**record, "id": "ZSIZE2", "abstract": abstract + "x"}],
            key,
            timeout=300,
        )
        after = largest()
        over_error = (over.json() or {}).get("error", {})
    names_field = "abstract" in json.dumps(over_error)
    table(
        "answer size: 40-character public query, before and after a record at max_text_chars",
        [
            ("ingest abstract of 20,000 chars (keyed)", at_limit.status),
            ("ingest abstract of 20,001 chars (keyed)", f"{over.status} {over_error.get('code', '')}"),
            ("  ... names the field 'abstract'", names_field),
            ("  ... message", str(over_error.get("message", ""))[:110]),
            ("largest answer before (bytes)", f"{before[0]:,} ({before[1]})"),
            ("largest answer after (bytes)", f"{after[0]:,} ({after[1]})"),
        ],
    )
    if at_limit.status != 200:
        failures.append(f"an abstract at max_text_chars was refused: {at_limit.status} {at_limit.body[:300]!r}")
    if over.status != 422 or not names_field:
        failures.append(f"an abstract over max_text_chars: {over.status} {over.body[:300]!r}")
    return failures


# -- 2. schemathesis ---------------------------------------------------------------------------------

SCHEMATHESIS_TIMEOUT_S = 720  # per run: the keyed one writes, and every write re-indexes
SCHEMATHESIS_TOML = """[checks.negative_data_rejection]
expected-statuses = ["400","401","403","404","405","406","409","413","414","415","422","428","429"]
"""


def _schemathesis_figures(output: str) -> list[tuple[str, str]]:
    """Cases generated, passed, failed, and failures by check, from the CLI's summary."""
    rows = []
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output
    cases = re.search(r"Test cases:\s*\n\s*(.+)", summary)
    rows.append(("test cases (the CLI's line)", cases.group(1).strip() if cases else "?"))
    for label in ("generated", "passed", "skipped", "errored"):
        found = re.findall(rf"(\d+) {label}", cases.group(1) if cases else "")
        if found:
            rows.append((f"test cases {label}", found[-1]))
    unique = re.search(r"(\d+) unique failures?", cases.group(1) if cases else "")
    rows.append(("unique failures", unique.group(1) if unique else "0"))
    block = re.search(r"Failures:\s*\n(.*?)(?:\n\s*\n|\Z)", summary, re.S)
    for line in block.group(1).splitlines() if block else []:
        found = re.match(r"^\W*(.+?):\s*(\d+)\s*$", line.strip())
        if found:
            rows.append((f"failures: {found.group(1)}", found.group(2)))
    if not block:
        rows.append(("failures by check", "none listed"))
    return rows


def section_schemathesis(ctx: Context, max_examples: int) -> list[str]:
    failures = []
    data_dir = ctx.copy("schemathesis")
    key = create_key(data_dir)
    workdir = data_dir.parent / "schemathesis"
    workdir.mkdir(exist_ok=True)
    (workdir / "schemathesis.toml").write_text(SCHEMATHESIS_TOML)
    # The fuzzer submits plans by the hundred: a queue that sheds them (503 queue_full, by design) would
    # read as server errors; the queue is tested in tests/unit/test_plan_jobs.py.
    environ = {**NO_LIMITS, "MATCHER_PLAN_QUEUE": "10000"}
    with serve(data_dir, "--workers", "2", environ=environ) as server:
        for who, extra in (("unkeyed", []), ("keyed", ["-H", f"X-API-Key: {key}"])):
            command = [
                SCHEMATHESIS,
                "run",
                f"http://127.0.0.1:{server.port}{API}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(max_examples),
                "--suppress-health-check",
                "too_slow",
                "--wait-for-schema",
                "120",
                *extra,
            ]
            shown = " ".join("'X-API-Key: KEY'" if part.startswith("X-API-Key") else part for part in command)
            print(f"\n$ cd {workdir} && {shown}")
            started = time.monotonic()
            try:
                done = subprocess.run(
                    command,
                    cwd=workdir,
                    capture_output=True,
                    text=True,
                    env={**ENV, "NO_COLOR": "1"},
                    timeout=SCHEMATHESIS_TIMEOUT_S,
                )
                output, returncode = done.stdout + done.stderr, done.returncode
            except subprocess.TimeoutExpired as expired:
                partial = [
                    part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                    for part in (expired.stdout, expired.stderr)
                ]
                output = "".join(partial) + f"\n[stopped by the benchmark after {SCHEMATHESIS_TIMEOUT_S} s]\n"
                returncode = -1
                failures.append(f"schemathesis {who}: stopped after {SCHEMATHESIS_TIMEOUT_S} s, before its summary")
            seconds = time.monotonic() - started
            (ctx.root / f"schemathesis-{who}.txt").write_text(output)
            at = output.find("FAILURES")
            at = at if at >= 0 else output.rfind("SUMMARY")
            shown = output[max(0, at - 200) :] if at >= 0 else output[-6000:]
            print(shown if len(shown) < 16000 else shown[:8000] + "\n[...]\n" + shown[-8000:])
            table(
                f"schemathesis {who} (--max-examples {max_examples}): exit {returncode}, {seconds:.0f} s",
                [*_schemathesis_figures(output)],
            )
            if returncode != 0:
                failures.append(
                    f"schemathesis {who}: exit {returncode} (full output {ctx.root / f'schemathesis-{who}.txt'})"
                )
        tracebacks = server.log_text().count("Traceback")
        table("schemathesis server log", [("'Traceback' in the server log", tracebacks)])
        if tracebacks:
            failures.append("schemathesis: Traceback(s) in the server log:\n" + _tracebacks(server.log_text()))
    return failures


# -- running -----------------------------------------------------------------------------------------


class Context:
    """The temporary folder, the sample built once, copied for each server."""

    def __init__(self, root: Path, cache: Path, base: Path | None = None) -> None:
        self.root = root
        self.base = root / "base" / "var"
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        if base is not None:
            shutil.copytree(base, self.base)
        else:
            self.base.mkdir(parents=True)
            build_sample(self.base, cache)
        self._shared: tuple[Server, str] | None = None
        self._shared_cm: Any = None

    def copy(self, name: str) -> Path:
        target = self.root / name / "var"
        shutil.copytree(self.base, target)
        return target

    @contextmanager
    def shared_server(self) -> Iterator[tuple[Server, str]]:
        """One server (2 workers, default limits) for the headers, private and size sections, started once."""
        if self._shared is None:
            data_dir = self.copy("shared")
            key = create_key(data_dir)
            self._shared_cm = serve(data_dir, "--workers", "2")
            self._shared = (self._shared_cm.__enter__(), key)
        yield self._shared

    def close(self) -> None:
        if self._shared_cm is not None:
            self._shared_cm.__exit__(None, None, None)
            self._shared_cm = self._shared = None


SECTIONS = ("headers", "private", "size", "hostile", "slow", "schemathesis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--max-examples", type=int, default=25, help="schemathesis --max-examples")
    parser.add_argument("--embedding-cache", type=Path, default=SAMPLE_CACHE)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    parser.add_argument("--base", type=Path, help="an already built sample data folder to copy (skips the build)")
    args = parser.parse_args()
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    sections = [s for s in SECTIONS if s in (args.sections or SECTIONS)]
    root = Path(tempfile.mkdtemp(prefix="security-trial-"))
    print(f"security trial: sections {', '.join(sections)}; working folder {root}")
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; git {_git_head()}")
    started = time.monotonic()
    failures: dict[str, list[str]] = {}
    ctx = Context(root, args.embedding_cache, args.base)
    try:
        for section in sections:
            section_started = time.monotonic()
            print(f"\n######## {section} ########")
            try:
                if section == "schemathesis":
                    found = section_schemathesis(ctx, args.max_examples)
                else:
                    found = {
                        "headers": section_headers,
                        "private": section_private,
                        "size": section_size,
                        "hostile": section_hostile,
                        "slow": section_slow,
                    }[section](ctx)
            except Exception as error:  # a section that breaks is a finding; the others still run
                found = [f"the section itself failed: {type(error).__name__}: {error}"]
            failures[section] = found
            print(f"({section}: {time.monotonic() - section_started:.0f} s)")
            if section in ("headers", "private", "size") and not any(
                s in sections[sections.index(section) + 1 :] for s in ("headers", "private", "size")
            ):
                ctx.close()
    finally:
        ctx.close()
    print("\n######## findings ########")
    for section, found in failures.items():
        print(f"{section}: {len(found)} finding(s)")
        for line in found:
            print(f"  - {line}")
    print(f"\ntotal {time.monotonic() - started:.0f} s; working folder {root}{'' if args.keep else ' (removed)'}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


def _git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
