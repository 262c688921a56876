"""Saving and loading each side's indexes (FAISS and BM25) atomically, under one manifest.

Layout, per side: ``<index_dir>/<kind>/<generation>/{index.faiss, entries.json, lexical.json, manifest.json}``
and ``<index_dir>/<kind>/CURRENT`` naming the generation in use. A save writes a whole new
generation folder (files fsynced, folder renamed into place), then replaces ``CURRENT`` by an
atomic rename. A crash at any point before that rename leaves the previous generation current
and loadable; readers never see a half-written index. What such a crash leaves behind (a
``.staging-*`` folder, a ``.CURRENT.*`` temporary pointer) is removed by
:meth:`IndexStore.remove_leftovers`, which a writer calls while it holds the write lock.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from matcher.errors import IndexMismatch
from matcher.index.lexical import BM25Parameters, LexicalIndex
from matcher.index.vector import VectorIndex
from matcher.records import Kind
from matcher.support.clock import utc_now
from matcher.text.passages import PassagePolicy

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
TOKENIZER_VERSION = 1  # bump when matcher.text.tokenize changes what tokens it makes
CURRENT = "CURRENT"
STAGING_PREFIX = ".staging-"
POINTER_PREFIX = f".{CURRENT}."
REBUILD_HINT = "rebuild it with `matcher index --rebuild`"


@dataclass
class SideIndex:
    """What answers queries on one side: passage vectors, BM25 tokens, and the catalogue revision."""

    vector: VectorIndex
    lexical: LexicalIndex
    passages: PassagePolicy
    revision: int = 0
    # The same passages in the multilingual encoder (None when that channel is off or not built).
    multilingual: VectorIndex | None = None
    # Each record's language ("zh" or "en"): it chooses the dense channel of a pair.
    languages: dict[int, str] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        return self.vector.kind

    @property
    def count(self) -> int:
        return self.vector.count

    def remove(self, keys: list[int]) -> None:
        self.vector.remove(keys)
        self.lexical.remove(keys)
        if self.multilingual is not None:
            self.multilingual.remove(keys)
        for key in keys:
            self.languages.pop(key, None)

    def chinese_keys(self) -> np.ndarray:
        """The keys of the records in Chinese, ascending."""
        return np.asarray(sorted(key for key, language in self.languages.items() if language == "zh"), dtype=np.int64)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_json(path: Path, document: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_manifest(
    kind: Kind, folder: Path, manifest: dict[str, Any], model_name: str, passages: PassagePolicy
) -> None:
    def refuse(message: str, **details: Any) -> IndexMismatch:
        return IndexMismatch(
            f"The {kind.value} index {message}; {REBUILD_HINT}", details={"kind": kind.value, **details}
        )

    if manifest.get("format_version") != FORMAT_VERSION:
        raise refuse(
            f"in {folder} has format version {manifest.get('format_version')}, this program reads version {FORMAT_VERSION}",
            format_version=manifest.get("format_version"),
        )
    if manifest["model"] != model_name:
        raise refuse(
            f"was built with model '{manifest['model']}' ({manifest['dimension']} dimensions) "
            f"but the configured model is '{model_name}'",
            index_model=manifest["model"],
            configured_model=model_name,
        )
    if manifest["passage_policy"] != passages.identity():
        raise refuse(
            f"was built with passages {manifest['passage_policy']} but the configuration asks for {passages.identity()}",
            index_passages=manifest["passage_policy"],
        )
    if manifest["lexical"]["tokenizer_version"] != TOKENIZER_VERSION:
        raise refuse(
            f"was tokenised by tokenizer version {manifest['lexical']['tokenizer_version']}, "
            f"this program uses version {TOKENIZER_VERSION}"
        )


class IndexStore:
    """The folder of saved indexes for both sides."""

    def __init__(self, root: Path, vector_class: type[VectorIndex] = VectorIndex) -> None:
        self.vector_class = vector_class
        self.root = root
        self._pointers = {kind: root / kind.value / CURRENT for kind in Kind}
        self._last_read: dict[Kind, tuple[tuple[int, int, int], str | None]] = {}

    def _side(self, kind: Kind) -> Path:
        return self.root / kind.value

    def current_generation(self, kind: Kind) -> str | None:
        """The generation the ``CURRENT`` pointer names; the file is re-read only when it was replaced.

        Saving replaces the pointer by a rename, which gives it a new inode, so a stat tells a
        reader (asked on every request) whether to read it again.
        """
        pointer = self._pointers[kind]
        try:
            status = os.stat(pointer)
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
            last = self._last_read.get(kind)
            if last is not None and last[0] == stamp:
                return last[1]
            generation = pointer.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None
        self._last_read[kind] = (stamp, generation)
        return generation

    def manifest(self, kind: Kind) -> dict[str, Any] | None:
        generation = self.current_generation(kind)
        if generation is None:
            return None
        manifest: dict[str, Any] = json.loads(
            (self._side(kind) / generation / "manifest.json").read_text(encoding="utf-8")
        )
        return manifest

    def save(self, index: SideIndex) -> str:
        """Write ``index`` as a new generation and make it current; return the generation's name."""
        side = self._side(index.kind)
        side.mkdir(parents=True, exist_ok=True)
        generation = f"r{index.revision:08d}-{uuid.uuid4().hex[:8]}"
        staging = side / f"{STAGING_PREFIX}{generation}"
        staging.mkdir()
        try:
            faiss.write_index(index.vector.ids_index, str(staging / "index.faiss"))
            _fsync_file(staging / "index.faiss")
            _write_json(
                staging / "entries.json", [[key, *entry] for key, entry in sorted(index.vector.entries.items())]
            )
            _write_json(staging / "lexical.json", sorted(index.lexical.tokens.items()))
            _write_json(staging / "languages.json", sorted(index.languages.items()))
            if index.multilingual is not None:
                faiss.write_index(index.multilingual.ids_index, str(staging / "multilingual.faiss"))
                _fsync_file(staging / "multilingual.faiss")
                _write_json(
                    staging / "multilingual.json",
                    [[key, *entry] for key, entry in sorted(index.multilingual.entries.items())],
                )
            _write_json(staging / "manifest.json", self._manifest_of(index))
            _fsync_dir(staging)
            os.rename(staging, side / generation)
            _fsync_dir(side)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._point_to(side, generation)
        self._prune(side, keep={generation})
        log.info("Saved %s index generation %s (%d vectors)", index.kind.value, generation, index.count)
        return generation

    def _manifest_of(self, index: SideIndex) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": index.kind.value,
            "model": index.vector.model_name,
            "dimension": index.vector.dimension,
            "count": index.count,
            "passages": index.vector.passage_count,
            "passage_policy": index.passages.identity(),
            "lexical": {"tokenizer_version": TOKENIZER_VERSION, "bm25": asdict(index.lexical.parameters)},
            "revision": index.revision,
            "multilingual": {"model": index.multilingual.model_name, "dimension": index.multilingual.dimension}
            if index.multilingual is not None
            else None,
            "metric": "inner_product",
            "index_kind": index.vector.index_kind,
            "faiss_version": faiss.__version__,
            "created": utc_now(),
        }

    def _point_to(self, side: Path, generation: str) -> None:
        pointer = side / f"{POINTER_PREFIX}{uuid.uuid4().hex[:8]}"
        pointer.write_text(generation + "\n", encoding="utf-8")
        _fsync_file(pointer)
        os.replace(pointer, side / CURRENT)
        _fsync_dir(side)

    def remove_leftovers(self, kind: Kind) -> list[Path]:
        """Remove what an interrupted save of ``kind`` left: staging folders and temporary pointers.

        Only a writer holding the data folder's write lock may call this: every save runs under
        that lock, so no staging folder or pointer it finds then belongs to a live save. Returns
        what was removed.
        """
        side = self._side(kind)
        if not side.is_dir():
            return []
        removed = []
        for path in sorted(side.iterdir()):
            if path.name.startswith(STAGING_PREFIX) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(POINTER_PREFIX) and not path.is_dir():
                path.unlink(missing_ok=True)
            else:
                continue
            removed.append(path)
        if removed:
            log.warning(
                "Removed %d leftover(s) of an interrupted %s index save: %s",
                len(removed),
                kind.value,
                ", ".join(path.name for path in removed),
            )
        return removed

    def _prune(self, side: Path, keep: set[str]) -> None:
        """Remove all but the newest two generations (a reader may still be loading the previous one)."""
        generations = sorted(
            (path for path in side.iterdir() if path.is_dir() and not path.name.startswith(".")),
            key=lambda path: path.stat().st_mtime,
        )
        for path in generations[:-2]:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def load(
        self,
        kind: Kind,
        model_name: str,
        passages: PassagePolicy,
        bm25: BM25Parameters,
        multilingual_model: str | None = None,
    ) -> SideIndex | None:
        """The current index of ``kind``, or None if none was saved.

        One built by another model, passage policy or tokenizer is refused, with a rebuild hint.
        The multilingual vectors are loaded when they were made by ``multilingual_model``; else
        the index comes without them (and the next sync adds them).
        """
        generation = self.current_generation(kind)
        if generation is None:
            return None
        folder = self._side(kind) / generation
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        _check_manifest(kind, folder, manifest, model_name, passages)
        self._check_index_kind(kind, folder, manifest)
        faiss_index = faiss.read_index(str(folder / "index.faiss"))
        entries = {int(key): (digest, int(count)) for key, digest, count in _read_json(folder / "entries.json")}
        tokens = {int(key): list(words) for key, words in _read_json(folder / "lexical.json")}
        vector = self.vector_class(kind, manifest["model"], int(manifest["dimension"]), entries, faiss_index)
        languages_path = folder / "languages.json"
        languages = (
            {int(key): str(language) for key, language in _read_json(languages_path)} if languages_path.exists() else {}
        )
        return SideIndex(
            vector,
            LexicalIndex(bm25, tokens),
            passages,
            int(manifest["revision"]),
            self._load_multilingual(kind, folder, manifest, multilingual_model),
            languages,
        )

    def _check_index_kind(self, kind: Kind, folder: Path, manifest: dict[str, Any]) -> None:
        """Refuse a saved index of a kind (flat, hnsw) the configured ``index_kind`` does not load."""
        saved = str(manifest.get("index_kind", "flat"))  # no field: saved when every index was flat
        if not self.vector_class.loads_kind(saved):
            configured = self.vector_class.configured_kind()
            raise IndexMismatch(
                f"The {kind.value} index in {folder} is a {saved} index but setting 'index_kind' is "
                f"{configured!r}; set index_kind to 'auto' (it loads any kind) or {saved!r}, or {REBUILD_HINT}",
                details={"kind": kind.value, "index_kind": saved, "setting": "index_kind"},
            )

    def _load_multilingual(
        self, kind: Kind, folder: Path, manifest: dict[str, Any], model_name: str | None
    ) -> VectorIndex | None:
        saved = manifest.get("multilingual")
        if model_name is None or not saved or saved["model"] != model_name:
            return None
        entries = {int(key): (digest, int(count)) for key, digest, count in _read_json(folder / "multilingual.json")}
        faiss_index = faiss.read_index(str(folder / "multilingual.faiss"))
        return self.vector_class(kind, saved["model"], int(saved["dimension"]), entries, faiss_index)

    def remove_all(self, kind: Kind) -> None:
        shutil.rmtree(self._side(kind), ignore_errors=True)
