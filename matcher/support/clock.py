"""The one clock of stored timestamps: UTC, ISO 8601 to the second (``2025-01-31T12:00:00+00:00``)."""

from __future__ import annotations

import datetime as dt


def utc_now() -> str:
    """Now in UTC as ISO text to the second: sortable as text, the form every stored time takes."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
