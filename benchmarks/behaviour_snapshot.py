#!/usr/bin/env python
"""Record what the matcher answers, so a refactor can be checked for "no change of behaviour".

1. A fresh data folder is loaded with the sample catalogue through the command line
   (``init``, ``ingest data/projects.csv``, ``ingest data/needs.csv``, ``index``).
2. A fixed list of API requests (three per record plus 170: 536 on the sample's 56 needs and
   66 projects) goes through Flask's test client in a fixed order: matches by id for every need
   and project (default, ``top_k=3``, ``explain=false``, filters, ``min_score``), free texts
   in both directions (English and Chinese, some sent twice), single records, and invalid
   requests. ``OUT/answers.jsonl`` holds one line per request and ``OUT/answers.sha256`` its hash.
3. With ``--evals``, ``evaluate --method all --json`` and ``explain-eval --json`` run on each
   labelled set in ``../shared/data``; their raw output goes to ``OUT/evaluate-<set>.json`` and
   ``OUT/explain-eval-<set>.json`` (a failure to ``OUT/<name>.err``).

Only stable entry points are used (``matcher.config.load_settings``, ``service.app.create_app``
and ``python -m service.cli``), so the script runs unchanged before and after a refactor.
Run from the repository root:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/behaviour_snapshot.py --out DIR [--data-dir DIR] [--evals]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from matcher.config import load_settings  # noqa: E402
from service.app import create_app  # noqa: E402

log = logging.getLogger("behaviour_snapshot")

BY_ID_VARIANTS = 3  # matches by id per record: default, top_k=3, explain=false
OTHER_REQUESTS = 170  # filters, min_score, free texts, single records, invalid requests
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
EVAL_SETS = (
    "pap2pat-title",
    "pap2pat-claim",
    "pap2pat-reverse",
    "nfcorpus",
    "xling-tico19-zh2en",
    "xling-tico19-en2zh",
    "xling-tatoeba-zh2en",
)
README_TEXTS = ("laser welding of aluminium battery trays", "铝合金电池托盘激光焊接气孔问题")

# Query strings for matches by id. A need's matches search projects, a project's search needs.
PROJECT_SIDE_FILTERS: tuple[list[tuple[str, str]], ...] = (
    [("field", "automotive")],
    [("trl_min", "4")],
    [("field", "automotive"), ("trl_min", "4")],
    [("language", "zh")],
    [("language", "en")],
    [("field", "energy"), ("field", "new materials")],
    [("institution", "Northeast Automotive University")],
    [("trl_max", "5"), ("top_k", "5")],
    [("industry", "agriculture and food")],
    [("field", "Biomedicine"), ("language", "zh")],
)
NEED_SIDE_FILTERS: tuple[list[tuple[str, str]], ...] = (
    [("industry", "automotive")],
    [("region", "Changbai")],
    [("region", "长白")],
    [("language", "zh")],
    [("language", "en")],
    [("industry", "energy"), ("industry", "new-energy vehicles")],
    [("enterprise", "Changbai Battery Systems Co.")],
    [("field", "rail equipment")],
    [("region", "Jilin"), ("language", "en")],
    [("industry", "AUTOMOTIVE"), ("top_k", "5")],
)


@dataclass(frozen=True)
class Catalogue:
    """The sample records' ids, titles, bodies and languages, in file order."""

    rows: list[dict[str, str]]
    body_field: str

    @classmethod
    def read(cls, path: Path, body_field: str) -> Catalogue:
        with path.open(encoding="utf-8", newline="") as handle:
            return cls(list(csv.DictReader(handle)), body_field)

    @property
    def ids(self) -> list[str]:
        return [row["id"] for row in self.rows]

    def of_language(self, language: str) -> list[dict[str, str]]:
        return [row for row in self.rows if row.get("language") == language]


@dataclass(frozen=True)
class Call:
    """One API request: a JSON body (``raw`` false) or a raw text body sent as ``content_type``."""

    method: str
    path: str
    body: Any = None
    raw: bool = False
    content_type: str = "application/json"


def shorten(row: dict[str, str], body_field: str) -> str:
    """The first 30 words of an English body, or the first 60 characters of a Chinese one."""
    body = row[body_field]
    return body[:60] if row.get("language") == "zh" else " ".join(body.split()[:30])


def matches_path(kind: str, record_id: str, query: list[tuple[str, str]] | None = None) -> str:
    path = f"/api/v1/{kind}/{record_id}/matches"
    return f"{path}?{urlencode(query)}" if query else path


def build_calls(needs: Catalogue, projects: Catalogue) -> list[Call]:
    """The fixed list of requests; the same catalogue files always give the same list."""
    calls: list[Call] = []
    by_id = [("needs", record_id) for record_id in needs.ids] + [("projects", record_id) for record_id in projects.ids]
    for query in (None, [("top_k", "3")], [("explain", "false")]):  # BY_ID_VARIANTS x records
        calls += [Call("GET", matches_path(kind, record_id, query)) for kind, record_id in by_id]

    for side_filters, catalogue, kind in (
        (PROJECT_SIDE_FILTERS, needs, "needs"),
        (NEED_SIDE_FILTERS, projects, "projects"),
    ):
        ids = catalogue.ids
        for number, query in enumerate(side_filters):  # 10 variants x 3 records, each side
            for step in range(3):
                calls.append(Call("GET", matches_path(kind, ids[(number * 7 + step * 13) % len(ids)], query)))

    for min_score, count in (("0.3", 4), ("0.6", 2)):  # min_score: 6 needs and 6 projects
        for kind, catalogue in (("needs", needs), ("projects", projects)):
            ids = catalogue.ids
            calls += [
                Call("GET", matches_path(kind, ids[(5 * i + 2) % len(ids)], [("min_score", min_score)]))
                for i in range(count)
            ]

    need_texts = [*README_TEXTS]
    project_texts: list[str] = []
    for language in ("en", "zh"):
        need_rows, project_rows = needs.of_language(language), projects.of_language(language)
        need_texts += [row["title"] for row in need_rows[:5]] + [
            shorten(row, needs.body_field) for row in need_rows[5:8]
        ]
        project_texts += [row["title"] for row in project_rows[:5]]
        project_texts += [shorten(row, projects.body_field) for row in project_rows[5:8]]
    free = [("need_to_projects", text) for text in need_texts] + [("project_to_needs", text) for text in project_texts]
    calls += [Call("POST", "/api/v1/match", {"text": text, "direction": direction}) for direction, text in free]  # 34
    repeated = free[:5] + free[18:20] + free[26:28]  # 9 sent again: the first request may teach the cache
    calls += [Call("POST", "/api/v1/match", {"text": text, "direction": direction}) for direction, text in repeated]
    variants: list[dict[str, Any]] = [
        {"top_k": 3},
        {"explain": False},
        {"min_score": 0.3},
        {"top_k": 5, "explain": False, "min_score": 0.2},
    ]
    for number, (direction, text) in enumerate(free[::2]):  # 17, every other text with one variant in turn
        calls.append(
            Call("POST", "/api/v1/match", {"text": text, "direction": direction, **variants[number % len(variants)]})
        )
    filtered: list[tuple[str, str, dict[str, Any]]] = [
        ("need_to_projects", README_TEXTS[0], {"field": "automotive"}),
        ("need_to_projects", README_TEXTS[0], {"field": ["automotive", "new-energy vehicles"], "trl_min": 5}),
        ("need_to_projects", README_TEXTS[1], {"language": "zh"}),
        ("need_to_projects", README_TEXTS[1], {"language": "en", "trl_max": 6}),
        ("need_to_projects", README_TEXTS[0], {"institution": "Northeast Automotive University"}),
        ("project_to_needs", project_texts[0], {"industry": "new materials"}),
        ("project_to_needs", project_texts[8], {"region": ["长白", "Changbai"]}),
        ("project_to_needs", project_texts[8], {"language": "zh", "industry": "automotive"}),
        ("project_to_needs", project_texts[1], {"enterprise": "Changbai Battery Systems Co."}),
    ]
    for direction, text, filters in filtered:  # 9 with explanations, 9 without
        for explain in (True, False):
            calls.append(
                Call(
                    "POST",
                    "/api/v1/match",
                    {"text": text, "direction": direction, "filters": filters, "explain": explain},
                )
            )

    for kind, catalogue in (("projects", projects), ("needs", needs)):  # 6 records
        calls += [Call("GET", f"/api/v1/{kind}/{catalogue.ids[i]}") for i in (0, 4, len(catalogue.ids) - 1)]

    first_need = needs.ids[0]
    calls += [  # 14 invalid requests
        Call("GET", matches_path("needs", first_need, [("top_k", "0")])),
        Call("GET", matches_path("needs", first_need, [("top_k", "abc")])),
        Call("GET", matches_path("needs", first_need, [("top_k", "1000")])),
        Call("GET", matches_path("needs", first_need, [("min_score", "high")])),
        Call("GET", matches_path("needs", first_need, [("colour", "red")])),
        Call("GET", matches_path("projects", projects.ids[0], [("trl_min", "4")])),
        Call("GET", matches_path("needs", "N999")),
        Call("GET", "/api/v1/projects/P999"),
        Call("POST", "/api/v1/match", {"text": README_TEXTS[0], "direction": "sideways"}),
        Call("POST", "/api/v1/match", {"text": README_TEXTS[0], "top_k": 0}),
        Call("POST", "/api/v1/match", {"text": README_TEXTS[0], "filters": {"colour": "red"}}),
        Call("POST", "/api/v1/match", {"text": "   "}),
        Call("POST", "/api/v1/match", "{not json", raw=True),
        Call("POST", "/api/v1/match", README_TEXTS[0], raw=True, content_type="text/plain"),
    ]
    expected = BY_ID_VARIANTS * len(by_id) + OTHER_REQUESTS
    if len(calls) != expected:
        raise RuntimeError(f"Built {len(calls)} requests, expected {expected}")
    return calls


def cli_environment() -> dict[str, str]:
    """The environment for the command line: offline, this tree first, no ``MATCHER_*`` settings."""
    dropped = sorted(name for name in os.environ if name.startswith("MATCHER_"))
    if dropped:
        log.warning("Leaving out of the command line's environment: %s", ", ".join(dropped))
    env = {name: value for name, value in os.environ.items() if not name.startswith("MATCHER_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service.cli", *arguments]
    log.info("Running %s", " ".join(command[1:]))
    return subprocess.run(command, cwd=REPO_ROOT, env=cli_environment(), capture_output=True, text=True, check=False)


def load_sample(data_dir: Path) -> None:
    """Load the sample catalogue into ``data_dir`` and build its indexes; raise on any failure."""
    steps = (
        ("init",),
        ("ingest", "data/projects.csv", "--kind", "projects"),
        ("ingest", "data/needs.csv", "--kind", "needs"),
        ("index",),
    )
    for step in steps:
        done = run_cli("--data-dir", str(data_dir), "--quiet", *step)
        if done.returncode != 0:
            raise RuntimeError(f"'{' '.join(step)}' exited with {done.returncode}:\n{done.stderr}")


def record_answers(data_dir: Path, out: Path) -> tuple[str, int]:
    """Send the requests to an app on ``data_dir``; write answers.jsonl and answers.sha256; the hash and count."""
    calls = build_calls(
        Catalogue.read(REPO_ROOT / "data" / "needs.csv", "description"),
        Catalogue.read(REPO_ROOT / "data" / "projects.csv", "abstract"),
    )
    app = create_app(load_settings(environ={}, data_dir=data_dir, show_progress=False))
    client = app.test_client()
    lines = []
    leaked = []
    statuses: Counter[int] = Counter()
    for number, call in enumerate(calls):
        if call.raw:
            response = client.open(call.path, method=call.method, data=call.body, content_type=call.content_type)
        else:
            response = client.open(call.path, method=call.method, json=call.body)
        text = response.get_data(as_text=True)
        if str(data_dir) in text:
            leaked.append(number)
        statuses[response.status_code] += 1
        answer = {
            "n": number,
            "method": call.method,
            "path": call.path,
            "body": call.body,
            "status": response.status_code,
            "response": text,
        }
        lines.append(json.dumps(answer, sort_keys=True, ensure_ascii=False))
    if leaked:
        log.warning("%d responses name the data folder (kept as they are): %s", len(leaked), leaked)
    log.info("Statuses: %s", dict(sorted(statuses.items())))
    content = ("\n".join(lines) + "\n").encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()
    (out / "answers.jsonl").write_bytes(content)
    (out / "answers.sha256").write_text(f"{digest}  answers.jsonl\n", encoding="utf-8")
    return digest, len(lines)


def run_evals(out: Path, eval_data_dir: Path) -> list[str]:
    """Run evaluate and explain-eval on every labelled set; return the names of failed commands."""
    if not SHARED_DATA.is_dir():
        log.warning("Skipping the evaluations: %s is absent", SHARED_DATA)
        return []
    eval_data_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in EVAL_SETS:
        dataset = SHARED_DATA / name
        if not dataset.is_dir():
            log.warning("Skipping %s: %s is absent", name, dataset)
            continue
        for command, extra in (("evaluate", ("--method", "all", "--json")), ("explain-eval", ("--json",))):
            started = time.monotonic()
            done = run_cli("--data-dir", str(eval_data_dir), "--quiet", command, str(dataset), *extra)
            (out / f"{command}-{name}.json").write_text(done.stdout, encoding="utf-8")
            err = out / f"{command}-{name}.err"
            if done.returncode != 0:
                failed.append(f"{command}-{name}")
                err.write_text(f"exit code {done.returncode}\n{done.stderr}", encoding="utf-8")
                log.error("%s %s failed with exit code %d (see %s)", command, name, done.returncode, err)
            else:
                err.unlink(missing_ok=True)
            log.info("%s %s: exit %d in %.0f s", command, name, done.returncode, time.monotonic() - started)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="Folder for answers.jsonl, answers.sha256 and eval outputs."
    )
    parser.add_argument(
        "--data-dir", type=Path, help="A fresh (absent or empty) data folder to load (default: a temporary one)."
    )
    parser.add_argument("--evals", action="store_true", help="Also run evaluate and explain-eval on ../shared/data.")
    parser.add_argument(
        "--eval-data-dir",
        type=Path,
        default=Path("/work/evalcache"),
        help="Data folder for the evaluations, kept between runs for its embedding cache.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="behaviour-snapshot-") as temporary:
        data_dir = (args.data_dir or Path(temporary) / "data").resolve()
        if data_dir.exists() and any(data_dir.iterdir()):
            parser.error(f"--data-dir {data_dir} is not empty; give a fresh folder")
        load_sample(data_dir)
        log.info("Sample loaded in %.0f s", time.monotonic() - started)
        digest, answered = record_answers(data_dir, args.out)
    answers_seconds = time.monotonic() - started
    failed = run_evals(args.out, args.eval_data_dir.resolve()) if args.evals else []
    print(
        f"{answered} answers sha256 {digest} ({answers_seconds:.0f} s)"
        + (
            f"; evals in {time.monotonic() - started - answers_seconds:.0f} s, {len(failed)} failed {failed}"
            if args.evals
            else ""
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
