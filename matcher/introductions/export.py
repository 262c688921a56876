"""Writing a plan for the event: CSV (UTF-8 with a BOM, so Excel shows Chinese) or XLSX.

The XLSX has the introductions on one sheet and the parameters and diagnostics on another; every
sheet has a bold, frozen header row with an autofilter and columns as wide as their text. Text a
spreadsheet would run as a formula stays plain text in both formats. Files are written beside the
target and renamed into place, so a failed export leaves no half file.

Two kinds of plan are written: a plan job's (:func:`plan_bytes`, as ``matcher introduce`` and the
API keep it) and an event's reviewed plan (:func:`event_plan_rows`, :func:`table_bytes`), whose
every row names the event and its plan, so a file that travels alone still says where it is from.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from matcher.errors import InvalidInput
from matcher.introductions.planner import COLUMNS
from matcher.records import Record
from matcher.support.atomic_files import write_atomically

FORMATS = ("csv", "xlsx")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
MEDIA_TYPES = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE}

# Column widths in Excel's units (about one Latin character; a Chinese one takes two).
MIN_WIDTH = 8
MAX_WIDTH = 60
WIDTH_SAMPLE_ROWS = 500  # widths are measured on the first rows only: a big plan stays fast
CHOICE_ROWS = 1000  # how far down a column's list of choices (a drop-down) reaches


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


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: a title, its header and its rows (mappings by column)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    # Columns whose cells offer a drop-down of these values (XLSX only), e.g. an outcome's status.
    choices: Mapping[str, Sequence[str]] = field(default_factory=dict)


# -- CSV ---------------------------------------------------------------------------------------


def table_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A header and rows as CSV in UTF-8 with a BOM (Excel then reads Chinese right), formulas inert."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({column: _inert(_cell(value)) for column, value in row.items()} for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


# -- XLSX --------------------------------------------------------------------------------------


def text_width(value: Any) -> int:
    """How many Latin characters wide ``value`` shows: East Asian wide characters count two."""
    text = "" if value is None else str(value)
    line = max(text.split("\n"), key=len) if text else ""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def _offer_choices(sheet: Worksheet, columns: Sequence[str], choices: Mapping[str, Sequence[str]], rows: int) -> None:
    for name, values in choices.items():
        letter = get_column_letter(list(columns).index(name) + 1)
        validation = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True)
        validation.add(f"{letter}2:{letter}{max(rows + 1, CHOICE_ROWS)}")
        sheet.add_data_validation(validation)


def _fill(sheet: Worksheet, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_cell(row.get(column)) for column in columns])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # openpyxl stores any text starting with "=" as a formula
                cell.data_type = "s"
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
        cell.alignment = Alignment(vertical="top")
    sheet.freeze_panes = "A2"
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"
    for position, column in enumerate(columns, start=1):
        widest = max([text_width(column), *(text_width(_cell(row.get(column))) for row in rows[:WIDTH_SAMPLE_ROWS])])
        sheet.column_dimensions[get_column_letter(position)].width = min(MAX_WIDTH, max(MIN_WIDTH, widest + 2))
        if widest > MAX_WIDTH:  # long text (explanations, titles) wraps in its column
            for cell in sheet[get_column_letter(position)][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """A workbook of ``sheets``: each with a bold frozen header, an autofilter and fitted column widths."""
    book = Workbook()
    first = book.active
    book.remove(first)
    for sheet in sheets:
        made = book.create_sheet(sheet.title)
        _fill(made, sheet.columns, sheet.rows)
        _offer_choices(made, sheet.columns, sheet.choices, len(sheet.rows))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def table_bytes(sheets: Sequence[Sheet], file_format: str) -> bytes:
    """CSV (the first sheet only) or XLSX (every sheet) of ``sheets``."""
    if file_format == "csv":
        return table_csv(sheets[0].columns, sheets[0].rows)
    return workbook_bytes(sheets)


def _summary_rows(items: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"item": name, "value": _cell(value)} for name, value in items.items()]


# -- a plan job's plan -------------------------------------------------------------------------


def plan_csv(plan: dict[str, Any]) -> bytes:
    """``plan`` is :meth:`Plan.to_dict`'s output, as kept by a plan job."""
    return table_csv(COLUMNS, plan["introductions"])


def plan_xlsx(plan: dict[str, Any]) -> bytes:
    summary = {**plan["parameters"], "total_score": plan["total_score"], **plan["diagnostics"]}
    return workbook_bytes(
        [
            Sheet("introductions", COLUMNS, plan["introductions"]),
            Sheet("summary", ("item", "value"), _summary_rows(summary)),
        ]
    )


def plan_bytes(plan: dict[str, Any], file_format: str) -> bytes:
    return plan_csv(plan) if file_format == "csv" else plan_xlsx(plan)


def write_plan(plan: dict[str, Any], path: str | Path) -> Path:
    """Write ``plan`` to ``path`` (format from the suffix), replacing any file there in one step."""
    path = Path(path)
    return write_atomically(path, plan_bytes(plan, plan_format(path)))


# -- an event's reviewed plan ------------------------------------------------------------------

EVENT_COLUMNS = (
    "event_id",
    "event_name",
    "plan_id",
    "state",
    "origin",
    "need_id",
    "need_title",
    "need_enterprise",
    "need_contact",
    "project_id",
    "project_title",
    "project_institution",
    "project_contact",
    "strength",
    "score",
    "rank_for_need",
    "rank_for_project",
    "explanation",
)


class PlannedPair(Protocol):
    """What an event's pair tells the export (``matcher.events.store.EventPair`` has it)."""

    @property
    def need_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def strength(self) -> float | None: ...
    @property
    def rank_for_need(self) -> int | None: ...
    @property
    def rank_for_project(self) -> int | None: ...
    @property
    def explanation(self) -> str: ...
    @property
    def plan_id(self) -> str | None: ...


def _value(value: Any) -> Any:
    """An enum's value (a pair's state), a float rounded for reading, anything else as it is."""
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return round(value, 4) if isinstance(value, float) else value


def event_plan_rows(
    event_id: int,
    event_name: str,
    plan_id: str | None,
    pairs: Iterable[PlannedPair],
    needs: Mapping[str, Record],
    projects: Mapping[str, Record],
) -> list[dict[str, Any]]:
    """One row per pair, with the event's id and name and the plan's id in every row.

    ``plan_id`` is the event's current plan; a pair of an earlier plan, or one staff added by hand,
    keeps its own plan id when it has one. A record deleted since the plan shows its id alone.
    """
    rows = []
    for pair in pairs:
        need, project = needs.get(pair.need_id), projects.get(pair.project_id)
        rows.append(
            {
                "event_id": event_id,
                "event_name": event_name,
                "plan_id": pair.plan_id or plan_id or "",
                "state": _value(pair.state),
                "origin": _value(pair.origin),
                "need_id": pair.need_id,
                "need_title": need.title if need else "",
                "need_enterprise": (need.attributes.get("enterprise") or "") if need else "",
                "need_contact": (need.attributes.get("contact") or "") if need else "",
                "project_id": pair.project_id,
                "project_title": project.title if project else "",
                "project_institution": (project.attributes.get("institution") or "") if project else "",
                "project_contact": (project.attributes.get("contact") or "") if project else "",
                "strength": _value(pair.strength),
                "score": _value(pair.score),
                "rank_for_need": pair.rank_for_need,
                "rank_for_project": pair.rank_for_project,
                "explanation": pair.explanation,
            }
        )
    return rows


def event_plan_sheets(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[Sheet]:
    """The introductions sheet and a summary sheet (the event, its scope, counts by state)."""
    return [Sheet("introductions", EVENT_COLUMNS, rows), Sheet("summary", ("item", "value"), _summary_rows(summary))]
