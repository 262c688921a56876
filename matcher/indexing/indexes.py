"""Each side's current index: brought in step with the catalogue, saved atomically, reloaded when newer."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matcher.config import Settings
from matcher.embedding.cache import VectorCache
from matcher.errors import Busy, IndexMismatch, Unavailable
from matcher.index.lexical import LexicalIndex, lexical_tokens
from matcher.index.store import IndexStore, SideIndex
from matcher.records import Kind, Record
from matcher.storage.catalogue import Catalogue
from matcher.support.locks import LockTimeout, WriteLock
from matcher.text.passages import record_passages
from matcher.text.tokenize import detect_language

log = logging.getLogger(__name__)

# Called after a side's index is in step, with its records' text hashes (key -> hash).
IndexedHook = Callable[[Kind, dict[int, str]], None]

# The Retry-After of a write refused as busy: soon enough for a client, rarely enough for the writer.
BUSY_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Repair:
    """What :meth:`Indexes.heal` did: leftovers of interrupted writes removed, sides brought in step."""

    removed: list[Path] = field(default_factory=list)
    synced: list[Kind] = field(default_factory=list)


class Indexes:
    """Both sides' indexes of one data folder; only texts never seen are encoded."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        vectors: VectorCache,
        store: IndexStore,
        write_lock: WriteLock,
        on_indexed: IndexedHook | None = None,
        multilingual: VectorCache | None = None,
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.vectors = vectors
        # The multilingual encoder's cache: each record is encoded by it too (None: channel off).
        self.multilingual = multilingual
        self.store = store
        self.write_lock = write_lock
        self.on_indexed = on_indexed
        self._loaded: dict[Kind, tuple[str, SideIndex]] = {}
        self._load_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The English channel's encoder identity: what its saved index must have been built with."""
        return self.vectors.embedder.identity

    def passages_of(self, record: Record) -> list[str]:
        """The texts embedded for ``record``: the whole text, or overlapping passages when long."""
        return record_passages(record, self.settings.passage_policy)

    def dimension(self) -> int:
        """The model's dimension, from a saved index of this model when there is one: stored profiles
        can then be compared (e.g. for a plan) without loading the model."""
        for kind in Kind:
            manifest = self.store.manifest(kind)
            if manifest and manifest["model"] == self.model_name:
                return int(manifest["dimension"])
        return self.vectors.embedder.dimension

    @property
    def multilingual_model(self) -> str | None:
        return self.multilingual.embedder.identity if self.multilingual is not None else None

    def _load_saved(self, kind: Kind) -> SideIndex | None:
        return self.store.load(
            kind,
            self.model_name,
            self.settings.passage_policy,
            self.settings.bm25_parameters,
            self.multilingual_model,
        )

    def _complete(self, index: SideIndex, revision: int, wanted: dict[int, str]) -> bool:
        """Whether ``index`` holds exactly the catalogue's texts, in every channel, with their languages."""
        if (
            index.revision != revision
            or index.vector.text_hashes() != wanted
            or index.languages.keys() != wanted.keys()
        ):
            return False
        multilingual = index.multilingual
        return self.multilingual is None or (multilingual is not None and multilingual.text_hashes() == wanted)

    def _encode(
        self, cache: VectorCache, kind: Kind, groups: list[list[str]], with_sentences: bool
    ) -> list[np.ndarray]:
        """Each group's passage vectors (one block per record) from ``cache``, encoding only new texts."""
        flat = cache.vectors(
            [text for group in groups for text in group],
            description=f"Indexing {kind.value} ({cache.embedder.name})",
            with_sentences=with_sentences,
        )
        bounds = np.cumsum([0, *(len(group) for group in groups)])
        return [flat[start:end] for start, end in itertools.pairwise(bounds)]

    @contextmanager
    def writing(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the data folder's write lock for the block, waiting at most ``timeout`` seconds
        (default: the lock's, from the settings; 0: no limit) for another writer, else :class:`Busy`."""
        try:
            with self.write_lock.held(timeout):
                yield
        except LockTimeout as error:
            raise Busy(
                f"Another write held the data folder's write lock for all of the {error.waited:g} s this one "
                f"may wait; nothing was changed, try again in {BUSY_RETRY_AFTER_SECONDS} s",
                retry_after=BUSY_RETRY_AFTER_SECONDS,
                details={"waited_seconds": error.waited, "retry_after": BUSY_RETRY_AFTER_SECONDS},
            ) from None

    def behind(self, kind: Kind) -> bool:
        """Whether the saved index of ``kind`` misses a change of the catalogue (what health calls not in sync).

        A write interrupted between the catalogue's commit and the index's save leaves it so. A
        side never written to (revision 0, no index) is not behind.
        """
        manifest = self.store.manifest(kind)
        revision = self.catalogue.revision(kind)
        return manifest["revision"] != revision if manifest is not None else revision > 0

    def remove_leftovers(self) -> list[Path]:
        """Remove both sides' leftovers of interrupted index saves, under the write lock."""
        with self.writing():
            return [path for kind in Kind for path in self.store.remove_leftovers(kind)]

    def heal(self, timeout: float | None = None) -> Repair:
        """Repair what writes killed midway left: leftovers removed, each side behind the catalogue re-synced.

        Under the write lock (waiting at most ``timeout`` seconds, else :class:`Busy`), so a live
        writer is never disturbed and of two processes healing at once the second finds the
        sides in step. Vectors come from the embedding cache: an ingest encodes its texts before
        it commits, so nothing is encoded again. A side whose index another model built is left
        alone (that takes ``matcher index --rebuild``).
        """
        with self.writing(timeout):
            repair = Repair(self.remove_leftovers())
            for kind in Kind:
                if not self.behind(kind):
                    continue
                try:
                    self.sync(kind)
                except IndexMismatch as error:
                    log.warning("Not repairing the %s index: %s", kind.value, error.message)
                    continue
                log.warning("Repaired the %s index: it was behind the catalogue (a write was interrupted)", kind.value)
                repair.synced.append(kind)
        return repair

    def sync(self, kind: Kind, rebuild: bool = False) -> SideIndex:
        """Bring the saved indexes of ``kind`` in step with the catalogue, touching only what changed.

        Vectors come from the embedding cache, so only texts never seen are encoded. With
        ``rebuild`` the indexes are made anew (e.g. after the model changed). Leftovers of an
        interrupted save of this side are removed first.
        """
        with self.writing():
            self.store.remove_leftovers(kind)
            revision = self.catalogue.revision(kind)
            wanted = self.catalogue.text_hashes(kind)
            index = None if rebuild else self._load_saved(kind)
            if index is not None and self._complete(index, revision, wanted):
                self._indexed(kind, wanted)
                return index
            if index is None:
                vector = self.store.vector_class(kind, self.model_name, self.vectors.embedder.dimension)
                index = SideIndex(vector, LexicalIndex(self.settings.bm25_parameters), self.settings.passage_policy)
            if self.multilingual is not None and index.multilingual is None:
                embedder = self.multilingual.embedder
                index.multilingual = self.store.vector_class(kind, embedder.identity, embedder.dimension)
            index.remove([key for key, digest in index.vector.text_hashes().items() if wanted.get(key) != digest])
            missing = [key for key in wanted if key not in index.vector.entries]
            records = self.catalogue.by_keys(kind, missing)
            blocks = self._encode(self.vectors, kind, [self.passages_of(records[key]) for key in missing], True)
            index.vector.add(missing, blocks, [wanted[key] for key in missing])
            index.lexical.set(missing, [lexical_tokens(records[key].text) for key in missing])
            if index.multilingual is not None and self.multilingual is not None:
                held = index.multilingual.text_hashes()
                unencoded = [key for key, digest in wanted.items() if held.get(key) != digest]
                records.update(self.catalogue.by_keys(kind, [key for key in unencoded if key not in records]))
                groups = [self.passages_of(records[key]) for key in unencoded]
                index.multilingual.add(
                    unencoded, self._encode(self.multilingual, kind, groups, False), [wanted[key] for key in unencoded]
                )
            unlabelled = [key for key in wanted if key not in index.languages]
            records.update(self.catalogue.by_keys(kind, [key for key in unlabelled if key not in records]))
            index.languages.update(
                (key, records[key].language or detect_language(records[key].text)) for key in unlabelled
            )
            index.revision = revision
            generation = self.store.save(index)
            with self._load_lock:
                self._loaded[kind] = (generation, index)
            self._indexed(kind, wanted)
            return index

    def _indexed(self, kind: Kind, wanted: dict[int, str]) -> None:
        if self.on_indexed is not None:
            self.on_indexed(kind, wanted)

    def current(self, kind: Kind) -> SideIndex:
        """The current saved index of ``kind``, reloaded when another process saved a newer one."""
        generation = self.store.current_generation(kind)
        if generation is None:
            raise Unavailable(
                f"There is no {kind.value} index yet; ingest a file or run `matcher index`",
                details={"kind": kind.value},
            )
        with self._load_lock:
            loaded = self._loaded.get(kind)
            if loaded is not None and loaded[0] == generation:
                return loaded[1]
            index = self._load_saved(kind)
            if index is None:
                raise Unavailable(f"The {kind.value} index disappeared while loading", details={"kind": kind.value})
            self._loaded[kind] = (generation, index)
            return index
