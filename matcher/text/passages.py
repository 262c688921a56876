"""Split long texts into overlapping passages that fit the model's window.

Every passage is preceded by the record's title, so it keeps its context. A text that fits in
one passage is left exactly as it is (``title + "\\n" + body``), so its vector and cache entry
do not change. At most ``max_passages`` are made, so the encoding cost of a record grows
linearly with its length up to that bound and no further. Two sizings:

- ``tokens`` measures with the model's own tokenizer (a piece function passed in, see
  matcher.embedding.pieces): each passage, title and special pieces included, holds at most
  ``max_tokens`` pieces; windows overlap by about ``token_overlap`` pieces, end on a word (a
  sentence where one ends in the window's second half) and never cut a word unless that word
  alone is longer than a window.
- ``words`` counts whitespace words (or single CJK characters): at most ``max_units`` per window,
  overlapping by ``overlap``. On real papers about 30% of such passages run past 256 pieces and
  the model silently cuts their tail (benchmarks/RESULTS.md, "Passages sized by the tokenizer").
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matcher.records import Record
from matcher.text.sentences import sentence_spans
from matcher.text.tokenize import CJK_CLASS

_UNIT = re.compile(rf"[{CJK_CLASS}]|[^\s{CJK_CLASS}]+")

SIZINGS = ("tokens", "words")

# The character span of every piece the model reads of a text, special pieces as (0, 0).
PieceOffsets = Callable[[str], Sequence[tuple[int, int]]]


@dataclass(frozen=True)
class PassagePolicy:
    max_units: int = 160
    overlap: int = 40
    max_passages: int = 8
    sizing: str = "words"
    max_tokens: int = 256
    token_overlap: int = 64
    # Needed by "tokens" sizing; not part of the policy's identity (see identity()).
    pieces: PieceOffsets | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.max_units:
            raise ValueError(f"overlap ({self.overlap}) must be at least 0 and below max_units ({self.max_units})")
        if self.max_passages < 1:
            raise ValueError(f"max_passages must be at least 1, got {self.max_passages}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"passage sizing must be one of {', '.join(SIZINGS)}, got {self.sizing!r}")
        if self.sizing == "tokens":
            if self.max_tokens < 16:
                raise ValueError(f"max_tokens must be at least 16, got {self.max_tokens}")
            if not 0 <= self.token_overlap <= self.max_tokens // 2:
                raise ValueError(
                    f"token_overlap ({self.token_overlap}) must be at least 0 and at most half of "
                    f"max_tokens ({self.max_tokens})"
                )
            if self.pieces is None:
                raise ValueError("passage sizing 'tokens' needs a piece function (the model's tokenizer)")

    def identity(self) -> dict[str, Any]:
        """What decides the passages, for an index manifest (word sizing: the same keys as ever)."""
        if self.sizing == "words":
            return {"max_units": self.max_units, "overlap": self.overlap, "max_passages": self.max_passages}
        return {
            "sizing": "tokens",
            "max_tokens": self.max_tokens,
            "token_overlap": self.token_overlap,
            "max_passages": self.max_passages,
        }

    @property
    def label(self) -> str:
        """A short version label of the sizing, for caches of things made from passages."""
        if self.sizing == "words":
            return f"{self.max_units}.{self.overlap}.{self.max_passages}"
        return f"t{self.max_tokens}.{self.token_overlap}.{self.max_passages}"


def passage_windows(body: str, policy: PassagePolicy, title: str = "") -> list[tuple[int, int]]:
    """The character ranges of ``body`` that the passages hold, in order (the whole body when short).

    ``title`` heads every passage; token sizing counts its pieces against the window.
    """
    if policy.sizing == "tokens":
        assert policy.pieces is not None  # checked by PassagePolicy
        return _token_windows(title, body, policy, policy.pieces)
    return _word_windows(body, policy)


def _word_windows(body: str, policy: PassagePolicy) -> list[tuple[int, int]]:
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


def _token_windows(title: str, body: str, policy: PassagePolicy, pieces: PieceOffsets) -> list[tuple[int, int]]:
    head = f"{title}\n" if title else ""
    spans = pieces(f"{head}{body}")
    if len(spans) <= policy.max_tokens or policy.max_passages == 1:
        return [(0, len(body))]
    specials = sum(1 for start, end in spans if end <= start)
    head_pieces = sum(1 for start, end in spans if start < end and start < len(head))
    starts = [start - len(head) for start, end in spans if start < end and start >= len(head)]
    budget = policy.max_tokens - specials
    # A title that takes more than half the window still leaves half for the body (those
    # passages then run past the window, as the whole text would).
    room = max(budget - head_pieces, budget // 2)
    overlap = min(policy.token_overlap, room // 2)
    units = _units(body, starts, room)
    # totals[i]: pieces of units[:i]; sentence_ends: the units after which a sentence ends.
    totals = [0]
    for _, _, count in units:
        totals.append(totals[-1] + count)
    sentence_ends = _sentence_ends(body, units)
    windows: list[tuple[int, int]] = []
    first = 0
    while True:
        end = max(bisect_right(totals, totals[first] + room) - 1, first + 1)
        if end < len(units):
            end = _sentence_end(sentence_ends, totals, first, end, room) or end
        windows.append((units[first][0], units[end - 1][1]))
        if end >= len(units) or len(windows) == policy.max_passages:
            return windows
        first = max(bisect_left(totals, totals[end] - overlap), first + 1)


def _units(body: str, starts: list[int], room: int) -> list[tuple[int, int, int]]:
    """The body's words (or CJK characters) as (start, end, pieces); a word longer than ``room``
    pieces is cut into parts of at most ``room // 2`` pieces at piece boundaries."""
    units: list[tuple[int, int, int]] = []
    for match in _UNIT.finditer(body):
        low, high = bisect_left(starts, match.start()), bisect_left(starts, match.end())
        if high - low <= room:
            units.append((match.start(), match.end(), high - low))
            continue
        part = max(1, room // 2)
        for cut in range(low, high, part):
            last = min(cut + part, high) - 1
            start = match.start() if cut == low else starts[cut]
            end = match.end() if last == high - 1 else starts[last + 1]
            units.append((start, end, last - cut + 1))
    return units


def _sentence_ends(body: str, units: list[tuple[int, int, int]]) -> list[int]:
    """The indices ``i`` (ascending) such that a sentence ends with ``units[i - 1]``."""
    closing = {span.end for span in sentence_spans(body)}
    return [index + 1 for index, (_, end, _) in enumerate(units) if end in closing]


def _sentence_end(sentence_ends: list[int], totals: list[int], first: int, end: int, room: int) -> int | None:
    """The last sentence end in ``(first, end]`` that keeps at least half the room, if any."""
    position = bisect_right(sentence_ends, end) - 1
    if position < 0:
        return None
    candidate = sentence_ends[position]
    if candidate <= first or totals[candidate] - totals[first] < room // 2:
        return None
    return candidate


def passages(title: str, body: str, policy: PassagePolicy) -> list[str]:
    """The texts to embed for one record: ``title + "\\n" + body`` when short, else overlapping windows.

    With an empty ``title`` (a free-text query) the passages are the body's windows alone.
    """
    head = f"{title}\n" if title else ""
    return [f"{head}{body[start:end]}" for start, end in passage_windows(body, policy, title)]


def record_passages(record: Record, policy: PassagePolicy) -> list[str]:
    """The texts embedded for a record: its whole text, or overlapping passages when long."""
    return passages(record.title, record.body, policy)
