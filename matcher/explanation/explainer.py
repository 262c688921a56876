"""Explanations for the engine: profiles made at indexing time, kept in a store, used per match."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from matcher.embedding.cache import VectorCache
from matcher.explanation import generic
from matcher.explanation.explain import ExplainPolicy, Explanation, explain_all
from matcher.explanation.profile import PROFILE_VERSION, Candidates, Profile, ProfileBuilder, Source
from matcher.explanation.store import ProfileStore
from matcher.explanation.terms import idf
from matcher.index.store import TOKENIZER_VERSION
from matcher.records import Kind, Record
from matcher.storage.catalogue import Catalogue, text_hash
from matcher.text.passages import PassagePolicy

log = logging.getLogger(__name__)

QUERY_FIELD = "text"  # the field name of a free-text query
IDF_CACHE_SIZE = 200_000  # term IDF values kept in memory between catalogue changes


class PendingProfile:
    """A free text's profile whose first half is being made on another thread."""

    def __init__(self, builder: ProfileBuilder, source: Source, first_half: Future[list[Candidates]]) -> None:
        self._builder = builder
        self._source = source
        self._first_half = first_half

    def result(self) -> Profile:
        """The whole profile; the text's own encoding (and its sentence sums) must be in the cache by now."""
        return self._builder.finish([self._source], self._first_half.result())[0]

    def cancel(self) -> None:
        """Drop it (nothing to explain): not started is not run; started runs to its end unread."""
        self._first_half.cancel()


def _log_failure(first_half: Future[list[Candidates]]) -> None:
    if not first_half.cancelled() and first_half.exception() is not None:
        log.warning("Making a free text's candidate phrases failed: %s", first_half.exception())


class Explainer:
    """Makes, stores and compares the explanation profiles of one data folder's records."""

    def __init__(
        self,
        policy: ExplainPolicy,
        passage_policy: PassagePolicy,
        catalogue: Catalogue,
        vectors: VectorCache,
        dimension: int,
        profile_path: Path,
        profile_cache_size: int = 4_096,
        threads: int = 1,
        query_phrases: int = 16,
    ) -> None:
        """``threads`` bounds the free-text profiles made at once; ``query_phrases`` is how many
        candidate phrases a free text has (its heaviest; at most ``policy.candidates``)."""
        self.policy = policy
        self.catalogue = catalogue
        self.vectors = vectors
        version = (
            f"p{PROFILE_VERSION}-t{TOKENIZER_VERSION}-g{generic.VERSION}-{vectors.embedder.identity}"
            f"-c{self.policy.candidates}"
            f"-w{passage_policy.label}"
        )
        self.store = ProfileStore(profile_path, version, profile_cache_size)
        self._idf: dict[str, float] = {}
        self._idf_stamp = -1
        self._idf_lock = threading.Lock()
        self._stored = ProfileBuilder(
            passage_policy,
            self.policy.candidates,
            self.idf,
            lambda phrases: dict(zip(phrases, vectors.vectors(phrases))),
            vectors.sentence_vectors,
            vectors.embedder.readable,
            dimension,
        )
        # Free-text profiles are started here while the engine encodes the text (start_text_profile).
        self._beside = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="text-profile")
        # A free-text query differs in how many candidates it has and where their vectors come
        # from: memory or disk when known, else encoded now by the model's twin when there is one
        # (so is the check that it can read them). Its candidates are its heaviest terms, whatever
        # the cache holds, so the same text gets the same explanation on every request; the cache
        # only saves encoding.
        self._query = dataclasses.replace(
            self._stored,
            candidates=min(query_phrases, self.policy.candidates),
            phrase_vectors=vectors.phrase_vectors,
            readable=vectors.phrase_embedder.readable,
        )

    def idf(self, keys: Iterable[str]) -> dict[str, float]:
        """The catalogue IDF of each term key (a term no record holds counts as held by one).

        IDF values worked out once are kept until the catalogue changes.
        """
        keys = list(keys)
        stamp = self.catalogue.change_stamp()
        with self._idf_lock:
            if stamp != self._idf_stamp or len(self._idf) > IDF_CACHE_SIZE:
                self._idf, self._idf_stamp = {}, stamp
            known = self._idf
            missing = [key for key in keys if key not in known]
        if not missing:
            return {key: known[key] for key in keys}
        frequencies, count = self.catalogue.term_statistics(missing)
        fresh = {key: idf(frequencies.get(key) or 1, max(count, 1)) for key in missing}
        with self._idf_lock:
            if stamp == self._idf_stamp:
                self._idf.update(fresh)
        return {key: fresh[key] if key in fresh else known[key] for key in keys}

    # -- profiles ------------------------------------------------------------------------------

    def _build(self, records: list[Record]) -> list[Profile]:
        return self._stored.build_many([Source("title", r.title, r.kind.body_field, r.body) for r in records])

    def update(self, kind: Kind, text_hashes: Mapping[int, str]) -> int:
        """Make and store the profiles that records (key -> text hash, as the catalogue has them) lack.

        Returns how many were made; records are read from the catalogue a batch at a time.
        """
        valid = self.store.valid_keys(kind, text_hashes)
        todo = [key for key in text_hashes if key not in valid]
        for start in range(0, len(todo), 256):
            records = self.catalogue.by_keys(kind, todo[start : start + 256])
            keys = list(records)
            made = self._build([records[key] for key in keys])
            self.store.save(kind, {key: (text_hashes[key], profile) for key, profile in zip(keys, made)})
        if todo:
            log.info("Made explanation profiles for %d %s", len(todo), kind.value)
        return len(todo)

    def forget_others(self, kind: Kind, keys: set[int]) -> None:
        self.store.remove_missing(kind, keys)

    def profiles(self, kind: Kind, records: Mapping[int, Record]) -> dict[int, Profile]:
        """Profiles of stored records, made now (and stored) for any that lack one."""
        wanted = {key: (text_hash(record.text), record.text_fields) for key, record in records.items()}
        found = self.store.load(kind, wanted)
        missing = {key: records[key] for key in records if key not in found}
        if missing:
            made = {
                key: (wanted[key][0], profile) for key, profile in zip(missing, self._build(list(missing.values())))
            }
            self.store.save(kind, made)
            found.update({key: profile for key, (_, profile) in made.items()})
        return found

    def start_text_profile(self, text: str) -> PendingProfile:
        """Start a free text's profile on another thread, to finish once the text itself is encoded.

        The first half (terms, candidate phrases and their vectors: those the cache lacks encoded
        now, on the model's twin when there is one) needs nothing of the text's own
        encoding, so it runs beside it; the second (sentence sums) comes from that encoding.
        """
        source = Source("title", "", QUERY_FIELD, text)
        pending = self._beside.submit(self._query.candidates_of, [source])
        pending.add_done_callback(_log_failure)
        return PendingProfile(self._query, source, pending)

    # -- explaining ----------------------------------------------------------------------------

    def explain_all(self, query: Profile, matched: Sequence[Profile], language: str) -> list[Explanation]:
        """Explain each matched profile against ``query``; IDF is read once for all of them."""
        return explain_all(query, matched, self.idf, self.policy, language)
