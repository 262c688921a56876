"""`matcher outcomes` and `matcher evaluate-outcomes` on the sample data with the real model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher.introductions.scoring import evaluate_recorded_outcomes
from service.cli import main


def run(data_dir: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["--quiet", "--data-dir", str(data_dir), *args], env=env, catch_exceptions=False)


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_record_defaults_the_author_to_user_and_list_shows_it(copied_settings):
    data_dir = copied_settings.data_dir
    result = run(
        data_dir,
        "outcomes",
        "record",
        "--project-id",
        "P024",
        "--need-id",
        "N027",
        "--status",
        "agreement",
        "--agreement-type",
        "joint_research",
        "--note",
        "two-year contract",
        env={"USER": "dana"},
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Recorded outcome 1: N027 / P024 agreement")
    (listed,) = json.loads(run(data_dir, "outcomes", "list", "--json").output)
    assert (listed["author"], listed["agreement_type"], listed["note"]) == (
        "dana",
        "joint_research",
        "two-year contract",
    )
    line = run(data_dir, "outcomes", "list", "--need-id", "N027").output.strip()
    assert "N027  P024  agreement (joint_research)  -  dana" in line and '"two-year contract"' in line
    assert run(data_dir, "outcomes", "list", "--need-id", "N001").output.strip() == "No outcomes."


def test_record_errors_name_the_parameter_and_exit_1(copied_settings):
    data_dir = copied_settings.data_dir
    result = run(
        data_dir,
        "outcomes",
        "record",
        "--project-id",
        "P024",
        "--need-id",
        "N027",
        "--status",
        "declined",
        "--author",
        "dana",
    )
    assert result.exit_code == 1 and "A decline needs 'decline_reason'" in result.output
    result = run(
        data_dir,
        "outcomes",
        "record",
        "--project-id",
        "P999",
        "--need-id",
        "N027",
        "--status",
        "meeting",
        "--author",
        "dana",
    )
    assert result.exit_code == 1 and "Project 'P999' does not exist" in result.output
    assert json.loads(run(data_dir, "outcomes", "list", "--json").output) == []


def test_import_is_all_or_nothing_naming_row_and_field(copied_settings, tmp_path):
    data_dir = copied_settings.data_dir
    bad = write_csv(
        tmp_path / "outcomes.csv",
        [
            {"project_id": "P024", "need_id": "N027", "status": "meeting", "score": "0.7"},
            {"project_id": "P015", "need_id": "N001", "status": "agreement", "score": "0.6"},
            {"project_id": "P032", "need_id": "N002", "status": "declined", "score": "high"},
        ],
    )
    result = run(data_dir, "outcomes", "import", str(bad), "--author", "erin")
    assert result.exit_code == 1
    assert f"{bad}: 3 problems; nothing was changed" in result.output
    assert f"{bad}, row 3, field 'agreement_type': An agreement needs 'agreement_type'" in result.output
    assert f"{bad}, row 4, field 'decline_reason': A decline needs 'decline_reason'" in result.output
    assert f"{bad}, row 4, field 'score': 'score' must be a number from -1 to 1, got 'high'" in result.output
    assert json.loads(run(data_dir, "outcomes", "list", "--json").output) == []
    good = write_csv(
        tmp_path / "good.csv",
        [
            {
                "project_id": "P024",
                "need_id": "N027",
                "status": "meeting",
                "score": "0.7",
                "author": "",
                "recorded_at": "2024-05-01",
            },
            {
                "project_id": "P032",
                "need_id": "N002",
                "status": "declined",
                "decline_reason": "no budget",
                "author": "fay",
            },
        ],
    )
    result = run(data_dir, "outcomes", "import", str(good), "--author", "erin")
    assert result.exit_code == 0 and result.output.strip() == f"{good}: 2 outcomes recorded"
    listed = json.loads(run(data_dir, "outcomes", "list", "--json").output)
    assert [(o["project_id"], o["author"], o["decline_reason"]) for o in listed] == [
        ("P032", "fay", "no_budget"),
        ("P024", "erin", None),
    ]


SAMPLE_OUTCOMES = [  # (project, need, status, extra); the scores are the pairs' current similarities
    ("P015", "N001", "agreement", {"agreement_type": "licence"}),
    ("P032", "N002", "meeting", {}),
    ("P026", "N003", "agreement", {"agreement_type": "joint_research"}),
    ("P030", "N005", "meeting", {}),
    ("P024", "N027", "meeting", {}),
    ("P001", "N027", "declined", {"decline_reason": "not_relevant"}),
    ("P002", "N001", "declined", {"decline_reason": "not_relevant"}),
    ("P003", "N002", "declined", {"decline_reason": "too_early_stage"}),
    ("P015", "N027", "contacted", {}),
]


@pytest.fixture
def sample_with_outcomes(copied_matcher, tmp_path):
    rows = [{"project_id": p, "need_id": n, "status": s, **extra} for p, n, s, extra in SAMPLE_OUTCOMES]
    copied_matcher.outcomes.record_many(enumerate(rows, start=2), "outcomes", author="tests")
    return copied_matcher


def test_outcomes_without_a_score_are_scored_by_current_similarity(sample_with_outcomes):
    matcher = sample_with_outcomes
    report = evaluate_recorded_outcomes(matcher, k=3, keep=0.75, min_labelled=8)
    assert report.enough and (report.labelled, report.positives, report.pending, report.unscored) == (8, 5, 1, 0)
    # Scored as a plan scores a pair: its match strength against the whole catalogue.
    from matcher.introductions.scoring import pair_strengths

    similarities = pair_strengths(matcher, [(project, need) for project, need, _, _ in SAMPLE_OUTCOMES[:8]])
    positives = sorted((similarities[(p, n)] for p, n, s, _ in SAMPLE_OUTCOMES[:5]), reverse=True)
    expected = int(positives[3] * 100 + 1e-9) / 100  # 0.75 of 5 positives: the 4th best
    assert report.calibration is not None and report.calibration.min_score == pytest.approx(expected)
    negatives = [similarities[(p, n)] for p, n, s, _ in SAMPLE_OUTCOMES[5:8]]
    assert report.calibration.negatives_removed == sum(score < expected for score in negatives)


def test_evaluate_outcomes_prints_figures_or_says_there_are_too_few(sample_with_outcomes):
    data_dir = sample_with_outcomes.settings.data_dir
    result = run(data_dir, "evaluate-outcomes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "9 pairs, each by its latest outcome: 1 contacted, 3 meeting, 2 agreement, 3 declined"
    assert lines[2].startswith(
        "Only 8 pairs have a final outcome (meeting, agreement or declined); at least 20 are needed"
    )
    assert len(lines) == 3
    result = run(data_dir, "evaluate-outcomes", "--min-labelled", "8", "--k", "2", "--json")
    body = json.loads(result.output)
    assert body["enough"] and body["k"] == 2 and body["positive_rate"] == 5 / 8
    assert sum(band["labelled"] for band in body["bands"]) == 8
    text = run(data_dir, "evaluate-outcomes", "--min-labelled", "8").output
    assert "Precision@5: " in text and "By score band (match strength):" in text
    assert (
        f"Recommended min_score {body['calibration']['min_score']:.2f} (keeping at least 90% of positive outcomes): keeps "
        in text
    )


def test_every_outcomes_command_has_help():
    for command in (["outcomes", "record"], ["outcomes", "list"], ["outcomes", "import"], ["evaluate-outcomes"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
