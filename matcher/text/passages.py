"""Split long texts into overlapping passages, sized to approximate the model's window.

The model reads 256 word pieces. A passage holds at most ``max_units`` units of the body (an
English word or a single Chinese character each; Chinese is read one character per piece),
preceded by the title so every passage keeps its context. Passages overlap by ``overlap`` units.
A text that fits in one passage is left exactly as it is. At most ``max_passages`` are made, so
the encoding cost of a record grows linearly with its length up to that bound and no further.

Known limit: units are counted by whitespace words, not word pieces. On real papers about 30% of
passages (SBIR needs: 13%) exceed 256 pieces and the model silently cuts their tail (about 3% of
their pieces); where a cut is longer than the overlap, that text is never embedded. Sizing by
the model's tokenizer would fix it; it changes every vector, so it waits for a re-measurement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matcher.records import Record
from matcher.text.tokenize import CJK_CLASS

_UNIT = re.compile(rf"[{CJK_CLASS}]|[^\s{CJK_CLASS}]+")


@dataclass(frozen=True)
class PassagePolicy:
    max_units: int = 160
    overlap: int = 40
    max_passages: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.max_units:
            raise ValueError(f"overlap ({self.overlap}) must be at least 0 and below max_units ({self.max_units})")
        if self.max_passages < 1:
            raise ValueError(f"max_passages must be at least 1, got {self.max_passages}")


def passage_windows(body: str, policy: PassagePolicy) -> list[tuple[int, int]]:
    """The character ranges of ``body`` that the passages hold, in order (the whole body when short)."""
    units = [(match.start(), match.end()) for match in _UNIT.finditer(body)]
    if len(units) <= policy.max_units or policy.max_passages == 1:
        return [(0, len(body))]
    step = policy.max_units - policy.overlap
    windows: list[tuple[int, int]] = []
    for first in range(0, len(units) - policy.overlap, step):
        last = min(first + policy.max_units, len(units)) - 1
        windows.append((units[first][0], units[last][1]))
        if len(windows) == policy.max_passages or last == len(units) - 1:
            break
    return windows


def passages(title: str, body: str, policy: PassagePolicy) -> list[str]:
    """The texts to embed for one record: ``title + "\\n" + body`` when short, else overlapping windows.

    With an empty ``title`` (a free-text query) the passages are the body's windows alone.
    """
    head = f"{title}\n" if title else ""
    return [f"{head}{body[start:end]}" for start, end in passage_windows(body, policy)]


def record_passages(record: Record, policy: PassagePolicy) -> list[str]:
    """The texts embedded for a record: its whole text, or overlapping passages when long."""
    return passages(record.title, record.body, policy)
