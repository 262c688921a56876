"""Turn raw rows into records, collecting every problem (file, row, field) before failing."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from matcher.errors import Problem, ValidationFailed
from matcher.ingest.headers import canonical_name
from matcher.ingest.readers import RawRow, Table
from matcher.records import (
    INVALID_TEXT_CHARACTERS,
    MAX_FIELD_CHARS,
    MAX_ID_CHARS,
    SCHEMAS,
    TRL_RANGE,
    FieldSpec,
    FieldType,
    Kind,
    Record,
)
from matcher.text.tokenize import detect_language

LIST_SEPARATORS = re.compile(r"\s*[;；|、\n]\s*")
_INVALID_CONTROL = re.compile(f"[{INVALID_TEXT_CHARACTERS}]")
DEFAULT_MAX_BODY_CHARS = 20_000


class _RowChecker:
    """Checks one row, recording problems instead of stopping at the first."""

    def __init__(self, source: str, row: RawRow, problems: list[Problem], limits: dict[str, int]) -> None:
        self.source = source
        self.row = row
        self.problems = problems
        self.limits = limits

    def problem(self, field: str | None, code: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.row.number, field, code, message))

    def text(self, spec: FieldSpec, value: Any) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(spec.name, "wrong_type", f"expected text, got {type(value).__name__}")
            return None
        if _INVALID_CONTROL.search(value):
            self.problem(spec.name, "undecodable_text", "contains control characters or undecodable bytes")
            return None
        limit = self.limits.get(spec.name, MAX_FIELD_CHARS)
        if len(value) > limit:
            self.problem(spec.name, "too_long", f"has {len(value)} characters; the limit is {limit}")
            return None
        return value.strip()

    def value(self, spec: FieldSpec, raw: Any) -> Any:
        if spec.type is FieldType.LIST:
            return self.list_value(spec, raw)
        text = self.text(spec, raw)
        if text is None or text == "":
            return text
        if spec.type is FieldType.TRL:
            return self.trl(spec, text)
        if spec.type is FieldType.DATE:
            return self.date(spec, text)
        return text

    def list_value(self, spec: FieldSpec, raw: Any) -> list[str] | None:
        if isinstance(raw, list):
            items = [self.text(spec, item) for item in raw]
            if any(item is None for item in items):
                return None
        else:
            text = self.text(spec, raw)
            if text is None:
                return None
            items = LIST_SEPARATORS.split(text)
        return [item for item in items if item]

    def trl(self, spec: FieldSpec, text: str) -> int | None:
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        low, high = TRL_RANGE
        if not number.is_integer() or not low <= number <= high:
            self.problem(
                spec.name,
                "invalid_trl",
                f"technology readiness level must be a whole number from {low} to {high}, got {text!r}",
            )
            return None
        return int(number)

    def date(self, spec: FieldSpec, text: str) -> str | None:
        try:
            return dt.date.fromisoformat(text[:10] if "T" in text else text).isoformat()
        except ValueError:
            self.problem(spec.name, "invalid_date", f"expected a date as YYYY-MM-DD, got {text!r}")
            return None


def _canonical_columns(values: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """A row's values under field names: English or Chinese headers and their aliases (:mod:`.headers`)."""
    return {canonical_name(str(column), kind): value for column, value in values.items()}


def _duplicate_columns(source: str, columns: list[str], kind: Kind) -> list[Problem]:
    """Two headers that stand for one field (``title`` and ``标题``): one would silently hide the other."""
    by_name: dict[str, list[str]] = {}
    for column in columns:
        by_name.setdefault(canonical_name(column, kind), []).append(column)
    return [
        Problem(
            source,
            1,
            name,
            "duplicate_column",
            f"columns {' and '.join(repr(column) for column in same)} both stand for '{name}'; keep one",
        )
        for name, same in by_name.items()
        if len(same) > 1
    ]


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate_table(
    table: Table, kind: Kind, max_body_chars: int = DEFAULT_MAX_BODY_CHARS, repeated_ids: bool = False
) -> list[Record]:
    """Validate a table's rows as records of ``kind``; raise :class:`ValidationFailed` listing every problem.

    A required column absent from a spreadsheet's header is reported once, not on every row. The
    body may be ``max_body_chars`` long, any other text :data:`MAX_FIELD_CHARS`. An id on two rows
    is a problem (in a spreadsheet, a mistake), unless ``repeated_ids``: then the batch is a sequence
    of upserts and the last row of an id is the one kept.
    """
    limits = {kind.body_field: max_body_chars, "id": MAX_ID_CHARS}
    rows, source = table.rows, table.source
    schema = SCHEMAS[kind]
    known = {spec.name for spec in schema}
    problems: list[Problem] = []
    records: list[Record] = []
    first_row_of: dict[str, int] = {}
    if not rows:
        raise ValidationFailed([Problem(source, None, None, "empty_file", "no records found")])
    canonical_rows = [(row, _canonical_columns(row.values, kind)) for row in rows]
    header = set(_canonical_columns(dict.fromkeys(table.columns), kind)) if table.columns is not None else None
    if table.columns is not None:
        problems.extend(_duplicate_columns(source, table.columns, kind))
    absent_columns = [spec.name for spec in schema if spec.required and header is not None and spec.name not in header]
    for name in absent_columns:
        problems.append(Problem(source, 1, name, "missing_required_column", f"required column '{name}' is missing"))
    for row, values in canonical_rows:
        check = _RowChecker(source, row, problems, limits)
        problems_before = len(problems)
        parsed: dict[str, Any] = {}
        for spec in schema:
            raw = values.get(spec.name)
            if _is_blank(raw):
                if spec.required and spec.name not in absent_columns:
                    state = "missing" if spec.name not in values else "empty"
                    check.problem(spec.name, f"{state}_required_field", f"required field '{spec.name}' is {state}")
                continue
            value = check.value(spec, raw)
            if spec.required and value == "":
                check.problem(spec.name, "empty_required_field", f"required field '{spec.name}' is empty")
            if value not in (None, "", []):
                parsed[spec.name] = value
        record_id = parsed.get("id")
        if record_id is not None:
            if record_id in first_row_of and not repeated_ids:
                check.problem(
                    "id", "duplicate_id", f"id {record_id!r} already appears in row {first_row_of[record_id]}"
                )
            else:
                first_row_of[record_id] = row.number
        if len(problems) > problems_before or absent_columns:
            continue
        metadata = {
            key: value
            for key, value in values.items()
            if key not in known and key != "metadata" and not _is_blank(value)
        }
        if isinstance(values.get("metadata"), dict):  # a record read back and sent again keeps one level
            metadata = {**values["metadata"], **metadata}
        for key, value in metadata.items():
            if isinstance(value, float) and not math.isfinite(value):  # SQLite's JSON functions cannot read it
                check.problem(str(key), "invalid_number", f"{value!r} is not a finite number")
        if len(problems) > problems_before:
            continue
        body = parsed.pop(kind.body_field)
        parsed.setdefault("language", detect_language(f"{parsed['title']} {body}"))
        records.append(Record(kind, parsed.pop("id"), parsed.pop("title"), body, attributes=parsed, metadata=metadata))
    if problems:
        raise ValidationFailed(problems)
    return list({record.id: record for record in records}.values()) if repeated_ids else records
