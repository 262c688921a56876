"""Chinese and English column headers map to the records' field names; the blank templates upload as they are."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from matcher.errors import ValidationFailed
from matcher.ingest.headers import CHINESE_HEADERS, canonical_name
from matcher.ingest.readers import read_data
from matcher.ingest.templates import EXAMPLES, headers, template_bytes
from matcher.ingest.validate import validate_table
from matcher.records import SCHEMAS, Kind


@pytest.mark.parametrize(
    ("header", "kind", "field"),
    [
        ("标题", Kind.PROJECTS, "title"),
        (" 摘要 ", Kind.PROJECTS, "abstract"),
        ("项目简介", Kind.PROJECTS, "abstract"),
        ("描述", Kind.NEEDS, "description"),
        ("单位", Kind.PROJECTS, "institution"),
        ("机构", Kind.PROJECTS, "institution"),
        ("企业", Kind.NEEDS, "enterprise"),
        ("领域", Kind.PROJECTS, "fields"),
        ("行业", Kind.PROJECTS, "fields"),
        ("行业", Kind.NEEDS, "industry"),
        ("领域", Kind.NEEDS, "industry"),
        ("地区", Kind.NEEDS, "region"),
        ("成熟度", Kind.PROJECTS, "trl"),
        ("联系方式", Kind.NEEDS, "contact"),
        ("关键词", Kind.PROJECTS, "keywords"),
        ("预算", Kind.NEEDS, "budget"),
        ("截止日期", Kind.NEEDS, "deadline"),
        ("知识产权", Kind.PROJECTS, "ip_status"),
        ("链接", Kind.PROJECTS, "url"),
        ("标题（必填）", Kind.PROJECTS, "title"),
        ("标题*", Kind.NEEDS, "title"),
        ("TRL (1-9)", Kind.PROJECTS, "trl"),
        ("Title", Kind.PROJECTS, "title"),
        ("Team", Kind.PROJECTS, "contact"),  # the English aliases still hold
        ("IP", Kind.PROJECTS, "ip_status"),
        ("Funding Source", Kind.PROJECTS, "funding_source"),  # unknown: metadata, as before
        ("Funding (CNY)", Kind.PROJECTS, "funding_(cny)"),  # an unknown header keeps its note
    ],
)
def test_headers_name_fields(header, kind, field):
    assert canonical_name(header, kind) == field


def test_every_field_has_a_chinese_header_and_none_is_shared_by_two_fields():
    for kind, specs in SCHEMAS.items():
        assert set(CHINESE_HEADERS[kind]) == {spec.name for spec in specs}
        assert len(set(CHINESE_HEADERS[kind].values())) == len(specs)
        for field, header in CHINESE_HEADERS[kind].items():
            assert canonical_name(header, kind) == field


def test_a_sheet_with_chinese_headers_loads_as_records():
    text = (
        "编号,标题,摘要,单位,领域,成熟度,更新日期,经费来源\n"
        "P1,激光焊接,铝合金电池托盘的激光焊接工艺,长白工业大学,automotive；new materials,5,2026-01-15,市科技局\n"
    )
    (record,) = validate_table(read_data(text.encode(), "projects.csv"), Kind.PROJECTS)
    assert (record.id, record.title, record.body) == ("P1", "激光焊接", "铝合金电池托盘的激光焊接工艺")
    assert record.attributes == {
        "institution": "长白工业大学",
        "fields": ["automotive", "new materials"],
        "trl": 5,
        "updated": "2026-01-15",
        "language": "zh",
    }
    assert record.metadata == {"经费来源": "市科技局"}


def test_two_headers_for_one_field_are_a_problem_not_a_silent_choice():
    text = "id,title,标题,abstract\nP1,Laser,激光,Welding\n"
    with pytest.raises(ValidationFailed) as caught:
        validate_table(read_data(text.encode(), "p.csv"), Kind.PROJECTS)
    assert [(p.row, p.field, p.code) for p in caught.value.problems] == [(1, "title", "duplicate_column")]
    assert "'title' and '标题'" in caught.value.problems[0].message


def test_a_missing_chinese_required_column_is_named_by_its_field():
    text = "编号,标题\nN1,检测\n"
    with pytest.raises(ValidationFailed) as caught:
        validate_table(read_data(text.encode(), "n.csv"), Kind.NEEDS)
    assert [(p.row, p.field, p.code) for p in caught.value.problems] == [(1, "description", "missing_required_column")]


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_each_template_with_its_example_row_uploads_cleanly(kind, language, file_format):
    data = template_bytes(kind, file_format, language)
    table = read_data(data, f"template.{file_format}")
    assert table.columns == headers(kind, language)
    (record,) = validate_table(table, kind)
    example = EXAMPLES[(kind, language)]
    assert record.id == example["id"] and record.title == example["title"]
    assert record.body == example[kind.body_field]
    assert record.language == language
    assert record.metadata == {}  # every column was recognised as a field
    assert set(record.attributes) | {"id", "title", kind.body_field} == {spec.name for spec in SCHEMAS[kind]}


def test_the_xlsx_template_has_a_bold_header_widths_and_a_sheet_describing_the_fields():
    book = load_workbook(io.BytesIO(template_bytes(Kind.NEEDS, "xlsx", "zh")))
    records, notes = book.worksheets
    assert notes.title == "字段说明"
    assert [cell.value for cell in records[1]] == headers(Kind.NEEDS, "zh")
    assert all(cell.font.bold for cell in records[1])
    assert records.column_dimensions["C"].width == 70  # the description
    rows = list(notes.iter_rows(min_row=2, values_only=True))
    assert [row[1] for row in rows] == [spec.name for spec in SCHEMAS[Kind.NEEDS]]
    assert rows[0][:3] == ("编号", "id", "是") and rows[3][:3] == ("企业", "enterprise", "否")
    english = load_workbook(io.BytesIO(template_bytes(Kind.PROJECTS, "xlsx", "en"))).worksheets[1]
    assert english.title == "fields" and english["C2"].value == "yes"


def test_the_csv_template_starts_with_a_byte_order_mark_for_excel():
    data = template_bytes(Kind.PROJECTS, "csv", "zh")
    assert data.startswith("\ufeff编号,标题,摘要".encode())
