"""Private fields (contacts, budgets, ...) are left out of answers to callers without a staff key.

Which fields are private is configuration (``private_fields``): names of record fields and of
metadata keys (the extra columns of a spreadsheet), compared case-insensitively. The default
errs on the safe side; an office that publishes contacts on purpose sets ``private_fields = ""``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_SEPARATORS = re.compile(r"[\s_\-.:/()]+")


def private_names(setting: str) -> frozenset[str]:
    """The setting's comma-separated names, lower-cased."""
    return frozenset(name.strip().lower() for name in setting.split(",") if name.strip())


@lru_cache(maxsize=4096)
def _words(name: str) -> str:
    """``name`` lower-cased with its separators as single spaces and a space at each end: " contact person "."""
    return " " + " ".join(_SEPARATORS.split(name.lower())).strip() + " "


def is_private(name: str, private: frozenset[str]) -> bool:
    """Whether a field or metadata key is private: one of ``private``, or a spreadsheet's longer name holding one
    as a word ("Contact person", "phone_number", "E-mail address") or, for a Chinese name, anywhere ("联系人姓名")."""
    words = _words(str(name))
    return any(
        _words(hidden) in words or (not hidden.isascii() and hidden in words) for hidden in private if hidden.strip()
    )


def redact_record(record: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    """A record's dict (or a match's) without its private fields and private metadata keys."""
    if not private:
        return record
    public = {name: value for name, value in record.items() if not is_private(name, private)}
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        public["metadata"] = {key: value for key, value in metadata.items() if not is_private(str(key), private)}
    return public


def redact_matches(answer: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    """A match answer whose matched records carry no private field."""
    if not private:
        return answer
    return {**answer, "matches": [redact_record(match, private) for match in answer.get("matches", [])]}
