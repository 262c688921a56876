"""Split a text into sentences with character offsets, for English, Chinese and mixed text.

A sentence ends at a full stop, question or exclamation mark or semicolon (ASCII followed by a
space, or the full-width Chinese forms anywhere), or at a line break. Leading and trailing spaces
are not part of a sentence; an abbreviation such as "e.g. " may end one early, which costs an
evidence highlight a few words and nothing else.
"""

from __future__ import annotations

import re

from matcher.text.tokenize import Span

_BOUNDARY = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n+")


def sentence_spans(text: str) -> list[Span]:
    """The sentences of ``text`` as spans, in order; whitespace-only pieces are skipped."""
    spans: list[Span] = []
    start = 0
    for boundary in [*_BOUNDARY.finditer(text), None]:
        end = boundary.start() if boundary is not None else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            first = start + piece.index(stripped[0])
            spans.append(Span(first, first + len(stripped)))
        if boundary is not None:
            start = boundary.end()
    return spans
