"""Read CSV, JSON, JSONL and XLSX files into rows of raw values, each with its row number.

Row numbers are what a person sees: for CSV and XLSX the spreadsheet row (the header is row 1),
for JSONL the line, for JSON the position of the object in the array (from 1).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.errors import Problem, ValidationFailed

SUPPORTED_SUFFIXES = (".csv", ".json", ".jsonl", ".xlsx")


@dataclass(frozen=True)
class RawRow:
    number: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Table:
    """The rows of one source; ``columns`` is the header of a spreadsheet-like file, else None."""

    source: str
    rows: list[RawRow]
    columns: list[str] | None = None


def _fail(source: str, message: str, code: str, row: int | None = None, field: str | None = None) -> ValidationFailed:
    return ValidationFailed([Problem(source, row, field, code, message)])


def _decode(data: bytes, source: str, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _fail(
            source,
            f"text is not valid {encoding} at byte {error.start} (line {line}); "
            "save the file as UTF-8 or give its encoding (e.g. --encoding gb18030)",
            "undecodable_text",
            row=line,
        ) from None
    except LookupError:
        raise _fail(source, f"unknown text encoding {encoding!r}", "unknown_encoding") from None
    return text.removeprefix("\ufeff")


def _plain(value: Any) -> Any:
    """Turn spreadsheet cell values into plain Python values (dates as ISO text, 3.0 as 3)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def _read_csv(data: bytes, source: str, encoding: str) -> Table:
    import pandas as pd

    text = _decode(data, source, encoding)
    if not text.strip():
        raise _fail(source, "the file is empty", "empty_file")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=False)
    except pd.errors.ParserError as error:
        raise _fail(source, f"not a valid CSV file: {error}", "malformed_file") from None
    rows = [RawRow(index + 2, dict(zip(frame.columns, row))) for index, row in enumerate(frame.itertuples(index=False))]
    return Table(source, rows, [str(column) for column in frame.columns])


def _read_xlsx(data: bytes, source: str, encoding: str) -> Table:
    import pandas as pd

    try:
        frame = pd.read_excel(io.BytesIO(data), dtype=object, keep_default_na=False, engine="openpyxl")
    except Exception as error:  # openpyxl raises many kinds for a damaged workbook
        raise _fail(source, f"not a readable XLSX workbook: {error}", "malformed_file") from None
    rows = []
    for index, row in enumerate(frame.itertuples(index=False)):
        values = {str(column): _plain(value) for column, value in zip(frame.columns, row)}
        rows.append(RawRow(index + 2, values))
    return Table(source, rows, [str(column) for column in frame.columns])


def _object_row(item: Any, number: int, source: str) -> RawRow:
    if not isinstance(item, dict):
        raise _fail(source, f"expected a JSON object, got {type(item).__name__}", "malformed_row", row=number)
    return RawRow(number, item)


def _read_json(data: bytes, source: str, encoding: str) -> Table:
    text = _decode(data, source, encoding)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(
            source, f"not valid JSON: {error.msg} at line {error.lineno}", "malformed_file", row=error.lineno
        ) from None
    return rows_from_objects(document, source)


def _read_jsonl(data: bytes, source: str, encoding: str) -> Table:
    text = _decode(data, source, encoding)
    rows = []
    # Only "\n" ends a JSONL line: str.splitlines() would also break inside strings at U+2028 and the like.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise _fail(source, f"not valid JSON: {error.msg}", "malformed_row", row=number) from None
        rows.append(_object_row(item, number, source))
    return Table(source, rows)


_READERS: dict[str, Callable[[bytes, str, str], Table]] = {
    ".csv": _read_csv,
    ".json": _read_json,
    ".jsonl": _read_jsonl,
    ".xlsx": _read_xlsx,
}


def read_table(path: str | Path, encoding: str = "utf-8") -> Table:
    """Read every row of a CSV, JSON, JSONL or XLSX file; raise :class:`ValidationFailed` if unreadable."""
    path = Path(path)
    source = str(path)
    _reader(path.suffix, source)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _fail(source, f"cannot read the file: {error.strerror}", "unreadable_file") from None
    return read_data(data, source, encoding)


def read_data(data: bytes, source: str, encoding: str = "utf-8") -> Table:
    """Read the bytes of a file named ``source`` (an upload's file name), by its suffix, as :func:`read_table`."""
    return _reader(Path(source).suffix, source)(data, source, encoding)


def _reader(suffix: str, source: str) -> Callable[[bytes, str, str], Table]:
    reader = _READERS.get(suffix.lower())
    if reader is None:
        raise _fail(
            source,
            f"unsupported file type {suffix or '(none)'!r}; supported types are {list(SUPPORTED_SUFFIXES)}",
            "unsupported_format",
        )
    return reader


def rows_from_objects(items: Any, source: str) -> Table:
    """Rows from an already-parsed JSON batch (a list of objects, or ``{"records": [...]}``)."""
    if isinstance(items, dict) and isinstance(items.get("records"), list):
        items = items["records"]
    if not isinstance(items, list):
        raise _fail(source, 'expected a JSON array of records (or {"records": [...]})', "malformed_file")
    return Table(source, [_object_row(item, index + 1, source) for index, item in enumerate(items)])
