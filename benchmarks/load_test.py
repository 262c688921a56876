#!/usr/bin/env python
"""Load test: wrk against `matcher serve` (gunicorn) on loopback, over at least 5,000 real records.

Projects: pap2pat-title papers and nfcorpus abstracts; needs: 1,000 SBIR topics. Cases: match by
id (GET /needs/<id>/matches over every need; with 1,000 ids a row repeats them, which costs the
same: the server keeps no results) and match by free text (POST /match with texts made from the
other 4,193 SBIR topics: each wrk thread of each row has its own slice, so every text is new to
the server, which would otherwise answer a repeated text from its in-memory query cache), at 1, 4
and 16 concurrent connections, with explanations (the default). Rate limits are off for the test.
wrk counts every non-2xx answer; the script fails a row that has any.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/load_test.py [--duration 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import NEEDS, PAPERS, REPO_ROOT, SHARED_DATA, beir_records, bench_settings, read_jsonl, work_dir
from matcher.engine import open as open_matcher
from matcher.records import Kind

LUA = r"""
-- Each wrk thread walks its own slice of the items, and each row starts at its own slices, so no
-- two requests of a run send the same item (as long as a slice is not used up: see "reused").
local items = {}
local kind = os.getenv("CASE")
for line in io.lines(os.getenv("ITEMS")) do items[#items + 1] = line end
local failures = 0
local threads = {}
local started = 0

setup = function(thread)
  thread:set("slice", started)
  started = started + 1
  table.insert(threads, thread)
end

init = function(args)
  first = tonumber(os.getenv("FIRST")) + slice * tonumber(os.getenv("SLICE"))
  position = first - 1
  sent = 0
end

request = function()
  sent = sent + 1
  position = position % #items + 1
  if kind == "id" then
    return wrk.format("GET", "/api/v1/needs/" .. items[position] .. "/matches?top_k=10")
  end
  return wrk.format("POST", "/api/v1/match", {["Content-Type"] = "application/json"}, items[position])
end

response = function(status, headers, body)
  if status >= 300 then failures = failures + 1 end
end

done = function(summary, latency, requests)
  local most = 0
  for _, thread in ipairs(threads) do most = math.max(most, thread:get("sent")) end
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f %d %d\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, failures,
    math.max(0, most - tonumber(os.getenv("SLICE")))))
end
"""


def build(data_dir: Path, shared: Path, cache: Path | None) -> tuple[list[str], list[str]]:
    settings = bench_settings(data_dir, show_progress=True, **({"embedding_cache": str(cache)} if cache else {}))
    matcher = open_matcher(settings)
    papers = beir_records(Kind.PROJECTS, "P", read_jsonl(shared / PAPERS, 10**6), "(untitled)")
    medical = beir_records(
        Kind.PROJECTS, "M", read_jsonl(shared / "nfcorpus" / "corpus.jsonl", 10**6)
    )  # untitled: text[:80]
    topics = read_jsonl(shared / NEEDS, 1000)
    needs = beir_records(Kind.NEEDS, "N", topics, "(untitled)")
    matcher.ingest_records(Kind.PROJECTS, papers + medical, "pap2pat-title and nfcorpus")
    matcher.ingest_records(Kind.NEEDS, needs, "sbir-topics")
    for kind in Kind:
        matcher.sync_index(kind)
    print(
        f"corpus: {len(papers) + len(medical)} projects, {len(needs)} needs ({len(papers) + len(medical) + len(needs)} records)"
    )
    # Free texts come from the SBIR topics that are not stored as needs, so none is known to the server.
    unseen = read_jsonl(shared / NEEDS, 10**6)[len(topics) :]
    texts = [json.dumps({"text": f"{r['title']}: {r['text'][:300]}", "top_k": 10}) for r in unseen]
    return [record.id for record in needs], texts


def wait_for(url: str, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not answer in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench-load"))
    parser.add_argument("--embedding-cache", type=Path, default=work_dir("bench") / "embeddings.sqlite")
    parser.add_argument("--duration", type=int, default=20, help="seconds per row")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cases", choices=("id", "text", "both"), default="both", help="which match cases to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (args.shared_data / "nfcorpus" / "corpus.jsonl").is_file() or not shutil.which("wrk"):
        print("SKIP: needs ../shared/data (pap2pat-title, nfcorpus, sbir-topics) and wrk (apt-get install wrk)")
        return
    cache = args.embedding_cache if args.embedding_cache.is_file() else None
    ids, texts = build(args.data_dir, args.shared_data, cache)
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "MATCHER_RATE_LIMIT": "", "MATCHER_WRITE_RATE_LIMIT": ""}
    if cache:
        environ["MATCHER_EMBEDDING_CACHE"] = str(cache)
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "--quiet",
        "--data-dir",
        str(args.data_dir),
        "serve",
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=environ)
    rows = []
    try:
        root = f"http://127.0.0.1:{args.port}"
        wait_for(f"{root}/api/v1/health", server)
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "load.lua"
            script.write_text(LUA, encoding="utf-8")
            for case, items in (("id", ids), ("text", texts)):
                if args.cases not in (case, "both"):
                    continue
                path = Path(folder) / f"{case}.txt"
                path.write_text("\n".join(items) + "\n", encoding="utf-8")
                slice_size = len(items) // 6  # three rows of at most two wrk threads each
                for row, connections in enumerate((1, 4, 16)):
                    run = subprocess.run(
                        [
                            "wrk",
                            "-t",
                            str(min(connections, 2)),
                            "-c",
                            str(connections),
                            "-d",
                            f"{args.duration}s",
                            "--timeout",
                            "10s",
                            "-s",
                            str(script),
                            root,
                        ],
                        env={
                            **os.environ,
                            "CASE": case,
                            "ITEMS": str(path),
                            "FIRST": str(2 * row * slice_size),
                            "SLICE": str(slice_size),
                        },
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    found = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", run.stdout)
                    assert found, run.stdout + run.stderr
                    requests, errors, micros, p50, p95, p99, failures, reused = found.groups()
                    if int(reused):
                        print(f"note: a wrk thread sent {reused} items beyond its slice of {slice_size} (repeats)")
                    rate = int(requests) / (int(micros) / 1e6)
                    rows.append(
                        (case, connections, rate, float(p50), float(p95), float(p99), int(errors) + int(failures))
                    )
                    print(
                        f"{case:<5} {connections:>3} clients: {rate:8.1f} req/s  p50 {float(p50):7.1f} ms  "
                        f"p95 {float(p95):7.1f} ms  p99 {float(p99):7.1f} ms  failed {int(errors) + int(failures)}",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(timeout=60)
    print("\n| case | clients | requests/s | p50 ms | p95 ms | p99 ms | failed |\n|---|---|---|---|---|---|---|")
    for case, connections, rate, p50, p95, p99, failed in rows:
        print(f"| match by {case} | {connections} | {rate:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {failed} |")


if __name__ == "__main__":
    main()
