"""Rate limits against the real gunicorn server with two workers: one budget per client, whichever
endpoint and whichever worker a request reaches, counted in the embedded SQLite store or in a real
Redis server started here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from matcher.storage.catalogue import Catalogue
from service.api_keys import ApiKeys
from tests.e2e.conftest import Served, call, copy_sample, free_port, serve

READ_LIMIT = 20
# A window long enough that no burst below outlives it, however slow the machine: a fixed window
# that turned in the middle of one would hand out a second budget. (On this machine 60 reads at
# four at a time took 32 s: the 20 that pass include five matches of a new text.)
LIMITS = {"MATCHER_RATE_LIMIT": f"{READ_LIMIT} per 10 minutes"}

# Reads of four kinds, taken in turn: the budget is one for all of them.
READS: list[tuple[str, dict | None]] = [
    ("/needs/N027/matches?top_k=3", None),
    ("/projects/P001", None),
    ("/match", {"text": "laser welding of aluminium battery trays", "top_k": 3}),
    ("/openapi.json", None),
]


def burst(served: Served, count: int, headers: dict[str, str] | None = None) -> Counter[int]:
    """``count`` reads over the four endpoints from four threads at once; their statuses."""

    def read(number: int) -> int:
        path, body = READS[number % len(READS)]
        status, answer = call(f"{served.api}{path}", json.dumps(body).encode() if body else None, headers=headers)
        if status == 429:
            assert answer["error"]["code"] == "rate_limited"
        return status

    with ThreadPoolExecutor(4) as pool:
        return Counter(pool.map(read, range(count)))


def workers_of(master: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return sorted(children)


def written(pid: int) -> int:
    """Bytes the process has written so far (sockets too): it grows only while the worker serves."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no wchar in /proc/{pid}/io")


def wait_until_both_workers_serve(served: Served) -> list[int]:
    """Poll /health (as the proxy's or the test's own address) until each worker has answered once."""
    workers = workers_of(served.pid)
    assert len(workers) == 2, workers
    before = {pid: written(pid) for pid in workers}
    deadline = time.monotonic() + 120
    while not all(written(pid) > before[pid] for pid in workers):
        assert time.monotonic() < deadline, "a worker never answered"
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: call(f"{served.api}/health"), range(2)))
    return workers


def prepared(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, str, str]:
    data_dir = copy_sample(sample_dir, tmp_path_factory, name)
    Catalogue(data_dir / "catalogue.sqlite").migrate()
    keys = ApiKeys(data_dir / "catalogue.sqlite")
    return data_dir, keys.create("office A")[0], keys.create("office B")[0]


def test_one_budget_per_client_across_endpoints_and_workers_in_the_embedded_store(sample_dir, tmp_path_factory):
    data_dir, key_a, key_b = prepared(sample_dir, tmp_path_factory, "limits-sqlite")
    with serve(data_dir, "--workers", "2", "--threads", "2", environ=LIMITS) as served:
        workers = wait_until_both_workers_serve(served)
        before = {pid: written(pid) for pid in workers}
        statuses = burst(served, 3 * READ_LIMIT, {"X-API-Key": key_a})
        assert statuses == Counter({200: READ_LIMIT, 429: 2 * READ_LIMIT})
        assert all(written(pid) > before[pid] for pid in workers)  # both workers took part
        assert burst(served, READ_LIMIT + 10, {"X-API-Key": key_b}) == Counter({200: READ_LIMIT, 429: 10})
        # Served directly, a forged X-Forwarded-For buys nothing: the peer's address is counted, and
        # the /health polls above have spent its budget already.
        forged = Counter(
            call(f"{served.api}/projects/P001", headers={"X-Forwarded-For": f"198.51.100.{n}"})[0] for n in range(25)
        )
        assert forged[200] <= READ_LIMIT and forged[429] >= 5
    assert (data_dir / "limits.sqlite").exists()


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; `make system-packages` installs it (CI must not skip this)")
        pytest.skip("redis-server is not installed (`make system-packages` installs it); under CI this fails")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_one_budget_per_forwarded_address_and_key_in_a_real_redis(sample_dir, tmp_path_factory):
    import redis

    data_dir, key_a, _ = prepared(sample_dir, tmp_path_factory, "limits-redis")
    with redis_server() as uri:
        environ = {**LIMITS, "MATCHER_RATE_LIMIT_STORAGE": uri, "MATCHER_TRUSTED_PROXIES": "1"}
        with serve(data_dir, "--workers", "2", "--threads", "2", environ=environ) as served:
            workers = wait_until_both_workers_serve(served)  # as the proxy itself: its own budget
            before = {pid: written(pid) for pid in workers}
            first = burst(served, 3 * READ_LIMIT, {"X-Forwarded-For": "203.0.113.1"})
            assert first == Counter({200: READ_LIMIT, 429: 2 * READ_LIMIT})
            assert all(written(pid) > before[pid] for pid in workers)
            second = burst(served, READ_LIMIT + 10, {"X-Forwarded-For": "203.0.113.2"})
            assert second == Counter({200: READ_LIMIT, 429: 10})
            keyed = burst(served, READ_LIMIT + 10, {"X-Forwarded-For": "203.0.113.1", "X-API-Key": key_a})
            assert keyed == Counter({200: READ_LIMIT, 429: 10})  # a key has its own budget, wherever from
        counters = redis.Redis.from_url(uri).keys("*")
        assert any(b"ip:203.0.113.1" in name for name in counters) and any(b"key:" in name for name in counters)
    assert not (data_dir / "limits.sqlite").exists()  # the counts were kept in Redis only
