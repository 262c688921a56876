"""Faults: `matcher ingest` killed with SIGKILL at many points, and a gunicorn worker killed under load.

After every kill nothing is partial (the catalogue holds all of the file's records or none of
them; the saved index loads and agrees with its manifest), nothing is lost, and the data folder
heals itself: no one runs `matcher index` by hand, yet the next start (what a server worker runs
as it warms up) or the next writer leaves health "ok" and no leftover of an interrupted save.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path

import pytest

from matcher.config import Settings, load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.index.store import POINTER_PREFIX, STAGING_PREFIX
from matcher.ingest.readers import rows_from_objects
from matcher.ingest.validate import validate_table
from matcher.records import Kind
from service.server import repair_interrupted_writes
from tests.conftest import REPO, SAMPLE_DATA, SHARED_MODELS
from tests.e2e.conftest import call, copy_sample, serve

SEED = 20261201
FILE_RECORDS = 12
# Where the kills land: each phase of an ingest, the event its kills wait for, and how many.
# A kill waits for its event as it happens (watched from outside, see `Watch`), then for a delay
# drawn (fixed seed) within the phase's length as one ingest to its end measured it; events
# rather than times from the start, since a loaded machine stretches the start-up unevenly.
PHASES = {
    "starting, reading and validating the file": ("start", 5),
    "looking up its vectors, the catalogue's transaction": ("start", 5),
    "committed, the index being built": ("commit", 5),
    "the index being saved": ("staging", 5),
    "switched: pruning, exiting": ("switch", 4),
}
TRIALS = sum(kills for _, kills in PHASES.values())
EVENTS = ("commit", "staging", "switch")


def leftovers(data_dir: Path) -> list[str]:
    """Leftovers of interrupted saves under the index folder (staging folders, temporary pointers)."""
    index_dir = data_dir / "indexes"
    return sorted(
        f"{side.name}/{path.name}"
        for side in index_dir.iterdir()
        if side.is_dir()
        for path in side.iterdir()
        if path.name.startswith((STAGING_PREFIX, POINTER_PREFIX))
    )


def write_trial_file(path: Path, tag: str) -> list[str]:
    """The sample's first projects under new ids: texts the embedding cache already holds."""
    with (SAMPLE_DATA / "projects.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:FILE_RECORDS]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "id": f"{tag}-{row['id']}"} for row in rows)
    return [f"{tag}-{row['id']}" for row in rows]


class Watch:
    """The moments an ingest's catalogue commit, index staging and index switch happen, seen from outside.

    Polled every millisecond from a thread: the commit as the catalogue's revision of projects
    growing, the staging as a ``.staging-*`` folder appearing, the switch as ``CURRENT`` being
    replaced (a new inode). Times are seconds after :meth:`begin`.
    """

    def __init__(self, data_dir: Path) -> None:
        self.catalogue = data_dir / "catalogue.sqlite"
        self.side = data_dir / "indexes" / "projects"
        self.seen: dict[str, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)
        self.started = 0.0

    def _revision(self, connection: sqlite3.Connection) -> int:
        return int(connection.execute("SELECT revision FROM revisions WHERE kind = 'projects'").fetchone()[0])

    def _pointer(self) -> int | None:
        try:
            return (self.side / "CURRENT").stat().st_ino
        except FileNotFoundError:
            return None

    def _watch(self) -> None:
        connection = sqlite3.connect(self.catalogue, timeout=5)
        try:
            revision, pointer = self._revision(connection), self._pointer()
            while not self._done.is_set() and len(self.seen) < len(EVENTS):
                now = time.monotonic() - self.started
                if "commit" not in self.seen and self._revision(connection) != revision:
                    self.seen["commit"] = now
                if "staging" not in self.seen and any(
                    name.startswith(STAGING_PREFIX) for name in os.listdir(self.side)
                ):
                    self.seen["staging"] = now
                if "switch" not in self.seen and self._pointer() != pointer:
                    self.seen["switch"] = now
                time.sleep(0.001)
        finally:
            connection.close()

    def begin(self) -> Watch:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def wait(self, event: str, pid: int) -> bool:
        """Wait until ``event`` was seen (True) or the process ``pid`` has ended without it (False)."""
        while event not in self.seen:
            if not alive(pid):
                return event in self.seen
            time.sleep(0.0005)
        return True

    def end(self) -> dict[str, float]:
        """Stop watching; the moments seen, and the end."""
        self.seen.setdefault("end", time.monotonic() - self.started)
        self._done.set()
        self._thread.join(timeout=10)
        return self.seen


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a finished child not yet reaped is a zombie: not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def kill_plan(measured: dict[str, float], chance: random.Random) -> list[tuple[str, str, float]]:
    """Each kill as (phase, event it waits for, delay after it): every phase cut into as many equal
    strata as it gets kills, one delay drawn at random in each; shuffled."""
    commit, staging, switch, end = (measured[name] for name in ("commit", "staging", "switch", "end"))
    spans = {  # each phase's stretch after its event, as measured
        "starting, reading and validating the file": (0.0, 0.7 * commit),
        "looking up its vectors, the catalogue's transaction": (0.7 * commit, commit),
        "committed, the index being built": (0.0, staging - commit),
        "the index being saved": (0.0, switch - staging),
        "switched: pruning, exiting": (0.0, 1.5 * (end - switch)),
    }
    plan = [
        (phase, event, low + (high - low) * (stratum + chance.random()) / kills)
        for phase, (event, kills) in PHASES.items()
        for low, high in [spans[phase]]
        for stratum in range(kills)
    ]
    chance.shuffle(plan)
    return plan


class Forker:
    """`matcher` commands run in children forked from one warm process (tests/e2e/forker.py)."""

    def __init__(self, log_dir: Path, environ: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.forker"],
            cwd=REPO,
            env={**os.environ, **environ},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._answer() == {"ready": True}

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the forker exited with {self.process.wait(timeout=30)}")
        return json.loads(line)  # type: ignore[no-any-return]

    def _send(self, request: dict) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def start(self, name: str, *arguments: str) -> int:
        return int(self._send({"run": list(arguments), "log": str(self.log_dir / f"{name}.log")})["pid"])

    def reap(self, pid: int) -> int:
        return int(self._send({"reap": pid})["status"])

    def run(self, name: str, *arguments: str) -> str:
        """Run a command to its end; its output (the command failing is an error)."""
        status = self.reap(self.start(name, *arguments))
        output = (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        assert status == 0, output
        return output

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def forker(tmp_path) -> Iterator[Forker]:
    # Explanation profiles are made after the index's switch (and load the model): off, so each
    # ingest is over in about a second and every kill lands in what must stay all or nothing.
    runner = Forker(
        tmp_path, {"HF_HUB_OFFLINE": "1", "MATCHER_SHOW_PROGRESS": "false", "MATCHER_EXPLAIN_AT_INDEX": "false"}
    )
    yield runner
    runner.close()


def open_fresh(settings: Settings, real_embedder) -> Matcher:
    """The data folder as a new process sees it (nothing loaded before)."""
    return open_matcher(settings, embedder=real_embedder)


def check_whole(matcher: Matcher, expected_ids: set[str], trial_ids: list[str], needs: int) -> str:
    """Nothing partial, nothing lost; which state the kill left (for the summary)."""
    stored = matcher.catalogue.content_hashes(Kind.PROJECTS)
    landed = set(trial_ids) & set(stored)
    assert landed in (set(), set(trial_ids)), f"a partial file: {len(landed)} of {len(trial_ids)} records"
    assert expected_ids <= set(stored), f"lost records: {sorted(expected_ids - set(stored))[:5]}"
    assert set(stored) == expected_ids | landed, sorted(set(stored) - expected_ids - landed)[:5]
    assert matcher.catalogue.count(Kind.NEEDS) == needs
    manifest = matcher.store.manifest(Kind.PROJECTS)
    index = matcher.index(Kind.PROJECTS)  # the current generation loads
    assert manifest is not None and manifest["count"] == index.count == len(index.vector.entries)
    assert manifest["revision"] == index.revision <= matcher.catalogue.revision(Kind.PROJECTS)
    keys = set(matcher.catalogue.text_hashes(Kind.PROJECTS))
    assert set(index.vector.entries) <= keys and set(index.lexical.tokens) == set(index.vector.entries)
    in_step = index.revision == matcher.catalogue.revision(Kind.PROJECTS)
    if in_step:
        assert set(index.vector.entries) == keys
    if not landed:
        return "nothing written"
    return "complete" if in_step else "catalogue ahead of the index"


def check_healed(matcher: Matcher) -> None:
    health = matcher.health()
    assert health["status"] == "ok", health["indexes"]
    index = matcher.index(Kind.PROJECTS)
    assert set(index.vector.entries) == set(matcher.catalogue.text_hashes(Kind.PROJECTS))
    assert leftovers(matcher.settings.data_dir) == []


def test_ingest_killed_at_any_point_leaves_nothing_partial_and_heals_itself(
    sample_dir, tmp_path_factory, tmp_path, real_embedder, forker
):
    data_dir = copy_sample(sample_dir, tmp_path_factory, "faults")
    settings = load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False, explain_at_index=False)
    base = open_fresh(settings, real_embedder)
    expected_ids = set(base.catalogue.content_hashes(Kind.PROJECTS))
    needs = base.catalogue.count(Kind.NEEDS)
    command = ("--data-dir", str(data_dir), "ingest")

    # One ingest to its end, watched: how long its phases take, for the kills to spread over.
    expected_ids |= set(write_trial_file(tmp_path / "measure.csv", "M"))
    watch = Watch(data_dir).begin()
    forker.run("measure", *command, str(tmp_path / "measure.csv"), "--kind", "projects")
    measured = watch.end()
    assert measured["commit"] < measured["staging"] < measured["switch"] < measured["end"], measured
    check_healed(open_fresh(settings, real_embedder))

    states: Counter[tuple[str, str]] = Counter()
    for trial, (phase, event, delay) in enumerate(kill_plan(measured, random.Random(SEED))):
        path = tmp_path / f"trial{trial}.csv"
        trial_ids = write_trial_file(path, f"T{trial}")
        watch = Watch(data_dir).begin()
        pid = forker.start(f"trial{trial}", *command, str(path), "--kind", "projects")
        if event == "start" or watch.wait(event, pid):
            time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # a zombie (finished, not reaped) takes it harmlessly
        status = forker.reap(pid)
        watch.end()

        after_kill = open_fresh(settings, real_embedder)
        state = check_whole(after_kill, expected_ids, trial_ids, needs)
        states[phase, f"{state}{', leftovers' if leftovers(data_dir) else ''}"] += 1
        assert status in (0, -signal.SIGKILL)

        # Healing, with no `matcher index`: by turns a new worker's start, or the next writer
        # (the same file sent again, as whoever ran it would).
        landed = state != "nothing written"
        if trial % 2 == 0:
            repair_interrupted_writes(open_fresh(settings, real_embedder), pid=0)
        else:
            output = forker.run(f"again{trial}", *command, str(path), "--kind", "projects")
            assert f"{FILE_RECORDS} unchanged" in output if landed else f"{FILE_RECORDS} created" in output
            landed = True
        if landed:
            expected_ids |= set(trial_ids)
        check_healed(open_fresh(settings, real_embedder))

    timings = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in measured.items())
    print(f"\n{TRIALS} kills (seed {SEED}); the measured ingest: {timings}")
    for (phase, state), count in sorted(states.items()):
        print(f"  killed {phase}: {count} x {state}")


def test_matcher_index_removes_leftovers_of_an_interrupted_save(sample_dir, tmp_path_factory, real_embedder, forker):
    data_dir = copy_sample(sample_dir, tmp_path_factory, "leftovers")
    for kind in Kind:
        (data_dir / "indexes" / kind.value / f"{STAGING_PREFIX}r00000099-deadbeef").mkdir()
        (data_dir / "indexes" / kind.value / f"{POINTER_PREFIX}0badf00d").write_text("r00000099-deadbeef\n")
    output = forker.run("index", "--data-dir", str(data_dir), "index")
    assert output.count("left by an interrupted write") == 4
    assert leftovers(data_dir) == []
    settings = load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False)
    assert open_fresh(settings, real_embedder).health()["status"] == "ok"


# -- a worker killed under load ---------------------------------------------------------------


def worker_pids(master: int) -> set[int]:
    """The gunicorn master's children (its workers), from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == master:
            children.add(int(entry.name))
    return children


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.2)


def make_degraded(data_dir: Path, real_embedder) -> int:
    """What an ingest killed between the catalogue's commit and the index's switch leaves behind,
    with the leftovers of a save that was under way."""
    matcher = open_fresh(load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False), real_embedder)
    before = matcher.catalogue.count(Kind.PROJECTS)
    with (SAMPLE_DATA / "projects.csv").open(encoding="utf-8", newline="") as handle:
        row = next(iter(csv.DictReader(handle)))
    (record,) = validate_table(rows_from_objects([{**row, "id": "K-P001"}], "test"), Kind.PROJECTS)
    matcher.catalogue.apply(Kind.PROJECTS, [record], [], Counter())  # its texts are in the cache already
    (data_dir / "indexes" / "projects" / f"{STAGING_PREFIX}r00000099-deadbeef").mkdir()
    (data_dir / "indexes" / "projects" / f"{POINTER_PREFIX}0badf00d").write_text("r00000099-deadbeef\n")
    assert matcher.health()["status"] == "degraded"
    return before


def test_a_killed_worker_is_replaced_and_requests_keep_succeeding(sample_dir, tmp_path_factory, real_embedder):
    data_dir = copy_sample(sample_dir, tmp_path_factory, "worker-kill")
    before = make_degraded(data_dir, real_embedder)
    environ = {"MATCHER_RATE_LIMIT": "", "MATCHER_WRITE_RATE_LIMIT": ""}
    with serve(data_dir, "--workers", "2", "--threads", "2", environ=environ) as served:
        # Both workers healed as they started (one repaired, the other found it in step): no `matcher index`.
        health = call(f"{served.api}/health")[1]
        projects = health["indexes"]["projects"]
        assert health["status"] == "ok" and projects["records"] == projects["indexed"] == before + 1, health
        assert leftovers(data_dir) == []
        wait_for(lambda: len(worker_pids(served.pid)) == 2, 180, "two workers")
        workers = worker_pids(served.pid)

        results: list[tuple[float, object]] = []  # (when it ended, status or the connection error)
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                try:
                    status, _ = call(f"{served.api}/needs/N027/matches?top_k=3")
                except (OSError, HTTPException, ValueError) as error:  # the killed worker's connection
                    results.append((time.monotonic(), error))
                else:
                    results.append((time.monotonic(), status))

        readers = [threading.Thread(target=read) for _ in range(4)]
        for thread in readers:
            thread.start()
        try:
            wait_for(lambda: len(results) >= 4, 120, "requests before the kill")
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            wait_for(
                lambda: len(new := worker_pids(served.pid)) == 2 and victim not in new,
                180,
                "the master replacing the killed worker",
            )
            wait_for(lambda: sum(1 for when, _ in results if when > killed_at) >= 8, 120, "requests after the kill")
        finally:
            done.set()
            for thread in readers:
                thread.join(timeout=150)

        failed = [outcome for _, outcome in results if outcome != 200]
        # Only requests in flight on the killed worker may fail (each reader has one at a time),
        # and only as a dropped connection, never as an error answer.
        assert len(failed) <= len(readers), failed
        assert all(isinstance(outcome, Exception) for outcome in failed), failed
        assert sum(1 for when, outcome in results if when > killed_at and outcome == 200) >= 8 - len(failed)
        health = call(f"{served.api}/health")[1]
        assert health["status"] == "ok", health
        for _ in range(6):
            assert call(f"{served.api}/needs/N027/matches?top_k=3")[0] == 200
        # The replacement may still be loading its model, which would hold the master's shutdown
        # for its graceful timeout (30 s): stop the master first, then that worker at once.
        os.kill(served.pid, signal.SIGTERM)
        for pid in worker_pids(served.pid) - workers:
            os.kill(pid, signal.SIGKILL)
