"""A text's explanation material, made once per stored record (at indexing time) and cached.

A profile holds what explaining a match needs from one side, so that explaining costs no
tokenising and no model call at query time:

- every term (one to three keyword tokens) with the offsets of its occurrences;
- candidate keyphrases, the text's heaviest terms by TF-IDF, with their embeddings (each phrase
  encoded on its own by the same model), for finding related terms;
- its sentences with the sums of their contextual token vectors (see
  :class:`matcher.embedding.encoder.SpanVectors`), for evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate
from typing import Any, NamedTuple, cast

import numpy as np
import orjson

from matcher.embedding.encoder import SpanVectors
from matcher.explanation.languages import term_keys
from matcher.explanation.terms import FieldTerms, Occurrence
from matcher.text.passages import PassagePolicy, passage_windows
from matcher.text.tokenize import detect_language

PROFILE_VERSION = 5  # bump when what a profile holds or how it is chosen changes


class Sentence(NamedTuple):
    """A sentence of a text field (a tuple: a profile of a long text decodes dozens at once)."""

    field: str
    start: int
    end: int
    tokens: int  # word pieces the model saw of it

    @property
    def occurrence(self) -> Occurrence:
        return Occurrence(self.field, self.start, self.end)


@dataclass(frozen=True)
class Profile:
    terms: FieldTerms
    candidates: list[str]  # term keys, heaviest first
    candidate_vectors: np.ndarray  # (len(candidates), dimension), unit length
    sentences: list[Sentence]
    sentence_sums: np.ndarray  # (len(sentences), dimension)

    @cached_property
    def sentence_norms(self) -> np.ndarray:
        return cast(np.ndarray, np.linalg.norm(self.sentence_sums, axis=1))

    @cached_property
    def language(self) -> str:
        """``"zh"`` or ``"en"``: detected from the text (as a record without a language field is), once."""
        return detect_language("\n".join(self.terms.texts.values()))

    @cached_property
    def translatable(self) -> list[str]:
        """The term keys of the text's own language that may be translated terms (kept with the profile)."""
        return term_keys(self.terms, self.language == "zh")

    @cached_property
    def sentence_total(self) -> np.ndarray:
        return cast(np.ndarray, self.sentence_sums.sum(axis=0))

    def to_bytes(self) -> bytes:
        fields = list(self.terms.texts)
        index = {field: position for position, field in enumerate(fields)}
        keys = list(self.terms.occurrences)
        places = [self.terms.occurrences[key] for key in keys]
        header = {
            "fields": fields,
            "keys": keys,
            "counts": [len(group) for group in places],
            "generic": sorted(self.terms.generic),
            "candidates": self.candidates,
            "sentences": [[index[s.field], s.start, s.end, s.tokens] for s in self.sentences],
            "dimension": int(self.sentence_sums.shape[1]) if self.sentence_sums.ndim == 2 else 0,
        }
        head = orjson.dumps(header)
        triples = np.asarray(
            [(index[o.field], o.start, o.end) for group in places for o in group], dtype=np.int32
        ).reshape(-1, 3)
        return (
            len(head).to_bytes(4, "little")
            + head
            + len(triples).to_bytes(4, "little")
            + triples.tobytes()
            + self.candidate_vectors.astype(np.float32).tobytes()
            + self.sentence_sums.astype(np.float32).tobytes()
        )

    @classmethod
    def from_bytes(cls, blob: bytes, texts: Mapping[str, str]) -> Profile:
        """Read a profile back; ``texts`` are the field texts it was made from.

        Term occurrences stay packed until a term's are asked for: explaining a match reads those
        of a few shared terms among hundreds.
        """
        size = int.from_bytes(blob[:4], "little")
        header = orjson.loads(blob[4 : 4 + size])
        offset = 4 + size
        count = int.from_bytes(blob[offset : offset + 4], "little")
        triples = np.frombuffer(blob, dtype=np.int32, count=3 * count, offset=offset + 4).reshape(count, 3)
        fields = header["fields"]
        occurrences = PackedOccurrences(header["keys"], header["counts"], triples, fields)
        vectors = np.frombuffer(blob, dtype=np.float32, offset=offset + 4 + triples.nbytes).reshape(
            -1, header["dimension"]
        )
        candidates = len(header["candidates"])
        make = tuple.__new__  # skips NamedTuple's slow Python __new__
        sentences = [make(Sentence, (fields[f], start, end, tokens)) for f, start, end, tokens in header["sentences"]]
        return cls(
            FieldTerms(dict(texts), occurrences, frozenset(header["generic"])),
            header["candidates"],
            vectors[:candidates],
            sentences,
            vectors[candidates:],
        )


class PackedOccurrences(Mapping[str, list[Occurrence]]):
    """Term key -> occurrences, read from one packed array only for the keys looked up."""

    def __init__(self, keys: list[str], counts: list[int], triples: np.ndarray, fields: list[str]) -> None:
        self._keys = keys
        self._index = dict(zip(keys, range(len(keys))))
        self.counts = dict(zip(keys, counts))  # how often each key occurs, read without unpacking
        self._starts = list(accumulate(counts, initial=0))
        self._triples = triples
        self._fields = fields
        self._unpacked: dict[str, list[Occurrence]] = {}

    def _rows(self, key: str) -> list[list[int]]:
        """The packed (field index, start, end) rows of ``key``."""
        position = self._index[key]
        rows: list[list[int]] = self._triples[self._starts[position] : self._starts[position + 1]].tolist()
        return rows

    def __getitem__(self, key: str) -> list[Occurrence]:
        found = self._unpacked.get(key)
        if found is None:
            fields, make = self._fields, tuple.__new__  # tuple.__new__ skips NamedTuple's slow Python __new__
            found = self._unpacked[key] = [
                make(Occurrence, (fields[f], start, end)) for f, start, end in self._rows(key)
            ]
        return found

    def dicts(self, key: str) -> list[dict[str, Any]]:
        """The occurrences of ``key`` as JSON dicts, made from the packed array (not kept)."""
        fields = self._fields
        return [{"field": fields[f], "start": start, "end": end} for f, start, end in self._rows(key)]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> KeysView[str]:
        """A dict's own key view: ``&`` between two of them runs in C, not key by key in Python."""
        return self._index.keys()


def candidate_keyphrases(terms: FieldTerms, weight_of: Mapping[str, float], limit: int) -> list[str]:
    """The text's heaviest words and two-word phrases by TF-IDF: ``limit`` in all, at most a third phrases.

    Words and two-word phrases are where differently worded equivalents live ("rust" and
    "corrosion", "EV" and "electric vehicle"); a longer n-gram would outweigh them by its rarity
    alone, and two-word phrases would crowd out the words, which carry most synonyms. A word inside a chosen phrase
    stays a candidate: "EV" in "EV frames" may be the equivalent of another text's "electric vehicle".
    A term that is no reason (:attr:`FieldTerms.generic`: "two", "min", 获得) is no candidate.
    """

    def tf_idf(key: str) -> float:
        return weight_of.get(key, 0.0) * (1 + math.log(len(terms.occurrences[key])))

    def heaviest(keys: list[str], count: int) -> list[str]:
        return sorted(keys, key=lambda key: (-tf_idf(key), key))[:count]

    generic = terms.generic
    phrases = heaviest([key for key in terms.occurrences if key.count(" ") == 1 and key not in generic], limit // 3)
    words = heaviest([key for key in terms.occurrences if " " not in key and key not in generic], limit - len(phrases))
    return heaviest(words + phrases, limit)


def phrase_text(terms: FieldTerms, key: str) -> str:
    """How a candidate is encoded: its first occurrence as written, lower-cased (so texts share it)."""
    return terms.first_surface(key).lower()


@dataclass(frozen=True)
class Source:
    """A text to profile: a record (title and body fields) or a free text (empty title)."""

    title_field: str
    title: str
    body_field: str
    body: str

    @property
    def texts(self) -> dict[str, str]:
        return (
            {self.title_field: self.title, self.body_field: self.body} if self.title else {self.body_field: self.body}
        )


@dataclass(frozen=True)
class Candidates:
    """A text's terms and its candidate keyphrases (term keys, heaviest first) with their unit vectors."""

    terms: FieldTerms
    keys: list[str]
    vectors: np.ndarray  # (len(keys), dimension)


@dataclass(frozen=True)
class ProfileBuilder:
    """Makes profiles; the model and the corpus statistics come in as functions.

    ``readable`` says which phrases the model can read: a phrase it would encode as unknown pieces
    (Chinese, for an English-only model) is no candidate for related terms, since its vector says
    nothing about its meaning. It can still be a shared keyphrase.
    """

    passages: PassagePolicy
    candidates: int
    idf_of: Callable[[Iterable[str]], dict[str, float]]
    # The vector of every phrase asked for: a text's candidates are chosen from its own terms and
    # the catalogue's IDF, never from what a cache happens to hold (the same text, the same profile).
    phrase_vectors: Callable[[list[str]], Mapping[str, np.ndarray]]
    sentence_vectors: Callable[[list[str]], list[SpanVectors]]
    readable: Callable[[list[str]], list[bool]]
    dimension: int

    def build(self, source: Source) -> Profile:
        return self.build_many([source])[0]

    def build_many(self, sources: list[Source]) -> list[Profile]:
        """Profiles of ``sources``, with one IDF lookup and one encoding call for all of them."""
        return self.finish(sources, self.candidates_of(sources))

    def candidates_of(self, sources: list[Source]) -> list[Candidates]:
        """The first half of a profile: each text's terms and its candidate keyphrases with their vectors.

        It needs no sentence vectors, so a free text's can be made while the text itself is encoded.
        """
        all_terms = [FieldTerms.of(source.texts) for source in sources]
        weights = self.idf_of({key for terms in all_terms for key in terms.occurrences})
        chosen = [candidate_keyphrases(terms, weights, self.candidates * 2) for terms in all_terms]
        phrases = sorted({phrase_text(terms, key) for terms, keys in zip(all_terms, chosen) for key in keys})
        readable = {phrase for phrase, ok in zip(phrases, self.readable(phrases)) if ok}
        chosen = [
            [key for key in keys if phrase_text(terms, key) in readable][: self.candidates]
            for terms, keys in zip(all_terms, chosen)
        ]
        wanted = list(dict.fromkeys(phrase_text(terms, key) for terms, keys in zip(all_terms, chosen) for key in keys))
        vectors = self.phrase_vectors(wanted) if wanted else {}
        found = []
        for terms, keys in zip(all_terms, chosen):
            matrix = (
                np.vstack([vectors[phrase_text(terms, key)] for key in keys]).astype(np.float32)
                if keys
                else np.zeros((0, self.dimension), np.float32)
            )
            found.append(Candidates(terms, keys, matrix))
        return found

    def finish(self, sources: list[Source], candidates: list[Candidates]) -> list[Profile]:
        """Whole profiles: ``candidates`` (of the same ``sources``) with the texts' sentences and their sums."""
        windows = [passage_windows(source.body, self.passages, source.title) for source in sources]
        heads = [f"{source.title}\n" if source.title else "" for source in sources]
        texts = [
            f"{head}{source.body[start:end]}"
            for source, head, spans in zip(sources, heads, windows)
            for start, end in spans
        ]
        parts = iter(self.sentence_vectors(texts))
        profiles = []
        for source, found, spans in zip(sources, candidates, windows, strict=True):
            sentences, sums = self._sentences(source, spans, [next(parts) for _ in spans])
            profiles.append(Profile(found.terms, found.keys, found.vectors, sentences, sums))
        return profiles

    def _sentences(
        self, source: Source, windows: list[tuple[int, int]], parts: list[SpanVectors]
    ) -> tuple[list[Sentence], np.ndarray]:
        """Each sentence once, placed in its field, with its token-vector sum from the first passage holding it."""
        title = source.title
        head = len(title) + 1 if title else 0
        seen: set[tuple[str, int, int]] = set()
        sentences: list[Sentence] = []
        sums: list[np.ndarray] = []
        for (window_start, window_end), part in zip(windows, parts):
            for (start, end), total, tokens in zip(part.spans.tolist(), part.sums, part.tokens.tolist()):
                if tokens == 0:
                    continue  # past the model's window: it never saw this sentence
                if title and end <= len(title):
                    place = (source.title_field, start, end)
                else:
                    offset = window_start - head
                    place = (source.body_field, start + offset, end + offset)
                    cut_at_start = window_start > 0 and place[1] == window_start
                    cut_at_end = window_end < len(source.body) and place[2] == window_end
                    if cut_at_start or cut_at_end:
                        continue  # a piece of a sentence the window cut; the overlapping window holds it whole
                if place in seen:
                    continue
                seen.add(place)
                sentences.append(Sentence(*place, tokens))
                sums.append(total)
        matrix = np.vstack(sums).astype(np.float32) if sums else np.zeros((0, self.dimension), np.float32)
        return sentences, matrix
