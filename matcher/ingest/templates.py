"""Blank spreadsheets to fill in: each field of a kind as a column (English or Chinese headers) and one example row.

The XLSX template has a bold, frozen header row, column widths, and a second sheet describing each
field (required or not, what it holds, its example). Each template, as it is, is a valid file
of one record: :func:`matcher.ingest.validate.validate_table` accepts it (tests check this).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from matcher.ingest.headers import header_of
from matcher.records import SCHEMAS, FieldType, Kind

LANGUAGES = ("en", "zh")
FORMATS = ("csv", "xlsx")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class FieldNote:
    english: str
    chinese: str


NOTES: dict[str, FieldNote] = {
    "id": FieldNote(
        "Your own unique id; a row with an id already stored updates it.", "唯一编号；已存在的编号会更新该记录。"
    ),
    "title": FieldNote("A short title.", "简短标题。"),
    "abstract": FieldNote(
        "What the project does and has shown: the text that is matched.", "项目内容与成果：用于匹配的正文。"
    ),
    "description": FieldNote(
        "What the enterprise needs: the text that is matched.", "企业的技术需求：用于匹配的正文。"
    ),
    "institution": FieldNote("University or institute.", "高校或科研院所。"),
    "enterprise": FieldNote("The enterprise's name.", "企业名称。"),
    "contact": FieldNote("Person and e-mail or phone (private: staff only).", "联系人及邮箱或电话（仅工作人员可见）。"),
    "fields": FieldNote(
        "Fields, separated by ';' (the shared vocabulary, e.g. automotive).",
        "领域，用“；”分隔（统一词表，如 automotive）。",
    ),
    "industry": FieldNote(
        "The industry (the shared vocabulary, e.g. automotive).", "所属行业（统一词表，如 automotive）。"
    ),
    "keywords": FieldNote("Keywords, separated by ';'.", "关键词，用“；”分隔。"),
    "trl": FieldNote("Technology readiness level, a whole number from 1 to 9.", "技术成熟度，1 到 9 的整数。"),
    "ip_status": FieldNote("Patents and other rights (e.g. patent granted).", "知识产权情况（如已授权专利）。"),
    "language": FieldNote("en or zh; left blank, it is detected from the text.", "en 或 zh；留空则自动识别。"),
    "url": FieldNote("A web page about it.", "相关网页链接。"),
    "updated": FieldNote("When it was last brought up to date, YYYY-MM-DD.", "最近更新日期，格式 YYYY-MM-DD。"),
    "region": FieldNote("City or province.", "所在城市或省份。"),
    "budget": FieldNote("What the enterprise would spend, with its currency.", "预算金额（含币种）。"),
    "deadline": FieldNote("By when, YYYY-MM-DD.", "截止日期，格式 YYYY-MM-DD。"),
}

EXAMPLES: dict[tuple[Kind, str], dict[str, Any]] = {
    (Kind.PROJECTS, "en"): {
        "id": "P-NEW-001",
        "title": "Laser welding of aluminium battery trays",
        "abstract": "A fibre-laser welding process with seam tracking joins extruded aluminium battery trays "
        "without porosity; leak-tight trays at 1.2 m/min, shown on a pilot line.",
        "institution": "Changbai University of Technology",
        "contact": "Dr. Wang Fang <wang.fang@cbut.example.edu>",
        "fields": "automotive; new materials",
        "keywords": "laser welding; aluminium; battery tray",
        "trl": 5,
        "ip_status": "patent pending",
        "language": "en",
        "url": "https://www.cbut.example.edu/projects/laser-welding",
        "updated": "2026-01-15",
    },
    (Kind.PROJECTS, "zh"): {
        "id": "P-NEW-001",
        "title": "铝合金电池托盘激光焊接工艺",
        "abstract": "本项目开发了带焊缝跟踪的光纤激光焊接工艺，用于挤压铝合金电池托盘的无气孔焊接，"
        "焊接速度达到每分钟1.2米，已在中试线上验证托盘的气密性。",
        "institution": "长白工业大学",
        "contact": "王芳 <wang.fang@cbut.example.edu>",
        "fields": "automotive; new materials",
        "keywords": "激光焊接；铝合金；电池托盘",
        "trl": 5,
        "ip_status": "已申请专利",
        "language": "zh",
        "url": "https://www.cbut.example.edu/projects/laser-welding",
        "updated": "2026-01-15",
    },
    (Kind.NEEDS, "en"): {
        "id": "N-NEW-001",
        "title": "Inspecting weld seams of battery trays",
        "description": "We weld aluminium battery trays for electric cars and need an inline method that finds "
        "pores and cracks in every seam before the leak test, at line speed.",
        "enterprise": "Changbai New Energy Parts Co.",
        "industry": "automotive",
        "region": "Changbai",
        "budget": "500000 CNY",
        "deadline": "2026-12-31",
        "contact": "Liu Yang <liu.yang@cbnep.example.com>",
        "language": "en",
    },
    (Kind.NEEDS, "zh"): {
        "id": "N-NEW-001",
        "title": "电池托盘焊缝在线检测",
        "description": "我公司为电动汽车焊接铝合金电池托盘，需要一种在线检测方法，在气密性试验之前"
        "按生产节拍发现每条焊缝中的气孔和裂纹。",
        "enterprise": "长白新能源零部件有限公司",
        "industry": "automotive",
        "region": "长白",
        "budget": "50万元",
        "deadline": "2026-12-31",
        "contact": "刘洋 <liu.yang@cbnep.example.com>",
        "language": "zh",
    },
}

_WIDTHS = {FieldType.TEXT: 24, FieldType.LIST: 32, FieldType.TRL: 10, FieldType.DATE: 14}
_WIDE = {"title": 40, "abstract": 70, "description": 70, "contact": 36, "url": 40}


def headers(kind: Kind, language: str = "en") -> list[str]:
    """The template's header row: every field of ``kind``, in the schema's order."""
    return [header_of(kind, spec.name, language) for spec in SCHEMAS[kind]]


def example(kind: Kind, language: str = "en") -> list[Any]:
    """The template's example row, under :func:`headers`."""
    values = EXAMPLES[(kind, language)]
    return [values.get(spec.name, "") for spec in SCHEMAS[kind]]


def template_csv(kind: Kind, language: str = "en") -> bytes:
    """A CSV template, UTF-8 with a byte-order mark so that Excel shows its Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers(kind, language))
    writer.writerow(example(kind, language))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx(kind: Kind, language: str = "en") -> bytes:
    """An XLSX template: the records sheet first (the one read on upload), then the fields described."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    zh = language == "zh"
    book = Workbook()
    sheet = book.active
    sheet.title = ("项目" if kind is Kind.PROJECTS else "需求") if zh else kind.value
    sheet.append(headers(kind, language))
    sheet.append(example(kind, language))
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE6F4")
    for index, spec in enumerate(SCHEMAS[kind], start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = bold
        cell.fill = fill
        sheet.column_dimensions[get_column_letter(index)].width = _WIDE.get(spec.name, _WIDTHS[spec.type])
        sheet.cell(row=2, column=index).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"

    notes = book.create_sheet("字段说明" if zh else "fields")
    notes.append(
        ["列名", "字段", "必填", "说明", "示例"] if zh else ["column", "field", "required", "what it holds", "example"]
    )
    values = EXAMPLES[(kind, language)]
    for spec in SCHEMAS[kind]:
        note = NOTES[spec.name]
        required = ("是" if spec.required else "否") if zh else ("yes" if spec.required else "no")
        notes.append(
            [
                header_of(kind, spec.name, language),
                spec.name,
                required,
                note.chinese if zh else note.english,
                values.get(spec.name, ""),
            ]
        )
    for index, width in enumerate((14, 14, 10, 60, 50), start=1):
        notes.column_dimensions[get_column_letter(index)].width = width
        notes.cell(row=1, column=index).font = bold
        notes.cell(row=1, column=index).fill = fill
    for row in notes.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    notes.freeze_panes = "A2"

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def template_bytes(kind: Kind, file_format: str, language: str = "en") -> bytes:
    return template_xlsx(kind, language) if file_format == "xlsx" else template_csv(kind, language)
