"""Bulk encoding on a real local Ray cluster (`ray start --head`, started and stopped by this module).

`matcher embed` fills the embedding cache on the cluster, the ingest after it encodes nothing,
`matcher ingest --ray-address` does both, and the matches equal those of a plain local ingest.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from matcher.config import load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.records import Kind
from service.cli import main
from tests.conftest import SAMPLE_DATA, SHARED_MODELS

RAY = Path(sys.executable).with_name("ray")
RECORDS = 6  # of each sample file: English and Chinese, short and long (several passages)
CLUSTER_START_SECONDS = 60
CLUSTER_STOP_SECONDS = 5


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: all held open while chosen, so none is handed out twice."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _require_ray() -> None:
    if importlib.util.find_spec("ray") is None or not RAY.is_file():
        message = f"Ray is not installed in this venv (ray[data]==2.60.0; {RAY})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must not skip the cluster tests")
        pytest.skip(f"{message}; under CI this fails")


@contextlib.contextmanager
def _cluster(cpus: int, environment: dict[str, str]) -> Iterator[str]:
    """A one-node Ray cluster on loopback, in a session of its own (its address): stopped by its
    process group, never by `ray stop`, which would stop every cluster of the machine."""
    _require_ray()
    port, dashboard_port, agent_port = _free_ports(3)
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must fit
    log_path = temp_dir / "ray-start.log"
    command = [
        str(RAY),
        "start",
        "--head",
        "--block",
        f"--port={port}",
        f"--num-cpus={cpus}",
        "--include-dashboard=false",
        f"--dashboard-port={dashboard_port}",
        f"--dashboard-agent-listen-port={agent_port}",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **environment},
        )
    try:
        deadline = time.monotonic() + CLUSTER_START_SECONDS
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`ray start --head` did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        # `ray start --block` stops its processes on SIGTERM (about 5 s when idle); what outlives that goes by group.
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(CLUSTER_STOP_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """The module's cluster: 2 CPUs, no token (a loopback cluster of the test alone; Ray 2.60 turns
    token authentication on where ~/.ray/auth_token exists), and this process set to match."""
    saved_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        with _cluster(2, {"RAY_AUTH_MODE": "disabled"}) as address:
            yield address
    finally:
        if saved_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved_mode


def _sample_rows(name: str, count: int, folder: Path) -> Path:
    with (SAMPLE_DATA / name).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows[: count + 1])
    return path


# Explanation profiles off: made at index time, they encode each record's key phrases (not its
# passages, which are what the cluster encodes) and would blur the count of texts encoded.
NO_PROFILES = {"MATCHER_EXPLAIN_AT_INDEX": "false", **SHARED_MODELS}


def run(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main,
        ["--quiet", "--data-dir", str(data_dir), *args],
        env={**NO_PROFILES, **(env or {})},
        catch_exceptions=False,
    )


def _matcher(data_dir: Path, real_embedder) -> Matcher:
    settings = load_settings(environ=NO_PROFILES, data_dir=data_dir, show_progress=False)
    return open_matcher(settings, embedder=real_embedder)


def _ids(prefix: str) -> list[str]:
    return [f"{prefix}{number:03d}" for number in range(1, RECORDS + 1)]


def _passages(matcher: Matcher, kind: Kind, prefix: str) -> list[str]:
    records = matcher.catalogue.by_ids(kind, _ids(prefix))
    return [text for record in records.values() for text in matcher.passages_of(record)]


def _rankings(matcher: Matcher) -> dict[str, list[tuple[str, float]]]:
    """Every stored need's ranked projects (ids and scores), without explanations."""
    rankings = {}
    for need_id in matcher.catalogue.by_ids(Kind.NEEDS, _ids("N")):
        result = matcher.match(matcher.request(direction="need_to_projects", record_id=need_id, explain=False))
        rankings[need_id] = [(match.record.id, match.hit.score) for match in result.matches]
    return rankings


def test_embed_fills_the_cache_and_ingest_then_encodes_nothing(ray_address, real_embedder, tmp_path):
    projects = _sample_rows("projects.csv", RECORDS, tmp_path)
    needs = _sample_rows("needs.csv", RECORDS, tmp_path)
    cluster_dir = tmp_path / "cluster"

    result = run(cluster_dir, "embed", str(projects), "--kind", "projects", "--ray-address", ray_address)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    passages = int(lines[0].split(", ")[1].split()[0])
    assert passages >= RECORDS  # every record at least one passage (an abstract of the sample fits in one)
    assert lines == [
        f"{projects}: {RECORDS} projects, {passages} passages; sentence-transformers/all-MiniLM-L6-v2: "
        f"{passages} encoded, 0 already cached",
        f"{projects}: {RECORDS} projects, {passages} passages; google/universal-sentence-encoder-multilingual-3: "
        f"{passages} encoded, 0 already cached",
    ]
    matcher = _matcher(cluster_dir, real_embedder)
    assert matcher.catalogue.count(Kind.PROJECTS) == 0  # embed writes no record

    report = matcher.ingest_file(projects, Kind.PROJECTS)
    assert report.created == RECORDS
    assert matcher.vectors.encoded_count == 0
    assert matcher.multilingual_vectors is not None and matcher.multilingual_vectors.encoded_count == 0
    # The English channel's sentence sums came from the cluster too: explanations encode nothing.
    matcher.vectors.sentence_vectors(_passages(matcher, Kind.PROJECTS, "P"))
    assert matcher.vectors.encoded_count == 0

    # `ingest --ray-address`: the cluster encodes, the ingest that follows finds every vector.
    result = run(cluster_dir, "ingest", str(needs), "--kind", "needs", "--ray-address", ray_address)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{needs}: {RECORDS} needs: {RECORDS} created, 0 updated, 0 unchanged, 0 deleted"
    matcher = _matcher(cluster_dir, real_embedder)
    need_texts = _passages(matcher, Kind.NEEDS, "N")
    assert len(need_texts) >= RECORDS
    assert matcher.vectors.missing(need_texts) == []
    assert matcher.multilingual_vectors is not None and matcher.multilingual_vectors.missing(need_texts) == []

    local = _matcher(tmp_path / "local", real_embedder)
    local.ingest_file(projects, Kind.PROJECTS)
    local.ingest_file(needs, Kind.NEEDS)
    assert local.vectors.encoded_count > 0
    on_cluster, here = _rankings(matcher), _rankings(local)
    assert len(here) == RECORDS and all(here.values())
    assert {need: [key for key, _ in ranked] for need, ranked in on_cluster.items()} == {
        need: [key for key, _ in ranked] for need, ranked in here.items()
    }
    for need, ranked in here.items():
        assert [score for _, score in on_cluster[need]] == pytest.approx([score for _, score in ranked], abs=1e-4)


def test_an_unreachable_address_fails_naming_the_option_and_changes_nothing(tmp_path):
    _require_ray()
    needs = _sample_rows("needs.csv", 2, tmp_path)
    closed = f"127.0.0.1:{_free_ports(1)[0]}"
    result = run(tmp_path / "var", "ingest", str(needs), "--kind", "needs", "--ray-address", closed)
    assert result.exit_code == 1
    assert f"No Ray cluster answers at {closed} (option --ray-address)" in result.output
    assert "Traceback" not in result.output
    result = run(tmp_path / "var", "embed", str(needs), "--kind", "needs", env={"MATCHER_RAY_ADDRESS": closed})
    assert result.exit_code == 1 and f"No Ray cluster answers at {closed} (setting 'ray_address')" in result.output
    matcher = open_matcher(load_settings(environ=NO_PROFILES, data_dir=tmp_path / "var", show_progress=False))
    assert matcher.catalogue.count(Kind.NEEDS) == 0


def test_a_bad_file_fails_before_the_cluster_is_asked(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,abstract,trl\nP900,New,Text,3\nP901,,Text,12\n")
    unused = f"127.0.0.1:{_free_ports(1)[0]}"  # never contacted: validation comes first
    for command in ("embed", "ingest"):
        result = run(tmp_path / "var", command, str(bad), "--kind", "projects", "--ray-address", unused)
        assert result.exit_code == 1
        assert f"{bad}, row 3, field 'title': required field 'title' is empty" in result.output


def test_without_ray_installed_the_message_says_what_to_install(tmp_path, monkeypatch):
    needs = _sample_rows("needs.csv", 2, tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    result = run(tmp_path / "var", "embed", str(needs), "--kind", "needs", "--ray-address", "local")
    assert result.exit_code == 1
    assert "The option --ray-address asks for a Ray cluster, but Ray is not installed" in result.output
    assert "ray[data]==2.60.0" in result.output


def test_embed_without_an_address_encodes_here_once(tmp_path):
    needs = _sample_rows("needs.csv", 2, tmp_path)
    models = ("sentence-transformers/all-MiniLM-L6-v2", "google/universal-sentence-encoder-multilingual-3")
    first = run(tmp_path / "var", "embed", str(needs), "--kind", "needs")
    assert first.exit_code == 0, first.output
    passages = int(first.stdout.split(", ")[1].split()[0])
    head = f"{needs}: 2 needs, {passages} passages"
    assert first.stdout.splitlines() == [f"{head}; {model}: {passages} encoded, 0 already cached" for model in models]
    second = run(tmp_path / "var", "embed", str(needs), "--kind", "needs")
    assert second.stdout.splitlines() == [f"{head}; {model}: 0 encoded, {passages} already cached" for model in models]


@pytest.mark.slow  # a second cluster, and Ray retries a refused connection for seconds: about 25 s
def test_a_cluster_that_wants_a_token_says_so(tmp_path, monkeypatch):
    needs = _sample_rows("needs.csv", 2, tmp_path)
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # this process has no token
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    with _cluster(1, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}) as address:
        result = run(tmp_path / "var", "embed", str(needs), "--kind", "needs", "--ray-address", address)
    assert result.exit_code == 1
    assert f"The Ray cluster at {address} (option --ray-address) uses token authentication" in result.output
    assert "RAY_AUTH_MODE=token" in result.output
