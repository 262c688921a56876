"""Writing a plan for the event: CSV (UTF-8 with a BOM, so Excel shows Chinese) or XLSX.

The XLSX has the introductions on one sheet and the parameters and diagnostics on another. Files
are written beside the target and renamed into place, so a failed export leaves no half file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from matcher.errors import InvalidInput
from matcher.introductions.planner import COLUMNS
from matcher.support.atomic_files import write_atomically

FORMATS = ("csv", "xlsx")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def plan_format(path: str | Path) -> str:
    """``csv`` or ``xlsx`` from a file name, or a clear error naming the file."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidInput(
            f"{path}: a plan is written as .csv or .xlsx, not {suffix or 'no suffix'!r}",
            details={"parameter": "out", "file": str(path)},
        )
    return suffix


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (``=HYPERLINK(...)`` in a title) made plain text."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def plan_csv(plan: dict[str, Any]) -> bytes:
    """``plan`` is :meth:`Plan.to_dict`'s output, as kept by a plan job."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({column: _inert(value) for column, value in row.items()} for row in plan["introductions"])
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def plan_xlsx(plan: dict[str, Any]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "introductions"
    sheet.append(list(COLUMNS))
    for row in plan["introductions"]:
        sheet.append([row[column] for column in COLUMNS])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # openpyxl stores any text starting with "=" as a formula
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    summary = book.create_sheet("summary")
    summary.append(["item", "value"])
    for name, value in {**plan["parameters"], "total_score": plan["total_score"], **plan["diagnostics"]}.items():
        summary.append([name, _cell(value)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def plan_bytes(plan: dict[str, Any], file_format: str) -> bytes:
    return plan_csv(plan) if file_format == "csv" else plan_xlsx(plan)


def write_plan(plan: dict[str, Any], path: str | Path) -> Path:
    """Write ``plan`` to ``path`` (format from the suffix), replacing any file there in one step."""
    path = Path(path)
    return write_atomically(path, plan_bytes(plan, plan_format(path)))
