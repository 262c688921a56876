"""What the benchmarks share: where things are, the real corpora, and the settings of a run.

The benchmarks are scripts, run from the repository root with the venv's Python, e.g.
``.venv/bin/python benchmarks/bench_latency.py``. Python puts the script's folder first on
``sys.path``, so ``from common import ...`` finds this file; ``matcher`` and ``service`` come from
the project as installed in the venv (``make install``: editable, so it is this checkout's code).
A venv without the project (the peer benchmark's) runs them with ``PYTHONPATH=.`` instead.

Importing this module checks that ``matcher`` is this checkout's, and stops with a message if it
is not: a benchmark must measure the code of the tree it is run from.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matcher.config import Settings
    from matcher.records import Kind, Record

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # the labelled sets and corpora (not in the repository)
PAPERS = Path("pap2pat-title") / "corpus.jsonl"  # real papers, used as projects
NEEDS = Path("sbir-topics") / "needs.jsonl"  # real SBIR topics, used as needs


def _check_checkout() -> None:
    spec = importlib.util.find_spec("matcher")
    if spec is None or spec.origin is None:
        raise SystemExit(
            f"cannot import matcher: install the project in this venv (`make install` in {REPO_ROOT}), "
            f"or run with PYTHONPATH={REPO_ROOT}"
        )
    found = Path(spec.origin).resolve().parent
    if not found.is_relative_to(REPO_ROOT):
        raise SystemExit(
            f"matcher is imported from {found}, not from this checkout ({REPO_ROOT}): the venv's editable "
            f"install points at another tree. Run with PYTHONPATH={REPO_ROOT}, or `make install` here."
        )


_check_checkout()
# The library is imported where it is used, not here: the peer benchmark's venv lacks most of
# its dependencies and only needs what `matcher.evaluation` reads and scores with.


def work_dir(name: str) -> Path:
    """The default folder of a benchmark's data (``var/<name>``, ignored by git)."""
    return REPO_ROOT / "var" / name


def missing_shared(shared: Path, names: Iterable[str | Path]) -> list[str]:
    """Which of ``names`` (files or folders under ``shared``) are absent."""
    return [str(name) for name in names if not (shared / name).exists()]


def skip_message(shared: Path, missing: Iterable[str]) -> str:
    return f"SKIP: {shared} lacks {', '.join(missing)}; this benchmark needs ../shared/data (see its README)"


def read_jsonl(path: Path, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` rows of a JSONL file, as they are."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if len(rows) == limit:
                break
    return rows


def beir_records(kind: Kind, prefix: str, rows: Iterable[dict[str, Any]], untitled: str | None = None) -> list[Record]:
    """Records of BEIR-style rows (``_id``, ``title``, ``text``): id ``prefix + _id``; a row without a
    title gets ``untitled``, or the first 80 characters of its text when ``untitled`` is None."""
    from matcher.records import Record

    return [
        Record(kind, f"{prefix}{r['_id']}", r["title"] or (r["text"][:80] if untitled is None else untitled), r["text"])
        for r in rows
    ]


def real_corpus(shared: Path, projects: int, needs: int) -> tuple[list[Record], list[Record]] | None:
    """pap2pat-title papers as projects and SBIR topics as needs, or None (after saying so) if absent."""
    from matcher.records import Kind

    papers, topics = shared / PAPERS, shared / NEEDS
    if not papers.is_file() or not topics.is_file():
        print(f"SKIP: {shared} lacks pap2pat-title or sbir-topics; this benchmark needs ../shared/data")
        return None
    return (
        beir_records(Kind.PROJECTS, "P", read_jsonl(papers, projects), "(untitled)"),
        beir_records(Kind.NEEDS, "N", read_jsonl(topics, needs), "(untitled)"),
    )


def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` of the sorted values (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """The default settings (no ``MATCHER_*`` variable, no config file) with ``overrides``; no progress bars
    unless ``show_progress=True`` is given."""
    from matcher.config import load_settings

    overrides.setdefault("show_progress", False)
    return load_settings(environ={}, data_dir=data_dir, **overrides)
