#!/usr/bin/env python
"""A national-size catalogue on one machine: ingest, index and serve ``--records`` real-text records.

The texts are real (../shared/data): pap2pat papers and NFCorpus abstracts as projects, SBIR topics
and pap2pat patents as needs, Chinese TICO-19 sentences on both sides. There are about 15,000
distinct texts; ``--distinct`` of each side's are drawn at random, and the catalogue repeats them: each copy is a record of its own (its
id, institution or enterprise, region, industry, TRL and date vary), in the catalogue, the FAISS
and BM25 indexes and every match, while its text is encoded once (the cache never encodes a text
twice). The encoding time of 100,000 distinct texts is not measured here.

Steps, each timed with the process's peak memory: write the two CSV files; ``matcher ingest`` of
each in a subprocess (validate, catalogue, both dense channels, FAISS, BM25, explanation
profiles); then ``matcher serve`` (real gunicorn, 2 workers) answering matches by id and by new
text over HTTP, without and with a filter that about 10% of records pass; the workers' memory.
Run from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_catalogue_scale.py [--records 100000] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from common import REPO_ROOT, SHARED_DATA, percentile, read_jsonl, work_dir

log = logging.getLogger("bench_catalogue_scale")

# Characters the validator rejects (control characters, U+FFFD): texts holding them are left out.
_REJECTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")

PROJECT_SOURCES = ("pap2pat-title/corpus.jsonl", "nfcorpus/corpus.jsonl", "xling-tico19-zh2en/queries.jsonl")
NEED_SOURCES = ("sbir-topics/needs.jsonl", "pap2pat-reverse/corpus.jsonl", "xling-tico19-en2zh/corpus.jsonl")
INSTITUTIONS = (
    "Jilin University",
    "Changchun Institute of Applied Chemistry",
    "Northeast Normal University",
    "长春光学精密机械与物理研究所",
    "吉林农业大学",
    "Changchun University of Technology",
)
ENTERPRISES = ("FAW Group", "CRRC Changchun", "长春高新", "Jilin Chemical", "皓月集团", "Changchun Optics Co.")
REGIONS = ("Changchun", "Jilin", "Harbin", "Shenyang", "Beijing", "Shanghai", "Shenzhen", "Dalian", "Xi'an", "Wuhan")
INDUSTRIES = (
    "automotive",
    "optics",
    "chemicals",
    "agriculture",
    "biomedicine",
    "rail",
    "energy",
    "electronics",
    "materials",
    "software",
)
QUERIES = (
    "laser welding of aluminium battery trays",
    "early detection of crop disease from drone images",
    "低成本固态电池电解质",
    "corrosion monitoring of rail bridges",
    "biodegradable packaging film",
    "机器视觉缺陷检测",
    "heat treatment of high-strength steel",
    "vaccine cold chain logistics",
)


def distinct_texts(shared: Path, sources: tuple[str, ...]) -> list[tuple[str, str]]:
    """(title, body) of every row of ``sources``, without repeats and without empty bodies."""
    seen: set[str] = set()
    texts = []
    for source in sources:
        for row in read_jsonl(shared / source, 10**9):
            body = " ".join(str(row.get("text", "")).split())
            if len(body) < 8 or body in seen or _REJECTED.search(body):
                continue
            seen.add(body)
            title = " ".join(str(row.get("title") or "").split()) or body[:60]
            texts.append((title[:200], body[:20_000]))
    return texts


def write_projects(path: Path, texts: list[tuple[str, str]], count: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "abstract", "institution", "fields", "trl", "updated"])
        for number in range(count):
            title, body = texts[number % len(texts)]
            writer.writerow(
                [
                    f"P{number:06d}",
                    title,
                    body,
                    rng.choice(INSTITUTIONS),
                    rng.choice(INDUSTRIES),
                    rng.randint(1, 9),
                    f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
                ]
            )


def write_needs(path: Path, texts: list[tuple[str, str]], count: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description", "enterprise", "industry", "region", "deadline"])
        for number in range(count):
            title, body = texts[number % len(texts)]
            writer.writerow(
                [
                    f"N{number:06d}",
                    title,
                    body,
                    rng.choice(ENTERPRISES),
                    rng.choice(INDUSTRIES),
                    rng.choice(REGIONS),
                    f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                ]
            )


def timed_command(arguments: list[str], environment: dict[str, str]) -> dict[str, Any]:
    """Run a ``matcher`` command; its wall time and the peak memory of it and its children."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    completed = subprocess.run(arguments, env=environment, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_gb": round(max(peak, before) / 1024**2, 2),
        "output": completed.stdout.strip().splitlines()[-3:],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_gb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, from /proc."""
    total = 0
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024**2, 2)


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found] + [grand for child in found for grand in children(int(child))]


def get(url: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        document = json.loads(answer.read())
    return (time.perf_counter() - started) * 1000, document


def post(url: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as answer:
        document = json.loads(answer.read())
    return (time.perf_counter() - started) * 1000, document


def serve_and_query(data_dir: Path, environment: dict[str, str], records: int, rng: random.Random) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=environment,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    root = f"http://127.0.0.1:{port}/api/v1"
    try:
        started = time.perf_counter()
        while True:
            try:
                _, health = get(f"{root}/health")
                if health.get("status") == "ok":
                    break
            except OSError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 1200:
                raise SystemExit(
                    f"the server did not start: {server.stderr.read().decode()[-3000:] if server.stderr else ''}"
                )
            time.sleep(2)
        ready = round(time.perf_counter() - started, 1)
        figures: dict[str, Any] = {"ready_seconds": ready}
        cases = {
            "by id": lambda: get(f"{root}/needs/N{rng.randrange(records // 2):06d}/matches?top_k=10"),
            "by id, 10% filter": lambda: get(
                f"{root}/needs/N{rng.randrange(records // 2):06d}/matches?top_k=10&"
                + urllib.parse.urlencode({"field": rng.choice(INDUSTRIES)})
            ),
            "by new text": lambda: post(
                f"{root}/match", {"text": f"{rng.choice(QUERIES)} {rng.randrange(10**6)}", "top_k": 10}
            ),
            "by new text, 10% filter": lambda: post(
                f"{root}/match",
                {
                    "text": f"{rng.choice(QUERIES)} {rng.randrange(10**6)}",
                    "top_k": 10,
                    "filters": {"field": rng.choice(INDUSTRIES)},
                },
            ),
        }
        for case in cases.values():
            case()  # warm each path once
        for name, case in cases.items():
            times, returned = [], []
            for _ in range(30):
                elapsed, answer = case()
                times.append(elapsed)
                returned.append(len(answer.get("matches", [])))
            figures[name] = {
                "p50_ms": round(percentile(times, 0.5), 1),
                "p95_ms": round(percentile(times, 0.95), 1),
                "least_returned": min(returned),
            }
        figures["server_rss_gb"] = rss_gb(server.pid)
        return figures
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--records", type=int, default=100_000, help="projects + needs, half each")
    parser.add_argument("--distinct", type=int, default=3000, help="distinct texts per side, repeated to --records")
    parser.add_argument("--work", type=Path, default=work_dir("catalogue-scale"))
    parser.add_argument("--sides", nargs="+", default=["projects", "needs"], help="the sides to ingest now")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (e.g. to ingest the other side)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    missing = [source for source in (*PROJECT_SOURCES, *NEED_SOURCES) if not (args.shared_data / source).is_file()]
    if missing:
        print(
            f"SKIP: {args.shared_data} lacks {', '.join(missing)}; this benchmark needs ../shared/data (see its README)"
        )
        return
    rng = random.Random(18)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    data_dir = args.work / "var"
    projects = rng.sample(distinct_texts(args.shared_data, PROJECT_SOURCES), args.distinct)
    needs = rng.sample(distinct_texts(args.shared_data, NEED_SOURCES), args.distinct)
    half = args.records // 2
    if "projects" in args.sides:
        write_projects(args.work / "projects.csv", projects, half, rng)
    if "needs" in args.sides:
        write_needs(args.work / "needs.csv", needs, args.records - half, rng)
    distinct = min(half, len(projects)) + min(args.records - half, len(needs))
    log.info("%d records (%d distinct texts) written", args.records, distinct)
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "MATCHER_SHOW_PROGRESS": "false",
        "MATCHER_MAX_BATCH_RECORDS": str(args.records),
    }
    matcher = [sys.executable, "-m", "service.cli", "--quiet", "--data-dir", str(data_dir)]
    results: dict[str, Any] = {"records": args.records, "distinct_texts": distinct, "load_start": os.getloadavg()[0]}
    for kind, file in (("projects", "projects.csv"), ("needs", "needs.csv")):
        if kind not in args.sides:
            continue
        log.info("ingesting %s", kind)
        results[f"ingest {kind}"] = timed_command(
            [*matcher, "ingest", str(args.work / file), "--kind", kind], environment
        )
        log.info("%s: %s", kind, results[f"ingest {kind}"])
    results["data_folder_gb"] = round(sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file()) / 1024**3, 2)
    results["serve"] = serve_and_query(data_dir, environment, args.records, rng)
    results["load_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=1) if args.json else results)


if __name__ == "__main__":
    main()
