"""The `matcher` command with the real model: ingest errors, matching and evaluation."""

from __future__ import annotations

import json
import re
import shutil

from click.testing import CliRunner

from service.cli import main
from tests.conftest import SAMPLE_DATA
from tests.unit.test_evaluation import DOCS, QRELS, QUERIES, write_beir


def run(*args: str):
    return CliRunner().invoke(main, ["--quiet", *args], catch_exceptions=False)


def test_match_by_need_id_prints_ranked_explained_projects(copied_settings):
    result = run("--data-dir", str(copied_settings.data_dir), "match", "--need-id", "N027", "--top-k", "3")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("1 strong") and lines[0].endswith(" matches"), lines[0]
    assert lines[1].startswith("  1. strong ") and "P024" in lines[1]
    assert lines[2].strip().startswith("Shares ")


def test_match_json_and_filters(copied_settings):
    result = run(
        "--data-dir",
        str(copied_settings.data_dir),
        "match",
        "--text",
        "laser welding",
        "--filter",
        "trl_min=6",
        "--json",
    )
    body = json.loads(result.output)
    assert body["filters"] == {"trl_min": 6} and all(m["trl"] >= 6 for m in body["matches"])


def test_bad_file_exits_1_naming_row_and_field_and_changes_nothing(copied_settings, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,abstract,trl\nP900,New,Text,3\nP901,,Text,12\n")
    before = (copied_settings.data_dir / "catalogue.sqlite").read_bytes()
    result = run("--data-dir", str(copied_settings.data_dir), "ingest", str(bad), "--kind", "projects")
    assert result.exit_code == 1
    assert f"{bad}, row 3, field 'title': required field 'title' is empty" in result.output
    assert (
        f"{bad}, row 3, field 'trl': technology readiness level must be a whole number from 1 to 9, got '12'"
        in result.output
    )
    assert (copied_settings.data_dir / "catalogue.sqlite").read_bytes() == before


def test_ingest_delete_missing_and_reingest(copied_settings, tmp_path):
    data_dir = str(copied_settings.data_dir)
    subset = tmp_path / "needs.csv"
    lines = (SAMPLE_DATA / "needs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    import csv
    import io

    rows = list(csv.reader(io.StringIO("".join(lines))))
    with subset.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows[:11])
    result = run("--data-dir", data_dir, "ingest", str(subset), "--kind", "needs", "--delete-missing")
    assert result.exit_code == 0
    assert result.output.strip() == f"{subset}: 10 needs: 0 created, 0 updated, 10 unchanged, {len(rows) - 11} deleted"
    result = run("--data-dir", data_dir, "match", "--need-id", "N027")
    assert result.exit_code == 1 and "Need 'N027' does not exist" in result.output


def test_evaluate_prints_one_json_object_per_method(tmp_path, sample_dir):
    folder = write_beir(tmp_path / "toy", DOCS, QUERIES, QRELS)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copy(sample_dir / "embeddings.sqlite", data_dir / "embeddings.sqlite")
    result = run("--data-dir", str(data_dir), "evaluate", str(folder), "--json", "--run-out", str(tmp_path / "run.txt"))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["method"] for row in rows] == ["bm25", "dense", "rrf", "hybrid"]
    assert all(
        set(row) == {"method", "ndcg@10", "recall@1", "recall@10", "recall@100", "mrr", "queries"} for row in rows
    )
    assert all(row["queries"] == 3 and row["recall@100"] == 1.0 for row in rows)
    assert not (data_dir / "catalogue.sqlite").exists()


def test_init_ingest_and_index_a_fresh_folder(tmp_path, sample_dir):
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copy(sample_dir / "embeddings.sqlite", data_dir / "embeddings.sqlite")  # no encoding needed
    assert run("--data-dir", str(data_dir), "init").output.strip() == (
        f"Catalogue {data_dir / 'catalogue.sqlite'}: schema version 4 (created)"
    )
    result = run("--data-dir", str(data_dir), "ingest", str(SAMPLE_DATA / "projects.csv"), "--kind", "projects")
    assert result.exit_code == 0 and " created, 0 updated, 0 unchanged, 0 deleted" in result.output
    result = run("--data-dir", str(data_dir), "index", "--kind", "projects", "--rebuild")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("projects: 66 records, ") and re.search(
        r"\(sentence-transformers/all-MiniLM-L6-v2@[0-9a-f]{12}/[a-z0-9-]+, 384 dimensions\)", result.output
    )
    result = run("--data-dir", str(data_dir), "index")
    assert result.exit_code == 0 and result.output.splitlines()[1].startswith("needs: 0 records, 0 passages")


def test_every_command_has_help():
    for command in ("init", "ingest", "index", "match", "evaluate", "explain-eval", "serve", "keys"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
