"""Evidence: the query sentence and the matched-text sentence that match best.

The model's text vector is the mean of its token vectors, so the dot product of two texts' token
sums splits exactly into one part per pair of sentences. The evidence is the pair with the
largest part: the sentences that contribute most to the dense similarity. Its ``share`` is that
part over the sum of all pairs' parts; its ``similarity`` is the cosine of the two sentences'
vectors. (For a text longer than one passage, each sentence is taken from the first passage that
holds it, so the split is close rather than exact.)
"""

from __future__ import annotations

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
    if not query.sentences or not match.sentences:
        return None
    parts = query.sentence_sums @ match.sentence_sums.T
    row, column = np.unravel_index(int(np.argmax(parts)), parts.shape)
    norms = float(query.sentence_norms[row] * match.sentence_norms[column])
    total = float(query.sentence_total @ match.sentence_total)
    query_sentence, match_sentence = query.sentences[row], match.sentences[column]
    return Evidence(
        query_sentence,
        match_sentence,
        query.terms.surface(query_sentence.occurrence),
        match.terms.surface(match_sentence.occurrence),
        float(parts[row, column]) / norms if norms > 0 else 0.0,
        float(parts[row, column]) / total if total > 0 else 0.0,
    )
