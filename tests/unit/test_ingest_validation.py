"""Every kind of bad input is reported with file, row and field; good files of each format load."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from matcher.errors import ValidationFailed
from matcher.ingest.readers import read_table, rows_from_objects
from matcher.ingest.validate import validate_table
from matcher.records import Kind

HEADER = "id,title,abstract,institution,fields,trl,updated,funding_source\n"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def problems_of(path: Path, kind: Kind = Kind.PROJECTS, encoding: str = "utf-8") -> list[tuple]:
    with pytest.raises(ValidationFailed) as caught:
        validate_table(read_table(path, encoding), kind)
    return [(p.row, p.field, p.code) for p in caught.value.problems]


def test_good_csv_keeps_unknown_columns_as_metadata_and_splits_lists(tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        HEADER + 'P1,Laser welding,Welds aluminium.,NEAU,"automotive; new materials",5,2025-03-01,city fund\n',
    )
    (record,) = validate_table(read_table(path), Kind.PROJECTS)
    assert record.id == "P1"
    assert record.attributes == {
        "institution": "NEAU",
        "fields": ["automotive", "new materials"],
        "trl": 5,
        "updated": "2025-03-01",
        "language": "en",
    }
    assert record.metadata == {"funding_source": "city fund"}
    assert record.text == "Laser welding\nWelds aluminium."


def test_every_problem_is_reported_at_once_with_row_and_field(tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        HEADER
        + "P1,,Abstract,,,5,,\n"  # row 2: empty title
        + "P2,Title,Abstract,,,12,,\n"  # row 3: TRL out of range
        + "P3,Title,Abstract,,,4,2025-02-30,\n"  # row 4: no such date
        + "P1,Title,Abstract,,,x,,\n",  # row 5: duplicate id and TRL not a number
    )
    assert problems_of(path) == [
        (2, "title", "empty_required_field"),
        (3, "trl", "invalid_trl"),
        (4, "updated", "invalid_date"),
        (5, "trl", "invalid_trl"),
        (5, "id", "duplicate_id"),
    ]


def test_error_message_names_file_row_and_field(tmp_path):
    path = write(tmp_path, "p.csv", HEADER + "P1,Title,Abstract,,,0,,\n")
    with pytest.raises(ValidationFailed) as caught:
        validate_table(read_table(path), Kind.PROJECTS)
    assert f"{path}, row 2, field 'trl': technology readiness level must be a whole number from 1 to 9, got '0'" in str(
        caught.value
    )
    assert "nothing was changed" in str(caught.value)


def test_missing_required_column_is_reported_once(tmp_path):
    path = write(tmp_path, "n.csv", "id,title,budget\nN1,A need,100\nN2,Another,200\n")
    assert problems_of(path, Kind.NEEDS) == [(1, "description", "missing_required_column")]


def test_undecodable_text_names_the_line(tmp_path):
    text = HEADER + "P1,Title,Abstract,,,5,,\n"
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode() + "P2,标题,摘要,,,5,,\n".encode("gb18030"))
    assert problems_of(path) == [(3, None, "undecodable_text")]


def test_gb18030_file_loads_when_its_encoding_is_given(tmp_path):
    path = write(
        tmp_path, "p.csv", HEADER + "P1,激光焊接,铝合金激光焊接工艺研究,长白汽车大学,,5,,\n", encoding="gb18030"
    )
    (record,) = validate_table(read_table(path, "gb18030"), Kind.PROJECTS)
    assert (record.title, record.language) == ("激光焊接", "zh")


def test_json_jsonl_and_xlsx_give_the_same_records(tmp_path):
    rows = [
        {
            "id": "N1",
            "title": "Battery trays",
            "description": "Weld aluminium trays.",
            "deadline": "2026-06-30",
            "region": "Changbai",
        },
        {"id": "N2", "title": "防腐涂层", "description": "桥梁钢结构防腐蚀涂层", "plant": "Line 3"},
    ]
    json_path = write(tmp_path, "n.json", json.dumps(rows, ensure_ascii=False))
    jsonl_path = write(tmp_path, "n.jsonl", "\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n")
    xlsx_path = tmp_path / "n.xlsx"
    frame = pd.DataFrame(rows)
    frame["deadline"] = pd.to_datetime(frame["deadline"])
    frame.to_excel(xlsx_path, index=False)
    loaded = [validate_table(read_table(path), Kind.NEEDS) for path in (json_path, jsonl_path, xlsx_path)]
    assert [record.to_dict() for record in loaded[0]] == [record.to_dict() for record in loaded[1]]
    assert [record.to_dict() for record in loaded[0]] == [record.to_dict() for record in loaded[2]]
    assert loaded[0][1].metadata == {"plant": "Line 3"}
    assert loaded[0][1].language == "zh"


def test_xlsx_problems_use_spreadsheet_rows(tmp_path):
    path = tmp_path / "p.xlsx"
    pd.DataFrame(
        [{"id": "P1", "title": "T", "abstract": "A", "trl": 3}, {"id": "P2", "title": "T", "abstract": "", "trl": 10}]
    ).to_excel(path, index=False)
    assert problems_of(path) == [(3, "abstract", "empty_required_field"), (3, "trl", "invalid_trl")]


def test_malformed_jsonl_line_is_named(tmp_path):
    path = write(tmp_path, "p.jsonl", '{"id": "P1", "title": "T", "abstract": "A"}\n{"id": "P2", \n')
    assert problems_of(path) == [(2, None, "malformed_row")]


def test_json_that_is_not_a_list_of_objects(tmp_path):
    assert problems_of(write(tmp_path, "p.json", '{"id": "P1"}')) == [(None, None, "malformed_file")]
    assert problems_of(write(tmp_path, "q.json", '[{"id": "P1", "title": "T", "abstract": "A"}, 3]')) == [
        (2, None, "malformed_row")
    ]


def test_wrong_types_in_json_are_named(tmp_path):
    path = write(
        tmp_path, "p.json", json.dumps([{"id": "P1", "title": {"x": 1}, "abstract": "A", "keywords": ["a", {"b": 1}]}])
    )
    assert problems_of(path) == [(1, "title", "wrong_type"), (1, "keywords", "wrong_type")]


def test_unsupported_and_missing_files(tmp_path):
    assert problems_of(write(tmp_path, "p.txt", "hello")) == [(None, None, "unsupported_format")]
    assert problems_of(tmp_path / "absent.csv") == [(None, None, "unreadable_file")]
    assert problems_of(write(tmp_path, "empty.csv", "")) == [(None, None, "empty_file")]
    assert problems_of(write(tmp_path, "header-only.csv", HEADER)) == [(None, None, "empty_file")]


def test_batch_rows_are_numbered_from_one(tmp_path):
    with pytest.raises(ValidationFailed) as caught:
        validate_table(
            rows_from_objects(
                [{"id": "P1", "title": "T", "abstract": "A"}, {"id": "P2", "title": "T"}], "request body"
            ),
            Kind.PROJECTS,
        )
    assert [(p.file, p.row, p.field, p.code) for p in caught.value.problems] == [
        ("request body", 2, "abstract", "missing_required_field")
    ]


def test_jsonl_strings_may_hold_line_separator_characters(tmp_path):
    rows = [
        {"id": "N1", "title": "A", "description": "first\u2028second\x85third"},
        {"id": "N2", "title": "B", "description": "x"},
    ]
    path = write(tmp_path, "n.jsonl", "\r\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\r\n")
    records = validate_table(read_table(path), Kind.NEEDS)
    assert [record.body for record in records] == ["first\u2028second\x85third", "x"]


def test_an_infinite_number_in_the_metadata_is_a_problem_not_stored():
    # A spreadsheet's cells arrive as text; a JSON batch given to the library itself may hold a float.
    rows = rows_from_objects([{"id": "P1", "title": "T", "abstract": "A", "grant": float("inf")}], "batch")
    with pytest.raises(ValidationFailed) as caught:
        validate_table(rows, Kind.PROJECTS)
    assert [(p.row, p.field, p.code) for p in caught.value.problems] == [(1, "grant", "invalid_number")]
