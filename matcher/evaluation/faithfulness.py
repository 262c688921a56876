"""Are explanations the real reasons? Comprehensiveness, sufficiency and coverage on a BEIR set.

For queries whose top-1 match is relevant (at most ``max_queries``, drawn with a fixed seed):

- comprehensiveness (ERASER): delete from the matched document every occurrence of the
  explanation's terms (shared keyphrases and the document side of related terms), and apart from
  that the same number of random keyword tokens; the explanation is faithful on the query when
  its deletion lowers the dense similarity more than the random one;
- sufficiency: the dense similarity of the query to a text made only of the explanation's terms,
  as a share of its similarity to the whole document;
- coverage: the share of queries whose explanation names at least two terms.

Dense similarity is the engine's: the best pair of query and document passages. Edited texts are
encoded directly and never written to the embedding cache.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from matcher.config import Settings
from matcher.embedding.encoder import Embedder
from matcher.evaluation.beir import load_beir
from matcher.evaluation.runner import _ingest_corpus, _work_folder, in_split
from matcher.explanation.explain import Explanation
from matcher.explanation.terms import Occurrence
from matcher.pipeline.reader import Opener, Workspace
from matcher.records import Kind, Record
from matcher.text.passages import passages
from matcher.text.tokenize import tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaithfulnessReport:
    dataset: str
    queries: int
    faithful_share: float
    mean_drop_explained: float
    mean_drop_random: float
    sufficiency_mean: float
    sufficiency_p10: float
    coverage: float
    mean_terms: float
    related_share: float  # queries whose explanation has a related term

    def to_dict(self) -> dict[str, Any]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class _Case:
    query_vectors: np.ndarray
    full: float
    explained_text: tuple[str, str]  # (title, body) with the explanation's terms deleted
    random_text: tuple[str, str]
    terms_text: str
    terms: int
    related: int


def delete_spans(texts: dict[str, str], spans: list[Occurrence]) -> dict[str, str]:
    """``texts`` with the characters of ``spans`` removed (overlaps merged) and spaces tidied."""
    result = {}
    for field, text in texts.items():
        keep = np.ones(len(text), dtype=bool)
        for span in spans:
            if span.field == field:
                keep[span.start : span.end] = False
        kept = "".join(character for character, kept in zip(text, keep) if kept)
        result[field] = " ".join(kept.split())
    return result


def explanation_spans(explanation: Explanation) -> list[Occurrence]:
    """Every occurrence, in the matched text, of the explanation's shared and related terms."""
    spans = [occurrence for term in explanation.shared for occurrence in term.match]
    spans += [occurrence for pair in explanation.related for occurrence in pair.match]
    return spans


def random_spans(texts: dict[str, str], count: int, rng: random.Random) -> list[Occurrence]:
    """``count`` keyword tokens (no stopwords, bare numbers or single CJK characters) drawn at random."""
    tokens = [
        Occurrence(field, token.start, token.end)
        for field, text in texts.items()
        for token in tokenize(text)
        if token.keyword
    ]
    return rng.sample(tokens, min(count, len(tokens)))


def tokens_in(texts: dict[str, str], spans: list[Occurrence]) -> int:
    """How many word tokens lie inside ``spans``."""
    count = 0
    for field, text in texts.items():
        ranges = [(span.start, span.end) for span in spans if span.field == field]
        count += sum(
            1 for token in tokenize(text) if any(start <= token.start and token.end <= end for start, end in ranges)
        )
    return count


def terms_text(explanation: Explanation) -> str:
    """A text made only of the explanation's terms, as the matched document writes them."""
    words = [term.match_term for term in explanation.shared] + [pair.match_term for pair in explanation.related]
    return ", ".join(dict.fromkeys(words))


def dense_similarity(query_vectors: np.ndarray, document_vectors: np.ndarray) -> float:
    """The engine's dense score: the best pair of query and document passages."""
    return float((query_vectors @ document_vectors.T).max())


def explain_eval(
    folder: str | Path,
    settings: Settings,
    max_queries: int = 300,
    seed: int = 13,
    split: str = "all",
    work_dir: Path | None = None,
    embedder: Embedder | None = None,
    *,
    opener: Opener,
) -> FaithfulnessReport:
    """Measure the faithfulness of explanations of correct top-1 matches on a BEIR set.

    ``opener`` opens the work folder (:func:`matcher.engine.open`, or a fake in tests).
    """
    beir = load_beir(folder)
    query_ids = sorted(qid for qid in beir.queries if in_split(qid, split))
    random.Random(seed).shuffle(query_ids)
    with _work_folder(work_dir) as work:
        work_settings = settings.replace(
            data_dir=work, embedding_cache=str(settings.embedding_cache_path), explain_at_index=False
        )
        matcher = opener(work_settings, embedder)
        matcher.sync_index(Kind.PROJECTS)
        _ingest_corpus(matcher, beir)
        cases = _collect(matcher, beir.queries, beir.qrels, query_ids, max_queries, seed)
        return _measure(beir.name, matcher, cases)


def _collect(
    matcher: Workspace,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    query_ids: list[str],
    max_queries: int,
    seed: int,
) -> list[_Case]:
    policy = matcher.settings.passage_policy
    cases: list[_Case] = []
    progress = tqdm(
        total=max_queries, desc="Explaining correct top-1 matches", disable=not matcher.settings.show_progress
    )
    for qid in query_ids:
        if len(cases) == max_queries:
            break
        text = queries[qid]
        ranked = matcher.match(matcher.request(text=text, top_k=1, explain=False))
        if not ranked.matches or qrels[qid].get(ranked.matches[0].record.id, 0) <= 0:
            continue
        match = matcher.match(matcher.request(text=text, top_k=1)).matches[0]
        explanation = match.explanation
        assert explanation is not None
        record: Record = match.record
        fields = record.text_fields
        removed = explanation_spans(explanation)
        rng = random.Random(f"{seed}:{qid}")
        without_terms = delete_spans(fields, removed)
        without_random = delete_spans(fields, random_spans(fields, tokens_in(fields, removed), rng))
        body_field = record.kind.body_field
        query_vectors = matcher.vectors.query_vectors(passages("", text, policy))
        document_vectors = matcher.vectors.vectors(matcher.passages_of(record))
        cases.append(
            _Case(
                query_vectors,
                dense_similarity(query_vectors, document_vectors),
                (without_terms["title"], without_terms[body_field]),
                (without_random["title"], without_random[body_field]),
                terms_text(explanation),
                explanation.term_count,
                len(explanation.related),
            )
        )
        progress.update(1)
    progress.close()
    return cases


def _measure(name: str, matcher: Workspace, cases: list[_Case]) -> FaithfulnessReport:
    if not cases:
        return FaithfulnessReport(name, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    policy = matcher.settings.passage_policy
    groups: list[list[str]] = []
    for case in cases:
        groups.append(passages(case.explained_text[0], case.explained_text[1], policy))
        groups.append(passages(case.random_text[0], case.random_text[1], policy))
        groups.append([case.terms_text or " "])
    flat = [text for group in groups for text in group]
    order = sorted(range(len(flat)), key=lambda i: -len(flat[i]))
    encoded = np.zeros((len(flat), matcher.embedder.dimension), dtype=np.float32)
    chunk = matcher.settings.encode_chunk_size
    for start in tqdm(
        range(0, len(order), chunk), desc="Scoring edited texts", disable=not matcher.settings.show_progress
    ):
        positions = order[start : start + chunk]
        encoded[positions] = matcher.embedder.encode([flat[i] for i in positions])
    bounds = np.cumsum([0, *(len(group) for group in groups)])
    scores = [
        [dense_similarity(case.query_vectors, encoded[bounds[3 * n + k] : bounds[3 * n + k + 1]]) for k in range(3)]
        for n, case in enumerate(cases)
    ]
    explained = np.array([case.full - s[0] for case, s in zip(cases, scores)])
    randomly = np.array([case.full - s[1] for case, s in zip(cases, scores)])
    sufficiency = np.array([s[2] / case.full if case.full > 0 else 0.0 for case, s in zip(cases, scores)])
    return FaithfulnessReport(
        name,
        len(cases),
        float(np.mean(explained > randomly)),
        float(explained.mean()),
        float(randomly.mean()),
        float(sufficiency.mean()),
        float(np.percentile(sufficiency, 10)),
        float(np.mean([case.terms >= 2 for case in cases])),
        float(np.mean([case.terms for case in cases])),
        float(np.mean([case.related > 0 for case in cases])),
    )
