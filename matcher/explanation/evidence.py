"""Evidence: the query sentence and the matched-text sentence that match best.

The model's text vector is the mean of its token vectors, so the dot product of two texts' token
sums splits exactly into one part per pair of sentences. The evidence is the pair with the
largest part: the sentences that contribute most to the dense similarity. Its ``share`` is that
part over the sum of all pairs' parts; its ``similarity`` is the cosine of the two sentences'
vectors. (For a text longer than one passage, each sentence is taken from the first passage that
holds it, so the split is close rather than exact.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.explanation.profile import Profile, Sentence


@dataclass(frozen=True)
class Evidence:
    query: Sentence
    match: Sentence
    query_text: str
    match_text: str
    similarity: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        def side(sentence: Sentence, text: str) -> dict[str, Any]:
            return {"field": sentence.field, "start": sentence.start, "end": sentence.end, "text": text}

        return {
            "query": side(self.query, self.query_text),
            "match": side(self.match, self.match_text),
            "similarity": round(self.similarity, 4),
            "share": round(self.share, 4),
        }


def best_evidence(query: Profile, match: Profile) -> Evidence | None:
    """The best pair of sentences, or None when either text has none the model saw."""
    return best_evidence_many(query, [match])[0]


def best_evidence_many(query: Profile, matches: Sequence[Profile]) -> list[Evidence | None]:
    """Each match's best pair of sentences with ``query``, from one product of all their sentences."""
    found: list[Evidence | None] = [None] * len(matches)
    sizes = [len(match.sentences) for match in matches]
    if not query.sentences or not sum(sizes):
        return found
    parts = query.sentence_sums @ np.concatenate([match.sentence_sums for match in matches]).T
    totals = np.stack([match.sentence_total for match in matches]) @ query.sentence_total
    start = 0
    for position, (match, size) in enumerate(zip(matches, sizes)):
        if size:
            block = parts[:, start : start + size]
            row, column = divmod(int(np.argmax(block)), size)
            part = float(block[row, column])
            norms = float(query.sentence_norms[row] * match.sentence_norms[column])
            total = float(totals[position])
            query_sentence, match_sentence = query.sentences[row], match.sentences[column]
            found[position] = Evidence(
                query_sentence,
                match_sentence,
                query.terms.surface(query_sentence.occurrence),
                match.terms.surface(match_sentence.occurrence),
                part / norms if norms > 0 else 0.0,
                part / total if total > 0 else 0.0,
            )
        start += size
    return found
