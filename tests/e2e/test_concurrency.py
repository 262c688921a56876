"""Ingestion while matches are served, against the real gunicorn server with two workers.

Readers must always see a complete index (the old one or a new one, never a half-written one),
and two batches ingested at the same moment must both land.
"""

from __future__ import annotations

import json
import threading

from matcher.storage.catalogue import Catalogue
from service.api_keys import ApiKeys
from tests.e2e.conftest import call, copy_sample, serve

BATCH_SIZE = 5


def batch(tag: str) -> list[dict]:
    return [
        {
            "id": f"C{tag}{n}",
            "title": f"Concurrent test project {tag}{n}: cryogenic {tag.lower()}-series seals",
            "abstract": f"Seal design {n} for cryogenic hydrogen valves, batch {tag}, tested at 20 K with leak rates below 1e-6.",
            "institution": f"Institute {tag}",
        }
        for n in range(BATCH_SIZE)
    ]


def test_ingest_while_serving_loses_nothing_and_readers_see_whole_indexes(sample_dir, tmp_path_factory):
    data_dir = copy_sample(sample_dir, tmp_path_factory, "concurrent")
    Catalogue(data_dir / "catalogue.sqlite").migrate()
    key, _ = ApiKeys(data_dir / "catalogue.sqlite").create("concurrency test")
    environ = {"MATCHER_RATE_LIMIT": "", "MATCHER_WRITE_RATE_LIMIT": ""}
    with serve(data_dir, "--workers", "2", "--threads", "4", environ=environ) as served:
        before = call(f"{served.api}/health")[1]["indexes"]["projects"]["records"]
        seen: list[tuple[int, int]] = []
        writes: dict[str, tuple[int, dict]] = {}
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                status, body = call(f"{served.api}/needs/N027/matches?top_k=3")
                seen.append((status, body.get("candidates", -1)))
                status, body = call(
                    f"{served.api}/match", json.dumps({"text": "cryogenic hydrogen valve seals", "top_k": 3}).encode()
                )
                seen.append((status, body.get("candidates", -1)))

        def write(tag: str) -> None:
            writes[tag] = call(f"{served.api}/projects", json.dumps(batch(tag)).encode(), headers={"X-API-Key": key})

        readers = [threading.Thread(target=read) for _ in range(4)]
        writers = [threading.Thread(target=write, args=(tag,)) for tag in ("A", "B")]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=600)
        done.set()
        for thread in readers:
            thread.join(timeout=120)

        assert {tag: status for tag, (status, _) in writes.items()} == {"A": 200, "B": 200}, writes
        assert all(report["created"] == BATCH_SIZE for _, report in writes.values())
        assert seen and all(status == 200 for status, _ in seen), [s for s in seen if s[0] != 200][:5]
        whole = {before, before + BATCH_SIZE, before + 2 * BATCH_SIZE}
        assert {candidates for _, candidates in seen} <= whole, sorted({c for _, c in seen})

        health = call(f"{served.api}/health")[1]
        assert health["indexes"]["projects"] == {
            **health["indexes"]["projects"],
            "records": before + 2 * BATCH_SIZE,
            "indexed": before + 2 * BATCH_SIZE,
            "in_sync": True,
        }
        for record in batch("A") + batch("B"):
            status, body = call(f"{served.api}/projects/{record['id']}")
            assert status == 200 and body["abstract"] == record["abstract"]
        status, body = call(
            f"{served.api}/match", json.dumps({"text": "cryogenic hydrogen valve seals batch B", "top_k": 12}).encode()
        )
        assert {m["id"] for m in body["matches"]} >= {r["id"] for r in batch("B")}
