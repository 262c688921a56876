"""Self-healing after killed writers, and the write lock's time limit (fake embedder, real SQLite and FAISS)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from matcher.config import load_settings
from matcher.engine import STALE_TEMPORARY_SECONDS, Matcher, open as open_matcher
from matcher.errors import Busy, ConfigError
from matcher.ingest.readers import rows_from_objects
from matcher.ingest.validate import validate_table
from matcher.records import Kind
from matcher.support.atomic_files import remove_stale_temporaries, write_atomically
from matcher.support.locks import LockTimeout, WriteLock
from service import create_app
from service.api_keys import ApiKeys
from service.cli import main

PROJECTS = [
    {"id": "P1", "title": "Laser welding", "abstract": "laser welding of aluminium battery trays"},
    {"id": "P2", "title": "Rust coatings", "abstract": "corrosion coatings for steel bridges"},
]
NEEDS = [{"id": "N1", "title": "Tray welding", "description": "aluminium battery trays laser welding"}]
NEW = {"id": "P3", "title": "Battery cooling", "abstract": "thermal management of battery packs"}


@pytest.fixture
def matcher(settings, fake_embedder) -> Matcher:
    engine = open_matcher(settings, embedder=fake_embedder)
    engine.ingest_batch(Kind.PROJECTS, PROJECTS)
    engine.ingest_batch(Kind.NEEDS, NEEDS)
    return engine


def commit_without_indexing(matcher: Matcher, item: dict) -> None:
    """What a writer killed between the catalogue's commit and the index's switch leaves behind."""
    (record,) = validate_table(rows_from_objects([item], "test"), Kind.PROJECTS)
    matcher.vectors.vectors(matcher.passages_of(record), with_sentences=True)  # encoded before the commit
    matcher.catalogue.apply(Kind.PROJECTS, [record], [], Counter())


def plant_leftovers(matcher: Matcher) -> list[Path]:
    """A staging folder and a temporary pointer per side, as an interrupted save leaves them."""
    planted = []
    for kind in Kind:
        side = matcher.settings.index_dir / kind.value
        staging = side / ".staging-r00000009-deadbeef"
        staging.mkdir(parents=True)
        (staging / "index.faiss").write_bytes(b"half")
        pointer = side / ".CURRENT.0badf00d"
        pointer.write_text("r00000009-deadbeef\n")
        planted += [staging, pointer]
    return planted


@contextmanager
def held_elsewhere(path: Path) -> Iterator[None]:
    """The write lock held by another thread through its own open file, as another process would."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with WriteLock(path).held():
            taken.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(timeout=10)
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=10)


# -- the lock ---------------------------------------------------------------------------------------


def test_the_lock_gives_up_after_its_timeout_and_is_reentrant_meanwhile(tmp_path):
    path = tmp_path / ".write.lock"
    lock = WriteLock(path, timeout=0.2)
    with lock.held(), lock.held(timeout=0.01):  # its own holder takes it again at once
        pass
    with held_elsewhere(path):
        with pytest.raises(LockTimeout, match=r"stayed locked by another writer for 0\.2 s"), lock.held():
            pass
        with pytest.raises(LockTimeout), lock.held(timeout=0.05):
            pass
    with lock.held():  # free again
        pass


def test_a_thread_of_the_same_process_waits_its_timeout_too(tmp_path):
    lock = WriteLock(tmp_path / ".write.lock", timeout=0.1)
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with lock.held():
            inside.set()
            leave.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(timeout=10)
    try:
        with pytest.raises(LockTimeout), lock.held():
            pass
    finally:
        leave.set()
        holder.join(timeout=10)


def test_a_lock_without_a_limit_waits_for_the_holder(tmp_path):
    path = tmp_path / ".write.lock"
    lock = WriteLock(path)
    with held_elsewhere(path):
        waited = threading.Event()

        def write() -> None:
            with lock.held():
                waited.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not waited.wait(timeout=0.3)  # still waiting: no limit
    writer.join(timeout=10)
    assert waited.is_set()


def test_a_write_behind_another_process_is_busy(matcher):
    """Another process (not a thread) holds the lock: the write gives up with Busy and changes nothing."""
    path = matcher.settings.data_dir / ".write.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"handle = open({str(path)!r}, 'a'); fcntl.flock(handle, fcntl.LOCK_EX)\n"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        engine = open_matcher(matcher.settings.replace(write_lock_timeout=0.3), embedder=matcher.embedder)
        with pytest.raises(Busy, match="nothing was changed, try again in 5 s") as caught:
            engine.ingest_batch(Kind.PROJECTS, [NEW])
        assert caught.value.code == "busy" and caught.value.retry_after == 5
        assert caught.value.details == {"waited_seconds": 0.3, "retry_after": 5}
        assert engine.catalogue.count(Kind.PROJECTS) == 2
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert engine.ingest_batch(Kind.PROJECTS, [NEW]).created == 1


@pytest.mark.parametrize("rate_limit", ["", "600 per minute"])
def test_a_busy_write_over_http_is_503_with_retry_after(matcher, rate_limit):
    settings = matcher.settings.replace(write_lock_timeout=0.2, rate_limit=rate_limit, write_rate_limit=rate_limit)
    engine = open_matcher(settings, embedder=matcher.embedder)
    key, _ = ApiKeys(settings.catalogue_path).create("tests")
    client = create_app(settings, matcher=engine).test_client()
    with held_elsewhere(settings.data_dir / ".write.lock"):
        response = client.post("/api/v1/projects", json=[NEW], headers={"X-API-Key": key})
        deleted = client.delete("/api/v1/projects/P1", headers={"X-API-Key": key})
    assert response.status_code == 503
    # The rate limiter sets Retry-After on every answer, to the later of its window's reset and ours.
    retry_after = int(response.headers["Retry-After"])
    assert retry_after == 5 if not rate_limit else retry_after >= 5
    error = response.get_json()["error"]
    assert error["code"] == "busy" and "write lock" in error["message"] and error["details"]["retry_after"] == 5
    assert str(settings.data_dir) not in error["message"]  # no server path in a public answer
    assert deleted.status_code == 503 and deleted.get_json()["error"]["code"] == "busy"
    assert client.post("/api/v1/projects", json=[NEW], headers={"X-API-Key": key}).status_code == 200


def test_the_lock_timeouts_are_settings_and_the_cli_waits_without_limit(tmp_path):
    settings = load_settings(environ={"MATCHER_WRITE_LOCK_TIMEOUT": "2.5"}, data_dir=tmp_path)
    assert (settings.write_lock_timeout, settings.cli_write_lock_timeout) == (2.5, 0.0)
    assert load_settings(environ={}).write_lock_timeout == 30.0
    assert load_settings(environ={"MATCHER_WRITE_LOCK_TIMEOUT": "0"}).write_lock_timeout == 0.0
    with pytest.raises(ConfigError, match="Setting 'write_lock_timeout' from the environment must be a positive"):
        load_settings(environ={"MATCHER_WRITE_LOCK_TIMEOUT": "-1"})


def test_the_cli_fails_cleanly_when_busy_past_its_own_limit(matcher, tmp_path):
    data_dir = matcher.settings.data_dir
    (tmp_path / "p.jsonl").write_text('{"id": "P3", "title": "T", "abstract": "thermal packs"}\n')
    from click.testing import CliRunner

    runner = CliRunner()
    with held_elsewhere(data_dir / ".write.lock"):
        result = runner.invoke(
            main,
            ["--data-dir", str(data_dir), "--quiet", "ingest", str(tmp_path / "p.jsonl"), "--kind", "projects"],
            env={"MATCHER_CLI_WRITE_LOCK_TIMEOUT": "0.2"},
        )
    assert result.exit_code == 1, result.output
    assert "Error: Another write held the data folder's write lock for all of the 0.2 s" in result.output


# -- healing --------------------------------------------------------------------------------------


def test_heal_removes_leftovers_and_brings_a_side_behind_in_step_without_encoding(matcher, fake_embedder):
    commit_without_indexing(matcher, NEW)
    planted = plant_leftovers(matcher)
    assert matcher.health()["status"] == "degraded"
    encoded = len(fake_embedder.encoded)
    current = {kind: matcher.store.current_generation(kind) for kind in Kind}

    repair = matcher.heal()

    assert sorted(repair.removed) == sorted(planted) and repair.synced == [Kind.PROJECTS]
    assert not any(path.exists() for path in planted)
    assert matcher.health()["status"] == "ok"
    assert matcher.index(Kind.PROJECTS).count == 3
    texts = matcher.passages_of(matcher.get(Kind.PROJECTS, "P3"))
    assert not set(texts) & set(fake_embedder.encoded[encoded:])  # from the cache (only its keyphrases are new)
    assert matcher.store.current_generation(Kind.NEEDS) == current[Kind.NEEDS]  # in step: untouched
    assert (
        matcher.match(matcher.request(text="thermal management of battery packs", top_k=1)).matches[0].record.id == "P3"
    )
    assert matcher.heal().synced == []  # a second worker finds it in step


def test_heal_of_a_fresh_data_folder_does_nothing(settings, fake_embedder):
    engine = open_matcher(settings, embedder=fake_embedder)
    repair = engine.heal()
    assert (repair.removed, repair.synced) == ([], [])
    assert all(engine.store.current_generation(kind) is None for kind in Kind)


def test_heal_repairs_a_side_whose_first_index_was_never_saved(settings, fake_embedder):
    engine = open_matcher(settings, embedder=fake_embedder)
    commit_without_indexing(engine, NEW)
    assert engine.heal().synced == [Kind.PROJECTS]
    assert engine.health()["indexes"]["projects"] == {**engine.health()["indexes"]["projects"], "in_sync": True}
    assert engine.index(Kind.PROJECTS).count == 1


def test_the_next_writer_repairs_the_side_even_when_it_changes_nothing(matcher, fake_embedder):
    commit_without_indexing(matcher, NEW)
    plant_leftovers(matcher)
    report = matcher.ingest_batch(Kind.PROJECTS, [NEW])  # the same file sent again: unchanged
    assert (report.created, report.unchanged) == (0, 1)
    assert matcher.health()["indexes"]["projects"]["in_sync"] is True
    assert matcher.index(Kind.PROJECTS).count == 3
    side = matcher.settings.index_dir / "projects"
    assert not [path.name for path in side.iterdir() if path.name.startswith(".")]


def test_heal_waits_for_a_live_writer_and_leaves_its_staging_alone(matcher):
    """While another writer holds the lock its staging folder is live: healing gives up, touching nothing."""
    staging = matcher.settings.index_dir / "projects" / ".staging-r00000009-live0000"
    with held_elsewhere(matcher.settings.data_dir / ".write.lock"):
        staging.mkdir()
        with pytest.raises(Busy):
            matcher.heal(timeout=0.1)
        assert staging.is_dir()
    assert staging in matcher.heal().removed


def test_two_processes_healing_at_once_repair_once(matcher, fake_embedder):
    commit_without_indexing(matcher, NEW)
    engines = [open_matcher(matcher.settings, embedder=fake_embedder) for _ in range(2)]
    repairs = []
    threads = [threading.Thread(target=lambda engine=engine: repairs.append(engine.heal())) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(len(repair.synced) for repair in repairs) == [0, 1]
    assert matcher.health()["status"] == "ok"


def test_only_stale_temporaries_of_an_atomic_write_are_removed(tmp_path):
    target = write_atomically(tmp_path / "reranker.json", b"{}")
    stale, fresh = tmp_path / ".reranker.json.dead0001", tmp_path / ".reranker.json.live0002"
    stale.write_bytes(b"{")
    fresh.write_bytes(b"{")
    old = time.time() - STALE_TEMPORARY_SECONDS - 60
    os.utime(stale, (old, old))
    (tmp_path / ".other.json.dead0003").write_bytes(b"{")
    os.utime(tmp_path / ".other.json.dead0003", (old, old))
    assert remove_stale_temporaries(target, STALE_TEMPORARY_SECONDS) == [stale]
    assert fresh.exists() and target.exists() and (tmp_path / ".other.json.dead0003").exists()
