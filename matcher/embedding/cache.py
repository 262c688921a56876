"""Embeddings cached on disk by a hash of (model, text): no text is ever encoded twice.

Beside each text's vector the cache keeps its sentences' token-vector sums (see
:class:`matcher.embedding.encoder.SpanVectors`), made in the same forward pass, for explanations.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from matcher.embedding.encoder import Embedder, SpanVectors
from matcher.storage.sqlite import ThreadConnections, select_in
from matcher.text.sentences import sentence_spans

log = logging.getLogger(__name__)


def _setup(connection: sqlite3.Connection) -> None:
    # A cache in a file of its own (embeddings.sqlite by default), emptied at will: no migrations.
    connection.execute(
        "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, vector BLOB NOT NULL)"
    )
    connection.execute("CREATE TABLE IF NOT EXISTS sentences (key BLOB PRIMARY KEY, data BLOB NOT NULL)")


def cache_key(identity: str, text: str) -> bytes:
    """The key of ``text``'s vector by the encoder of ``identity`` (:attr:`Embedder.identity`)."""
    return hashlib.sha256(f"{identity}\x00{text}".encode()).digest()


def sentence_bounds(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Each text's sentences as (start, end) offsets: the spans whose token sums the cache stores."""
    return [[(span.start, span.end) for span in sentence_spans(text)] for text in texts]


class VectorCache:
    """Encodes through ``embedder`` only the texts whose vectors are not stored yet."""

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        chunk_size: int = 512,
        show_progress: bool = True,
        memory_size: int = 1024,
        phrase_embedder: Embedder | None = None,
    ) -> None:
        self.path = path
        self.embedder = embedder
        # Encodes the new phrases of free-text queries (a twin of the model can run beside ``embedder``).
        self.phrase_embedder = phrase_embedder or embedder
        self.chunk_size = chunk_size
        self.show_progress = show_progress
        self.encoded_count = 0  # texts actually sent to the model by this object
        self._memory: OrderedDict[bytes, tuple[np.ndarray, SpanVectors | None]] = OrderedDict()
        self._memory_size = memory_size
        self._lock = threading.Lock()
        self._connections = ThreadConnections(path, _setup)
        self._connect = self._connections.connect

    def _lookup(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        with self._connect() as connection:
            rows = select_in(connection, "SELECT key, dim, vector FROM vectors WHERE key IN ({marks})", keys)
            return {key: np.frombuffer(blob, dtype=np.float32, count=dim) for key, dim, blob in rows}

    def _lookup_sentences(self, keys: list[bytes]) -> dict[bytes, SpanVectors]:
        with self._connect() as connection:
            rows = select_in(connection, "SELECT key, data FROM sentences WHERE key IN ({marks})", keys)
            return {key: SpanVectors.from_bytes(blob) for key, blob in rows}

    def _store(self, keys: list[bytes], vectors: np.ndarray, sentences: list[SpanVectors] | None = None) -> None:
        with self._connections.transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO vectors (key, dim, vector) VALUES (?, ?, ?)",
                [(key, vectors.shape[1], vector.tobytes()) for key, vector in zip(keys, vectors)],
            )
            if sentences is not None:
                connection.executemany(
                    "INSERT OR REPLACE INTO sentences (key, data) VALUES (?, ?)",
                    [(key, parts.to_bytes()) for key, parts in zip(keys, sentences)],
                )

    def _encode(
        self, texts: list[str], with_sentences: bool, embedder: Embedder | None = None
    ) -> tuple[np.ndarray, list[SpanVectors] | None]:
        with self._lock:
            self.encoded_count += len(texts)
        if not with_sentences:
            return (embedder or self.embedder).encode(texts), None
        return (embedder or self.embedder).encode_spans(texts, sentence_bounds(texts))

    def vectors(self, texts: list[str], description: str = "Encoding", with_sentences: bool = False) -> np.ndarray:
        """Vectors for ``texts`` in order: stored ones are read back, the rest encoded and stored.

        With ``with_sentences`` the texts encoded now also get their sentence sums stored (at no
        extra model cost); texts already stored are not encoded again for them.
        """
        model = self.embedder.identity
        keys = [cache_key(model, text) for text in texts]
        found = self._lookup(list(set(keys)))
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts):
            if key not in found:
                missing.setdefault(key, text)
        if missing:
            self._encode_missing(missing, found, description, with_sentences)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        result = np.vstack([found[key] for key in keys]).astype(np.float32, copy=False)
        return result

    def _encode_missing(
        self, missing: dict[bytes, str], found: dict[bytes, np.ndarray], description: str, with_sentences: bool
    ) -> None:
        # Longest first across all chunks, as encode() orders one call: batches of like lengths pad
        # least. (Chunks in arrival order mixed short and long passages and cost 15% more time.)
        items = sorted(missing.items(), key=lambda item: -len(item[1]))
        log.info("%d of the texts are new to the %s embedding cache", len(items), self.embedder.name)
        with tqdm(
            total=len(items), desc=description, unit="text", disable=not self.show_progress, dynamic_ncols=True
        ) as bar:
            for start in range(0, len(items), self.chunk_size):
                chunk = items[start : start + self.chunk_size]
                vectors, sentences = self._encode([text for _, text in chunk], with_sentences)
                self._store([key for key, _ in chunk], vectors, sentences)
                found.update(zip((key for key, _ in chunk), vectors))
                bar.update(len(chunk))

    def sentence_vectors(self, texts: list[str]) -> list[SpanVectors]:
        """The sentence sums of ``texts``; a text stored without them is encoded once more to get them."""
        keys = [cache_key(self.embedder.identity, text) for text in texts]
        found: dict[bytes, SpanVectors] = {}
        with self._lock:
            for key in keys:
                held = self._memory.get(key)
                if held is not None and held[1] is not None:
                    found[key] = held[1]
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if missing:
            found.update(self._lookup_sentences(missing))
        unknown = {key: text for key, text in zip(keys, texts) if key not in found}
        if unknown:
            log.info("Encoding %d texts again for their sentence vectors", len(unknown))
            vectors, sentences = self._encode(list(unknown.values()), with_sentences=True)
            assert sentences is not None
            self._store(list(unknown), vectors, sentences)
            found.update(zip(unknown, sentences))
        return [found[key] for key in keys]

    def phrase_vectors(self, phrases: list[str], new_budget: int | None = None) -> dict[str, np.ndarray]:
        """Vectors of short phrases: those known (memory, then disk) and at most ``new_budget`` new ones.

        Phrases come heaviest first, so a spent budget drops the lightest. New ones are encoded
        and kept in memory only (a query's phrases are not written to disk).
        """
        keys = {phrase: cache_key(self.embedder.identity, phrase) for phrase in phrases}
        with self._lock:
            known = {phrase: self._memory[key][0] for phrase, key in keys.items() if key in self._memory}
        unknown = [phrase for phrase in phrases if phrase not in known]
        if unknown:
            stored = self._lookup([keys[phrase] for phrase in unknown])
            known.update((phrase, stored[keys[phrase]]) for phrase in unknown if keys[phrase] in stored)
        new = [phrase for phrase in phrases if phrase not in known]
        if new_budget is not None:
            new = new[:new_budget]
        if new:
            known.update(zip(new, self.query_vectors(new, with_sentences=False, embedder=self.phrase_embedder)))
        return {phrase: known[phrase] for phrase in phrases if phrase in known}

    def query_vectors(
        self, texts: list[str], with_sentences: bool = True, embedder: Embedder | None = None
    ) -> np.ndarray:
        """Vectors of a query's passages, remembered in memory (free-text queries are not written to disk).

        With ``with_sentences`` their sentence sums are made in the same pass and remembered too.
        ``embedder`` encodes what is new (default: the cache's own).
        """
        keys = [cache_key(self.embedder.identity, text) for text in texts]

        def usable(held: tuple[np.ndarray, SpanVectors | None]) -> bool:
            # A text known only as a phrase has no sentence sums; asked with them, it is encoded again.
            return not with_sentences or held[1] is not None

        with self._lock:
            found = {key: self._memory[key] for key in keys if key in self._memory and usable(self._memory[key])}
            for key in found:
                self._memory.move_to_end(key)
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if missing:
            stored = self._lookup(missing)
            sentences = self._lookup_sentences(list(stored))
            for key, vector in stored.items():
                held = (vector, sentences.get(key))
                if usable(held):
                    found[key] = held
        unknown = {key: text for key, text in zip(keys, texts) if key not in found}
        if unknown:
            vectors, parts = self._encode(list(unknown.values()), with_sentences, embedder)
            spans: Sequence[SpanVectors | None] = parts or [None] * len(unknown)
            found.update(zip(unknown, zip(vectors, spans)))
        with self._lock:
            for key in keys:
                remembered = self._memory.get(key)
                # Never trade sentence sums for none: a query's own phrase may be encoded beside it.
                if remembered is None or remembered[1] is None or found[key][1] is not None:
                    self._memory[key] = found[key]
                self._memory.move_to_end(key)
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)
        return np.vstack([found[key][0] for key in keys]).astype(np.float32, copy=False)

    # -- Bulk encoding (matcher.embedding.bulk): what is missing, and vectors encoded elsewhere -----

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts of ``texts`` that have no stored vector, in the order first given."""
        keys: dict[bytes, str] = {}
        for text in texts:
            keys.setdefault(cache_key(self.embedder.identity, text), text)
        with self._connect() as connection:
            stored = {
                row[0] for row in select_in(connection, "SELECT key FROM vectors WHERE key IN ({marks})", list(keys))
            }
        return [text for key, text in keys.items() if key not in stored]

    def store(self, texts: Sequence[str], vectors: np.ndarray, sentences: Sequence[SpanVectors] | None = None) -> None:
        """Store vectors of ``texts`` that another process encoded with this cache's model (one transaction).

        ``sentences`` are the texts' sentence sums (see :func:`sentence_bounds`), for the channel whose
        explanations read them; the caller vouches that the encoder was this cache's (same identity).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts) or (sentences is not None and len(sentences) != len(texts)):
            raise ValueError(
                f"store() got {len(texts)} texts, vectors of shape {vectors.shape} and "
                f"{'no' if sentences is None else len(sentences)} sentence sums"
            )
        keys = [cache_key(self.embedder.identity, text) for text in texts]
        self._store(keys, vectors, list(sentences) if sentences is not None else None)
