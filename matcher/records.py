"""The two kinds of record, their fields, and the text each contributes to matching."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Kind(str, Enum):
    PROJECTS = "projects"
    NEEDS = "needs"

    @property
    def other(self) -> Kind:
        return Kind.NEEDS if self is Kind.PROJECTS else Kind.PROJECTS

    @property
    def body_field(self) -> str:
        return "abstract" if self is Kind.PROJECTS else "description"

    @property
    def singular(self) -> str:
        return "project" if self is Kind.PROJECTS else "need"


TRL_RANGE = (1, 9)  # a technology readiness level is a whole number in this range, both ends included


class FieldType(str, Enum):
    TEXT = "text"
    LIST = "list"
    TRL = "trl"
    DATE = "date"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType = FieldType.TEXT
    required: bool = False


# The longest a record's body (abstract, description) may be is the `max_text_chars` setting (that of a
# query too); every other text (and each item of a list) is at most this long. Together with `max_top_k`
# they bound the size of any answer.
MAX_FIELD_CHARS = 1_000
# An id is shorter still: it goes into URLs, whose request line a server cuts at about 4 KB.
MAX_ID_CHARS = 200
# Characters a record's text may not hold: C0 controls other than tab and line breaks, and U+FFFD, which
# a decoder leaves where bytes were undecodable. The API's schema forbids the same class.
INVALID_TEXT_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\ufffd"


SCHEMAS: dict[Kind, tuple[FieldSpec, ...]] = {
    Kind.PROJECTS: (
        FieldSpec("id", required=True),
        FieldSpec("title", required=True),
        FieldSpec("abstract", required=True),
        FieldSpec("institution"),
        FieldSpec("contact"),
        FieldSpec("fields", FieldType.LIST),
        FieldSpec("keywords", FieldType.LIST),
        FieldSpec("trl", FieldType.TRL),
        FieldSpec("ip_status"),
        FieldSpec("language"),
        FieldSpec("url"),
        FieldSpec("updated", FieldType.DATE),
    ),
    Kind.NEEDS: (
        FieldSpec("id", required=True),
        FieldSpec("title", required=True),
        FieldSpec("description", required=True),
        FieldSpec("enterprise"),
        FieldSpec("industry"),
        FieldSpec("region"),
        FieldSpec("budget"),
        FieldSpec("deadline", FieldType.DATE),
        FieldSpec("contact"),
        FieldSpec("language"),
    ),
}

# Column names people use in their own spreadsheets, mapped to ours.
ALIASES: dict[str, str] = {"team": "contact", "field": "fields", "tags": "keywords", "ip": "ip_status"}


@dataclass(frozen=True)
class Record:
    """A validated project or need. ``attributes`` hold the optional known fields."""

    kind: Kind
    id: str
    title: str
    body: str
    attributes: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The text that is embedded and explained: title, then body."""
        return f"{self.title}\n{self.body}"

    @property
    def text_fields(self) -> dict[str, str]:
        return {"title": self.title, self.kind.body_field: self.body}

    @property
    def language(self) -> str:
        return str(self.attributes.get("language") or "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            self.kind.body_field: self.body,
            **self.attributes,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, kind: Kind, data: dict[str, Any]) -> Record:
        data = dict(data)
        return cls(
            kind=kind,
            id=data.pop("id"),
            title=data.pop("title"),
            body=data.pop(kind.body_field),
            metadata=data.pop("metadata", {}) or {},
            attributes=data,
        )

    @property
    def content_hash(self) -> str:
        """A fingerprint of everything stored: an equal hash means re-ingesting changes nothing."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
