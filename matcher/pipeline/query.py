"""The query of a match, built once from a stored record or a free text.

A :class:`Query` holds what every later step compares candidates with: passage vectors,
BM25 tokens, the language, and (when asked for) the explanation profile. The ranking, the
re-ranker's training rows and the planner's explanations all build their queries here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from matcher.embedding.cache import VectorCache
from matcher.explanation.explainer import Explainer, PendingProfile
from matcher.explanation.profile import Profile
from matcher.index.lexical import lexical_tokens
from matcher.index.store import SideIndex
from matcher.records import Kind, Record
from matcher.retrieval.channels import QueryVectors
from matcher.storage.catalogue import Catalogue, text_hash
from matcher.text.passages import PassagePolicy, passages, record_passages
from matcher.text.tokenize import detect_language


@dataclass(eq=False)
class Query:
    """A match's query: a stored record (``record`` and ``key`` set) or a free ``text``."""

    text: str
    vectors: np.ndarray
    tokens: list[str]
    kind: Kind | None = None  # the stored record's side; None for a free text
    key: int | None = None
    record: Record | None = None
    multilingual: np.ndarray | None = None  # passage vectors in the multilingual channel, when on
    _profile: Callable[[], Profile] | None = field(default=None, repr=False)
    _pending: PendingProfile | None = field(default=None, repr=False)

    @cached_property
    def language(self) -> str:
        """The query's language: a stored record's own, else detected from the text."""
        return (self.record.language if self.record is not None else "") or detect_language(self.text)

    @property
    def channels(self) -> QueryVectors:
        """The vectors retrieval compares with: each dense channel's, and the language that picks one."""
        return QueryVectors(self.vectors, self.multilingual, self.language)

    def profile(self) -> Profile:
        """The explanation profile, made (or finished, for a free text) on first use."""
        if self._profile is None:
            raise ValueError("This query was built without an explanation profile")
        return self._profile()

    def drop_profile(self) -> None:
        """Nothing will be explained: a free text's profile half that has not started is not run."""
        if self._pending is not None:
            self._pending.cancel()


class QueryBuilder:
    """Builds queries from the catalogue, the current indexes, the embedding cache and the explainer."""

    def __init__(
        self,
        catalogue: Catalogue,
        index: Callable[[Kind], SideIndex],
        vectors: VectorCache,
        explainer: Callable[[], Explainer],
        passage_policy: PassagePolicy,
        multilingual: VectorCache | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._index = index
        self._vectors = vectors
        self._explainer = explainer
        self._passages = passage_policy
        self._multilingual = multilingual

    def stored(self, kind: Kind, record_id: str) -> Query:
        """A stored record as a query: vectors and tokens from its index when that holds this text."""
        stored = self._catalogue.get(kind, record_id)
        key, record = stored.key, stored.record
        side = self._index(kind)
        vectors = side.vector.record_vectors(key, text_hash(record.text))
        if vectors is None:
            vectors = self._vectors.vectors(record_passages(record, self._passages))
        tokens = side.lexical.tokens.get(key)
        multilingual = None
        if self._multilingual is not None:
            held = side.multilingual.record_vectors(key, text_hash(record.text)) if side.multilingual else None
            multilingual = (
                held if held is not None else self._multilingual.vectors(record_passages(record, self._passages))
            )

        def profile() -> Profile:
            return self._explainer().profiles(kind, {key: record})[key]

        return Query(
            record.text,
            vectors,
            tokens if tokens is not None else lexical_tokens(record.text),
            kind=kind,
            key=key,
            record=record,
            multilingual=multilingual,
            _profile=profile,
        )

    def free_text(self, text: str, explain: bool) -> Query:
        """A free text as a query; with ``explain`` its candidate phrases are made beside its encoding."""
        pending = self._explainer().start_text_profile(text) if explain else None
        texts = passages("", text, self._passages)
        vectors = self._vectors.query_vectors(texts)
        multilingual = self._multilingual.query_vectors(texts, with_sentences=False) if self._multilingual else None

        def profile() -> Profile:
            return (pending or self._explainer().start_text_profile(text)).result()

        return Query(text, vectors, lexical_tokens(text), multilingual=multilingual, _profile=profile, _pending=pending)
