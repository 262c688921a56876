"""Private fields (contacts, budgets, ...) are left out of answers to callers without a staff key.

Which fields are private is configuration (``private_fields``): names of record fields and of
metadata keys (the extra columns of a spreadsheet), compared case-insensitively. The default
errs on the safe side; an office that publishes contacts on purpose sets ``private_fields = ""``.
"""

from __future__ import annotations

from typing import Any


def private_names(setting: str) -> frozenset[str]:
    """The setting's comma-separated names, lower-cased."""
    return frozenset(name.strip().lower() for name in setting.split(",") if name.strip())


def redact_record(record: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    """A record's dict (or a match's) without its private fields and private metadata keys."""
    if not private:
        return record
    public = {name: value for name, value in record.items() if name.lower() not in private}
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        public["metadata"] = {key: value for key, value in metadata.items() if str(key).lower() not in private}
    return public


def redact_matches(answer: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    """A match answer whose matched records carry no private field."""
    if not private:
        return answer
    return {**answer, "matches": [redact_record(match, private) for match in answer.get("matches", [])]}
